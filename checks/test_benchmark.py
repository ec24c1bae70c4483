"""Benchmark: pytest-benchmark timings with mean and p95 thresholds that fail the test itself."""

from opscheck.families.benchmark import run


def test_benchmark(benchmark_check, opscheck_http, benchmark, opscheck_baseline):
    run(benchmark_check, opscheck_http, benchmark, opscheck_baseline)
