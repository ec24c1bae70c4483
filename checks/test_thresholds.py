"""Thresholds: KPI values against target, warning and critical bands."""


def test_thresholds(thresholds_check):
    thresholds_check.run()
