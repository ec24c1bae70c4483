"""No secret in any channel (issue 8 §2) and the redirect cascade (§4): real loopback servers that log
and echo what they receive, opscheck run as a user runs it, every output searched for every secret."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from opscheck.transport.http import HttpClient, HttpSettings
from opscheck.outcome import CheckFailed, Reason
from opscheck.evidence.redact import REDACTED, Redactor
from tests import hostile
from tests.conftest import API_KEY

SESSION = "sess-9f8e7d6c5b4a3921"
BEARER = "brr-0a1b2c3d4e5f6071"  # from ${OPS_BEARER}: a variable name that does not look secret
PARTNER = "pk-live-5566778899aa"  # from ${PARTNER}: used as ?api_key=
SIGNATURE = "sig-77ab12cd34ef56"  # from ${HOOK}: sent in X-Hub-Signature
PASSWORD = "pa55-w0rd-of-alice"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


class LoggingServer:
    """A loopback HTTP server that records every request (method, path, headers) and answers by path:

    /login       200, sets the session cookie and says it in the body
    /protected   200 with any credential (key, Authorization or Cookie), else 401
    /redirect?to=URL[&status=302]   a redirect to URL
    /loop        a redirect to itself
    anything else 200 with the request line and every header echoed back as JSON (so a secret sent
                 comes straight back in the body, as careless services do)
    """

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        log = self.log

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(min(length, 1 << 20))
                elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    _drain_chunked(self.rfile)
                log.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items())})
                parts = urlsplit(self.path)
                extra: list[tuple[str, str]] = []
                if parts.path == "/login":
                    status, body = 200, json.dumps({"welcome": "alice", "session": SESSION})
                    extra.append(("Set-Cookie", f"sid={SESSION}; Path=/; HttpOnly"))
                elif parts.path == "/protected":
                    has = any(h in self.headers for h in ("X-API-Key", "Authorization", "Cookie"))
                    status, body = (200, '{"ok": true}') if has else (401, '{"error": "no credential"}')
                elif parts.path == "/loop":
                    status, body = 302, ""
                    extra.append(("Location", "/loop"))
                elif parts.path == "/redirect":
                    query = parse_qs(parts.query)
                    status, body = int(query.get("status", ["302"])[0]), ""
                    extra.append(("Location", query["to"][0]))
                else:
                    status = 200
                    body = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items())})
                data = body.encode()
                self.send_response(status)
                for name, value in extra:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LoggingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def methods(self) -> set[str]:
        return {entry["method"] for entry in self.log}

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        return [e for e in self.log if urlsplit(e["path"]).path == path]


def _drain_chunked(rfile: Any) -> None:
    for _ in range(100_000):  # bounded: a chunk per iteration
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            rfile.readline()
            return
        rfile.read(size + 2)


@pytest.fixture
def server() -> Iterator[LoggingServer]:
    with LoggingServer() as running:
        yield running


@pytest.fixture
def other_server() -> Iterator[LoggingServer]:
    with LoggingServer() as running:
        yield running


closed_port = hostile.closed_port


def every_channel(run: Any) -> dict[str, str]:
    """Terminal (stdout and stderr) and every file the run wrote."""
    channels = {"terminal": run.output}
    for path in Path(run.report_dir).iterdir():
        if path.is_file():
            channels[path.name] = path.read_text(errors="replace")
    return channels


def assert_nowhere(run: Any, *secrets: str) -> None:
    for name, text in every_channel(run).items():
        for secret in secrets:
            assert secret not in text, f"secret {secret[:4]}... leaked in {name}"


# --- profiles ---------------------------------------------------------------------------------

LEAKY = """\
service: leaky
http: {{timeout_s: 2, deadline_s: 5}}
auth: {{header: X-API-Key, keys_env: TEST_API_KEYS}}
smoke:
  - {{name: login, path: /login, expect: {{status: 200}}}}
  - {{name: echo-after-login, path: /whoami, expect: {{status: 418}}}}
  - {{name: bearer-echo, path: /whoami, auth: false, headers: {{Authorization: "Bearer ${{OPS_BEARER}}"}}, expect: {{status: 418}}}}
  - {{name: signature-echo, path: /whoami, headers: {{X-Hub-Signature: "${{HOOK}}"}}, expect: {{status: 418}}}}
  - {{name: query-echo, path: "/whoami?api_key=${{PARTNER}}&X-Amz-Signature=${{PARTNER}}&page=2", expect: {{status: 418}}}}
  - {{name: cross-origin, path: "/redirect?to={other}/landing", follow_redirects: true, expect: {{status: 418}}}}
