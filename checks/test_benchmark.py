"""Benchmark: pytest-benchmark timings with mean and p95 thresholds that fail the test itself."""


def test_benchmark(benchmark_check):
    benchmark_check.run()
