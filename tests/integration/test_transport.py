"""Transport failures against real misbehaving servers: each gets its reason, within its bound."""

from __future__ import annotations

import time

import pytest

from opscheck.transport.http import HttpClient, HttpSettings
from opscheck.outcome import CheckFailed, Reason
from opscheck.evidence.redact import Redactor
from tests import hostile

ONE_CHECK = """\
service: hostile
http: {timeout_s: 1, deadline_s: 2}
smoke:
  - {name: first, path: /a}
  - {name: second, path: /b}
  - {name: third, path: /c}
"""


def _client(**settings) -> HttpClient:
    return HttpClient(HttpSettings(**settings), Redactor())


def _fail(client: HttpClient, url: str) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        client.request("GET", url)
    return info.value


def test_unreachable_target_is_reported_once_and_later_checks_fail_at_once(run_checks):
    run = run_checks("--base-url", f"http://127.0.0.1:{hostile.closed_port()}", profile=ONE_CHECK)
    assert run.ret == 1
    checks = run.results["checks"]
    assert [c["reason"] for c in checks] == ["connect", "connect", "connect"]
    assert "connection refused" in checks[0]["message"]
    # Only the first check touched the network; the others did not wait out a timeout of their own.
    for later in checks[1:]:
        assert "target unreachable, not retried" in later["message"]
        assert later["evidence"][0]["error"] == "not sent: target unreachable earlier in this run"
    assert run.stdout.count("TARGET UNREACHABLE") == 1


def test_unresolvable_host_fails_with_reason_dns(run_checks):
    run = run_checks("--base-url", "http://opscheck-no-such-host.invalid", profile=ONE_CHECK)
    assert [c["reason"] for c in run.results["checks"]] == ["dns", "dns", "dns"]
    assert "cannot resolve opscheck-no-such-host.invalid" in run.results["checks"][0]["message"]


def test_silent_server_times_out_within_the_request_timeout():
    with hostile.RawServer(hostile.silent) as server, _client(timeout_s=0.5, deadline_s=5) as client:
        start = time.monotonic()
        failure = _fail(client, server.base_url + "/")
        assert time.monotonic() - start < 3
    assert failure.reason is Reason.TIMEOUT
    assert "no complete answer within the 0.5 s timeout (nothing received)" in failure.message


def test_trickling_server_cannot_hold_a_check_past_its_deadline():
    # Every read gets a byte within the read timeout; the check's deadline (nearer than the
    # request's 1 s whole-exchange bound) stops it.
    with hostile.RawServer(hostile.trickle) as server, _client(timeout_s=1, deadline_s=1.5) as client:
        start = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            client.request("GET", server.base_url + "/", deadline_at=time.monotonic() + 0.5)
        failure = info.value
        elapsed = time.monotonic() - start
    assert failure.reason is Reason.TIMEOUT
    assert "check deadline" in failure.message
    assert elapsed < 0.5 + 1


def test_trickling_server_cannot_hold_a_request_past_its_timeout():
    # http.timeout_s bounds the whole exchange, like curl --max-time: a byte every 0.1 s keeps
    # every read alive, yet the request ends at 1 s.
    with hostile.RawServer(hostile.trickle) as server, _client(timeout_s=1, deadline_s=30) as client:
        start = time.monotonic()
        failure = _fail(client, server.base_url + "/")
        elapsed = time.monotonic() - start
    assert failure.reason is Reason.TIMEOUT
    assert "no complete answer within the 1 s timeout" in failure.message
    assert elapsed < 1 + 1


def test_trickle_through_the_plugin_fails_the_check_within_its_deadline(run_checks):
    with hostile.RawServer(hostile.trickle) as server:
        run = run_checks("--base-url", server.base_url, profile=ONE_CHECK.replace("deadline_s: 2", "deadline_s: 1.5"))
    for check in run.results["checks"]:
        assert check["reason"] == "timeout"
        assert check["duration_ms"] < 4000


@pytest.mark.parametrize(
    ("handler", "reason", "text"),
    [
        (hostile.garbage, Reason.PROTOCOL, "not an HTTP response: 20 bytes starting `THIS IS NOT HTTP\\r\\n\\r\\n`"),
        (hostile.reset, Reason.PROTOCOL, ""),
        (hostile.redirect_loop, Reason.PROTOCOL, "redirect loop"),
    ],
)
def test_protocol_violations(handler, reason, text):
    with hostile.RawServer(handler) as server, _client(timeout_s=2) as client:
        with pytest.raises(CheckFailed) as info:
            client.request("GET", server.base_url + "/", follow_redirects=True)
    assert info.value.reason is reason
    assert text in info.value.message


def test_body_is_read_as_a_stream_and_capped():
    size = 3 * 1024 * 1024
    with hostile.RawServer(hostile.big_body(size)) as server, _client(max_body_bytes=64 * 1024) as client:
        response = client.request("GET", server.base_url + "/")
    assert response.status == 200
    assert response.truncated and len(response.body) == 64 * 1024
    assert response.evidence.truncated and response.evidence.body_bytes == 64 * 1024
    with pytest.raises(CheckFailed) as info:
        response.json("GET /")
    assert info.value.reason is Reason.BODY


def test_every_request_carries_a_request_id_recorded_in_evidence(service):
    with _client() as client:
        first = client.request("GET", service().base_url + "/health")
        second = client.request("GET", service().base_url + "/health")
    assert first.evidence.request_id != second.evidence.request_id
    assert first.evidence.request_headers["x-request-id"] == first.evidence.request_id
    # The reference service echoes it, so the id links our evidence to the service's logs.
    assert first.headers["x-request-id"] == first.evidence.request_id


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    from tests.tls_server import CertFactory

    return CertFactory(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize(
    ("variant", "text"),
    [
        ("self_signed", "certificate verification failed: self-signed certificate"),
        ("wrong_host", "certificate verification failed: IP address mismatch"),
        ("unknown_ca", "certificate verification failed: unable to get local issuer certificate"),
    ],
)
def test_tls_failures_have_reason_tls(certs, variant, text):
    from tests.tls_server import TlsServer

    if variant == "self_signed":
        cert = certs.leaf("self", self_signed=True)
    elif variant == "wrong_host":
        cert = certs.leaf("other", hosts=("other.example",))
    else:
        cert = certs.leaf("good")
    ca_file = None if variant == "unknown_ca" else str(certs.ca_file)
    with TlsServer(*cert) as server, _client(ca_file=ca_file) as client:
        failure = _fail(client, server.base_url + "/")
    assert failure.reason is Reason.TLS
    assert text in failure.message


def test_tls_verifies_against_the_profile_ca_file(certs):
    from tests.tls_server import TlsServer

    with TlsServer(*certs.leaf("valid")) as server, _client(ca_file=str(certs.ca_file)) as client:
        response = client.request("GET", server.base_url + "/")
    assert response.status == 200 and response.json("GET /") == {"status": "ok"}
