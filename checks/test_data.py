"""Data: freshness of a timestamp or a file, and KPI values against target, warning and critical bands."""

from opscheck.families.data import run


def test_freshness(freshness_check, opscheck_http):
    run(freshness_check, opscheck_http)


def test_thresholds(thresholds_check, opscheck_http):
    run(thresholds_check, opscheck_http)
