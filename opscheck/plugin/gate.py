"""pytest hooks for the post-deploy gate (issue 11): modes, retries and flaky, the CI summary and
annotations, parallel grouping. Loaded through `pytest_plugins` of `opscheck.plugin`.

- `--mode NAME` applies a preset of opscheck/config/modes.py; every option given explicitly wins.
- Retries are pytest-rerunfailures' reruns: each check gets its `flaky(reruns=, reruns_delay=,
  condition=)` marker, and the condition decides per failure reason (transport reasons by default,
  `--retry-on` widens). A check that passed only on a retry is `flaky` on the controller (its
  record, so every report), and fails under `--strict`.
- summary.md, $GITHUB_STEP_SUMMARY and GitHub workflow annotations: opscheck/report/summary.py.
- Under pytest-xdist, SLO and benchmark checks take one lock shared by the run's workers, so two
  of them never sample at the same time (they would measure each other).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from opscheck.config.modes import Mode

GATE_KEY = pytest.StashKey["Gate"]()
REASONS_KEY = pytest.StashKey[list[str]]()  # reasons of the current attempt's failed phases
MEASURED_FAMILIES = frozenset({"slo", "benchmark"})  # checks that sample latency: one at a time
LOCK_WAIT_S = 3600.0  # bound on waiting for another worker's measured check (each has its own deadline)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck")
    group.addoption("--mode", dest="opscheck_mode", metavar="NAME", default=None,
                    choices=("gate", "oncall", "nightly", "restore"),
                    help="a preset: gate (post-deploy pipeline step), oncall, nightly or restore; "
                         "explicit options override it (see the README's modes table).")
    group.addoption("--retries", dest="opscheck_retries", metavar="N", type=int, default=None,
                    help="run a failed check up to N more times; a pass on a retry is reported flaky "
                         "(default: the mode's, else 0).")
    group.addoption("--retry-delay", dest="opscheck_retry_delay", metavar="SECONDS", type=float, default=None,
                    help="seconds between a failed attempt and its retry.")
    group.addoption("--retry-on", dest="opscheck_retry_on", metavar="REASON[,REASON]", action="append", default=None,
                    help="reasons retried besides the transport ones (dns, connect, tls, timeout, protocol); "
                         "'any' retries every reason. Repeatable.")
    group.addoption("--show-check-ids", dest="opscheck_check_ids", action="store_true", default=False,
                    help="progress lines name the family and check ids, not the bundled check files "
                         "(opscheck run and opscheck demo turn this on).")


class Gate:
    """The run's gate settings, resolved once in pytest_configure (controller and workers alike)."""

    def __init__(self, mode: Mode | None, retries: int, delay_s: float, retry_on: frozenset[str]) -> None:
        self.mode = mode
        self.retries = retries
        self.delay_s = delay_s
        self.retry_on = retry_on
        self.lock_path: str | None = None  # the xdist run's measuring lock (workers)
        self.owned_lock: str | None = None  # the controller made it and removes it

    def retry_wanted(self, reasons: list[str], messages: list[str]) -> bool:
        if not reasons:
            return False
        if any("target unreachable, not retried" in m for m in messages):
            return False  # never sent: it failed on the run's unreachable memo, a retry would too
        return "any" in self.retry_on or any(r in self.retry_on for r in reasons)


