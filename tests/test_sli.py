"""opscheck.sli: parsing both metrics forms, error ratios and histogram quantiles (pure, no HTTP)."""

from __future__ import annotations

import math
from decimal import Context, Decimal, localcontext

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from opscheck.sli import (
    Series,
    error_ratio,
    histogram_quantile,
    parse_json_metrics,
    parse_prometheus,
)

BUCKETS = (0.1, 0.5, 1.0)
# (method, route, status) -> count
REQUESTS = {
    ("GET", "/a", "200"): 7,
    ("GET", "/a", "500"): 2,
    ("GET", "/a", "429"): 1,
    ("GET", "/b", "200"): 3,
    ("GET", "/b", "503"): 1,
    ("POST", "/b", "404"): 2,
    ("GET", "/idle", "200"): 0,  # a child that exists but never counted
}
# route -> observations. Dyadic values, so the float sums are exact and easy to write down.
LATENCIES = {
    "/a": [0.0625] * 4 + [0.25] * 4 + [0.75] * 2,  # cumulative: 0.1:4, 0.5:8, 1.0:10, +Inf:10
    "/b": [0.0625] + [3.0] * 3,  # cumulative: 0.1:1, 0.5:1, 1.0:1, +Inf:4 (the tail is past the last bucket)
    "/idle": [],  # no observation at all
}


def _exposition() -> str:
    """The text a real prometheus_client registry writes for REQUESTS and LATENCIES."""
    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ("method", "route", "status"), registry=registry)
    duration = Histogram(
        "http_request_duration_seconds", "Latency.", ("route",), buckets=BUCKETS, registry=registry
    )
    for (method, route, status), count in REQUESTS.items():
        requests.labels(method=method, route=route, status=status).inc(count)
    for route, observations in LATENCIES.items():
        child = duration.labels(route=route)
        for seconds in observations:
            child.observe(seconds)
    return generate_latest(registry).decode()


# The same data in the documented JSON form; "le" keys as Prometheus writes them ("1.0", "+Inf").
JSON_DOC = {
    "requests": [
        {"method": method, "route": route, "status": status, "count": count}
        for (method, route, status), count in REQUESTS.items()
    ],
    "latency_seconds": [
        {"route": "/a", "buckets": {"0.1": 4, "0.5": 8, "1.0": 10, "+Inf": 10}, "count": 10, "sum": 2.75},
        {"route": "/b", "buckets": {"0.1": 1, "0.5": 1, "1.0": 1, "+Inf": 4}, "count": 4, "sum": 9.0625},
        {"route": "/idle", "buckets": {"0.1": 0, "0.5": 0, "1.0": 0, "+Inf": 0}, "count": 0, "sum": 0},
    ],
}


@pytest.fixture(scope="module")
def series() -> list[Series]:
    return parse_prometheus(_exposition())


def _canonical(series: list[Series]) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in series)


# --- parse_prometheus ---------------------------------------------------------


def test_parse_prometheus_keeps_sample_names_labels_and_values(series: list[Series]) -> None:
    counted = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in series
        if s.name == "http_requests_total"
    }
    assert counted == REQUESTS
    assert {s.name for s in series} == {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_count",
        "http_request_duration_seconds_sum",
    }  # no *_created timestamps: they are not observations
    buckets = {s.labels["le"]: s.value for s in series if s.name.endswith("_bucket") and s.labels["route"] == "/a"}
    assert buckets == {"0.1": 4, "0.5": 8, "1.0": 10, "+Inf": 10}
    sums = {s.labels["route"]: s.value for s in series if s.name == "http_request_duration_seconds_sum"}
    assert sums == {"/a": 2.75, "/b": 9.0625, "/idle": 0.0}


def test_parse_prometheus_empty_text_has_no_series() -> None:
    assert parse_prometheus("") == []


@pytest.mark.parametrize(
    "text", ["<html><body>502 Bad Gateway</body></html>", '{"requests": []}', "Not Found", 'up{job="x" 1']
)
def test_parse_prometheus_rejects_other_formats(text: str) -> None:
    with pytest.raises(ValueError, match=r"^metrics: not Prometheus text format: "):
        parse_prometheus(text)


# --- parse_json_metrics -----------------------------------------------------


def test_parse_json_metrics_equals_the_prometheus_form(series: list[Series]) -> None:
    from_json = parse_json_metrics(JSON_DOC)
    assert _canonical(from_json) == _canonical(series)
    for match in (None, {"route": "/a"}, {"route": "/b", "method": "GET"}):
        assert error_ratio(from_json, match=match) == error_ratio(series, match=match)
    for q in (0.2, 0.5, 0.99):
        assert histogram_quantile(from_json, q) == histogram_quantile(series, q)


