"""What the freshness and thresholds families share: where a value comes from, and its band verdict.

Both read one value from a JSON body (a path on the service or an http(s) URL) or a local JSON
file, at a dotted `field` path, and judge it against a `Band` (measure/bands.py). Comparisons are
exact Decimals: bodies and files are read with opscheck.jsonvalue (exact numbers, bounded depth and
size of numbers).

What fails, and with which reason, for both:
- nothing to measure (`no_data`): the field is absent or null, the file does not exist;
- a body or file that is not usable JSON, or a value of the wrong type (`body`);
- the source answering another status than 200 (`status`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from opscheck import jsonvalue
from opscheck.measure.bands import Band, FieldAbsent, classify, describe, json_path_get
from opscheck.evidence.kinds import Evidence
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class DataCase(Case):
    """The fields both data families share: one source of a value and its band."""

    source: str | None = None  # a path on the service or an http(s) URL
    file: Path | None = None  # or a local JSON file
    field_path: str | None = None  # where the value is; None with freshness's mtime for a file's age
    band: Band = Band()


C = TypeVar("C", bound=DataCase)


def build_cases(family: str, entries: list[dict[str, Any]], b: Builder, cls: type[C],
                fields_of: Callable[[dict[str, Any], tuple[Any, ...]], dict[str, Any] | None]) -> Iterator[C]:
    """The `cls` cases of a `freshness:` or `thresholds:` list.

    Checks what both share (exactly one of `source` and `file`), then asks `fields_of(entry, path)`
    for the family's own fields; it reports its problems with `b.problem` and returns None for an
    entry it refused. Duplicate names are problems at their `name:`.
    """
    cases: list[C] = []
    for index, entry in enumerate(entries):
        path = (family, index)
        if ("source" in entry) == ("file" in entry):
            b.problem(path, "give exactly one of `source` (a path on the service or a URL) and `file`")
            continue
        extra = fields_of(entry, path)
        if extra is None:
            continue
        cases.append(cls(**b.common(family, entry["name"], path, entry), source=entry.get("source"),
                         file=b.file(entry["file"]) if "file" in entry else None, field_path=entry.get("field"),
                         **extra))
    b.unique(cases, [(family, i, "name") for i in range(len(cases))])
    yield from cases


class BadBound(ValueError):
    """A bound that does not parse; `key` points the profile error at its own line."""

    def __init__(self, key: str, cause: ValueError) -> None:
        super().__init__(str(cause))
        self.key = key


def pick(entry: dict[str, Any], key: str, parse: Any) -> Decimal | None:
    """`parse(entry[key])`, None when absent; raises BadBound naming `key` when it does not parse."""
    if key not in entry:
        return None
    try:
        return parse(entry[key])  # type: ignore[no-any-return]
    except ValueError as exc:  # includes "number out of range: 1e999999999 ..."
        raise BadBound(key, exc) from None


def read_value(case: DataCase, http: CheckHttp) -> tuple[Any, str, Evidence | None]:
    """(raw JSON value at the case's field, label "<where> <field>" for messages, evidence or None).

    Raises CheckFailed: `no_data` when the field is absent or null or the file is missing, `body`
    when the document or the path does not work, `status` when the source answers another status.
    """
    where = case.source or str(case.file)
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
    return raw, label, evidence


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


def judge(band: Band, reason: Reason, message: Callable[[], str], evidence: Evidence | None, value: Decimal,
          unit: str | None = None) -> None:
    """Return when `value` is inside `band`; raise CheckDegraded in its warning band and CheckFailed
    past its critical bound, with `reason`, the text `message()` builds and the facts: `value` as
    observed, the bound it crossed as limit, `unit` (e.g. "%", "s")."""
    level = classify(value, band)
    if level == "ok":
        return
    if level == "warn":
        raise CheckDegraded(reason, message(), evidence, observed=value, limit=band.warn, unit=unit)
    raise CheckFailed(reason, message(), evidence, observed=value, limit=band.critical, unit=unit)


__all__ = ["BadBound", "DataCase", "build_cases", "describe", "judge", "pick", "read_value"]