# --- configuration ---------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)  # after opscheck.plugin's configure made the run state
def pytest_configure(config: pytest.Config) -> None:
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    mode = _mode(config)
    if mode is not None:
        _apply_mode(config, mode, state)
    gate = _resolve_retries(config, mode, state)
    config.stash[GATE_KEY] = gate
    if gate.retries and not config.pluginmanager.hasplugin("rerunfailures"):
        raise pytest.UsageError("--retries: needs the pytest-rerunfailures plugin, which is not installed or was "
                                "turned off (-p no:rerunfailures)")
    worker = hasattr(config, "workerinput")
    if worker:
        gate.lock_path = config.workerinput.get("opscheck_measure_lock")  # type: ignore[attr-defined]
    elif config.pluginmanager.hasplugin("dsession"):  # the xdist controller of a -n run
        import tempfile

        fd, path = tempfile.mkstemp(prefix="opscheck-measure-", suffix=".lock")
        os.close(fd)
        gate.lock_path = gate.owned_lock = path
    if config.getoption("opscheck_check_ids") and not worker:
        import warnings

        # opscheck asks pytest-benchmark for benchmark.json whenever the profile has benchmarks; a
        # run that selected none gets this warning from it, printed with its installed path.
        warnings.filterwarnings("ignore", message="Not saving anything, no benchmarks have been run")
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            from opscheck.report.terminal import show_check_ids

            show_check_ids(reporter, _checks_dir(), _family_by_file())
    if state is None or state.worker or state.target is None:
        return
    if mode is not None and mode.summary:
        from opscheck.report.summary import SummarySink

        state.sinks.append(SummarySink(state.report_dir, github=os.environ.get("GITHUB_ACTIONS") == "true",
                                       step_summary=os.environ.get("GITHUB_STEP_SUMMARY") or None,
                                       redact=state.redactor.text))


def _mode(config: pytest.Config) -> Mode | None:
    name = config.getoption("opscheck_mode")
    if name is None:
        return None
    from opscheck.config.modes import MODES

    return MODES[name]


def _apply_mode(config: pytest.Config, mode: Mode, state: Any) -> None:
    if mode.markexpr and not config.option.markexpr:
        config.option.markexpr = mode.markexpr
    if (state is not None and mode.wait_ready_s and state.wait_ready_s is None
            and state.profile.ready_path is not None):
        state.wait_ready_s = mode.wait_ready_s
    for dest, value in mode.options.items():
        # Another helper's option (history, drill): only when its plugin is here and the user left it unset.
        if hasattr(config.option, dest) and getattr(config.option, dest) in (None, False):
            setattr(config.option, dest, value)


def _resolve_retries(config: pytest.Config, mode: Mode | None, state: Any) -> Gate:
    options = [config.getoption(n) for n in ("opscheck_retries", "opscheck_retry_delay", "opscheck_retry_on")]
    if state is None and mode is None and options == [None, None, None]:
        return Gate(None, 0, 0.0, frozenset())  # no profile, nothing asked: other projects' sessions import nothing more
    from opscheck.config.gate import MAX_DELAY_S, MAX_RETRIES, Retries, known_reasons
    from opscheck.config.modes import TRANSPORT_REASONS

    section = state.profile.extras.get("retries") if state is not None else None
    if not isinstance(section, Retries):
        section = Retries()

    def pick(option: Any, from_section: Any, from_mode: Any, default: Any) -> Any:
        for value in (option, from_section, from_mode):
            if value is not None:
                return value
        return default

    count = pick(config.getoption("opscheck_retries"), section.count, mode.retries if mode else None, 0)
    delay = pick(config.getoption("opscheck_retry_delay"), section.delay_s, mode.retry_delay_s if mode else None, 0.0)
    if not 0 <= count <= MAX_RETRIES:
        raise pytest.UsageError(f"--retries: {count} is out of range (0 to {MAX_RETRIES})")
    if not 0 <= delay <= MAX_DELAY_S:
        raise pytest.UsageError(f"--retry-delay: {delay:g} is out of range (0 to {MAX_DELAY_S:g} s)")
    given = [n.strip() for v in (config.getoption("opscheck_retry_on") or []) for n in v.split(",") if n.strip()]
    known = known_reasons()
    for name in given:
        if name not in known:
            raise pytest.UsageError(f"--retry-on: unknown reason {name!r}; known: {', '.join(known)}")
    wider = given or list(section.on or ()) or list(mode.retry_on if mode else ())
    return Gate(mode, int(count), float(delay), frozenset(TRANSPORT_REASONS) | frozenset(wider))


