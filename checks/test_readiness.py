"""Readiness: the live and ready URLs answer as expected; a not-ready answer names what is down."""

from opscheck.contract.expect import expect_status
from opscheck.families.readiness import describe_not_ready


def test_readiness(readiness_check, opscheck_http):
    case = readiness_check
    response = opscheck_http.get(case.path, auth=False)
    expect_status(response, case.expect_status, f"GET {case.path}", describe_not_ready(response.status, response.text))