def test_parse_json_metrics_accepts_missing_keys_and_integer_statuses() -> None:
    assert parse_json_metrics({"requests": []}) == []
    (only,) = parse_json_metrics({"requests": [{"method": "GET", "route": "/", "status": 503, "count": 2}]})
    assert only == Series("http_requests_total", {"method": "GET", "route": "/", "status": "503"}, 2.0)


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ([], r"\$"),
        ({"metrics": []}, r"\$"),
        ({"requests": {}}, r"requests: expected a list"),
        ({"requests": [{"method": "GET", "route": "/", "status": "200"}]}, r"requests\[0\]\.count"),
        ({"requests": [{"method": "GET", "route": "/", "status": "200", "count": -1}]}, r"requests\[0\]\.count"),
        ({"requests": [{"method": "GET", "route": "/", "status": True, "count": 1}]}, r"requests\[0\]\.status"),
        ({"latency_seconds": [{"route": "/", "buckets": [], "count": 0, "sum": 0}]}, r"latency_seconds\[0\]\.buckets"),
        (
            {"latency_seconds": [{"route": "/", "buckets": {"fast": 1}, "count": 1, "sum": 0}]},
            r"latency_seconds\[0\]\.buckets: bucket bound le='fast'",
        ),
    ],
)
def test_parse_json_metrics_names_the_offending_place(doc: object, where: str) -> None:
    with pytest.raises(ValueError, match=rf"^metrics: .*{where}"):
        parse_json_metrics(doc)


# --- error_ratio ------------------------------------------------------------


def test_error_ratio_counts_5xx_by_default(series: list[Series]) -> None:
    # 2 (GET /a 500) + 1 (GET /b 503) of 16 requests.
    assert error_ratio(series) == (Decimal(3), Decimal(16), Decimal("0.1875"))


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ("5xx,429", (Decimal(4), Decimal(16), Decimal("0.25"))),
        ("4xx,5xx", (Decimal(6), Decimal(16), Decimal("0.375"))),
        (" 500 , 404 ", (Decimal(4), Decimal(16), Decimal("0.25"))),
        ("2xx", (Decimal(10), Decimal(16), Decimal("0.625"))),
        ("5XX,", (Decimal(3), Decimal(16), Decimal("0.1875"))),
    ],
)
def test_error_ratio_status_lists(series: list[Series], statuses: str, expected: tuple[Decimal, ...]) -> None:
    assert error_ratio(series, error_statuses=statuses) == expected


def test_error_ratio_filters_by_other_labels(series: list[Series]) -> None:
    assert error_ratio(series, match={"route": "/a"}) == (Decimal(2), Decimal(10), Decimal("0.2"))
    assert error_ratio(series, match={"route": "/b", "method": "GET"}) == (Decimal(1), Decimal(4), Decimal("0.25"))
    assert error_ratio(series, match={"route": "/b"}, error_statuses="4xx") == (
        Decimal(2),
        Decimal(6),
        Decimal(2) / Decimal(6),
    )


def test_error_ratio_is_exact_where_floats_are_not() -> None:
    # Rates or averaged counters are fractional: 0.1 + 0.2 must be 0.3, not 0.30000000000000004.
    fractional = [
        Series("http_requests_total", {"status": "500"}, 0.1),
        Series("http_requests_total", {"status": "200"}, 0.2),
    ]
    assert 0.1 + 0.2 != 0.3
    errors, total, ratio = error_ratio(fractional)
    assert (errors, total) == (Decimal("0.1"), Decimal("0.3"))
    assert ratio == Decimal(1) / Decimal(3)


def test_error_ratio_ignores_the_callers_decimal_context() -> None:
    counted = [
        Series("http_requests_total", {"status": "500"}, 12345.0),
        Series("http_requests_total", {"status": "200"}, 54321.0),
    ]
    with localcontext(Context(prec=2)):  # would round the total to 6.7E+4
        errors, total, ratio = error_ratio(counted)
    assert (errors, total) == (Decimal(12345), Decimal(66666))
    assert ratio == Decimal(12345) / Decimal(66666)


def test_error_ratio_zero_total_is_reported_not_hidden(series: list[Series]) -> None:
    # The series exists but nothing was counted: total 0 tells the caller "no data".
    assert error_ratio(series, match={"route": "/idle"}) == (Decimal(0), Decimal(0), Decimal(0))


def test_error_ratio_names_what_exists_when_nothing_matches(series: list[Series]) -> None:
    with pytest.raises(LookupError) as caught:
        error_ratio(series, match={"route": "/x"})
    assert str(caught.value) == 'no series http_requests_total{route="/x"} (have routes: /a, /b, /idle)'
    with pytest.raises(LookupError, match=r"^no series grpc_requests_total \(metrics present: http_request_"):
        error_ratio(series, counter="grpc_requests_total")
    with pytest.raises(LookupError, match=r"has no 'code' label \(labels: method, route, status\)"):
        error_ratio(series, status_label="code")


