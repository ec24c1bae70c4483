"""Readiness: the live and ready URLs answer as expected; a not-ready answer names what is down."""


def test_readiness(readiness_check):
    readiness_check.run()