protected:
  - {{name: session-route, path: /protected}}
slo:
  - {{name: query-slo, path: "/whoami?api_key=${{PARTNER}}", requests: 3, concurrency: 1, p95_ms: 0.000001}}
benchmark:
  - {{name: query-bench, path: "/whoami?api_key=${{PARTNER}}", rounds: 3, warmup_rounds: 0, mean_ms: 0.000001}}
"""


@pytest.fixture
def leaky_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_BEARER", BEARER)
    monkeypatch.setenv("PARTNER", PARTNER)
    monkeypatch.setenv("HOOK", SIGNATURE)


@pytest.mark.parametrize("verbosity", [("-v",), ("-vv", "--tb=long", "-l", "--log-cli-level=DEBUG")],
                         ids=["v", "vv-long-locals-debug-log"])
def test_no_secret_reaches_any_channel_at_any_verbosity(server, other_server, run_checks, leaky_env, verbosity):
    profile = LEAKY.format(other=other_server.base_url)
    base = f"http://alice:{PASSWORD}@127.0.0.1:{server.port}"
    run = run_checks("--base-url", base, "-p", "no:randomly", *verbosity, profile=profile)
    assert run.results_text is not None, run.output
    # The run did send every secret (so their absence from the outputs means something)...
    sent = json.dumps(server.log)
    for secret in (BEARER, PARTNER, SIGNATURE, API_KEY, BASIC):
        assert secret in sent
    # ...and the service echoed them back; none of that reaches any output.
    assert_nowhere(run, SESSION, BEARER, PARTNER, SIGNATURE, API_KEY, PASSWORD, BASIC)
    assert (run.report_dir / "benchmark.json").exists()
    assert REDACTED in run.check("smoke::bearer-echo")["evidence"][0]["body_excerpt"]
    hop = run.check("smoke::cross-origin")["evidence"][0]["redirects"]
    assert hop == [{"status": 302, "location": f"{other_server.base_url}/landing"}]
    landed = other_server.requests_to("/landing")[0]["headers"]
    assert not {"X-API-Key", "Authorization", "Cookie"} & set(landed)
    if "--log-cli-level=DEBUG" in verbosity:
        assert "HTTP Request:" in run.output  # httpx's own log lines did go to the live log


def test_cookie_from_one_check_never_goes_out_with_another_and_the_no_key_probe_is_keyless(server, run_checks):
    profile = """\
service: cookies
auth: {header: X-API-Key, keys_env: TEST_API_KEYS}
smoke:
  - {name: login, path: /login}
  - {name: after, path: /whoami}
protected:
  - {name: route, path: /protected}
"""
    run = run_checks("--base-url", server.base_url, profile=profile)
    assert run.check("auth::route:no-key")["outcome"] == "passed", run.output
    assert all("Cookie" not in entry["headers"] for entry in server.log)
    no_key = [e for e in server.requests_to("/protected") if "X-API-Key" not in e["headers"]]
    assert no_key and all("Authorization" not in e["headers"] for e in no_key)
    assert_nowhere(run, SESSION)


def test_basic_auth_leaves_the_url_and_an_explicit_authorization_header_wins(server, run_checks, monkeypatch):
    monkeypatch.setenv("OPS_BEARER", BEARER)
    profile = """\
service: basic
smoke:
  - {name: plain, path: /whoami}
  - {name: explicit, path: /whoami, headers: {Authorization: "Bearer ${OPS_BEARER}"}}
