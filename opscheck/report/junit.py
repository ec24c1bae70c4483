"""junit.xml properties from result records: check id, family, severity, runbook, reason, outcome.

pytest's junitxml writes a test case's properties from its teardown report's `user_properties`;
this sink adds the check's own there (on the controller, from the merged record), so a serial run,
a pytest-xdist run and a rerun write the same properties, once each.
"""

from __future__ import annotations

import pytest

from opscheck.results import CheckResult, RunInfo


def junit_properties(record: CheckResult) -> list[tuple[str, str]]:
    """record -> [(name, value)] in the order junit.xml lists them."""
    props = [("check", record.id), ("family", record.family), ("severity", record.severity)]
    if record.runbook is not None:
        props += [("runbook", record.runbook.link), ("runbook_section", record.runbook.section)]
    if record.reason is not None and record.outcome != "passed":
        props.append(("reason", str(record.reason)))
    if record.outcome not in ("passed", "failed", "skipped"):
        props.append(("outcome", record.outcome))
    if len(record.attempts) > 1:
        props.append(("attempts", str(len(record.attempts))))
    return props


class JunitProperties:
    """Registered when junit.xml is written. `on_result` is called at each attempt's teardown;
    the properties go onto that teardown report, which junitxml reads next."""

    name = "opscheck-junit"

    def __init__(self) -> None:
        self.pending: dict[str, list[tuple[str, str]]] = {}

    def on_result(self, record: CheckResult) -> None:
        self.pending[record.nodeid] = junit_properties(record)

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        self.pending.clear()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" and report.nodeid in self.pending:
            report.user_properties = list(report.user_properties) + self.pending.pop(report.nodeid)
