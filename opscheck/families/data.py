"""Data checks: freshness of a timestamp (or a file's mtime) and KPI values against their bands.

The runbook sentences they encode: "data freshness < 6 h, warning > 8 h, critical > 12 h" and
"PAR_90 target < 3 %, warning > 3 %, critical > 5 %". Comparisons are exact Decimals: bodies and
files are read with opscheck.jsonvalue (exact numbers, bounded depth and size of numbers).

What fails, and with which reason:
- nothing to measure (`no_data`): the field is absent or null, the file does not exist;
- a body or file that is not usable JSON, or a value that is not a number/timestamp (`body`);
- impossible values: a stamp (or mtime) more than `max_clock_skew` (default 5 min) in the future is
  `stale` ("a local time labelled Z, or a clock error?"), a negative percentage (unit "%") is
  `threshold`. Neither can pass, whatever the band says.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from opscheck import jsonvalue
from opscheck.measure.bands import (MAX_CLOCK_SKEW_S, Band, FieldAbsent, age_seconds, classify, describe, format_duration,
                            json_path_get, parse_duration, parse_timestamp, to_decimal)
from opscheck.evidence.kinds import Evidence
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class DataCase(Case):
    source: str | None = None  # a path on the service or an http(s) URL
    file: Path | None = None  # or a local JSON file
    field_path: str | None = None  # where the value is; None with mtime for a file's age
    mtime: bool = False
    band: Band = Band()
    unit: str = ""
    max_clock_skew: Decimal = MAX_CLOCK_SKEW_S  # seconds a stamp may lie in the future


def build_freshness(entries: list[dict[str, Any]], b: Builder) -> Iterator[DataCase]:
    yield from _build("freshness", entries, b)


def build_thresholds(entries: list[dict[str, Any]], b: Builder) -> Iterator[DataCase]:
    yield from _build("thresholds", entries, b)


def _build(family: str, entries: list[dict[str, Any]], b: Builder) -> Iterator[DataCase]:
    cases: list[DataCase] = []
    for index, entry in enumerate(entries):
        path = (family, index)
        if ("source" in entry) == ("file" in entry):
            b.problem(path, "give exactly one of `source` (a path on the service or a URL) and `file`")
            continue
        mtime = bool(entry.get("mtime", False))
        if mtime and "file" not in entry:
            b.problem(path + ("mtime",), "mtime needs a `file`")
            continue
        if not mtime and "field" not in entry:
            b.problem(path, "name the `field` that holds the value" + (" (or set mtime: true)" if family == "freshness" else ""))
            continue
        try:
            band = _band(family, entry)
            skew = parse_duration(entry["max_clock_skew"]) if "max_clock_skew" in entry else MAX_CLOCK_SKEW_S
        except _BadBound as exc:
            b.problem(path + (exc.key,), str(exc))
            continue
        except ValueError as exc:
            b.problem(path, str(exc))
            continue
        cases.append(DataCase(
            **b.common(family, entry["name"], path, entry),
            source=entry.get("source"),
            file=b.file(entry["file"]) if "file" in entry else None,
            field_path=entry.get("field"), mtime=mtime, band=band,
            unit="" if family == "freshness" else entry.get("unit", ""), max_clock_skew=skew,
        ))
    b.unique(cases, [(family, i, "name") for i in range(len(cases))])
    yield from cases


class _BadBound(ValueError):
    """A bound that does not parse; `key` points the profile error at its own line."""

    def __init__(self, key: str, cause: ValueError) -> None:
        super().__init__(str(cause))
        self.key = key


def _pick(entry: dict[str, Any], key: str, parse: Any) -> Decimal | None:
    if key not in entry:
        return None
    try:
        return parse(entry[key])  # type: ignore[no-any-return]
    except ValueError as exc:  # includes "number out of range: 1e999999999 ..."
        raise _BadBound(key, exc) from None


def _band(family: str, entry: dict[str, Any]) -> Band:
    if family == "freshness":
        if "warn_after" not in entry and "fail_after" not in entry:
            raise ValueError("a freshness check needs warn_after, fail_after, or both (e.g. 8h, 12h)")
        pick = lambda key: _pick(entry, key, parse_duration)  # noqa: E731
        return Band(target=pick("target"), warn=pick("warn_after"), critical=pick("fail_after"))
    if "warn" not in entry and "critical" not in entry:
        raise ValueError("a threshold needs warn, critical, or both")
    pick = lambda key: _pick(entry, key, to_decimal)  # noqa: E731
    return Band(target=pick("target"), warn=pick("warn"), critical=pick("critical"),
                direction=entry.get("direction", "above"), inclusive=bool(entry.get("inclusive", False)))


def run(case: DataCase, http: CheckHttp, now: datetime | None = None) -> None:
    where = case.source or str(case.file)
    if case.mtime:
        assert case.file is not None
        try:
            stamp = datetime.fromtimestamp(case.file.stat().st_mtime, tz=timezone.utc)
        except OSError as exc:
            raise CheckFailed(Reason.NO_DATA, f"{where}: no data to measure ({exc.strerror})") from None
        _judge_age(case, f"{where} (modified)", "the modification time", stamp, now, None)
        return
    document, evidence = _document(case, http)
    container = "the body" if case.file is None else "the file"
    try:
        raw = json_path_get(document, case.field_path or "")
    except FieldAbsent as exc:
        raise CheckFailed(Reason.NO_DATA, f"{where}: {exc.path}: field absent in {container} ({exc.have})", evidence) from None
    except (LookupError, ValueError) as exc:
        raise CheckFailed(Reason.BODY, f"{where}: {exc}", evidence) from None
    label = f"{where} {case.field_path}"
    if raw is None:
        raise CheckFailed(Reason.NO_DATA, f"{label}: null in {container}, no value to measure", evidence)
    if case.family == "freshness":
        try:
            stamp = parse_timestamp(raw)
        except ValueError as exc:
            raise CheckFailed(Reason.BODY, f"{label}: {exc}", evidence) from None
        _judge_age(case, f"{label} {stamp.isoformat()}", case.field_path or "the stamp", stamp, now, evidence)
        return
    try:
        value = to_decimal(raw)
    except ValueError as exc:  # "not a number: ..." or "number out of range: 1e999999999 ..."
        raise CheckFailed(Reason.BODY, f"{label}: {exc}", evidence) from None
    if case.unit.strip() == "%" and value < 0:
        raise CheckFailed(Reason.THRESHOLD, (
            f"{label} = {jsonvalue.format_decimal(value)} %: a percentage of a whole cannot be negative, the source "
            "is broken (for a change that may fall below zero, give another unit, e.g. unit: '% change')"), evidence)
    _judge(case, label, value, None, evidence)


def _read_file(path: Path, cap: int) -> bytes:
    """At most `cap` bytes of a regular file: a FIFO or /dev/zero must not block or fill memory."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CheckFailed(Reason.NO_DATA, f"{path}: no such file, no data to measure") from None
    except OSError as exc:
        raise CheckFailed(Reason.BODY, f"{path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckFailed(Reason.BODY, f"{path}: not a regular file")
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise CheckFailed(Reason.BODY, f"{path}: larger than {cap} bytes (http.max_body_bytes), not parsed")
    return data


def _document(case: DataCase, http: CheckHttp) -> tuple[Any, Evidence | None]:
    if case.file is not None:
        data = _read_file(case.file, http.client.settings.max_body_bytes)
        try:
            return jsonvalue.loads(data, what=str(case.file)), None
        except jsonvalue.JsonError as exc:
            raise CheckFailed(Reason.BODY, str(exc)) from None
    assert case.source is not None
    response = http.get_url(case.source) if case.source.startswith(("http://", "https://")) else http.get(case.source)
    if response.status != 200:
        raise CheckFailed(Reason.STATUS, f"GET {case.source}: status {response.status}, expected 200", response.evidence)
    return response.json(f"GET {case.source}"), response.evidence


def _judge_age(case: DataCase, label: str, subject: str, stamp: datetime, now: datetime | None,
               evidence: Evidence | None) -> None:
    age = age_seconds(stamp, now)
    if -age > case.max_clock_skew:
        ahead = format_duration((-age).to_integral_value())  # whole seconds: "5 h", not "4 h 59 min"
        cause = "a clock error on the host that wrote it?" if case.mtime else "a local time labelled Z, or a clock error?"
        raise CheckFailed(Reason.STALE, (
            f"{label}: {subject} is {ahead} in the future: {cause} "
            f"(allowed clock skew {format_duration(case.max_clock_skew)})"), evidence)
    _judge(case, label, age, format_duration, evidence)


def _judge(case: DataCase, label: str, value: Decimal, fmt: Any, evidence: Evidence | None) -> None:
    level = classify(value, case.band)
    if level == "ok":
        return
    reason = Reason.STALE if case.family == "freshness" else Reason.THRESHOLD
    text = describe(value, case.band, case.unit, fmt=fmt) if fmt else describe(value, case.band, case.unit)
    message = f"{label}: age {text}" if case.family == "freshness" else f"{label} = {text}"
    if level == "warn":
        raise CheckDegraded(reason, message, evidence)
    raise CheckFailed(reason, message, evidence)
