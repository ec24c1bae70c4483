"""Server-side SLIs: error ratio from the service's counters, latency quantiles from its histograms."""

from opscheck.families.metrics import run


def test_metrics(metrics_check, opscheck_http):
    run(metrics_check, opscheck_http)
