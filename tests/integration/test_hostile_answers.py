"""Hostile answers (issue 9 section 1, issue 8 section 6): whatever the target sends, a run stays
within its memory and its bounds, and says what happened.

Against real loopback servers (tests/hostile.py). The end-to-end cases run `opscheck run` in a
subprocess and assert the outcome and reason, the check's duration against its bound (an upper
bound only), the run's peak RSS (polled with psutil, and the child's own VmHWM), and that no
traceback was printed.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from opscheck.transport.http import ACCEPT_ENCODING, MAX_CODINGS, HttpClient, HttpSettings, decode_text, not_http
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import ProfileError, load_profile
from opscheck.transport.raw import Pool, RawHTTPError
from opscheck.evidence.redact import Redactor
from tests import hostile

MiB = 1 << 20
GiB = 1 << 30
PEAK_RSS_LIMIT = 150 * MiB
RUN_LIMIT_S = 60  # a run still going after this is a hang: killed, and the test fails

# The child reports its own peak (polling can miss a short spike). VmHWM, not getrusage's
# ru_maxrss: Linux carries the forking process's peak across exec into ru_maxrss, so a child of a
# big pytest process would report its parent's size; VmHWM belongs to the child's own memory map.
_CHILD = """\
import sys
from opscheck.cli import main
code = main(sys.argv[1:])
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
sys.stderr.write("\\npeak-rss-kib %s\\n" % (hwm[0] if hwm else "0"))
sys.exit(code)
"""


@dataclass
class Run:
    code: int
    output: str
    peak_rss: int  # bytes
    checks: dict[str, dict]

    def check(self, name: str) -> dict:
        """The result of the check called `name` (node ids end in `[name]`)."""
        return next(c for key, c in self.checks.items() if key.endswith(f"[{name}]"))


def run_opscheck(tmp_path: Path, base_url: str, profile: str) -> Run:
    """`opscheck run` on `profile` against `base_url` in a subprocess, its RSS polled until it ends."""
    (tmp_path / "opscheck.yaml").write_text(profile)
    report = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_BASE_URL", "OPSCHECK_PROFILE", "PYTEST_ADDOPTS")}
    out_path = tmp_path / "output.txt"
    with out_path.open("wb") as out:
        proc = psutil.Popen(
            [sys.executable, "-c", _CHILD, "run", "--profile", str(tmp_path / "opscheck.yaml"),
             "--base-url", base_url, "--report-dir", str(report)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
        )
        polled = 0
        give_up = time.monotonic() + RUN_LIMIT_S
        while proc.poll() is None:
            if time.monotonic() > give_up:
                proc.kill()
                proc.wait(5)
                pytest.fail(f"opscheck run still going after {RUN_LIMIT_S} s")
            try:
                polled = max(polled, proc.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
        code = proc.wait(5)
    output = out_path.read_text(errors="replace")
    reported = [int(line.split()[1]) * 1024 for line in output.splitlines() if line.startswith("peak-rss-kib ")]
    results = json.loads((report / "results.json").read_text())
    checks = {c["nodeid"]: c for c in results["checks"]}
    return Run(code, output, max([polled, *reported]), checks)


def assert_bounded(run: Run) -> None:
    assert run.peak_rss < PEAK_RSS_LIMIT, f"peak RSS {run.peak_rss / MiB:.0f} MiB"
    assert "Traceback" not in run.output, run.output[-3000:]
    assert "INTERNALERROR" not in run.output, run.output[-3000:]


def _client(**settings) -> HttpClient:
    return HttpClient(HttpSettings(**settings), Redactor())


def _get(handler, **settings):
    """(Response or CheckFailed, seconds taken) for one GET against a RawServer running `handler`."""
    with hostile.RawServer(handler) as server, _client(**settings) as client:
        start = time.monotonic()
        try:
            result = client.request("GET", server.base_url + "/")
        except CheckFailed as failure:
            result = failure
        return result, time.monotonic() - start


# -- decompression bombs -------------------------------------------------------------------------

BOMB_PROFILE = """\
service: hostile
http: {timeout_s: 5}
smoke:
  - {name: status-only, path: /, expect: {status: 200}}
  - {name: wants-json, path: /, expect: {status: 200, json: {ok: true}}}
