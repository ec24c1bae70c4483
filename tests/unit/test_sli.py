"""opscheck.measure.sli: parsing both metrics forms, error ratios, histogram quantiles and their bucket intervals (pure, no HTTP)."""

from __future__ import annotations

import math
from decimal import Context, Decimal, localcontext

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from opscheck.measure.sli import (
    Series,
    error_ratio,
    format_bound,
    histogram_quantile,
    loads_json_metrics,
    parse_json_metrics,
    parse_prometheus,
    quantile_interval,
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


# --- quantile_interval: an estimate carries the bucket it is known to lie in ----


def _buckets(counts: dict[str, float], **labels: str) -> list[Series]:
    return [Series("h_bucket", {**labels, "le": le}, value) for le, value in counts.items()]


def test_quantile_past_the_last_bucket_lies_between_it_and_infinity() -> None:
    interval = quantile_interval(_buckets({"0.1": 0, "0.25": 0, "0.5": 0, "+Inf": 200}), 0.95, histogram="h")
    assert (interval.lower, interval.upper) == (Decimal("0.5"), Decimal("Infinity"))
    assert interval.observations == 200
    assert interval.estimate == Decimal("0.5")  # what Prometheus reports: only a lower bound
    assert interval.decide(Decimal(1)) == "undecided"  # 1000 ms: the true p95 may be far higher
    assert interval.decide(Decimal("0.5")) == "fail"  # every observation is above 0.5 s
    assert format_bound(interval.lower) == "0.5" and format_bound(interval.upper) == "+Inf"


def test_budget_below_the_first_bucket_bound_is_undecided() -> None:
    interval = quantile_interval(_buckets({"0.1": 200, "0.25": 200, "+Inf": 200}), 0.95, histogram="h")
    assert (interval.lower, interval.upper, interval.first_bucket) == (Decimal(0), Decimal("0.1"), True)
    assert interval.decide(Decimal("0.05")) == "undecided"
    assert interval.decide(Decimal("0.1")) == "pass"
    assert interval.decide(Decimal(0)) == "undecided"  # observations of exactly 0 are possible


@pytest.mark.parametrize(("budget", "verdict"), [
    ("0.5", "pass"), ("2", "pass"),          # the bucket ends within the budget
    ("0.25", "fail"), ("0.1", "fail"),       # it starts at or above the budget
    ("0.3", "undecided"), ("0.4999", "undecided"),
])
def test_decide_uses_only_the_bucket_bounds_never_the_interpolation(budget: str, verdict: str) -> None:
    interval = quantile_interval(_buckets({"0.1": 10, "0.25": 20, "0.5": 200, "+Inf": 200}), 0.95, histogram="h")
    assert (interval.lower, interval.upper) == (Decimal("0.25"), Decimal("0.5"))
    assert interval.decide(Decimal(budget)) == verdict


def test_quantile_interval_matches_the_estimate_of_histogram_quantile(series: list[Series]) -> None:
    for q in (0.2, 0.5, 0.9, 0.99):
        interval = quantile_interval(series, q, match={"route": "/a"})
        value, observations = histogram_quantile(series, q, match={"route": "/a"})
        assert float(interval.estimate) == pytest.approx(value) and interval.observations == observations
        assert interval.lower <= interval.estimate <= interval.upper


def test_quantile_interval_of_an_empty_histogram_has_no_observations(series: list[Series]) -> None:
    assert quantile_interval(series, 0.99, match={"route": "/idle"}).observations == 0


def test_latency_histogram_with_a_status_label_is_read_over_successful_series_only() -> None:
    fast_errors = _buckets({"0.005": 190, "0.5": 190, "1": 190, "+Inf": 190}, code="500")
    slow_successes = _buckets({"0.005": 0, "0.5": 0, "1": 10, "+Inf": 10}, code="200")
    interval = quantile_interval(fast_errors + slow_successes, 0.95, histogram="h")
    assert (interval.lower, interval.upper, interval.observations) == (Decimal("0.5"), Decimal(1), 10)
    assert (interval.excluded, interval.status_label) == (190, "code")
    # A match that picks the status itself is read as asked; success_statuses=None reads everything.
    picked = quantile_interval(fast_errors + slow_successes, 0.95, histogram="h", match={"code": "500"})
    assert (picked.upper, picked.status_label) == (Decimal("0.005"), None)
    everything = quantile_interval(fast_errors + slow_successes, 0.95, histogram="h", success_statuses=None)
    assert everything.observations == 200 and everything.upper == Decimal("0.005")
    only_errors = quantile_interval(fast_errors, 0.95, histogram="h")
    assert only_errors.observations == 0 and only_errors.excluded == 190


def test_histogram_without_a_status_label_is_read_as_the_service_defines_it(series: list[Series]) -> None:
    interval = quantile_interval(series, 0.5, match={"route": "/a"})
    assert interval.status_label is None and interval.excluded == 0 and interval.observations == 10


# --- status labels: `status` or `code` ----------------------------------------


def test_error_ratio_reads_code_when_there_is_no_status_label() -> None:
    text = (
        "# TYPE prometheus_http_requests_total counter\n"
        'prometheus_http_requests_total{code="200",handler="/api/v1/query"} 95\n'
        'prometheus_http_requests_total{code="503",handler="/api/v1/query"} 5\n'
    )
    parsed = parse_prometheus(text)
    assert error_ratio(parsed, counter="prometheus_http_requests_total") == (Decimal(5), Decimal(100), Decimal("0.05"))
    assert error_ratio(parsed, counter="prometheus_http_requests_total", status_label="code")[0] == 5
    with pytest.raises(LookupError, match=r"has no 'status' label"):
        error_ratio(parsed, counter="prometheus_http_requests_total", status_label="status")


def test_error_ratio_named_label_wins_over_status() -> None:
    both = [Series("c_total", {"status": "active", "code": "500"}, 1.0),
            Series("c_total", {"status": "active", "code": "200"}, 3.0)]
    assert error_ratio(both, counter="c_total") == (Decimal(0), Decimal(4), Decimal(0))  # "active" is no status
    assert error_ratio(both, counter="c_total", status_label="code") == (Decimal(1), Decimal(4), Decimal("0.25"))


# --- the JSON form keeps exact decimals ------------------------------------------


def test_json_metrics_numbers_are_exact_decimals() -> None:
    body = (b'{"requests": [{"method": "GET", "route": "/", "status": 500, "count": 1.00000000000000001},'
            b' {"method": "GET", "route": "/", "status": "200", "count": 99}],'
            b' "latency_seconds": [{"route": "/", "buckets": {"0.1": 3, "+Inf": 4}, "count": 4, "sum": 0.30000000000000001}]}')
    parsed = loads_json_metrics(body)
    errors, total, ratio = error_ratio(parsed)
    assert errors == Decimal("1.00000000000000001") and total == Decimal("100.00000000000000001")
    assert ratio > Decimal("0.01")  # as binary floats it would be 0.01 exactly
    (total_sum,) = [s.value for s in parsed if s.name.endswith("_sum")]
    assert total_sum == Decimal("0.30000000000000001")


@pytest.mark.parametrize(("body", "message"), [
    (b'{"requests": [{"method": "GET", "route": "/", "status": "200", "count": 1e999999999}]}', "out of range"),
    (b'{"requests": [{"method": "GET", "route": "/", "status": "200", "count": 1e400}]}', "out of range"),
    (b'{"requests": [{"method": "GET", "route": "/", "status": "200", "count": NaN}]}', "not"),
    (b"[" * 100_000, "nested too deeply"),
    (b"<html>502</html>", "not JSON"),
])
def test_json_metrics_refuse_what_cannot_be_a_count(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^metrics: .*{message}"):
        loads_json_metrics(body)
