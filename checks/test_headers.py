"""Headers: request id round trip and required (e.g. security) headers."""

from opscheck.families.headers import check


def test_headers(headers_check, opscheck_http):
    check(headers_check, opscheck_http.get(headers_check.path))