def _checks_dir() -> Any:
    from opscheck.plugin import _checks_dir as checks

    return checks()


def _family_by_file() -> dict[str, str]:
    from opscheck.families.registry import FAMILIES

    return {f"{f.check_file}.py": f.name for f in FAMILIES.values()}


# --- collection ------------------------------------------------------------------------------


@pytest.hookimpl(trylast=True)  # after opscheck.plugin ordered and deselected, and after -m/-k
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    from opscheck.plugin import STATE_KEY, _case_of

    state = config.stash.get(STATE_KEY, None)
    gate = config.stash.get(GATE_KEY, None)
    if state is None or gate is None:
        return
    mode = gate.mode
    if mode is not None and mode.mutating == "deselect" and state.target is not None and not state.target.allow_mutating:
        mutating = [item for item in items if (case := _case_of(item)) is not None and case.mutating]
        if mutating:
            config.hook.pytest_deselected(items=mutating)
            items[:] = [item for item in items if item not in mutating]
    if gate.retries:
        for item in items:
            if _case_of(item) is not None:
                item.add_marker(pytest.mark.flaky(reruns=gate.retries, reruns_delay=gate.delay_s,
                                                  condition=_RetryCondition(gate, item)))
    if mode is not None and mode.no_checks_is_usage_error and state.target is not None \
            and not any(_case_of(item) is not None for item in items):
        message = (f"--mode {mode.name}: no checks selected (check -m/-k and the profile's sections): "
                   "a gate that runs nothing must not pass")
        if state.worker:  # the controller ends the run with it (opscheck.plugin's pytest_testnodedown)
            config.workeroutput["opscheck_usage_error"] = message  # type: ignore[attr-defined]
            return
        raise pytest.UsageError(message)


class _RetryCondition:
    """pytest-rerunfailures' `condition`: retry this attempt? Decided from the opscheck reasons of
    the attempt's failed phases, never from exception text (the plugin renders its own verdicts)."""

    def __init__(self, gate: Gate, item: pytest.Item) -> None:
        self.gate, self.item = gate, item

    def __call__(self, error: object = None) -> bool:
        from opscheck.plugin import STATE_KEY

        state = self.item.config.stash.get(STATE_KEY, None)
        if state is not None and state.gate_failure is not None:
            return False  # --wait-ready gave up: every check fails on that verdict, a retry would too
        failures = self.item.stash.get(REASONS_KEY, [])
        wanted = self.gate.retry_wanted([r for r, _ in failures], [m for _, m in failures])
        if wanted:
            _forget_unreachable(self.item)
        return wanted


def _forget_unreachable(item: pytest.Item) -> None:
    """Before a retry: the target's unreachable memo would fail the retry without sending anything."""
    from opscheck.plugin import STATE_KEY

    state = item.config.stash.get(STATE_KEY, None)
    client = getattr(state, "_client", None)
    if client is not None:
        client.unreachable.clear()


# --- running ---------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)  # registered after opscheck.plugin: wraps its makereport, sees its verdict
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if call.when == "setup":
        item.stash[REASONS_KEY] = []
    if report.failed:
        data = getattr(report, "opscheck", None)
        phase = data.get("phase") if isinstance(data, dict) else None
        reason = phase.get("reason") if isinstance(phase, dict) else getattr(phase, "reason", None)
        message = phase.get("message") if isinstance(phase, dict) else getattr(phase, "message", None)
        if reason is not None:
            item.stash.setdefault(REASONS_KEY, []).append((str(reason), str(message or "")))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[Any]:
    """On an xdist worker, an SLO or benchmark check (all its attempts) holds the run's measuring lock."""
    gate = item.config.stash.get(GATE_KEY, None)
    lock = None
    if gate is not None and gate.lock_path and hasattr(item.config, "workerinput") and _measured(item):
        lock = _acquire(gate.lock_path)
    try:
        return (yield)
    finally:
        if lock is not None:
            lock.close()  # closing the descriptor releases the flock