"""
    run = run_checks("--base-url", f"http://alice:{PASSWORD}@127.0.0.1:{server.port}", profile=profile)
    assert run.ret == 0, run.output
    sent = sorted(e["headers"].get("Authorization") for e in server.log)
    assert sent == sorted([f"Basic {BASIC}", f"Bearer {BEARER}"])
    assert run.results["run"]["base_url"] == server.base_url
    assert f"baseurl: {server.base_url}" in run.stdout and f"opscheck target: {server.base_url}" in run.stdout
    assert_nowhere(run, PASSWORD, BASIC, BEARER, "alice:")


# --- redirects, against the transport directly ---------------------------------------------


def _client(**settings: Any) -> HttpClient:
    return HttpClient(HttpSettings(timeout_s=2, deadline_s=5, **settings), Redactor())


def test_redirect_to_another_port_drops_every_sensitive_header_and_records_the_hop(server, other_server):
    with _client(headers={"X-Team-Token": "team-tok-12345"}) as client:
        client.redactor.add_secrets([BEARER])
        response = client.request(
            "GET", f"{server.base_url}/redirect?to={other_server.base_url}/landing",
            headers={"X-API-Key": API_KEY, "Authorization": f"Bearer {SIGNATURE}", "Cookie": f"sid={SESSION}",
                     "X-Custom": f"carries {BEARER}", "X-Plain": "fine"},
            follow_redirects=True,
        )
    assert response.status == 200
    landed = other_server.log[0]["headers"]
    assert landed.get("X-Plain") == "fine"
    for name in ("X-API-Key", "Authorization", "Cookie", "X-Custom", "X-Team-Token"):
        assert name not in landed
    assert response.evidence.redirects == [{"status": 302, "location": f"{other_server.base_url}/landing"}]
    # The first hop did carry them: only the change of origin dropped them.
    assert server.log[0]["headers"]["X-API-Key"] == API_KEY


@pytest.mark.parametrize("location", [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://0.0.0.0:{port}/",
    "http://localhost:{port}/",
    "http://example.invalid/",
])
def test_redirect_to_a_host_the_check_was_not_pointed_at_is_refused_with_reason_protocol(server, location):
    target = location.format(port=server.port)
    with _client() as client:
        with pytest.raises(CheckFailed) as caught:
            client.request("GET", f"{server.base_url}/redirect?to={target}", follow_redirects=True)
    failure = caught.value
    assert failure.reason is Reason.PROTOCOL
    assert "refused" in failure.message and urlsplit(target).hostname.strip("[]") in failure.message
    assert failure.evidence.redirects[0]["status"] == 302
    assert [urlsplit(e["path"]).path for e in server.log] == ["/redirect"]


def test_an_origin_the_profile_allows_is_followed_without_the_credentials(server, other_server):
    elsewhere = f"http://localhost:{other_server.port}"
    with _client(allow_redirect_origins=(elsewhere,)) as client:
        response = client.request("GET", f"{server.base_url}/redirect?to={elsewhere}/x",
                                  headers={"X-API-Key": API_KEY}, follow_redirects=True)
    assert response.status == 200
    assert "X-API-Key" not in other_server.log[0]["headers"]


def test_a_redirect_loop_fails_after_five_hops(server):
    with _client() as client:
        with pytest.raises(CheckFailed) as caught:
            client.request("GET", f"{server.base_url}/loop", follow_redirects=True)
    assert caught.value.reason is Reason.PROTOCOL and "more than 5 redirects" in caught.value.message
    assert len(caught.value.evidence.redirects) == 6
    assert len(server.log) == 6


def test_credential_query_values_are_redacted_in_urls_and_text():
    redactor = Redactor()
    url = ("https://bucket.s3.amazonaws.com/o?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcdef&page=2"
           "&sv=2021&sig=zz%2B1&se=2030&Key-Pair-Id=K1&Policy=eyJ&access_token=t0k3n&code=c0d3")
    shown = redactor.url(url)
    for value in ("AKIA", "abcdef", "zz%2B1", "K1", "eyJ", "t0k3n", "c0d3"):
        assert value not in shown
    assert "page=2" in shown and "X-Amz-Signature=[REDACTED]" in shown
    assert redactor.url("http://bob:hunter22@h/") == "http://bob:[REDACTED]@h/"
    assert "t0k3n" not in redactor.text(f"GET /a?token=t0k3n: status 500")
    redactor.add_secrets(["1", "abc"])  # shorter than 4: never replaced by value
    assert redactor.text("1 abc") == "1 abc"


def test_values_sent_in_sensitive_headers_become_secrets_whatever_the_header_is_called():
    redactor = Redactor(headers=["X-Partner"])
    for name, value in [("Authorization", "Bearer tok-aaaa1111"), ("X-Partner", "ptn-bbbb2222"),
                        ("X-Goog-Api-Key", "goog-cccc3333"), ("X-Session-Id", "sess-dddd4444"),
                        ("Cookie", "a=cook-eeee5555; b=cook-ffff6666"), ("X-Plain", "visible-9999")]:
        redactor.register_header(name, value)
    shown = redactor.text("tok-aaaa1111 ptn-bbbb2222 goog-cccc3333 sess-dddd4444 cook-eeee5555 cook-ffff6666 visible-9999")
    assert shown == " ".join([REDACTED] * 6 + ["visible-9999"])
    # Basic: the base64 token, "user:password" and the password alone.
    redactor.register_header("Authorization", "Basic " + base64.b64encode(b"bob:hunter-2222").decode())
    assert "hunter-2222" not in redactor.text("pw hunter-2222")
    # Answers: Set-Cookie values are secrets; a CORS "true" is not (it would blank every "true").
    redactor.register_header("Set-Cookie", "sid=srv-gggg7777; Path=/; HttpOnly", received=True)
    redactor.register_header("Access-Control-Allow-Credentials", "true", received=True)
    assert redactor.text("srv-gggg7777 true") == f"{REDACTED} true"


# --- §4: the cascade -------------------------------------------------------------------------


def test_redirect_to_a_closed_port_marks_that_origin_unreachable_not_the_target(server, run_checks):
    dead = f"http://127.0.0.1:{closed_port()}"
    profile = f"""\
