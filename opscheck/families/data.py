"""Data checks: freshness of a timestamp (or a file's mtime) and KPI values against their bands.

The runbook sentences they encode: "data freshness < 6 h, warning > 8 h, critical > 12 h" and
"PAR_90 target < 3 %, warning > 3 %, critical > 5 %". Comparisons are exact Decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from opscheck.bands import (Band, age_seconds, classify, describe, format_duration, json_path_get,
                            parse_duration, parse_timestamp, to_decimal)
from opscheck.evidence import Evidence
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.profile import Builder, Case
from opscheck.target import CheckHttp


@dataclass(frozen=True)
class DataCase(Case):
    source: str | None = None  # a path on the service or an http(s) URL
    file: Path | None = None  # or a local JSON file
    field_path: str | None = None  # where the value is; None with mtime for a file's age
    mtime: bool = False
    band: Band = Band()
    unit: str = ""


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
        except ValueError as exc:
            b.problem(path, str(exc))
            continue
        cases.append(DataCase(
            **b.common(family, entry["name"], path, entry),
            source=entry.get("source"),
            file=b.file(entry["file"]) if "file" in entry else None,
            field_path=entry.get("field"), mtime=mtime, band=band,
            unit="" if family == "freshness" else entry.get("unit", ""),
        ))
    b.unique(cases, [(family, i, "name") for i in range(len(cases))])
    yield from cases


def _band(family: str, entry: dict[str, Any]) -> Band:
    if family == "freshness":
        if "warn_after" not in entry and "fail_after" not in entry:
            raise ValueError("a freshness check needs warn_after, fail_after, or both (e.g. 8h, 12h)")
        pick = lambda key: parse_duration(entry[key]) if key in entry else None  # noqa: E731
        return Band(target=pick("target"), warn=pick("warn_after"), critical=pick("fail_after"))
    if "warn" not in entry and "critical" not in entry:
        raise ValueError("a threshold needs warn, critical, or both")
    pick = lambda key: to_decimal(entry[key]) if key in entry else None  # noqa: E731
    return Band(target=pick("target"), warn=pick("warn"), critical=pick("critical"),
                direction=entry.get("direction", "above"), inclusive=bool(entry.get("inclusive", False)))


def run(case: DataCase, http: CheckHttp, now: datetime | None = None) -> None:
    where = case.source or str(case.file)
    if case.mtime:
        assert case.file is not None
        try:
            stamp = datetime.fromtimestamp(case.file.stat().st_mtime, tz=timezone.utc)
        except OSError as exc:
            raise CheckFailed(Reason.STALE, f"{where}: no data ({exc.strerror})") from None
        _judge_age(case, f"{where} (modified)", stamp, now, None)
        return
    document, evidence = _document(case, http)
    try:
        raw = json_path_get(document, case.field_path or "")
    except (LookupError, ValueError) as exc:
        raise CheckFailed(Reason.BODY, f"{where}: {exc}", evidence) from None
    label = f"{where} {case.field_path}"
    if case.family == "freshness":
        try:
            stamp = parse_timestamp(raw)
        except ValueError as exc:
            raise CheckFailed(Reason.BODY, f"{label}: {exc}", evidence) from None
        _judge_age(case, f"{label} {stamp.isoformat()}", stamp, now, evidence)
        return
    try:
        value = to_decimal(raw)
    except ValueError as exc:
        raise CheckFailed(Reason.BODY, f"{label}: {exc}", evidence) from None
    _judge(case, label, value, None, evidence)


def _document(case: DataCase, http: CheckHttp) -> tuple[Any, Evidence | None]:
    if case.file is not None:
        try:
            return json.loads(case.file.read_text(encoding="utf-8")), None
        except OSError as exc:
            raise CheckFailed(Reason.BODY, f"{case.file}: cannot read ({exc.strerror})") from None
        except ValueError as exc:
            raise CheckFailed(Reason.BODY, f"{case.file}: not JSON ({exc})") from None
    assert case.source is not None
    response = http.get_url(case.source) if case.source.startswith(("http://", "https://")) else http.get(case.source)
    if response.status != 200:
        raise CheckFailed(Reason.STATUS, f"GET {case.source}: status {response.status}, expected 200", response.evidence)
    return response.json(f"GET {case.source}"), response.evidence


def _judge_age(case: DataCase, label: str, stamp: datetime, now: datetime | None, evidence: Evidence | None) -> None:
    _judge(case, label, age_seconds(stamp, now), format_duration, evidence)


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
