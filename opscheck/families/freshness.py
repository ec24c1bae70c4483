"""Freshness: the age of a timestamp (a JSON field on the service or in a file, or a file's mtime).

The runbook sentence it serves: "data freshness < 6 h, warning > 8 h, critical > 12 h". Ages are
exact Decimal seconds; bounds are durations (`6h`, `90m`, `45s`, or seconds).

What fails, and with which reason (besides the shared `no_data`, `body`, `status` of families/_data.py):
- an age past `fail_after` is `stale`; past `warn_after` it is degraded (`stale`);
- a value that is not a timestamp (ISO 8601 with a zone, or epoch seconds) is `body`;
- a stamp (or mtime) more than `max_clock_skew` (default 5 min) in the future is `stale` ("a local
  time labelled Z, or a clock error?"): it cannot pass, whatever the band says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

from opscheck.measure.bands import (MAX_CLOCK_SKEW_S, Band, age_seconds, describe, format_duration, parse_duration,
                                    parse_timestamp)
from opscheck.evidence.kinds import Evidence
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import Builder
from opscheck.families._data import BadBound, DataCase, build_cases, judge, pick, read_value
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class FreshnessCase(DataCase):
    """One `freshness:` entry: where the stamp is (`source` or `file`, and `field_path`, or `mtime`
    for the file's modification time), the age band in seconds (`target`, `warn`, `critical` from
    `target`, `warn_after`, `fail_after`) and `max_clock_skew` (seconds a stamp may lie in the future)."""

    mtime: bool = False
    max_clock_skew: Decimal = MAX_CLOCK_SKEW_S


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[FreshnessCase]:
    """One FreshnessCase per entry, e.g. `{name: pipeline, file: summary.json, field: finished_at,
    target: 6h, warn_after: 8h, fail_after: 12h}` or `{name: export, file: out.csv, mtime: true, fail_after: 1d}`.

    Problems, each at its line: both or neither of `source`/`file`, `mtime` without a `file`, no
    `field` (nor mtime), no bound at all, a bound or skew that does not parse.
    """
    def fields_of(entry: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any] | None:
        mtime = bool(entry.get("mtime", False))
        if mtime and "file" not in entry:
            b.problem(path + ("mtime",), "mtime needs a `file`")
            return None
        if not mtime and "field" not in entry:
            b.problem(path, "name the `field` that holds the value (or set mtime: true)")
            return None
        try:
            if "warn_after" not in entry and "fail_after" not in entry:
                raise ValueError("a freshness check needs warn_after, fail_after, or both (e.g. 8h, 12h)")
            band = Band(target=pick(entry, "target", parse_duration), warn=pick(entry, "warn_after", parse_duration),
                        critical=pick(entry, "fail_after", parse_duration))
            skew = parse_duration(entry["max_clock_skew"]) if "max_clock_skew" in entry else MAX_CLOCK_SKEW_S
        except BadBound as exc:
            b.problem(path + (exc.key,), str(exc))
            return None
        except ValueError as exc:
            b.problem(path, str(exc))
            return None
        return {"mtime": mtime, "band": band, "max_clock_skew": skew}

    yield from build_cases("freshness", entries, b, FreshnessCase, fields_of)


def run(case: FreshnessCase, http: CheckHttp, *, now: datetime | None = None) -> None:
    """Read the stamp and judge its age (`now` minus the stamp; `now` defaults to the current UTC time).

    Raises CheckFailed with `stale` past `fail_after` or too far in the future, `no_data` (no field,
    null, no file), `body` (not a timestamp, unusable JSON), `status` (the source did not answer 200);
    CheckDegraded with `stale` past `warn_after`.
    """
    where = case.source or str(case.file)
    if case.mtime:
        assert case.file is not None
        try:
            stamp = datetime.fromtimestamp(case.file.stat().st_mtime, tz=timezone.utc)
        except OSError as exc:
            raise CheckFailed(Reason.NO_DATA, f"{where}: no data to measure ({exc.strerror})") from None
        _judge_age(case, f"{where} (modified)", "the modification time", stamp, now, None)
        return
    raw, label, evidence = read_value(case, http)
    try:
        stamp = parse_timestamp(raw)
    except ValueError as exc:
        raise CheckFailed(Reason.BODY, f"{label}: {exc}", evidence) from None
    _judge_age(case, f"{label} {stamp.isoformat()}", case.field_path or "the stamp", stamp, now, evidence)


def _judge_age(case: FreshnessCase, label: str, subject: str, stamp: datetime, now: datetime | None,
               evidence: Evidence | None) -> None:
    age = age_seconds(stamp, now)
    if -age > case.max_clock_skew:
        ahead = format_duration((-age).to_integral_value())  # whole seconds: "5 h", not "4 h 59 min"
        cause = "a clock error on the host that wrote it?" if case.mtime else "a local time labelled Z, or a clock error?"
        raise CheckFailed(Reason.STALE, (
            f"{label}: {subject} is {ahead} in the future: {cause} "
            f"(allowed clock skew {format_duration(case.max_clock_skew)})"), evidence)
    judge(case.band, Reason.STALE, lambda: f"{label}: age {describe(age, case.band, '', fmt=format_duration)}",
          evidence, age, unit="s")


Case = FreshnessCase  # the family protocol's name for this module's case type
