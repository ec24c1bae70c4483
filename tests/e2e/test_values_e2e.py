"""Values that are compared or shown: exact JSON numbers, bounded depth, bounded digits and formatting.

The real families through the plugin against a small loopback HTTP server; the pure rules are in
tests/unit/test_values.py.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from tests.unit.test_values import DEEP


# --- end to end: the real families against a loopback server -------------------------------------


class JsonServer:
    """Serves fixed bodies by path on 127.0.0.1; `routes[path] = bytes`, any other path 404.

    `statuses[path]` overrides the 200 of a served path.
    """

    def __init__(self) -> None:
        routes: dict[str, bytes] = {}
        statuses: dict[str, int] = {}
        self.routes = routes
        self.statuses = statuses

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                body = routes.get(path)
                self.send_response(statuses.get(path, 200) if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def json(self, path: str, doc: Any) -> str:
        self.routes[path] = json.dumps(doc).encode()
        return path


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def assert_clean(run: Any) -> None:
    for marker in ("Traceback", "RecursionError", "INTERNALERROR", "MemoryError"):
        assert marker not in run.output


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_value_a_hair_over_critical_fails_instead_of_degrading(run_checks, json_server) -> None:
    json_server.routes["/summary"] = b'{"summary": {"par_90": 5.00000000000000001}}'
    profile = ("service: s\nthresholds:\n"
               "  - {name: par-90, source: /summary, field: summary.par_90, unit: '%', warn: 3, critical: 5}\n")
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    check = run.check("thresholds::par-90")
    assert (check["outcome"], check["reason"]) == ("failed", "threshold")
    assert "summary.par_90 = 5.00000000000000001 % > critical 5 %" in check["message"]


@pytest.mark.parametrize("raw", [b'"1e999999999"', b"1e999999999", b'"-1e999999999 %"'])
def test_an_absurd_value_in_the_body_fails_cleanly_with_reason_body(run_checks, json_server, raw) -> None:
    json_server.routes["/summary"] = b'{"summary": {"par_90": ' + raw + b"}}"
    profile = ("service: s\nthresholds:\n"
               "  - {name: par-90, source: /summary, field: summary.par_90, unit: '%', warn: 3, critical: 5}\n")
    started = time.monotonic()
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    check = run.check("thresholds::par-90")
    assert (check["outcome"], check["reason"]) == ("failed", "body")
    assert "number out of range: " in check["message"] and "1e999999999" in check["message"]
    assert run.ret == 1
    assert_clean(run)
    assert time.monotonic() - started < 30  # the old code spent minutes and a gigabyte formatting it


@pytest.mark.parametrize(("doc", "detail"), [({"summary": {"par_30": 1}}, "field absent in the body (have: par_30)"),
                                             ({"summary": {"par_90": None}}, "null in the body")])
def test_an_absent_or_null_field_is_no_data(run_checks, json_server, doc, detail) -> None:
    json_server.json("/summary", doc)
    profile = ("service: s\nthresholds:\n  - {name: par-90, source: /summary, field: summary.par_90, critical: 5}\n"
               "freshness:\n  - {name: run, source: /summary, field: summary.par_90, fail_after: 12h}\n")
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    for check_id in ("thresholds::par-90", "freshness::run"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "no_data")
        assert f"summary.par_90: {detail}" in check["message"] or f"summary.par_90 {detail}" in check["message"]


def test_a_stamp_hours_in_the_future_fails_freshness_naming_the_time_zone(run_checks, json_server) -> None:
    # A local time (UTC+5) labelled Z, written half a minute from now so whole minutes show "5 h".
    json_server.json("/tz", {"finished_at": iso(timedelta(hours=5, seconds=30))})
    json_server.json("/skew", {"finished_at": iso(timedelta(minutes=1))})  # within the clock skew allowance
    json_server.routes["/epoch"] = json.dumps({"finished_at": time.time() + 7200}).encode()  # epoch seconds, 2 h ahead
    profile = ("service: s\nfreshness:\n"
               "  - {name: tz, source: /tz, field: finished_at, warn_after: 8h, fail_after: 12h}\n"
               "  - {name: skew, source: /skew, field: finished_at, warn_after: 8h, fail_after: 12h}\n"
               "  - {name: epoch, source: /epoch, field: finished_at, fail_after: 12h}\n")
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    tz = run.check("freshness::tz")
    assert (tz["outcome"], tz["reason"]) == ("failed", "stale")
    assert "finished_at is 5 h in the future: a local time labelled Z, or a clock error?" in tz["message"]
    assert "allowed clock skew 5 min" in tz["message"]
    assert run.check("freshness::skew")["outcome"] == "passed"
    epoch = run.check("freshness::epoch")
    assert (epoch["outcome"], epoch["reason"]) == ("failed", "stale")
    assert "in the future" in epoch["message"]


def test_a_negative_percentage_fails_whatever_the_band(run_checks, json_server) -> None:
    json_server.json("/summary", {"par_90": -0.5, "change": -0.5})
    profile = ("service: s\nthresholds:\n  - {name: par, source: /summary, field: par_90, unit: '%', critical: 5}\n"
               "  - {name: change, source: /summary, field: change, unit: '% change', critical: 5}\n")
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    par = run.check("thresholds::par")
    assert (par["outcome"], par["reason"]) == ("failed", "threshold")
    assert "par_90 = -0.5 %: a percentage of a whole cannot be negative" in par["message"]
    assert run.check("thresholds::change")["outcome"] == "passed"


def test_deep_json_fails_smoke_and_thresholds_with_reason_body(run_checks, json_server) -> None:
    json_server.routes["/deep"] = DEEP
    profile = ("service: s\nhttp: {deadline_s: 5}\n"
               "smoke:\n  - {name: deep, path: /deep, expect: {status: 200, json: {ok: true}}}\n"
               "thresholds:\n  - {name: deep, source: /deep, field: a, critical: 5}\n")
    started = time.monotonic()
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    for check_id in ("smoke::deep", "thresholds::deep"):
        check = run.check(check_id)
        assert (check["outcome"], check["reason"]) == ("failed", "body")
        assert "GET /deep: JSON nested too deeply (more than 256 levels)" in check["message"]
    assert_clean(run)
    assert time.monotonic() - started < 5 + 1 + 20  # both checks within their deadline, plus pytest start-up


def test_a_deep_json_not_ready_body_fails_readiness_on_its_status_without_a_crash(run_checks, json_server) -> None:
    json_server.routes["/ready"] = DEEP
    json_server.statuses["/ready"] = 503
    run = run_checks("--base-url", json_server.base_url, profile="service: s\nreadiness: {ready: /ready}\n")
    check = run.check("readiness::ready")
    assert (check["outcome"], check["reason"]) == ("failed", "status")
    assert "GET /ready: status 503, expected 200" in check["message"]
    assert_clean(run)


def test_smoke_expect_json_compares_numbers_exactly_and_never_bools_with_numbers(run_checks, json_server) -> None:
    json_server.routes["/state"] = b'{"ok": 1, "count": true, "version": 1.10, "par": 5.00000000000000001, "r": 0.1}'
    profile = ("service: s\nsmoke:\n"
               "  - {name: ok-bool, path: /state, expect: {json: {ok: true}}}\n"
               "  - {name: count-int, path: /state, expect: {json: {count: 1}}}\n"
               "  - {name: version-str, path: /state, expect: {json: {version: '1.10'}}}\n"
               "  - {name: par-five, path: /state, expect: {json: {par: 5}}}\n"
               "  - {name: ratio, path: /state, expect: {json: {r: 0.1, version: 1.1}}}\n")
    run = run_checks("--base-url", json_server.base_url, profile=profile)
    assert run.outcomes() == {"smoke::ok-bool": "failed", "smoke::count-int": "failed", "smoke::version-str": "failed",
                              "smoke::par-five": "failed", "smoke::ratio": "passed"}
    assert "$.ok is 1, expected true" in run.check("smoke::ok-bool")["message"]
    assert "$.par is 5.00000000000000001, expected 5" in run.check("smoke::par-five")["message"]
    assert {run.check(c)["reason"] for c in run.outcomes() if c != "smoke::ratio"} == {"body"}


def test_an_absurd_bound_in_the_profile_is_a_profile_error_at_its_line(run_checks) -> None:
    profile = ("service: s\nthresholds:\n"
               "  - name: par\n    file: x.json\n    field: v\n    critical: '1e999999999'\n")
    run = run_checks("--base-url", "http://127.0.0.1:9", profile=profile)
    assert run.ret == 4
    # The schema (profile.py's owner) refuses it first; bands.to_decimal would refuse it too, as a
    # ValueError "number out of range" (test_a_profile_bound_out_of_range_is_a_value_error_...).
    assert "opscheck.yaml:6: thresholds[0].critical: " in run.output
    assert_clean(run)
