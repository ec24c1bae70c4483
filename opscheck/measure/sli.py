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
  (nothing recorded yet); ``status`` may also be given as an integer. Numbers are
  kept as exact :class:`~decimal.Decimal` values (give them to :func:`parse_json_metrics`
  already parsed with ``parse_float=Decimal``, as :func:`loads_json_metrics` does with
  ``opscheck.jsonvalue``), so
  ``5.00000000000000001`` stays what was written. The text form holds doubles by
  definition; each becomes the shortest decimal that reads back as that double (what
  Prometheus, the Go and the Python clients write), so both forms of one scrape compare
  equal.

:func:`error_ratio`, :func:`quantile_interval` and :func:`histogram_quantile` work on
either form. All raise ``LookupError`` when nothing matches (a typo in a route is not
"0 % errors"); a matching but empty counter or histogram is reported as no data instead
(total 0, 0 observations, or ``(nan, 0)``), which the caller must not read as a pass.

A bucket histogram only tells in which bucket a quantile lies. :func:`quantile_interval`
returns that bucket, ``(lower, upper]``, and :meth:`QuantileInterval.decide` judges a
budget on it: "pass" only when the upper bound is within the budget, "fail" when the
lower bound is over it, else "undecided". The interpolated estimate Prometheus'
``histogram_quantile`` gives is kept for display only.

Status labels: the error ratio reads the status from the ``status`` label, else from
``code`` (Prometheus itself and the Go client library label it ``code``), unless the
caller names the label. A latency histogram whose series carry such a label is read
over the successful (2xx and 3xx) series only: an instant 500 is no fast answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from typing import Literal

__all__ = [
    "QuantileInterval",
    "Series",
    "error_ratio",
    "format_bound",
    "histogram_quantile",
    "loads_json_metrics",
    "parse_json_metrics",
    "parse_prometheus",
    "quantile_interval",
]

REQUESTS_TOTAL = "http_requests_total"
DURATION_HISTOGRAM = "http_request_duration_seconds"
_STATUS_PATTERN = re.compile(r"[1-5][0-9x]{2}")
_SNIPPET_CHARS = 200
# Where a status is read from when the caller names no label: opscheck's own JSON form and most
# Python exporters write `status`, Prometheus and the Go client library write `code`.
STATUS_LABELS = ("status", "code")
# A latency histogram carrying a status label is read over these series only.
SUCCESS_STATUSES = "2xx,3xx"
# Every exporter writes IEEE doubles; a JSON number far outside their range is no real count or
# bound, and Decimal arithmetic on it would overflow the fixed context.
_MAX_ADJUSTED_EXPONENT = 308
_EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Series:
    """One sample: a metric name, its labels and its value (e.g. ``http_requests_total``).

    ``value`` is a Decimal from either parser (NaN and infinities possible from the text form);
    a float is accepted where series are built by hand."""

    name: str
    labels: dict[str, str]
    value: float | Decimal


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
        Series(sample.name, dict(sample.labels), _decimal_of_double(float(sample.value)))
        for family in families
        for sample in family.samples
        if sample.name not in created
    ]


def loads_json_metrics(data: bytes | str) -> list[Series]:
    """Parse a JSON metrics body with every number an exact Decimal, then :func:`parse_json_metrics`.

    Raises ``ValueError("metrics: ...")`` for a body that is not JSON or not the documented shape.
    """
    try:
        from opscheck import jsonvalue  # the shared bounded reader: exact numbers, bounded depth and digits
    except ImportError:  # pragma: no cover - only in a tree that predates it
        jsonvalue = None  # type: ignore[assignment]
    try:
        if jsonvalue is not None:
            doc = jsonvalue.loads(data, what="metrics")
        else:  # pragma: no cover
            doc = json.loads(data, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:  # JsonError and JSONDecodeError are ValueErrors
        text = str(exc)
        raise ValueError(text if text.startswith("metrics: ") else f"metrics: not JSON: {_snippet(text)}") from None
    except RecursionError:  # pragma: no cover - the bounded reader never lets one through
        raise ValueError("metrics: not JSON: nested too deeply") from None
    return parse_json_metrics(doc)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _decimal_of_double(value: float) -> Decimal:
    # repr() is the shortest text that reads back as the same double: what the exporter wrote.
    if not math.isfinite(value):
        return Decimal(str(value).replace("inf", "Infinity"))  # NaN, Infinity, -Infinity
    return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))