service: cascade
smoke:
  - {{name: bounce, path: "/redirect?to={dead}/gone", follow_redirects: true}}
  - {{name: healthy, path: /whoami}}
  - {{name: bounce-again, path: "/redirect?to={dead}/gone", follow_redirects: true}}
"""
    run = run_checks("--base-url", server.base_url, "-p", "no:randomly", profile=profile)
    bounce = run.check("smoke::bounce")
    assert bounce["outcome"] == "failed" and bounce["reason"] == "connect"
    assert dead in bounce["message"] and "redirected to" in bounce["message"]
    assert run.check("smoke::healthy")["outcome"] == "passed", run.output
    again = run.check("smoke::bounce-again")
    assert "not retried" in again["message"] and dead in again["message"]
    assert dead in run.stdout  # the run summary names the origin that failed


def test_a_redirect_hop_is_bounded_by_the_same_check_deadline(server):
    with hostile.RawServer(hostile.silent) as silent:
        start = time.monotonic()
        with _client() as client:
            with pytest.raises(CheckFailed) as caught:
                client.request("GET", f"{server.base_url}/redirect?to={silent.base_url}/", follow_redirects=True,
                               deadline_at=time.monotonic() + 1.0)
        assert time.monotonic() - start < 1.0 + 1
    assert caught.value.reason is Reason.TIMEOUT
    assert silent.base_url in caught.value.message


def test_the_profile_can_allow_a_redirect_origin_and_everything_else_stays_refused(server, other_server, run_checks):
    allowed = f"http://localhost:{other_server.port}"
    profile = f"""\
service: allowed
http: {{allow_redirect_origins: ["{allowed}"]}}
auth: {{header: X-API-Key, keys_env: TEST_API_KEYS}}
smoke:
  - {{name: allowed, path: "/redirect?to={allowed}/in", follow_redirects: true}}
  - {{name: metadata, path: "/redirect?to=http://169.254.169.254/latest/meta-data/", follow_redirects: true}}
"""
    run = run_checks("--base-url", server.base_url, profile=profile)
    assert run.check("smoke::allowed")["outcome"] == "passed", run.output
    assert "X-API-Key" not in other_server.requests_to("/in")[0]["headers"]
    refused = run.check("smoke::metadata")
    assert refused["reason"] == "protocol" and "http://169.254.169.254:80 refused" in refused["message"]
    assert refused["evidence"][0]["redirects"] == [{"status": 302, "location": "http://169.254.169.254/latest/meta-data/"}]


def test_log_records_are_redacted_message_args_headers_and_traceback():
    import logging

    from opscheck.evidence.redact import RedactingFilter

    redactor = Redactor([BEARER])
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("tests.secrets.sample")
    handler = Keep()
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("HTTP Request: GET %s", f"http://bob:{PASSWORD}@h/x?access_token={PARTNER}")
        logger.warning("receive_response_headers.complete return_value=%r",
                       (b"HTTP/1.1", 200, b"OK", [(b"Set-Cookie", f"sid={SESSION}".encode())]))
        try:
            raise ValueError(f"bad {BEARER}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    for secret in (PASSWORD, PARTNER, SESSION, BEARER):
        assert secret not in text
    assert "access_token=[REDACTED]" in text and "(b'Set-Cookie', b'[REDACTED]')" in text
