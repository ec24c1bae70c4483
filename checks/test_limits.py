"""Payload limits: 413 for oversized bodies (with Content-Length and chunked) and batches; the limit itself passes."""

from opscheck.families.limits import run


def test_limits(limits_check, opscheck_http):
    run(limits_check, opscheck_http)