def parse_json_metrics(doc: object) -> list[Series]:
    """The Series of the documented JSON form (see the module docstring), values as exact Decimals.

    ``doc`` is the parsed JSON; numbers may be int, float or Decimal (a float is taken as the
    shortest text that reads back as it). Raises ``ValueError("metrics: not the documented
    JSON shape: ...")`` naming the first offending place, e.g. ``requests[2].count``.
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
    if allow_int and isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))  # 503 read with parse_int=Decimal
    if not isinstance(value, str):
        raise _shape_error(f"{where}.{key}", f"expected a string, got {_shown(value)}")
    return value


def _json_number(entry: Mapping[str, object], key: str, where: str) -> Decimal:
    value = entry.get(key)
    number: Decimal | None = None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = Decimal(repr(value))  # the shortest text of the double, not its binary expansion
    if number is None or not number.is_finite():
        raise _shape_error(f"{where}.{key}", f"expected a finite number, got {_shown(value)}")
    if number and abs(number.adjusted()) > _MAX_ADJUSTED_EXPONENT:
        raise _shape_error(f"{where}.{key}", f"number out of range: {_shown(value)}")
    return number


def _json_count(entry: Mapping[str, object], key: str, where: str) -> Decimal:
    value = _json_number(entry, key, where)
    if value < 0:
        raise _shape_error(f"{where}.{key}", f"a count cannot be negative, got {_shown(value)}")
    return value


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        return _snippet(str(value))
    return _snippet(repr(value))


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
    status_label: str | None = None,
    error_statuses: str = "5xx",
    match: Mapping[str, str] | None = None,
) -> tuple[Decimal, Decimal, Decimal]:
    """``(errors, total, ratio)`` of a request counter, as exact Decimals.

    ``status_label`` names the label holding the status; None reads ``status``, else
    ``code``, per series. ``error_statuses`` is a comma-separated list of status classes
    and codes, e.g. ``"5xx"``, ``"5xx,429"`` or ``"4xx,5xx"``. ``match`` keeps only the
    series whose labels have these values (``{"route": "/api/items"}``). The ratio is 0
    when the total is 0: the caller must treat ``total == 0`` as "no data", not as
    healthy. Raises ``LookupError`` when no series matches or none has the status label.
    """
    is_error = _status_matcher(error_statuses)
    selected = _select(series, counter, match)
    if not selected:
        raise _no_series(series, counter, match)
    if not any(_status_of(s, status_label) is not None for s in selected):
        wanted = repr(status_label) if status_label else " or ".join(repr(n) for n in STATUS_LABELS)
        raise LookupError(
            f"{_selector(counter, match)} has no {wanted} label "
            f"(labels: {_listing(sorted({k for s in selected for k in s.labels}))})"
        )
    # A fixed context: the caller's global Decimal settings (precision, traps) must not
    # change the answer. Sums of counts are exact at any realistic size; only the ratio
    # of e.g. 1/3 is rounded, to 28 digits.
    with localcontext(_EXACT):
        errors = Decimal(0)
        total = Decimal(0)
        for s in selected:
            value = _exact(s)
            total += value
            if is_error(_status_of(s, status_label) or ""):
                errors += value
        return errors, total, (errors / total if total else Decimal(0))


def _status_of(s: Series, status_label: str | None) -> str | None:
    if status_label:
        return s.labels.get(status_label)
    for name in STATUS_LABELS:
        if name in s.labels:
            return s.labels[name]
    return None


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
    if isinstance(s.value, Decimal):
        if not s.value.is_finite():
            raise ValueError(f"metrics: {_selector(s.name, s.labels)} has a non-finite value {s.value}")
        return s.value
    if not math.isfinite(s.value):
        raise ValueError(f"metrics: {_selector(s.name, s.labels)} has a non-finite value {s.value!r}")
    value = float(s.value)
    return Decimal(int(value)) if value.is_integer() else Decimal(repr(value))


# --- latency quantile ---------------------------------------------------------


@dataclass(frozen=True)
class QuantileInterval:
    """Where a quantile of a bucket histogram is known to lie, in the histogram's unit.

    The quantile lies in ``(lower, upper]``: ``upper`` is the bound of the bucket holding
    the quantile's rank (``Decimal("Infinity")`` in the ``+Inf`` bucket), ``lower`` the
    bound of the bucket below (0 below a positive first bucket, where the quantile may
    also equal 0). ``estimate`` is Prometheus' linear interpolation inside that bucket
    (the highest finite bound in the ``+Inf`` bucket): for display, never for judging.
    ``observations`` were counted in the buckets read; ``excluded`` in the series left out
    because their status label was no success (see :func:`quantile_interval`).
    """

    q: float
    lower: Decimal
    upper: Decimal
    estimate: Decimal
    observations: Decimal
    first_bucket: bool
    excluded: Decimal = Decimal(0)
    status_label: str | None = None  # the label the successful series were picked by, if any

    def decide(self, budget: Decimal) -> Literal["pass", "fail", "undecided"]:
        """Judge ``quantile <= budget`` (same unit): proven, disproven, or not decidable from these buckets."""
        if self.upper <= budget:
            return "pass"
        # Above `lower` strictly, except in the first bucket, whose observations may equal it.
        if self.lower > budget or (self.lower == budget and not self.first_bucket):
            return "fail"
        return "undecided"


def quantile_interval(
    series: list[Series],
    q: float,
    *,
    histogram: str = DURATION_HISTOGRAM,
    match: Mapping[str, str] | None = None,
    status_label: str | None = None,
    success_statuses: str | None = SUCCESS_STATUSES,
) -> QuantileInterval:
    """The bucket the ``q`` quantile lies in, from the ``<histogram>_bucket`` series that match.

    Matching series are summed per ``le`` (as ``sum by (le) (...)``; "1" and "1.0" are one
    bound); a cumulative count that decreases is carried up, as Prometheus does. The
    quantile's rank is ``q * observations``; its bucket is the first whose cumulative count
    reaches the rank.

    Successful requests only: when the series carry a status label (``status_label``, or
    ``status``/``code`` when None) and ``match`` does not itself pick a status, only the
    series whose status is in ``success_statuses`` ("2xx,3xx") are read. Series without
    the label are read as they are: then the histogram is the service's own definition.
    ``success_statuses=None`` reads every series.

    Returns ``observations == 0`` when the buckets read hold no observation ("no data").
    Raises ``LookupError`` when no bucket matches; ``ValueError`` for ``q`` outside
    [0, 1], buckets without ``le="+Inf"``, or a bound or count that is no finite number.
    """
    if not 0.0 <= q <= 1.0:  # also rejects NaN
        raise ValueError(f"quantile must be within [0, 1], got {q!r}")
    bucket_name = f"{histogram}_bucket"
    selected = [s for s in _select(series, bucket_name, match) if "le" in s.labels]
    if not selected:
        raise _no_series(series, bucket_name, match)
    where = _selector(histogram, match)

    label_used: str | None = None
    excluded = Decimal(0)
    labels_named = [status_label] if status_label else list(STATUS_LABELS)
    picks_status = any(name in (match or {}) for name in labels_named)
    if success_statuses is not None and not picks_status and any(_status_of(s, status_label) for s in selected):
        is_success = _status_matcher(success_statuses)
        label_used = status_label or next(n for n in STATUS_LABELS if any(n in s.labels for s in selected))
        kept = [s for s in selected if is_success(_status_of(s, status_label) or "")]
        kept_ids = {id(s) for s in kept}
        with localcontext(_EXACT):
            # Each series' +Inf bucket holds all its observations.
            excluded = sum((_exact(s) for s in selected
                            if id(s) not in kept_ids and _parse_le(s.labels["le"], where).is_infinite()), Decimal(0))
        selected = kept

    with localcontext(_EXACT):
        counts: dict[Decimal, Decimal] = {}
        for s in selected:
            bound = _parse_le(s.labels["le"], _selector(bucket_name, match))
            counts[bound] = counts.get(bound, Decimal(0)) + _exact(s)
        if not counts:  # every series had a failing status: nothing successful was observed
            return QuantileInterval(q, Decimal(0), Decimal("Infinity"), Decimal(0), Decimal(0), True, excluded, label_used)
        bounds = sorted(counts)
        if not bounds[-1].is_infinite():
            raise ValueError(f'metrics: {where} has no le="+Inf" bucket')
        cumulative: list[Decimal] = []
        for bound in bounds:
            cumulative.append(max(counts[bound], cumulative[-1] if cumulative else Decimal(0)))
        observations = cumulative[-1]
        floor = Decimal(0) if bounds[0] > 0 else Decimal("-Infinity")
        if observations <= 0:
            return QuantileInterval(q, floor, bounds[0], Decimal(0), Decimal(0), True, excluded, label_used)
        rank = Decimal(repr(float(q))) * observations
        b = next((i for i, count in enumerate(cumulative) if count >= rank), len(bounds) - 1)
        lower = bounds[b - 1] if b > 0 else floor
        upper = bounds[b]
        return QuantileInterval(q, lower, upper, _estimate(bounds, cumulative, b, rank), observations, b == 0,
                                excluded, label_used)


def _estimate(bounds: list[Decimal], cumulative: list[Decimal], b: int, rank: Decimal) -> Decimal:
    """Prometheus' interpolation inside bucket ``b`` (display only)."""
    if bounds[b].is_infinite():
        return bounds[b - 1] if b > 0 else Decimal(0)
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start = bounds[b - 1] if b > 0 else Decimal(0)
    below = cumulative[b - 1] if b > 0 else Decimal(0)
    in_bucket = cumulative[b] - below
    if in_bucket <= 0:  # only when q == 0 and the bucket is empty: the rank sits at its lower edge
        return start
    return start + (bounds[b] - start) * ((rank - below) / in_bucket)


