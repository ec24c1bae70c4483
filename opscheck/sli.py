"""Service-level indicators from a service's metrics: error ratios and latency quantiles.

Pure logic: the caller fetches the metrics text (or JSON) and hands it over, so the
same numbers come out of a live scrape, a saved file or a test fixture.

Two input forms give the same :class:`Series`:

* Prometheus text format (``GET /metrics``), parsed by :func:`parse_prometheus`.
  Counter samples keep their ``_total`` names (``http_requests_total``).
* The JSON form (``GET /metrics.json``), parsed by :func:`parse_json_metrics`::

    {
      "requests": [
        {"method": "GET", "route": "/api/items", "status": "200", "count": 12}
      ],
      "latency_seconds": [
        {"route": "/api/items", "buckets": {"0.005": 3, "0.01": 10, "+Inf": 12}, "count": 12, "sum": 0.08}
      ]
    }

  Each ``requests`` entry becomes one ``http_requests_total{method, route, status}``
  series. Each ``latency_seconds`` entry becomes one
  ``http_request_duration_seconds_bucket{route, le}`` series per bucket (cumulative
  counts keyed by the bucket's upper bound, written as Prometheus writes ``le``,
  ``"+Inf"`` included), plus ``http_request_duration_seconds_count{route}`` and
  ``http_request_duration_seconds_sum{route}``. Either top-level key may be absent
  (nothing recorded yet); ``status`` may also be given as an integer.

:func:`error_ratio` and :func:`histogram_quantile` work on either form. Both raise
``LookupError`` when nothing matches (a typo in a route is not "0 % errors"); a
matching but empty counter or histogram is reported as no data instead (total 0,
or ``(nan, 0)``), which the caller must not read as a pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

__all__ = [
    "Series",
    "error_ratio",
    "histogram_quantile",
    "parse_json_metrics",
    "parse_prometheus",
]

REQUESTS_TOTAL = "http_requests_total"
DURATION_HISTOGRAM = "http_request_duration_seconds"
_STATUS_PATTERN = re.compile(r"[1-5][0-9x]{2}")
_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class Series:
    """One sample: a metric name, its labels and its value (e.g. ``http_requests_total``)."""

    name: str
    labels: dict[str, str]
    value: float


# --- parsing ------------------------------------------------------------------


def parse_prometheus(text: str) -> list[Series]:
    """Every sample of a Prometheus text exposition, in the order written.

    Raises ``ValueError("metrics: not Prometheus text format: ...")`` when ``text``
    is something else (an HTML error page, JSON, a truncated line).
    """
    # prometheus-client is an optional dependency (the "demo" extra): imported only
    # here, so the JSON form and the calculations work without it.
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:
        hint = "parsing Prometheus text needs prometheus-client (pip install 'opscheck[demo]')"
        raise ImportError(f"{hint}: {exc}") from exc

    try:
        # The parser is lazy: errors surface while iterating, so iterate inside the try.
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise ValueError(f"metrics: not Prometheus text format: {_snippet(str(exc))}") from None
    # prometheus_client writes a `<name>_created` gauge (a Unix timestamp) after each
    # counter and histogram. It is no observation and the JSON form has no counterpart,
    # so dropping it keeps both forms equal and keeps it out of any sum.
    created = {f"{f.name}_created" for f in families if f.type in ("counter", "histogram", "summary")}
    return [
        Series(sample.name, dict(sample.labels), float(sample.value))
        for family in families
        for sample in family.samples
        if sample.name not in created
    ]


def parse_json_metrics(doc: object) -> list[Series]:
    """The Series of the documented JSON form (see the module docstring).

    Raises ``ValueError("metrics: not the documented JSON shape: ...")`` naming the
    first offending place, e.g. ``requests[2].count``.
    """
    if not isinstance(doc, Mapping) or not ({"requests", "latency_seconds"} & doc.keys()):
        raise _shape_error("$", 'expected an object with "requests" and/or "latency_seconds"')
    series: list[Series] = []
    for i, raw in enumerate(_json_list(doc.get("requests", []), "requests")):
        where = f"requests[{i}]"
        entry = _json_object(raw, where)
        labels = {
            "method": _json_str(entry, "method", where),
            "route": _json_str(entry, "route", where),
            "status": _json_str(entry, "status", where, allow_int=True),
        }
        series.append(Series(REQUESTS_TOTAL, labels, _json_count(entry, "count", where)))
    for i, raw in enumerate(_json_list(doc.get("latency_seconds", []), "latency_seconds")):
        where = f"latency_seconds[{i}]"
        entry = _json_object(raw, where)
        route = _json_str(entry, "route", where)
        buckets = _json_object(entry.get("buckets"), f"{where}.buckets")
        for le in buckets:
            if not isinstance(le, str):
                raise _shape_error(f"{where}.buckets", f"bucket bounds are strings like \"0.5\", got {le!r}")
            _parse_le(le, f"{where}.buckets")  # validated now, so a bad bound names its place
            series.append(
                Series(
                    f"{DURATION_HISTOGRAM}_bucket",
                    {"route": route, "le": le},
                    _json_count(buckets, le, f"{where}.buckets"),
                )
            )
        series.append(Series(f"{DURATION_HISTOGRAM}_count", {"route": route}, _json_count(entry, "count", where)))
        series.append(Series(f"{DURATION_HISTOGRAM}_sum", {"route": route}, _json_number(entry, "sum", where)))
    return series


def _shape_error(where: str, problem: str) -> ValueError:
    return ValueError(f"metrics: not the documented JSON shape: {where}: {problem}")


def _json_list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise _shape_error(where, f"expected a list, got {type(value).__name__}")
    return value


def _json_object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _shape_error(where, f"expected an object, got {type(value).__name__}")
    return value


def _json_str(entry: Mapping[str, object], key: str, where: str, *, allow_int: bool = False) -> str:
    value = entry.get(key)
    # bool is an int subclass; True is never a status code.
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _shape_error(f"{where}.{key}", f"expected a string, got {value!r}")
    return value


def _json_number(entry: Mapping[str, object], key: str, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _shape_error(f"{where}.{key}", f"expected a finite number, got {value!r}")
    return float(value)


def _json_count(entry: Mapping[str, object], key: str, where: str) -> float:
    value = _json_number(entry, key, where)
    if value < 0:
        raise _shape_error(f"{where}.{key}", f"a count cannot be negative, got {value!r}")
    return value


# --- selection ----------------------------------------------------------------


def _select(series: Iterable[Series], name: str, match: Mapping[str, str] | None) -> list[Series]:
    wanted = dict(match or {})
    return [s for s in series if s.name == name and all(s.labels.get(k) == v for k, v in wanted.items())]


def _selector(name: str, match: Mapping[str, str] | None) -> str:
    if not match:
        return name
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in match.items()) + "}"


def _no_series(series: list[Series], name: str, match: Mapping[str, str] | None) -> LookupError:
    """A LookupError that says what *is* there, so a typo in a route is obvious."""
    named = [s for s in series if s.name == name]
    if not named:
        present = sorted({s.name for s in series})
        have = f"metrics present: {_listing(present)}" if present else "the metrics are empty"
        return LookupError(f"no series {_selector(name, match)} ({have})")
    # For each filter label, the values that do exist, e.g. "have routes: /api/items, /health".
    haves = [
        f"have {key}s: {_listing(sorted({s.labels[key] for s in named if key in s.labels}))}"
        for key in (match or {})
    ]
    if not haves:  # the name exists, but not with the labels needed (a bucket without "le")
        return LookupError(f"no usable series {_selector(name, match)} ({len(named)} without the needed labels)")
    return LookupError(f"no series {_selector(name, match)} ({'; '.join(haves)})")


def _listing(values: list[str], limit: int = 20) -> str:
    if not values:
        return "none"
    more = f", ... (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def _snippet(text: str) -> str:
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "..."


# --- error ratio ------------------------------------------------------------


def error_ratio(
    series: list[Series],
    *,
    counter: str = REQUESTS_TOTAL,
    status_label: str = "status",
    error_statuses: str = "5xx",
    match: Mapping[str, str] | None = None,
) -> tuple[Decimal, Decimal, Decimal]:
    """``(errors, total, ratio)`` of a request counter, as exact Decimals.

    ``error_statuses`` is a comma-separated list of status classes and codes, e.g.
    ``"5xx"``, ``"5xx,429"`` or ``"4xx,5xx"``. ``match`` keeps only the series whose
    labels have these values (``{"route": "/api/items"}``). The ratio is 0 when the
    total is 0: the caller must treat ``total == 0`` as "no data", not as healthy.
    Raises ``LookupError`` when no series matches.
    """
    is_error = _status_matcher(error_statuses)
    selected = _select(series, counter, match)
    if not selected:
        raise _no_series(series, counter, match)
    if not any(status_label in s.labels for s in selected):
        raise LookupError(
            f"{_selector(counter, match)} has no {status_label!r} label "
            f"(labels: {_listing(sorted({k for s in selected for k in s.labels}))})"
        )
    # A fixed context: the caller's global Decimal settings (precision, traps) must not
    # change the answer. Sums of counts are exact at any realistic size; only the ratio
    # of e.g. 1/3 is rounded, to 28 digits.
    with localcontext(Context(prec=28, rounding=ROUND_HALF_EVEN)):
        errors = Decimal(0)
        total = Decimal(0)
        for s in selected:
            value = _exact(s)
            total += value
            if is_error(s.labels.get(status_label, "")):
                errors += value
        return errors, total, (errors / total if total else Decimal(0))


def _status_matcher(error_statuses: str) -> _StatusMatcher:
    patterns = [part.strip().lower() for part in error_statuses.split(",") if part.strip()]
    bad = [p for p in patterns if not _STATUS_PATTERN.fullmatch(p)]
    if not patterns or bad:
        raise ValueError(
            f"error_statuses must be status classes or codes like '5xx' or '5xx,429', got {error_statuses!r}"
        )
    return _StatusMatcher(tuple(patterns))


@dataclass(frozen=True)
class _StatusMatcher:
    patterns: tuple[str, ...]

    def __call__(self, status: str) -> bool:
        status = status.strip()
        return len(status) == 3 and any(
            all(want in ("x", have) for want, have in zip(pattern, status)) for pattern in self.patterns
        )


def _exact(s: Series) -> Decimal:
    # Decimal(float) would carry binary noise (0.1 -> 0.1000000000000000055...);
    # counts are integers, and the shortest repr is what the exposition wrote.
    if not math.isfinite(s.value):
        raise ValueError(f"metrics: {_selector(s.name, s.labels)} has a non-finite value {s.value!r}")
    value = float(s.value)
    return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))


# --- latency quantile ---------------------------------------------------------


def histogram_quantile(
    series: list[Series],
    q: float,
    *,
    histogram: str = DURATION_HISTOGRAM,
    match: Mapping[str, str] | None = None,
) -> tuple[float, int]:
    """``(quantile, observations)`` estimated like Prometheus' ``histogram_quantile``.

    The value is in the histogram's unit (seconds for the default histogram). The
    ``<histogram>_bucket`` series that match are summed per ``le`` (as
    ``sum by (le) (...)`` would), the quantile's rank is located in the cumulative
    buckets and interpolated linearly inside its bucket (the first bucket starts at
    0). A rank in the ``+Inf`` bucket yields the highest finite upper bound, so a
    tail past the last bucket is reported as that bound, not as infinity.

    Returns ``(nan, 0)`` when the buckets hold no observation: "no data" for the
    caller. Raises ``LookupError`` when no bucket matches, and ``ValueError`` for
    ``q`` outside [0, 1] or buckets without ``le="+Inf"`` or without a finite bound.
    """
    if not 0.0 <= q <= 1.0:  # also rejects NaN
        raise ValueError(f"quantile must be within [0, 1], got {q!r}")
    bucket_name = f"{histogram}_bucket"
    selected = [s for s in _select(series, bucket_name, match) if "le" in s.labels]
    if not selected:
        raise _no_series(series, bucket_name, match)

    # Sum across series per upper bound; compare bounds as numbers ("1" and "1.0" are one bucket).
    counts: dict[float, float] = {}
    for s in selected:
        bound = _parse_le(s.labels["le"], _selector(bucket_name, match))
        counts[bound] = counts.get(bound, 0.0) + s.value
    bounds = sorted(counts)
    where = _selector(histogram, match)
    if bounds[-1] != math.inf:
        raise ValueError(f'metrics: {where} has no le="+Inf" bucket')
    if len(bounds) < 2:
        raise ValueError(f'metrics: {where} has only the le="+Inf" bucket; no finite bound to estimate from')

    # Cumulative counts must not decrease; a scrape racing an update can break that,
    # and Prometheus repairs it the same way (carry the running maximum).
    cumulative: list[float] = []
    for bound in bounds:
        cumulative.append(max(counts[bound], cumulative[-1] if cumulative else 0.0))

    observations = cumulative[-1]
    if observations <= 0:
        return math.nan, 0
    rank = q * observations
    # The first bucket whose cumulative count reaches the rank; the +Inf bucket if none of the finite ones does.
    b = next((i for i, count in enumerate(cumulative[:-1]) if count >= rank), len(bounds) - 1)
    if b == len(bounds) - 1:
        return bounds[-2], int(observations)
    if b == 0 and bounds[0] <= 0:
        return bounds[0], int(observations)
    start = bounds[b - 1] if b > 0 else 0.0
    below = cumulative[b - 1] if b > 0 else 0.0
    in_bucket = cumulative[b] - below
    if in_bucket <= 0:  # only when q == 0 and the bucket is empty: the rank sits at its lower edge
        return start, int(observations)
    return start + (bounds[b] - start) * ((rank - below) / in_bucket), int(observations)


def _parse_le(le: str, where: str) -> float:
    try:
        bound = float(le)  # float() reads "+Inf" as well
    except ValueError:
        raise ValueError(f"metrics: {where}: bucket bound le={le!r} is not a number") from None
    if math.isnan(bound):
        raise ValueError(f"metrics: {where}: bucket bound le={le!r} is not a number")
    return bound
