"""SLO: sampled latency percentiles, time to first byte and error ratio against budgets and warning bands."""

from opscheck.families.slo import run


def test_slo(slo_check, opscheck_http):
    run(slo_check, opscheck_http)
