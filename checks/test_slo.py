"""SLO: sampled latency percentiles, time to first byte and error ratio against budgets and warning bands."""


def test_slo(slo_check):
    slo_check.run()