@pytest.mark.parametrize("statuses", ["", " , ", "5xx;429", "server", "600", "5x"])
def test_error_ratio_rejects_unknown_status_lists(series: list[Series], statuses: str) -> None:
    with pytest.raises(ValueError, match="error_statuses"):
        error_ratio(series, error_statuses=statuses)


# --- histogram_quantile -------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.2, 0.05),  # rank 2 of the 4 in the first bucket: interpolated from 0 to 0.1
        (0.4, 0.1),  # rank 4: the first bucket's upper bound
        (0.5, 0.2),  # rank 5: 1 of 4 into (0.1, 0.5]
        (0.9, 0.75),  # rank 9: 1 of 2 into (0.5, 1.0]
        (1.0, 1.0),
        (0.0, 0.0),
    ],
)
def test_histogram_quantile_interpolates_inside_the_bucket(series: list[Series], q: float, expected: float) -> None:
    value, observations = histogram_quantile(series, q, match={"route": "/a"})
    assert value == pytest.approx(expected)
    assert observations == 10


def test_histogram_quantile_in_the_inf_bucket_is_the_highest_finite_bound(series: list[Series]) -> None:
    # 3 of the 4 observations took 3 s, past the last finite bucket (1.0): the estimate is capped there.
    assert histogram_quantile(series, 0.5, match={"route": "/b"}) == (1.0, 4)
    assert histogram_quantile(series, 0.99, match={"route": "/b"}) == (1.0, 4)
    assert histogram_quantile(series, 0.25, match={"route": "/b"}) == (pytest.approx(0.1), 4)


def test_histogram_quantile_sums_the_matching_series_per_bucket(series: list[Series]) -> None:
    # All routes: 0.1:5, 0.5:9, 1.0:11, +Inf:14. The median (rank 7) is 2 of 4 into (0.1, 0.5].
    value, observations = histogram_quantile(series, 0.5)
    assert (value, observations) == (pytest.approx(0.3), 14)


def test_histogram_quantile_without_observations_is_no_data(series: list[Series]) -> None:
    value, observations = histogram_quantile(series, 0.99, match={"route": "/idle"})
    assert math.isnan(value) and observations == 0


def test_histogram_quantile_lookup_and_value_errors(series: list[Series]) -> None:
    expected = r'^no series http_request_duration_seconds_bucket\{route="/x"\} \(have routes: /a, /b, /idle\)$'
    with pytest.raises(LookupError, match=expected):
        histogram_quantile(series, 0.5, match={"route": "/x"})
    with pytest.raises(LookupError, match="no series grpc_latency_bucket"):
        histogram_quantile(series, 0.5, histogram="grpc_latency")
    for q in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="quantile"):
            histogram_quantile(series, q)
    no_inf = [Series("h_bucket", {"le": "1.0"}, 3.0)]
    with pytest.raises(ValueError, match=r'no le="\+Inf" bucket'):
        histogram_quantile(no_inf, 0.5, histogram="h")
    only_inf = [Series("h_bucket", {"le": "+Inf"}, 3.0)]
    with pytest.raises(ValueError, match="no finite bound"):
        histogram_quantile(only_inf, 0.5, histogram="h")


def test_histogram_quantile_treats_equal_bounds_as_one_bucket_and_repairs_decreases() -> None:
    # "1" (Go client) and "1.0" (Python client) are the same bound; a count that went down
    # between buckets (a scrape racing an update) is carried up, as Prometheus does.
    buckets = [
        Series("h_bucket", {"le": "0.25", "pod": "a"}, 2.0),
        Series("h_bucket", {"le": "0.5", "pod": "a"}, 1.0),  # decreased: read as 2
        Series("h_bucket", {"le": "1", "pod": "a"}, 3.0),
        Series("h_bucket", {"le": "+Inf", "pod": "a"}, 3.0),
        Series("h_bucket", {"le": "1.0", "pod": "b"}, 1.0),
        Series("h_bucket", {"le": "+Inf", "pod": "b"}, 2.0),
    ]
    # Summed: 0.25:2, 0.5:1 -> 2, 1.0:4, +Inf:5. Rank 3 (q=0.6) is 1 of 2 into (0.5, 1.0]
    # (without the repair it would be 2 of 3, 0.83).
    assert histogram_quantile(buckets, 0.6, histogram="h") == (pytest.approx(0.75), 5)
    assert histogram_quantile(buckets, 0.4, histogram="h") == (pytest.approx(0.25), 5)
