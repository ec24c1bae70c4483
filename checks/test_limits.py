"""Payload limits: 413 for oversized bodies (with Content-Length and chunked) and batches; the limit itself passes."""


def test_limits(limits_check):
    limits_check.run()