def histogram_quantile(
    series: list[Series],
    q: float,
    *,
    histogram: str = DURATION_HISTOGRAM,
    match: Mapping[str, str] | None = None,
) -> tuple[float, int]:
    """``(quantile, observations)`` estimated like Prometheus' ``histogram_quantile``: display only.

    An estimate is no measurement; judge a budget with :func:`quantile_interval` instead.
    Every matching series is read (no status filtering). The value is in the histogram's
    unit, interpolated linearly inside its bucket (the first bucket starts at 0); a rank in
    the ``+Inf`` bucket yields the highest finite upper bound, a lower bound of the truth.

    Returns ``(nan, 0)`` when the buckets hold no observation: "no data" for the caller.
    Raises ``LookupError`` when no bucket matches, and ``ValueError`` for ``q`` outside
    [0, 1] or buckets without ``le="+Inf"`` or without a finite bound.
    """
    interval = quantile_interval(series, q, histogram=histogram, match=match, success_statuses=None)
    where = _selector(f"{histogram}_bucket", match)
    bounds = {_parse_le(s.labels["le"], where) for s in _select(series, f"{histogram}_bucket", match) if "le" in s.labels}
    if len(bounds) < 2:
        raise ValueError(f'metrics: {_selector(histogram, match)} has only the le="+Inf" bucket; '
                         "no finite bound to estimate from")
    if interval.observations <= 0:
        return math.nan, 0
    return float(interval.estimate), int(interval.observations)


def _parse_le(le: str, where: str) -> Decimal:
    try:
        bound = Decimal(le.strip())  # reads "+Inf" and "Inf" as well
    except (InvalidOperation, ValueError):
        raise ValueError(f"metrics: {where}: bucket bound le={le!r} is not a number") from None
    if bound.is_nan() or (bound.is_infinite() and bound < 0):
        raise ValueError(f"metrics: {where}: bucket bound le={le!r} is not a number")
    if bound and bound.is_finite() and abs(bound.adjusted()) > _MAX_ADJUSTED_EXPONENT:
        raise ValueError(f"metrics: {where}: bucket bound le={le!r} is out of range")
    return bound


def format_bound(value: Decimal) -> str:
    """A bucket bound as Prometheus writes it: ``0.5``, ``1``, ``+Inf``."""
    if value.is_infinite():
        return "+Inf" if value > 0 else "-Inf"
    text = format(value.normalize(), "f")
    return text