"""


@pytest.mark.parametrize(
    ("handler", "what"),
    [
        (lambda: hostile.gzip_bomb(1 * GiB), "1.1 MB of gzip inflating to 1 GiB"),
        (lambda: hostile.stacked_gzip_bomb(2 * GiB), "gzip, gzip: 5 KB inflating to 2 GiB"),
        (lambda: hostile.encoded_answer(hostile.zeros_compressed(1 * GiB, "deflate"), "deflate"), "deflate, 1 GiB"),
    ],
    ids=["gzip", "gzip-gzip", "deflate"],
)
def test_a_decompression_bomb_is_kept_to_the_cap_within_memory_and_time(tmp_path, handler, what):
    with hostile.RawServer(handler()) as server:
        run = run_opscheck(tmp_path, server.base_url, BOMB_PROFILE)
    assert_bounded(run)
    status_only, wants_json = run.check("status-only"), run.check("wants-json")
    # The status was measured: that check holds. The body was cut at 1 MiB and is said to be.
    assert status_only["outcome"] == "passed", status_only
    assert wants_json["outcome"] == "failed" and wants_json["reason"] == "body", wants_json
    assert "body larger than the 1048576 bytes kept" in wants_json["message"]
    evidence = wants_json["evidence"][0]
    assert evidence["truncated"] is True and evidence["body_bytes"] == MiB
    for check in (status_only, wants_json):
        assert check["duration_ms"] < (15 + 1) * 1000


def test_decoding_stops_at_the_cap_for_every_coding_and_stack():
    cap = 64 * 1024
    for coding, body in [
        ("gzip", hostile.zeros_compressed(64 * MiB, "gzip")),
        ("x-gzip", hostile.zeros_compressed(64 * MiB, "gzip")),
        ("deflate", hostile.zeros_compressed(64 * MiB, "deflate")),
        ("gzip, gzip", gzip.compress(hostile.zeros_compressed(256 * MiB, "gzip"))),
        ("deflate, gzip", gzip.compress(hostile.zeros_compressed(256 * MiB, "deflate"))),
        ("gzip, identity, deflate", zlib.compress(hostile.zeros_compressed(256 * MiB, "gzip"))),
    ]:
        response, took = _get(hostile.encoded_answer(body, coding), max_body_bytes=cap)
        assert not isinstance(response, CheckFailed), (coding, response)
        assert response.truncated and len(response.body) == cap and response.body == bytes(cap), coding
        assert took < 5 + 1, coding


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),  # no zlib wrapper: common, and httpx accepts it too
        ("identity", lambda b: b),
        ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
        ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),
        ("GZIP , identity", gzip.compress),
    ],
)
def test_every_supported_coding_and_stack_decodes_to_the_body_sent(coding, encode):
    body = ("Café au lait, " * 5000).encode()
    response, _ = _get(hostile.encoded_answer(encode(body), coding))
    assert not isinstance(response, CheckFailed), response
    assert response.body == body and not response.truncated


def test_a_body_exactly_at_the_cap_is_whole_and_one_byte_more_is_truncated():
    cap = 4096
    exact, _ = _get(hostile.encoded_answer(gzip.compress(b"a" * cap), "gzip"), max_body_bytes=cap)
    over, _ = _get(hostile.encoded_answer(gzip.compress(b"a" * (cap + 1)), "gzip"), max_body_bytes=cap)
    assert (len(exact.body), exact.truncated) == (cap, False)
    assert (len(over.body), over.truncated) == (cap, True)


def test_more_stacked_codings_than_decoded_fail_as_protocol_before_any_inflating():
    coding = ", ".join(["gzip"] * (MAX_CODINGS + 1))
    failure, _ = _get(hostile.encoded_answer(b"whatever", coding))
    assert isinstance(failure, CheckFailed) and failure.reason is Reason.PROTOCOL
    assert f"Content-Encoding stacks {MAX_CODINGS + 1} codings" in failure.message


def test_a_corrupt_compressed_body_fails_as_protocol():
    failure, _ = _get(hostile.encoded_answer(b"\x1f\x8b\x08\x00 not really gzip", "gzip"))
    assert isinstance(failure, CheckFailed) and failure.reason is Reason.PROTOCOL
    assert "gzip body is corrupt" in failure.message


def test_an_unknown_coding_keeps_the_bytes_as_received_and_the_evidence_says_so():
    response, _ = _get(hostile.encoded_answer(b"\x8b\x02\x80opaque", "br"))
    assert response.status == 200 and response.body == b"\x8b\x02\x80opaque"
    assert response.evidence.body_excerpt.startswith(
        "[body kept as received: Content-Encoding br is not decoded by opscheck]")


def test_only_the_codings_decoded_with_a_bound_are_advertised():
    # br or zstd offered because their modules happen to be installed would arrive undecoded.
    seen: list[bytes] = []

    def record(conn, server):
        seen.append(hostile._read_request(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    _get(record)
    assert ACCEPT_ENCODING == "gzip, deflate"
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in seen[0].lower()


def test_a_bomb_behind_a_redirect_is_bounded_too():
    bomb = hostile.zeros_compressed(256 * MiB, "gzip")
    head = (b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb))
    redirected = {"n": 0}

    def handler(conn, server):
        while hostile._read_request(conn):
            if redirected["n"] == 0:
                redirected["n"] += 1
                conn.sendall(head + bomb)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with hostile.RawServer(handler) as server, _client(max_body_bytes=64 * 1024) as client:
        start = time.monotonic()
        response = client.request("GET", server.base_url + "/", follow_redirects=True)
    assert response.body == b"ok" and time.monotonic() - start < 5 + 1


# -- not HTTP ------------------------------------------------------------------------------------

def test_tls_bytes_instead_of_a_status_line_are_named_end_to_end(tmp_path):
    profile = "service: hostile\nhttp: {timeout_s: 2}\nsmoke:\n  - {name: home, path: /}\n"
    with hostile.RawServer(hostile.not_http(hostile.TLS_GARBAGE)) as server:
        run = run_opscheck(tmp_path, server.base_url, profile)
    assert_bounded(run)
    check = run.check("home")
    assert check["outcome"] == "failed" and check["reason"] == "protocol"
    assert "not an HTTP response: 1024 bytes starting `\\x16\\x03\\x01\\x02\\x00\\x00\\x01" in check["message"]
    assert "Server disconnected" not in check["message"]
    assert check["duration_ms"] < (2 + 1) * 1000


@pytest.mark.parametrize(
    ("data", "hold", "text"),
    [
        (hostile.TLS_GARBAGE, False, "not an HTTP response: 1024 bytes starting `\\x16\\x03\\x01\\x02\\x00"),
        (b"\x15\x03\x01\x00\x02\x02\x46", False, "not an HTTP response: 7 bytes starting `\\x15\\x03\\x01\\x00\\x02\\x02F`"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", True, "not an HTTP response: 21 bytes starting `SSH-2.0-OpenSSH_9.6\\r\\n`"),
        (b"\x00", False, "not an HTTP response: 1 byte starting `\\x00`"),
        (b"<html>" + b"`\\" * 600, False, "not an HTTP response: 1206 bytes starting `<html>\\x60\\\\"),
    ],
    ids=["tls-record", "tls-alert", "ssh-banner-held-open", "one-byte", "html-with-backticks"],
)
def test_bytes_that_are_not_http_are_named_escaped_and_bounded(data, hold, text):
    failure, took = _get(hostile.not_http(data, hold=hold), timeout_s=1)
    assert isinstance(failure, CheckFailed) and failure.reason is Reason.PROTOCOL
    assert text in failure.message
    assert len(failure.message) < 200 and "\n" not in failure.message
    assert took < 1 + 1


def test_a_broken_answer_that_begins_like_http_keeps_the_parsers_own_words():
    failure, _ = _get(hostile.not_http(b"HTTP/1.1 2000 Way Too OK\r\n\r\n"))
    assert isinstance(failure, CheckFailed) and failure.reason is Reason.PROTOCOL
    assert "not an HTTP response" not in failure.message and "bad HTTP from server" in failure.message


def test_not_http_wording():
    assert not_http(b"\x16\x03\x01\x02\x00", 1024) == "not an HTTP response: 1024 bytes starting `\\x16\\x03\\x01\\x02\\x00...`"
    assert not_http(b"\x16\x03", 2) == "not an HTTP response: 2 bytes starting `\\x16\\x03`"
    assert not_http(b"HTTP/1.1 200", 12) is None
    assert not_http(b"HT", 2) is None  # a status line cut short is not called garbage
    assert not_http(b"\r\nHTTP/1.1", 10) is None


def test_the_samplers_client_names_bytes_that_are_not_http():
    async def main(url: str) -> None:
        async with Pool(url) as pool:
            await pool.request("GET", timeout_s=2)

    # Closed after 1 KB; a status line that is not HTTP; 100 KB with no end of head in sight.
    for data in (hostile.TLS_GARBAGE, hostile.TLS_GARBAGE + b"\r\n\r\n", hostile.TLS_GARBAGE * 100):
        with hostile.RawServer(hostile.not_http(data)) as server, pytest.raises(RawHTTPError) as caught:
            asyncio.run(main(server.base_url))
        assert caught.value.kind == "protocol"
        assert "not an HTTP response: " in str(caught.value) and "starting `\\x16\\x03\\x01\\x02\\x00" in str(caught.value)


# -- the deadline follows the timeout ------------------------------------------------------------

def test_a_one_byte_a_second_trickle_ends_near_the_timeout_not_the_default_deadline(tmp_path):
    profile = "service: hostile\nhttp: {timeout_s: 2}\nsmoke:\n  - {name: home, path: /}\n"
    with hostile.RawServer(hostile.trickle_every(1.0)) as server:
        run = run_opscheck(tmp_path, server.base_url, profile)
    assert_bounded(run)
    check = run.check("home")
    assert check["outcome"] == "failed" and check["reason"] == "timeout"
    assert "no complete answer within the 2 s timeout" in check["message"]
    assert check["duration_ms"] < (2 + 1) * 1000


def test_the_timeout_bounds_the_whole_exchange_redirects_included():
    def handler(conn, server):
        hostile._read_request(conn)
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /slow\r\nContent-Length: 0\r\n\r\n")
        hostile.trickle_every(0.2)(conn, server)

    with hostile.RawServer(handler) as server, _client(timeout_s=1, deadline_s=30) as client:
        start = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            client.request("GET", server.base_url + "/", follow_redirects=True)
    assert info.value.reason is Reason.TIMEOUT and "within the 1 s timeout" in info.value.message
    assert time.monotonic() - start < 1 + 1


def test_the_default_check_deadline_is_three_timeouts(tmp_path):
    assert HttpSettings().deadline_s == 15
    assert HttpSettings(timeout_s=2).deadline_s == 6
    assert HttpSettings(timeout_s=2, deadline_s=4).deadline_s == 4
    (tmp_path / "p.yaml").write_text("service: s\nhttp: {timeout_s: 60}\n")
    assert load_profile(tmp_path / "p.yaml", {}).http.deadline_s == 180  # was refused: 15 < 60
    (tmp_path / "q.yaml").write_text("service: s\nhttp: {timeout_s: 2}\n")
    assert load_profile(tmp_path / "q.yaml", {}).http.deadline_s == 6
    (tmp_path / "r.yaml").write_text("service: s\nhttp: {timeout_s: 10, deadline_s: 5}\n")
    with pytest.raises(ProfileError, match="deadline_s .* must be at least timeout_s"):
        load_profile(tmp_path / "r.yaml", {})


def test_a_connect_that_times_out_is_still_a_connect_failure():
    # The whole-exchange watchdog fires at the same moment as the connect timeout; the reason
    # stays `connect` (so the target is marked unreachable once, not timed out per check).
    with hostile.FullBacklog() as target, _client(timeout_s=0.5) as client:
        time.sleep(0.1)  # let the fillers take the queue
        start = time.monotonic()
        with pytest.raises(CheckFailed) as info:
            client.request("GET", target.base_url + "/")
    assert info.value.reason is Reason.CONNECT, info.value.message
    assert time.monotonic() - start < 0.5 + 1


# -- charset -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("Café".encode("iso-8859-1"), "text/plain; charset=iso-8859-1"),
        ("Café".encode("iso-8859-1"), 'text/plain; charset="ISO-8859-1"'),
        ("Café – déjà".encode("cp1252"), "text/html;charset=windows-1252"),
        ("Café".encode("utf-16"), "text/plain; charset=utf-16"),
        ("Café".encode("utf-8"), "text/plain"),
        ("\ufeffCafé".encode("utf-8"), "text/plain"),  # a byte-order mark is not text
        ("Café".encode("utf-16"), "application/json"),  # its byte-order mark says UTF-16
        ("Café".encode("utf-8"), "text/plain; charset=no-such-charset"),
        ("Café".encode("utf-8"), "text/plain; charset=base64"),  # a codec, not a text encoding
        ("Café".encode("utf-8"), "text/plain; charset=zlib"),
        ("Café".encode("utf-8"), "text/plain; charset=" + "x" * 5000),
    ],
)
def test_text_is_decoded_with_its_declared_charset_and_never_crashes(body, content_type):
    assert "Café" in decode_text(body, content_type)
    response, _ = _get(hostile.text_answer(body, content_type))
    assert "Café" in response.text
    assert "Café" in response.evidence.body_excerpt


def test_undecodable_bytes_become_replacement_characters():
    assert decode_text(b"Caf\xe9 \xff", "text/plain; charset=utf-8") == "Caf\ufffd \ufffd"
    assert decode_text(b"Caf\xe9", "text/plain; charset=ascii") == "Caf\ufffd"


def test_body_contains_passes_on_a_latin1_body_and_metrics_text_is_decoded_too(tmp_path):
    page = "Bienvenue au Café".encode("iso-8859-1")
    metrics = (
        '# TYPE http_requests_total counter\n'
        'http_requests_total{route="/café",status="200"} 99\n'
        'http_requests_total{route="/café",status="500"} 1\n'
    ).encode("iso-8859-1")

    def handler(conn, server):
        while request := hostile._read_request(conn):
            body, kind = (metrics, b"text/plain; version=0.0.4; charset=iso-8859-1") if b"/metrics" in request.split(b"\r\n")[0] \
                else (page, b"text/plain; charset=iso-8859-1")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (kind, len(body)) + body)

    profile = (
        "service: hostile\n"
        "http: {timeout_s: 2}\n"
        "smoke:\n"
        "  - {name: cafe, path: /, expect: {status: 200, body_contains: \"Café\"}}\n"
        "metrics:\n"
        "  - {name: cafe-errors, source: /metrics, match: {route: \"/café\"}, max_error_ratio: 0.05}\n"
    )
    with hostile.RawServer(handler) as server:
        run = run_opscheck(tmp_path, server.base_url, profile)
    assert_bounded(run)
    assert run.check("cafe")["outcome"] == "passed", run.check("cafe")
    assert "Café" in run.check("cafe")["evidence"][0]["body_excerpt"]
    assert run.check("cafe-errors")["outcome"] == "passed", run.check("cafe-errors")
