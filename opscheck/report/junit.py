"""junit.xml properties from result records: check id, family, severity, runbook, reason, outcome.

pytest's junitxml writes a test case's properties from its teardown report's `user_properties`;
this sink adds the check's own there (on the controller, from the merged record), so a serial run,
a pytest-xdist run and a rerun write the same properties, once each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

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
    the properties go onto that teardown report, which junitxml reads next.

    pytest's junitxml closes a test case at every teardown, so a check rerun by
    pytest-rerunfailures is written once per attempt. Once junitxml has written the file, the
    attempts of one check are folded into its last test case (the one with the verdict), whose
    time becomes the sum of all attempts.
    """

    name = "opscheck-junit"

    def __init__(self, xmlpath: str | None = None, fail_run: Callable[[str], None] | None = None) -> None:
        self.pending: dict[str, list[tuple[str, str]]] = {}
        self.xmlpath = xmlpath
        self.fail_run = fail_run  # the plugin's: a junit.xml that cannot be folded fails the run (exit 3)
        self.rerun = False

    def on_result(self, record: CheckResult) -> None:
        self.pending[record.nodeid] = junit_properties(record)

    def on_finish(self, run: RunInfo, records: list[CheckResult]) -> None:
        self.pending.clear()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.outcome == "rerun":
            self.rerun = True
        if report.when == "teardown" and report.nodeid in self.pending:
            report.user_properties = list(report.user_properties) + self.pending.pop(report.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Iterator[None]:
        outcome = yield  # junitxml has written the file
        if self.rerun and self.xmlpath:
            # Where junitxml writes: variables and ~ expanded, relative to the cwd.
            path = Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(self.xmlpath)))))
            try:
                fold_attempts(path)
            except Exception as exc:  # noqa: BLE001 - a check listed once per attempt would miscount
                if self.fail_run is not None:
                    self.fail_run(f"junit.xml: cannot fold the reruns' attempts: {type(exc).__name__}: {exc}")
        return outcome


def fold_attempts(path: Path) -> int:
    """junit.xml -> the same file where the test cases of one test (same classname and name, in
    one suite) are one: the last, with the summed time. Returns how many cases were folded away.
    Raises OSError or xml.etree.ElementTree.ParseError when the file cannot be read."""
    import xml.etree.ElementTree as ET

    if not path.is_file():
        return 0
    tree = ET.parse(path)
    folded = 0
    for suite in tree.getroot().iter("testsuite"):
        last: dict[tuple[str | None, str | None], ET.Element] = {}
        times: dict[tuple[str | None, str | None], float] = {}
        cases = suite.findall("testcase")
        for case in cases:
            key = (case.get("classname"), case.get("name"))
            times[key] = times.get(key, 0.0) + float(case.get("time") or 0)
            last[key] = case
        for case in cases:
            key = (case.get("classname"), case.get("name"))
            if last[key] is not case:
                suite.remove(case)
                folded += 1
            else:
                case.set("time", f"{times[key]:.3f}")
    if folded:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    return folded