def _measured(item: pytest.Item) -> bool:
    from opscheck.plugin import _case_of

    case = _case_of(item)
    return case is not None and case.family in MEASURED_FAMILIES


def _acquire(path: str) -> Any:
    """An exclusive flock on `path`, waited for up to LOCK_WAIT_S; None where flock does not exist
    (the checks then run as scheduled, and may overlap)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    import time

    handle = open(path, "a+b")  # noqa: SIM115 - held for the whole check
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise RuntimeError(f"waited {LOCK_WAIT_S:g} s for another worker's SLO or benchmark check") from None
            time.sleep(0.02)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's controller, per worker: where the run's measuring lock is."""
    gate = node.config.stash.get(GATE_KEY, None)
    if gate is not None and gate.lock_path:
        node.workerinput["opscheck_measure_lock"] = gate.lock_path


# --- flaky -----------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # after opscheck's merge (a wrapper), before junitxml, the terminal and the session count
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" or report.outcome != "passed" or not getattr(report, "rerun", 0):
        return
    config = _config_of(report)
    if config is None:
        return
    from opscheck.plugin import STATE_KEY, _strict

    state = config.stash.get(STATE_KEY, None)
    record = state.results.get(report.nodeid) if state is not None and not state.worker else None
    if record is None or record.outcome != "passed" or len(record.attempts) < 2:
        return
    failed = [(i, a) for i, a in enumerate(record.attempts[:-1], 1) if a.outcome == "failed"]
    first = failed[0][1] if failed else record.attempts[0]
    earlier = "; ".join(f"attempt {i}: [{a.reason or 'error'}] {a.message or ''}".rstrip() for i, a in failed)
    n = len(record.attempts)
    message = f"passed on attempt {n} of {n}, failed before ({earlier})"
    record.reason, record.facts = first.reason, {}
    if _strict(config):
        record.outcome, record.message = "failed", f"flaky (failing under --strict): {message}"
        report.outcome = "failed"
        report.longrepr = f"[{record.reason}] {record.message}"
    else:
        record.outcome, record.message = "flaky", message


_CONFIG: list[pytest.Config] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG[:] = [session.config]


def _config_of(report: pytest.TestReport) -> pytest.Config | None:
    return _CONFIG[0] if _CONFIG else None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    # Only opscheck's checks (their reports carry a record): a user's own tests keep pytest's letters.
    if report.when == "call" and report.outcome == "passed" and getattr(report, "rerun", 0) \
            and getattr(report, "opscheck", None) is not None:
        return "flaky", "L", ("FLAKY", {"yellow": True})
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    gate = config.stash.get(GATE_KEY, None)
    if gate is not None and gate.owned_lock:
        try:
            os.unlink(gate.owned_lock)
        except OSError:
            pass
        gate.owned_lock = None
    _CONFIG.clear()


@pytest.hookimpl(tryfirst=True)  # workflow commands first: GitHub hides them, the runbook summary stays last
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    if state is None or state.worker:
        return
    from opscheck.report.summary import SummarySink

    for sink in state.sinks:
        if isinstance(sink, SummarySink):
            for line in sink.annotation_lines:
                terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_report_header(config: pytest.Config, start_path: Any) -> Iterator[Any]:
    """Under `opscheck run`/`demo` (--show-check-ids), pytest's rootdir and configfile lines name
    where the bundled checks are installed (the CLI makes that the rootdir): left out."""
    result = yield
    if not config.getoption("opscheck_check_ids", False):
        return result

    def keep(line: str) -> bool:
        return not line.startswith(("rootdir: ", "configfile: ", "testpaths: "))

    out = []
    for entry in result:
        if isinstance(entry, str):
            if keep(entry):
                out.append(entry)
        elif entry is not None:
            out.append([line for line in entry if keep(line)])
    return out
