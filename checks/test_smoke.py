"""Smoke: each `smoke:` entry is one request whose answer must match its `expect:` block."""


def test_smoke(smoke_check):
    smoke_check.run()
