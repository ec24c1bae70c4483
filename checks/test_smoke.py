"""Smoke: each `smoke:` entry is one request whose answer must match its `expect:` block."""

from opscheck.contract.expect import check_expect
from opscheck.transport.http import UNSET


def test_smoke(smoke_check, opscheck_http):
    case = smoke_check
    response = opscheck_http.request(
        case.method,
        case.path,
        headers=case.headers,
        json=case.json_body if case.has_json_body else UNSET,
        auth=case.send_auth,
        follow_redirects=case.follow_redirects,
    )
    check_expect(response, case.expect, f"{case.method} {case.path}")
