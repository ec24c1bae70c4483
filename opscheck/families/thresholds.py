"""Thresholds: a numeric KPI (a JSON field on the service or in a file) against its bands.

The runbook sentence it serves: "PAR_90 target < 3 %, warning > 3 %, critical > 5 %". Values and
bounds are exact Decimals, in the entry's `unit` (shown in messages; `%` also means "a percentage of
a whole", which cannot be negative).

What fails, and with which reason (besides the shared `no_data`, `body`, `status` of families/_data.py):
- a value past `critical` is `threshold`; past `warn` it is degraded (`threshold`);
- a value that is not a number is `body`;
- a negative percentage (unit "%") is `threshold`: the source is broken, whatever the band says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from opscheck import jsonvalue
from opscheck.measure.bands import Band, describe, to_decimal
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import Builder
from opscheck.families._data import BadBound, DataCase, build_cases, judge, pick, read_value
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class ThresholdsCase(DataCase):
    """One `thresholds:` entry: where the number is (`source` or `file`, and `field_path`), its band
    (`target`, `warn`, `critical`, `direction` above/below, `inclusive`) and its `unit` (text)."""

    unit: str = ""


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[ThresholdsCase]:
    """One ThresholdsCase per entry, e.g. `{name: par-90, file: summary.json, field: summary.par_90,
    unit: "%", target: 3, warn: 3, critical: 5}`.

    Problems, each at its line: both or neither of `source`/`file`, no `field`, neither `warn` nor
    `critical`, a bound that does not parse (e.g. out of range).
    """
    def fields_of(entry: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any] | None:
        if "field" not in entry:
            b.problem(path, "name the `field` that holds the value")
            return None
        try:
            if "warn" not in entry and "critical" not in entry:
                raise ValueError("a threshold needs warn, critical, or both")
            band = Band(target=pick(entry, "target", to_decimal), warn=pick(entry, "warn", to_decimal),
                        critical=pick(entry, "critical", to_decimal),
                        direction=entry.get("direction", "above"), inclusive=bool(entry.get("inclusive", False)))
        except BadBound as exc:
            b.problem(path + (exc.key,), str(exc))
            return None
        except ValueError as exc:
            b.problem(path, str(exc))
            return None
        return {"band": band, "unit": entry.get("unit", "")}

    yield from build_cases("thresholds", entries, b, ThresholdsCase, fields_of)


def run(case: ThresholdsCase, http: CheckHttp) -> None:
    """Read the number and judge it against the band.

    Raises CheckFailed with `threshold` past `critical` or for a negative percentage, `no_data` (no
    field, null, no file), `body` (not a number, unusable JSON), `status` (the source did not answer
    200); CheckDegraded with `threshold` past `warn`.
    """
    raw, label, evidence = read_value(case, http)
    try:
        value = to_decimal(raw)
    except ValueError as exc:  # "not a number: ..." or "number out of range: 1e999999999 ..."
        raise CheckFailed(Reason.BODY, f"{label}: {exc}", evidence) from None
    if case.unit.strip() == "%" and value < 0:
        raise CheckFailed(Reason.THRESHOLD, (
            f"{label} = {jsonvalue.format_decimal(value)} %: a percentage of a whole cannot be negative, the source "
            "is broken (for a change that may fall below zero, give another unit, e.g. unit: '% change')"), evidence)
    judge(case.band, Reason.THRESHOLD, lambda: f"{label} = {describe(value, case.band, case.unit)}", evidence, value,
          unit=case.unit or None)


Case = ThresholdsCase  # the family protocol's name for this module's case type
