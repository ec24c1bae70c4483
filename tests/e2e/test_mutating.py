"""No write to a read-only environment (issue 8 §3): a loopback server logs every method it receives,
across every family that can send one; only GET, HEAD and OPTIONS may arrive unless the
environment allows mutating checks."""

from __future__ import annotations

import json

import pytest

from opscheck.transport.http import HttpClient, HttpSettings
from opscheck.evidence.redact import Redactor
from opscheck.transport.target import CheckHttp, MutatingRefused, Target
from tests.e2e.test_secrets import server  # noqa: F401  (the fixture)

SAFE = {"GET", "HEAD", "OPTIONS"}

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "ingest", "version": "1"},
    "paths": {
        "/api/ingest": {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
                    "example": {"id": 1}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}},
            },
        },
    },
}

PROFILE = """\
service: writes
http: {{timeout_s: 2, deadline_s: 5}}
auth: {{header: X-API-Key, keys_env: TEST_API_KEYS}}
environments:
  readonly: {{base_url: "{base}"}}
  writable: {{base_url: "{base}", allow_mutating: true}}
smoke:
  - {{name: read, path: /health}}
  - {{name: post, method: POST, path: /api/ingest, json: {{id: 1}}}}
  - {{name: claims-safe, method: POST, path: /api/ingest, mutating: false, json: {{id: 2}}}}
limits:
  - {{name: body, path: /api/ingest, max_body_bytes: 2048, max_items: 3, item: {{id: 1}}}}
  - {{name: put-body, method: PUT, path: /api/items/1, max_body_bytes: 2048}}
protected:
  - {{name: write, method: POST, path: /api/ingest}}
  - {{name: drop, method: DELETE, path: /api/items/1}}
  - {{name: read, path: /protected}}
openapi:
  spec: spec.json
  operations: ["POST /api/ingest"]
  bad_input: true
  docs_routes: false
slo:
  - {{name: post-slo, method: POST, path: /api/ingest, requests: 3, concurrency: 1, max_error_ratio: 1}}
benchmark:
  - {{name: post-bench, method: POST, path: /api/ingest, rounds: 2, warmup_rounds: 0}}
"""

# Everything above that writes, by check id prefix (the openapi ids depend on the family's naming).
WRITERS = ("smoke::post", "smoke::claims-safe", "limits::", "auth::write:", "auth::drop:", "slo::post-slo",
           "benchmark::post-bench")


def _run(run_checks, server, pytester, *args):  # noqa: F811
    pytester.path.joinpath("spec.json").write_text(json.dumps(SPEC))
    return run_checks(*args, profile=PROFILE.format(base=server.base_url))


@pytest.mark.parametrize("where", ["adhoc", "readonly"])
def test_a_read_only_target_receives_only_safe_methods_from_every_family(server, run_checks, pytester, where):  # noqa: F811
    if where == "adhoc":  # a URL no environment names
        args = ("--base-url", f"http://localhost:{server.port}")
    else:
        args = ("--env", "readonly")
    run = _run(run_checks, server, pytester, "-rs", *args)
    assert server.log, run.output
    assert server.methods() <= SAFE, server.methods()
    checks = {c["id"]: c for c in run.results["checks"]}
    writers = [c for cid, c in checks.items() if cid.startswith(WRITERS)]
    assert len(writers) >= 14
    openapi_writes = [c for cid, c in checks.items() if cid.startswith("schema::openapi") and
                      ("bad-input" in cid or "POST" in cid)]
    assert len(openapi_writes) == 2
    for check in writers + openapi_writes:
        assert check["outcome"] == "skipped", check
        assert "does not allow mutating checks" in check["message"] and f"'{where}'" in check["message"]
    # A smoke entry that says `mutating: false` about a POST is still stopped at the transport.
    assert checks["smoke::claims-safe"]["message"] == (
        f"Skipped: mutating request POST /api/ingest skipped: environment '{where}' does not allow mutating "
        "checks (allow_mutating: true)")
    assert checks["smoke::read"]["outcome"] == "passed"
    assert checks["auth::read:no-key"]["outcome"] == "passed"
    assert f"mutating request POST /api/ingest skipped: environment '{where}'" in run.stdout  # -rs shows the reason


def test_an_environment_that_allows_mutation_gets_the_writes(server, run_checks, pytester):  # noqa: F811
    run = _run(run_checks, server, pytester, "--env", "writable")
    assert {"POST", "PUT", "DELETE"} <= server.methods(), run.output
    checks = {c["id"]: c for c in run.results["checks"]}
    for cid in ("smoke::post", "smoke::claims-safe", "limits::body:batch", "auth::drop:no-key", "slo::post-slo"):
        assert checks[cid]["outcome"] != "skipped", checks[cid]


def test_the_transport_refuses_any_method_but_get_head_options_before_sending(server):  # noqa: F811
    with HttpClient(HttpSettings(timeout_s=2, deadline_s=5), Redactor()) as client:
        http = CheckHttp(client, Target(server.base_url, "adhoc"))
        for method in ("POST", "PUT", "PATCH", "DELETE", "PURGE", "TRACE", "post"):
            with pytest.raises(MutatingRefused):
                http.request(method, "/x")
        for method in ("GET", "HEAD", "OPTIONS"):
            assert http.request(method, "/x").status == 200
    assert server.methods() == SAFE


def test_the_slo_sampler_path_obeys_the_same_rule_even_for_a_case_not_marked_mutating(server):  # noqa: F811
    from opscheck.families.slo import SloCase, run

    case = SloCase(family="slo", name="sneaky", field="slo[0]", line=1, severity="error", section=None,
                   mutating=False, method="POST", path="/api/ingest", requests=3, concurrency=1,
                   fail={"max_error_ratio": 1})
    with HttpClient(HttpSettings(timeout_s=2, deadline_s=5), Redactor()) as client:
        with pytest.raises(MutatingRefused):
            run(case, CheckHttp(client, Target(server.base_url, "readonly")))
    assert server.log == []
