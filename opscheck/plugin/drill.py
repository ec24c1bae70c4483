"""pytest hooks for the restore drill (issue 13): the drill record as a sink. Loaded through
`pytest_plugins` of `opscheck.plugin`.

`opscheck drill` runs the restore and the verification steps, writes the record so far to a file
and runs the smoke and readiness checks in a pytest process with `--drill-record FILE`. Here, at
the run's end, the sink adds the smoke step from the run's records, settles the drill's outcome,
puts the record into results.json (`drill`) and back into FILE. A failed drill never leaves the
run at exit 0: the exit code becomes 1.
"""

from __future__ import annotations

import time
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck")
    group.addoption("--drill-record", dest="opscheck_drill_record", metavar="FILE", default=None,
                    help="(set by `opscheck drill`) the drill record so far: this run adds the smoke step and "
                         "writes the record into results.json.")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("opscheck_drill_record", None)
    if not path or hasattr(config, "workerinput"):
        return
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    if state is None or state.target is None:
        raise pytest.UsageError("--drill-record needs a profile and a target (--env NAME)")
    state.sinks.append(DrillSink(path, state))


class DrillSink:
    """Finishes the drill record with the smoke step (see the module docstring)."""

    def __init__(self, path: str, state: Any) -> None:
        from opscheck.drill.run import offset_now
        from pathlib import Path

        self.path = Path(path)
        self.state = state
        self.record = self._read()
        self.start_s = offset_now(self.record)
        self.t = time.monotonic()

    def _read(self) -> dict[str, Any]:
        import json

        from opscheck.files import read_bounded

        try:
            record = json.loads(read_bounded(self.path, 64 << 20, "drill record"))
        except (OSError, ValueError) as exc:
            raise pytest.UsageError(f"--drill-record: cannot read {self.path}: {exc}") from None
        if not isinstance(record, dict) or "steps" not in record:
            raise pytest.UsageError(f"--drill-record: {self.path} is not a drill record")
        return record

    def on_result(self, record: Any) -> None:
        pass

    def on_finish(self, run: Any, records: list[Any]) -> None:
        from opscheck.drill.run import finish, smoke_from_records
        from opscheck.report.results import write_json_atomic

        exit_code = run.exit_code if run.exit_code is not None else 1
        smoke = smoke_from_records(records, exit_code, self.start_s, self.start_s + (time.monotonic() - self.t))
        record = finish(self.record, smoke)
        self.state.sections["drill"] = record
        write_json_atomic(self.path, record)
        if record["outcome"] != "passed" and self.state.exit_code in (0, None):
            # Never exit 0 with a finding, whatever the smoke checks said.
            self.state.exit_code = int(pytest.ExitCode.TESTS_FAILED)
            if self.state.session is not None:
                self.state.session.exitstatus = pytest.ExitCode.TESTS_FAILED
