"""Server-side SLIs: error ratio from the service's counters, latency quantiles from its histograms."""


def test_metrics(metrics_check):
    metrics_check.run()
