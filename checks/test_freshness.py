"""Freshness: the age of a timestamp field or a file against its bounds."""


def test_freshness(freshness_check):
    freshness_check.run()
