"""results.json: one record per check, with its reason, runbook section, evidence and attempts.

The file's shape is published as `opscheck/results.schema.json` and documented in the README. The
record types live in `opscheck.results`; this module writes them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from opscheck.results import CheckResult, RunInfo, results_payload


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write via a temp file and rename, so a crash never leaves a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # dumps without indent, not dump: only that path uses json's C encoder.
            handle.write(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from CI artifact uploaders
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsJsonSink:
    """The results.json sink: writes `<dir>/results.json` at the end of the run.

    `on_finish` raises what writing raised (OSError, a TypeError for a record that is not JSON-able);
    `write` returns a one-line error instead, put through `redact` (text -> text).
    """

    def __init__(self, report_dir: Path, redact: Callable[[str], str] = str, sections: dict[str, Any] | None = None) -> None:
        self.path = report_dir / "results.json"
        self.redact = redact
        self.sections = sections if sections is not None else {}  # read at write time: sinks fill it in on_finish

    def on_result(self, record: CheckResult) -> None:
        pass  # written whole at the end: a file from the middle of a run would stand for a run that never ended

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        write_json_atomic(self.path, results_payload(run, records, self.sections))

    def write(self, run: RunInfo, records: list[CheckResult]) -> str | None:
        try:
            self.on_finish(run, records)
        except Exception as exc:  # noqa: BLE001 - the caller fails the run with this line
            return self.redact(f"results.json: cannot write {self.path}: {type(exc).__name__}: {exc}")
        return None
