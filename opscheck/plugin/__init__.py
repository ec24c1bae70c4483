"""The pytest plugin: profile -> parametrized checks -> outcome and reason -> runbook -> reports.

Public pytest hooks only. `--base-url` belongs to pytest-base-url; we read its option and fixture.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.families.registry import BY_ARGNAME, FAMILIES, FAMILY_NAMES
from opscheck.plugin import gcpolicy

if TYPE_CHECKING:
    from opscheck.config.profile import Case, Profile
    from opscheck.plugin.session import RunState
    from opscheck.results import CheckResult, PhaseResult
    from opscheck.transport.target import CheckHttp, Target

# Heavy imports (httpx, jsonschema, markdown-it) happen only once a profile is found, so pytest
# runs in projects that merely have opscheck installed pay nothing for it.

STATE_KEY = pytest.StashKey["RunState"]()
EVIDENCE_KEY = pytest.StashKey[list["Evidence"]]()
ATTACH_KEY = pytest.StashKey[list[dict[str, Any]]]()
HTTP_KEY = pytest.StashKey["CheckHttp"]()  # the test's CheckHttp, shared by its family fixture and opscheck_http
RECORD_KEY = pytest.StashKey["CheckResult"]()  # the check's record as built where it runs: name and runbook
CASE_KEY = pytest.StashKey["Case | None"]()  # the item's case, read from its marker once, not once per phase and hook
MARKER = "opscheck_case"

# One hook module per user beyond the on-call pass, each with its own options, sinks and hooks; they
# reach the run through `config.stash[STATE_KEY]` (set in our pytest_configure, so theirs run
# `trylast`). pytest registers them with this module, as it does any plugin's `pytest_plugins`.
pytest_plugins = ("opscheck.plugin.gate", "opscheck.plugin.sampling", "opscheck.plugin.nightly",
                  "opscheck.plugin.alerting", "opscheck.plugin.drill")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck", "opscheck: operational checks against a service")
    group.addoption("--profile", dest="opscheck_profile", metavar="PATH", default=None,
                    help="opscheck profile (default: $OPSCHECK_PROFILE, else opscheck.yaml in the cwd or rootdir).")
    group.addoption("--env", dest="opscheck_env", metavar="NAME", default=None,
                    help="profile environment to check; --base-url overrides its URL.")
    group.addoption("--report-dir", dest="opscheck_report_dir", metavar="DIR", default="reports",
                    help="where report.html, junit.xml and results.json go (default: reports/).")
    group.addoption("--wait-ready", dest="opscheck_wait_ready", metavar="SECONDS", type=float, default=None,
                    help="poll readiness with backoff for up to SECONDS before any check runs.")
    group.addoption("--baseline", dest="opscheck_baseline", metavar="FILE", default=None,
                    help="a previous results.json: benchmark checks fail when mean or p95 regressed past their allowance.")


# --- configuration ---------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before junitxml and pytest-html read their output paths
def pytest_configure(config: pytest.Config) -> None:
    gcpolicy.run_configured()
    config.addinivalue_line("markers", f"{MARKER}(case): an opscheck check generated from the profile")
    config.addinivalue_line("markers", "mutating: writes to the target; runs only where the environment allows it")
    for name in FAMILY_NAMES:
        summary = "; ".join(f.summary for f in FAMILIES.values() if f.name == name)
        config.addinivalue_line("markers", f"{name}: opscheck {name} checks ({summary})")
    # pytest-xdist workers configure too: they collect and run the checks, so they need the profile,
    # the target and the client. Only the controller writes reports (see _enable_reports).
    worker = _is_worker(config)
    from opscheck.config.discovery import find_profile

    path = find_profile(config.getoption("opscheck_profile"), config.rootpath)
    if path is None:
        if config.getoption("opscheck_env") or config.getoption("opscheck_wait_ready") is not None:
            raise pytest.UsageError(
                "--env/--wait-ready need a profile: no opscheck.yaml in the current directory or rootdir "
                "(pass --profile PATH or set OPSCHECK_PROFILE)"
            )
        return
    from opscheck.config.profile import ProfileError, load_profile
    from opscheck.evidence.redact import Redactor
    from opscheck.plugin.session import RunState

    try:
        with gcpolicy.paused():
            profile = load_profile(path)
    except ProfileError as exc:
        raise pytest.UsageError(f"invalid opscheck profile:\n{exc}") from None

    target = _resolve_target(config, profile)
    redactor = Redactor(profile.secrets, [profile.auth.header] if profile.auth else [])
    for environment in profile.environments.values():
        redactor.register_url(environment.base_url)
    if target is not None and target.authorization:
        redactor.register_header("Authorization", target.authorization)  # the token, user:password, password
    from opscheck.evidence.leakguard import LeakGuard

    guard = LeakGuard(redactor)
    guard.install_loggers()
    config.pluginmanager.register(guard, LeakGuard.name)
    wait = config.getoption("opscheck_wait_ready")
    if wait is not None and wait > 0 and profile.ready_path is None:
        raise pytest.UsageError(f"{path}: readiness.ready: --wait-ready needs a readiness URL (readiness: {{ready: /health/ready}})")
    report_dir = Path(config.getoption("opscheck_report_dir")) if target is not None else None
    state = RunState(profile=profile, target=target, redactor=redactor, report_dir=report_dir, wait_ready_s=wait,
                     worker=worker)
    config.stash[STATE_KEY] = state
    if target is not None:  # checks will run in this process
        from opscheck.plugin.gcpolicy import GcPolicy

        config.pluginmanager.register(GcPolicy(), GcPolicy.name)
    if target is None or worker:
        return
    given = config.getoption("base_url")
    if not given or given.rstrip("/") != target.base_url:
        # So pytest-base-url's fixture, header line and metadata (the HTML environment table) agree
        # with the target, and never show the user:password@ that the target no longer holds.
        config.option.base_url = target.base_url
    _enable_reports(config, state)
    config.pluginmanager.register(RecordMerger(state), RecordMerger.name)
    _register_sinks(config, state)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _register_sinks(config: pytest.Config, state: RunState) -> None:
    """The controller's sinks, each only when its output is asked for. Order matters at a check's
    end: report.html renders first (its crash fails the check), junit properties read the result."""
    from opscheck.report.terminal import TerminalSink

    if config.pluginmanager.hasplugin("html") and getattr(config.option, "htmlpath", None):
        from opscheck.report.html import HtmlHooks

        html = HtmlHooks(state.run_info(None), state.results, state.redactor,
                         state.mark_error, functools.partial(_sink_failed, state))
        html.register(config)
        state.sinks.append(html)
    state.sinks.append(TerminalSink())
    if getattr(config.option, "xmlpath", None):
        from opscheck.report.junit import JunitProperties

        junit = JunitProperties(config.option.xmlpath, functools.partial(_sink_failed, state))
        config.pluginmanager.register(junit, JunitProperties.name)
        state.sinks.append(junit)


def _sink_failed(state: RunState, message: str) -> None:
    """A sink could not write its output: the run fails (exit 3) and says why. After results.json
    was written, it is written again with the exit code the run now ends with."""
    state.internal_errors.append(message)
    session = state.session
    if state.finishing and session is not None:
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        state.exit_code = int(session.exitstatus)
        state.write_results()


def _resolve_target(config: pytest.Config, profile: Profile) -> Target | None:
    """The target from --env / --base-url. A `user:password@` in the URL is taken out of it (it would
    show in every report) and kept as an `Authorization: Basic` value on the Target."""
    from opscheck.evidence.redact import Redactor, basic_header, strip_userinfo
    from opscheck.transport.target import Target

    def target(url: str, name: str, allow: bool) -> Target:
        clean, user, password = strip_userinfo(url)
        authorization = basic_header(user, password) if user or password else None
        return Target(clean.rstrip("/"), name, allow, authorization)

    env_name = config.getoption("opscheck_env")
    base_url = config.getoption("base_url") or config.getini("base_url") or None
    environment = None
    if env_name:
        environment = profile.environments.get(env_name)
        if environment is None:
            known = ", ".join(profile.environments) or "none defined"
            raise pytest.UsageError(f"{profile.path}: environments: unknown environment {env_name!r} (known: {known})")
    elif base_url:
        wanted = strip_userinfo(str(base_url))[0].rstrip("/")
        environment = next((e for e in profile.environments.values()
                            if strip_userinfo(e.base_url)[0].rstrip("/") == wanted), None)
    if base_url:
        if not str(base_url).startswith(("http://", "https://")):
            shown = Redactor(profile.secrets).url(str(base_url))
            raise pytest.UsageError(f"--base-url: {shown!r} is not an http:// or https:// URL")
        return target(str(base_url), environment.name if environment else "adhoc",
                      environment.allow_mutating if environment else False)
    if environment is not None:
        return target(environment.base_url, environment.name, environment.allow_mutating)
    return None


def _enable_reports(config: pytest.Config, state: RunState) -> None:
    assert state.report_dir is not None
    try:
        state.report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--report-dir: cannot create {state.report_dir}: {exc.strerror}") from None
    if state.profile.cases("benchmark") and hasattr(config.option, "benchmark_json") and not config.option.benchmark_json:
        config.option.benchmark_json = state.report_dir / "benchmark.json"  # read by pytest-benchmark's configure
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(state.report_dir / "junit.xml")
    if hasattr(config.option, "htmlpath") and not config.option.htmlpath:
        config.option.htmlpath = str(state.report_dir / "report.html")
        config.option.self_contained_html = True


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return None
    from opscheck import __version__

    lines = [f"opscheck {__version__}: service {state.profile.service}, profile {state.profile.path}"]
    if state.target is not None:
        lines.append(f"opscheck target: {state.redactor.url(state.target.base_url)} "
                     f"(environment {state.target.environment}, mutating checks {'allowed' if state.target.allow_mutating else 'skipped'})")
    auth = state.profile.auth
    if auth is not None and not auth.keys:
        lines.append(f"opscheck auth: {auth.keys_env} is not set; requests go without a key")
    return lines


# --- collection ------------------------------------------------------------------------------


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip bundled check modules whose families the profile doesn't use: no import, no noise."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or collection_path.suffix != ".py" or collection_path.parent != _checks_dir():
        return None
    families = [f for f in FAMILIES.values() if f.check_file == collection_path.stem]
    if families and not any(state.profile.cases(f.section) for f in families):
        return True
    return None


@functools.cache
def _checks_dir() -> Path:
    import opscheck.checks

    return Path(opscheck.checks.__file__).resolve().parent


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash.get(STATE_KEY, None)
    for argname in metafunc.fixturenames:
        family = BY_ARGNAME.get(argname)
        if family is None:
            continue
        cases = state.profile.cases(family.section) if state is not None else []
        params = [pytest.param(case, id=case.name, marks=_marks(case)) for case in cases]
        metafunc.parametrize(argname, params, indirect=True)


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    marks = [getattr(pytest.mark, MARKER)(case), getattr(pytest.mark, case.family)]
    if case.mutating:
        marks.append(pytest.mark.mutating)
    return marks


def _case_of(item: pytest.Item) -> Case | None:
    case = item.stash.get(CASE_KEY, _NO_CASE)
    if case is _NO_CASE:
        marker = item.get_closest_marker(MARKER)
        case = item.stash[CASE_KEY] = marker.args[0] if marker is not None else None
    return case  # type: ignore[return-value]


_NO_CASE: Any = object()


def _family_of(item: pytest.Item) -> str | None:
    names = getattr(item, "fixturenames", ())
    return next((BY_ARGNAME[n].name for n in names if n in BY_ARGNAME), None)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(STATE_KEY, None)
    # A family with no entries leaves pytest's "empty parameter set" placeholder; drop it, so a
    # profile with no checks ends as "no tests ran" (exit 5), never as a skipped-but-green run.
    placeholders = [item for item in items if _case_of(item) is None and _family_of(item) is not None]
    if placeholders:
        config.hook.pytest_deselected(items=placeholders)
        items[:] = [item for item in items if item not in placeholders]
    # Host checks read this machine, so they only make sense where asked for: `-m host`.
    if "host" not in (config.getoption("markexpr") or ""):
        host_items = [item for item in items if _family_of(item) == "host"]
        if host_items:
            config.hook.pytest_deselected(items=host_items)
            items[:] = [item for item in items if item not in host_items]
    # Readiness first, then the registry's order: the first failure seen is the most basic one.
    order = {name: index for index, name in enumerate(FAMILY_NAMES)}
    items.sort(key=lambda item: order.get(_family_of(item) or "", len(order)))
    if state is None or state.target is not None:
        return
    if any(_case_of(item) is not None for item in items):
        envs = ", ".join(state.profile.environments) or "none in the profile"
        message = f"no target: pass --base-url URL (or PYTEST_BASE_URL) or --env NAME (environments: {envs})"
        if state.worker:
            # A UsageError on an xdist worker crashes the controller with a traceback: run nothing,
            # and let the controller end the run with this usage error (pytest_testnodedown).
            checks = [item for item in items if _case_of(item) is not None]
            config.hook.pytest_deselected(items=checks)
            items[:] = [item for item in items if _case_of(item) is None]
            config.workeroutput["opscheck_usage_error"] = message  # type: ignore[attr-defined]
            return
        raise pytest.UsageError(message)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist's controller: a worker finished; it may have found a usage error."""
    message = getattr(node, "workeroutput", {}).get("opscheck_usage_error")
    state = node.config.stash.get(STATE_KEY, None)
    if message and state is not None and state.usage_error is None:
        state.usage_error = message


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is None or state.target is None or not state.wait_ready_s:
        return
    if not any(_case_of(item) is not None for item in session.items):
        return
    from opscheck.families.readiness import not_ready_failure, wait_ready

    ready_path = state.profile.ready_path
    assert ready_path is not None
    url = state.target.url(ready_path)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"opscheck: waiting up to {state.wait_ready_s:g} s for {state.redactor.text(url)} ...")
    client = state.client
    client.on_unreachable = None  # refusals are expected while a deploy finishes
    try:
        result = wait_ready(client, url, state.wait_ready_s)
    finally:
        client.on_unreachable = state._note_unreachable
    if result.ready:
        state.gate_note = f"ready after {result.waited_s:.1f} s ({result.polls} polls)"
    else:
        state.gate_failure = not_ready_failure(state.redactor.text(url), result)
        state.gate_note = state.gate_failure.message
        state.not_ready = state.redactor.text(state.gate_failure.message)
    if reporter is not None:
        reporter.write_line(f"opscheck: {state.redactor.text(state.gate_note)}")


# --- fixtures --------------------------------------------------------------------------------


def _state(request: pytest.FixtureRequest) -> RunState:
    state = request.config.stash.get(STATE_KEY, None)
    if state is None:
        pytest.skip("no opscheck profile (opscheck.yaml, --profile or OPSCHECK_PROFILE)")
    return state


# One fixture per registry row (`smoke_check`, ..., `thresholds_check`), generated from the table;
# the mutating-check skip lives there too.
from opscheck.plugin.fixtures import *  # noqa: E402,F401,F403


@pytest.fixture(scope="session")
def opscheck_baseline(request: pytest.FixtureRequest) -> Path | None:
    """--baseline FILE: the results.json a benchmark compares its mean and p95 with."""
    value = request.config.getoption("opscheck_baseline")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def opscheck_run(request: pytest.FixtureRequest) -> RunState:
    """The run's state: profile, target, shared HTTP client."""
    return _state(request)


@pytest.fixture
def opscheck_http(request: pytest.FixtureRequest, base_url: str | None) -> CheckHttp:
    """HTTP against the target for one check, under its deadline, recording evidence."""
    return check_http(request, base_url)


def check_http(request: pytest.FixtureRequest, base_url: str | None) -> CheckHttp:
    """The test's one CheckHttp, made by whichever asks first: its family's fixture or `opscheck_http`."""
    http = request.node.stash.get(HTTP_KEY, None)
    if http is not None:
        return http
    from opscheck.transport.target import CheckHttp, Target

    state = _state(request)  # not via the opscheck_run fixture: one lookup less per check
    target = state.target
    if target is None or not base_url:
        pytest.fail("no target: pass --base-url or --env", pytrace=False)
    if base_url.rstrip("/") != target.base_url:  # a conftest overrode the base_url fixture
        target = Target(base_url.rstrip("/"), target.environment, target.allow_mutating)
    http = CheckHttp(state.client, target, auth=state.profile.auth, gate_failure=state.gate_failure, cache=state.cache)
    request.node.stash[HTTP_KEY] = http
    request.node.stash[EVIDENCE_KEY] = http.evidence
    request.node.stash[ATTACH_KEY] = http.attachments
    return http


# --- outcomes and reports --------------------------------------------------------------------
#
# A check's record is built where it ran (pytest_runtest_makereport, on an xdist worker or in a
# serial run) and put on each phase's test report as `report.opscheck`, the way pytest-html carries
# its extras. It reaches the controller with the report, where pytest_runtest_logreport merges it
# under the one precedence rule (opscheck.results.apply_phase) and feeds the sinks. Only the
# controller writes results.json and the summary. It is serialised only where it must travel: on
# an xdist worker, and for any plugin that asks pytest_report_to_serializable; a serial run
# passes the record and the phase through as objects (serialising each phase cost ~0.1 ms a check).

REPORT_ATTR = "opscheck"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    state = item.config.stash.get(STATE_KEY, None)
    case = _case_of(item) if state is not None else None
    verdict = None
    if case is not None and call.excinfo is not None and isinstance(call.excinfo.value, (CheckFailed, CheckDegraded)):
        # pytest would read the source of every frame to render a traceback (~7 ms a failure) that
        # this hook replaces with the verdict: let it render a bare message, then put the real one back.
        verdict, call.excinfo = call.excinfo, _BARE_EXCINFO
    try:
        report: pytest.TestReport = yield
    finally:
        if verdict is not None:
            call.excinfo = verdict
    if state is None or case is None:
        return report
    try:
        _process_report(item, call, report, state, case)
    except Exception as exc:  # noqa: BLE001 - our own crash must fail the check, never pass it
        _processing_crashed(item, report, state, case, exc)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # A rerun (pytest-rerunfailures) runs the same item again: evidence from the attempt before
    # must never stand for this one, e.g. when this attempt's setup fails before any request.
    for key in (EVIDENCE_KEY, ATTACH_KEY, HTTP_KEY):
        if key in item.stash:
            del item.stash[key]
    state = item.config.stash.get(STATE_KEY, None)
    case = _case_of(item) if state is not None else None
    if case is not None and case.mutating:  # skipped before its fixtures (HTTP, benchmark) are set up
        from opscheck.plugin.fixtures import skip_unless_allowed

        skip_unless_allowed(state, case)


def _bare_excinfo() -> pytest.ExceptionInfo[BaseException]:
    try:  # outside any except block: no context chain for pytest to render
        raise pytest.fail.Exception("opscheck verdict (rendered by the opscheck plugin)", pytrace=False)
    except pytest.fail.Exception as exc:
        return pytest.ExceptionInfo.from_exception(exc)


_BARE_EXCINFO = _bare_excinfo()


def _process_report(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, state: RunState, case: Case) -> None:
    from opscheck.results import PhaseResult

    redact = state.redactor.text
    evidence = item.stash.get(EVIDENCE_KEY, [])
    reason = message = None
    outcome = report.outcome
    facts: dict[str, Any] = {}
    exc = call.excinfo.value if call.excinfo is not None else None
    record = item.stash.get(RECORD_KEY, None)
    if record is None:  # built once per check: its name and runbook section go with every phase
        record = item.stash[RECORD_KEY] = state.new_record(item.nodeid, case)
    if report.failed:
        if isinstance(exc, (CheckFailed, CheckDegraded)):
            reason, message = exc.reason.value, redact(exc.message)
            facts = _facts(exc, case.check_id)
            detail = None
            if isinstance(exc, CheckDegraded):
                if _strict(item.config):
                    message = f"degraded (failing under --strict): {message}"
                else:
                    # A warning band: the gate passes, but the result is never shown green.
                    report.outcome, report.longrepr, outcome = "passed", None, "degraded"
        else:
            reason = Reason.ERROR.value
            message = redact(f"check crashed in {report.when}: {call.excinfo.exconly() if call.excinfo else 'error'}")
            detail = redact(report.longreprtext)
        if report.failed:
            from opscheck.report.failure import failure_repr

            report.longrepr = failure_repr(case, record.runbook, reason, message, evidence, str(state.profile.path), detail)
    elif report.skipped and isinstance(report.longrepr, tuple):
        message = redact(str(report.longrepr[2]))
    if report.sections:  # captured output and logs, most phases have none
        report.sections = [(title, redact(content)) for title, content in report.sections]
    # Only a phase whose evidence the record may keep serialises it (apply_phase's rule): a passed
    # setup or teardown sends none.
    kept = report.when == "call" or outcome != "passed"
    phase = PhaseResult(when=report.when, outcome=outcome, reason=reason, message=message,
                        duration_ms=report.duration * 1000, evidence=[e.to_dict() for e in evidence] if kept else [],
                        facts=facts)
    if report.when == "call":
        for attachment in item.stash.get(ATTACH_KEY, []):
            phase.measurements = attachment.get("stats")
            phase.plots.append(attachment)
    _attach(report, state, record, phase)


def _facts(exc: CheckFailed | CheckDegraded, check_id: str) -> dict[str, Any]:
    """observed, limit, unit and fingerprint of a verdict, when its exception carries them."""
    facts = getattr(exc, "facts", None)
    return dict(facts(check_id)) if callable(facts) else {}


def _attach(report: pytest.TestReport, state: RunState, record: CheckResult, phase: PhaseResult,
            error: str | None = None) -> None:
    """Put the phase on the report, with the check's record: as objects in a serial run (merged
    as they are, in this process), as JSON-able data on an xdist worker (see `_wire`)."""
    data: dict[str, Any] = {"check": record, "phase": phase}
    if error is not None:
        data["error"] = error
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and report.failed:
        # xdist sends a longrepr it cannot rebuild as its text: junit's failure message needs the crash line.
        data["crash"] = [str(crash.path), int(crash.lineno), str(crash.message)]
    if state.worker:  # what the controller's summary says about the run, heard from this worker
        notes: dict[str, Any] = {}
        if len(state.unreachable) > state.unreachable_sent:
            notes["unreachable"] = [[*u, report.nodeid] for u in state.unreachable[state.unreachable_sent:]]
            state.unreachable_sent = len(state.unreachable)
        if state.not_ready is not None:
            notes["not_ready"] = state.not_ready
        if notes:
            data["notes"] = notes
        data = _wire(data)  # pytest-xdist sends the report to the controller as JSON
    setattr(report, REPORT_ATTR, data)


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    """A report's opscheck data as plain JSON: the record's identity and the phase as dicts
    (`_merge` takes either form). A copy; data already in that form is returned as it is."""
    check, phase = data.get("check"), data.get("phase")
    if hasattr(check, "identity") and hasattr(phase, "to_dict"):
        return {**data, "check": check.identity(), "phase": phase.to_dict()}
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config: pytest.Config, report: Any) -> Iterator[Any]:
    """Any plugin that serialises a report (pytest-xdist, pytest-reportlog) gets the JSON form."""
    result = yield
    if isinstance(result, dict) and isinstance(result.get(REPORT_ATTR), dict):
        result[REPORT_ATTR] = _wire(result[REPORT_ATTR])
    return result


def _processing_crashed(item: pytest.Item, report: pytest.TestReport, state: RunState, case: Case, exc: Exception) -> None:
    """Our own handling of a phase's report crashed: the check fails with reason error, everywhere."""
    from opscheck.results import PhaseResult

    message = _crash_message(state, f"opscheck crashed while processing this check's {report.when} result", exc, report)
    try:
        record = state.new_record(item.nodeid, case)
        phase = PhaseResult(when=report.when, outcome="failed", reason=Reason.ERROR.value, message=message,
                            duration_ms=report.duration * 1000)
        _attach(report, state, record, phase, error=message)
    except Exception:  # noqa: BLE001 - the controller still sees the check as unsettled or unfinished
        state.internal_errors.append(message)


def _crash_message(state: RunState, what: str, exc: Exception, report: pytest.TestReport) -> str:
    """Fail `report` with reason error for `exc`; returns the one-line message (redacted)."""
    import traceback

    try:
        message = state.redactor.text(f"{what}: {type(exc).__name__}: {exc}")
        detail = state.redactor.text("".join(traceback.format_exception(exc)))
    except Exception:  # noqa: BLE001 - without a working redactor nothing of the exception is shown
        message, detail = f"{what}: {type(exc).__name__} (details withheld: redaction failed)", ""
    report.outcome = "failed"
    report.longrepr = f"[{Reason.ERROR.value}] {message}\n\n{detail}".rstrip()
    return message


def _strict(config: pytest.Config) -> bool:
    """pytest's own --strict (ini `strict`, pytest 9+) also makes degraded results fail."""
    try:
        return bool(config.getini("strict"))
    except ValueError:  # older pytest: no such ini option
        return False


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    if report.when != "call" or not report.passed:
        return None
    data = getattr(report, REPORT_ATTR, None)
    phase = data.get("phase") if isinstance(data, dict) else None
    if (phase.get("outcome") if isinstance(phase, dict) else getattr(phase, "outcome", None)) == "degraded":
        return "degraded", "D", ("DEGRADED", {"yellow": True})
    return None


class RecordMerger:
    """The controller's merge point, registered on the controller only: every phase of every check
    arrives in pytest_runtest_logreport, from this process or from an xdist worker, and is merged
    before any other plugin (junitxml, pytest-html, the terminal) reads the report."""

    name = "opscheck-records"

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Iterator[None]:
        data = getattr(report, REPORT_ATTR, None)
        record = _merge(self.state, report, data) if isinstance(data, dict) else None
        result = yield
        # Reached only when every plugin took this phase without an internal error.
        if record is not None and report.when == "teardown":
            record.finished = True
        return result

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """pytest-xdist's controller: every worker collected the same items, in the plugin's order."""
        if not self.state.order:
            self.state.order = list(ids)


def _merge(state: RunState, report: pytest.TestReport, data: dict[str, Any]) -> CheckResult | None:
    from opscheck.results import PhaseResult

    try:
        phase = data["phase"]
        if not isinstance(phase, PhaseResult):  # from an xdist worker: JSON
            phase = PhaseResult.from_dict(phase)
        phase.attempt = int(getattr(report, "rerun", 0) or 0)  # pytest-rerunfailures numbers the attempts
        if report.outcome == "rerun":
            phase.outcome = "rerun"
        record = state.merge(data["check"], phase)
        if data.get("error"):
            state.mark_error(record, data["error"])
        notes = data.get("notes") or {}
        for origin, message, nodeid in notes.get("unreachable", []):
            state.heard_unreachable.append((origin, message, nodeid))
        if notes.get("not_ready") and state.not_ready is None:
            state.not_ready = notes["not_ready"]
        crash = data.get("crash")
        if crash and isinstance(report.longrepr, str):
            from opscheck.report.failure import FailureRepr, _Crash

            report.longrepr = FailureRepr(report.longrepr, _Crash(crash[0], crash[1], crash[2]))
    except Exception as exc:  # noqa: BLE001 - a record that cannot be merged fails its check
        message = _crash_message(state, f"opscheck crashed while merging this check's {report.when} result", exc, report)
        state.internal_errors.append(message)
        return None
    if report.when == "teardown":
        _feed_sinks(state, report, record)
    return record


def _feed_sinks(state: RunState, report: pytest.TestReport, record: CheckResult) -> None:
    """An attempt ended: each sink sees the record. A sink's crash fails the check everywhere."""
    for sink in state.sinks:
        try:
            sink.on_result(record)
        except Exception as exc:  # noqa: BLE001 - our own crash must fail the check, never pass it
            message = _crash_message(state, f"opscheck crashed while processing this check's {report.when} result", exc, report)
            state.mark_error(record, message)


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.session = session


@pytest.hookimpl(tryfirst=True)  # settle every verdict before junitxml and pytest-html write theirs
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    try:
        state.close()
    except Exception as exc:  # noqa: BLE001 - a failed close must not hide the results
        state.internal_errors.append(state.redactor.text(f"closing the HTTP client: {type(exc).__name__}: {exc}"))
    if state.worker:
        return  # the controller writes results.json and the summary, from the records it was sent
    if state.usage_error is not None:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    status = int(session.exitstatus)
    _in_collection_order(state)
    _settle_results(session, state, status)
    if status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and any(
            r.outcome == "failed" for r in state.results.values()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a check failed (e.g. an HTML row crashed) after pytest counted
    if state.internal_errors:
        _fail_run(session)
    state.exit_code = int(session.exitstatus)
    _finish_sinks(session, state)  # the terminal's first, rehearsed: results.json's exit code includes a summary crash
    error = state.write_results()
    state.finishing = True
    if error is not None:  # a gate without its results file must not pass
        state.internal_errors.append(error)
        _fail_run(session)
    if status == pytest.ExitCode.INTERNAL_ERROR:
        # pytest shows no terminal summary after an internal error; the verdicts still belong on screen.
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            pytest_terminal_summary(reporter, state.exit_code, session.config)


def _in_collection_order(state: RunState) -> None:
    """Under xdist records arrive as workers finish; every output lists them in collection order,
    as a serial run does. In place: the sinks hold this very map."""
    index = {nodeid: i for i, nodeid in enumerate(state.order)}
    # Each worker notes the first check that found the target unreachable; the summary names the
    # one a serial run would have met first.
    heard = sorted(state.heard_unreachable, key=lambda note: index.get(note[2], len(index)))
    state.unreachable[:0] = [(origin, message) for origin, message, _ in heard]
    if not index:
        return
    ordered = sorted(state.results.items(), key=lambda kv: index.get(kv[0], len(index)))
    state.results.clear()
    state.results.update(ordered)


def _fail_run(session: pytest.Session) -> None:
    """An opscheck crash outside any one check (a report writer): the run ends with exit 3."""
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.exit_code = int(session.exitstatus)


class _NoTerminal:
    def write_sep(self, *args: Any, **kwargs: Any) -> None:
        pass

    def write_line(self, *args: Any, **kwargs: Any) -> None:
        pass


def _terminal_sink(state: RunState) -> Any:
    from opscheck.report.terminal import TerminalSink

    return next((s for s in state.sinks if isinstance(s, TerminalSink)), None)


def _finish_sinks(session: pytest.Session, state: RunState) -> None:
    """Every sink's on_finish with the final records. The terminal summary is rendered into nothing
    first: if it crashes, it will crash the same way when pytest asks for it, after results.json is
    written; fail the run now, while that file can say so."""
    records = list(state.results.values())
    terminal = _terminal_sink(state)
    if terminal is not None:
        terminal.on_finish(state.run_info(state.exit_code), records)
        if state.target is not None and records:
            try:
                terminal.write(_NoTerminal(), state.exit_code if state.exit_code is not None else int(session.exitstatus))
            except Exception:  # noqa: BLE001 - pytest_terminal_summary shows the error itself
                _fail_run(session)
    for sink in state.sinks:
        if sink is terminal:
            continue
        try:
            sink.on_finish(state.run_info(state.exit_code), records)
        except Exception as exc:  # noqa: BLE001 - a sink that cannot finish fails the run, in one line
            state.internal_errors.append(state.redactor.text(f"{type(sink).__name__}: {type(exc).__name__}: {exc}"))
            _fail_run(session)


def _settle_results(session: pytest.Session, state: RunState, status: int) -> None:
    """No check keeps a verdict it never earned: unsettled, half-reported and never-run checks
    (the last two only after an internal error) fail with reason error."""
    stopped = status == pytest.ExitCode.INTERNAL_ERROR
    for result in state.results.values():
        if not result.settled:
            state.mark_error(result, f"no verdict: the run stopped before this check reported one (pytest exit status {status})")
        elif stopped and not result.finished:
            state.mark_error(result, f"internal error while this check was being reported (see INTERNALERROR); "
                                     f"its {result.outcome} verdict did not reach every report")
    if stopped:
        for item in getattr(session, "items", []):
            case = _case_of(item)
            if case is not None and item.nodeid not in state.results:
                state.mark_error(state.result_for(item.nodeid, case), "not run: the run stopped on an internal error before this check")


def _why_none(config: pytest.Config, state: RunState) -> str:
    """Why a run selected no checks: the user's -k/-m deselected them all, or the profile has none."""
    defined = len(state.profile.all_cases())
    chosen = [f'{flag} "{value}"' for flag, value in (("-k", getattr(config.option, "keyword", "")),
                                                       ("-m", getattr(config.option, "markexpr", ""))) if value]
    if defined and chosen:
        return f"{' and '.join(chosen)} selects none of the profile's {defined} checks"
    return "the profile defines no checks for the collected families"


@pytest.hookimpl(trylast=True)  # the runbook summary is the last thing printed, after pytest-benchmark's table
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.usage_error is not None:
        terminalreporter.write_line(f"ERROR: {state.usage_error}", red=True)
        return
    if state is None or state.target is None or state.worker:
        return
    if not state.results and not state.internal_errors:
        if state.exit_code == pytest.ExitCode.INTERNAL_ERROR:
            terminalreporter.write_line("opscheck: no checks ran: the run stopped on an internal error (exit 3)", red=True)
        else:
            terminalreporter.write_line(f"opscheck: no checks ran: {_why_none(config, state)} (exit {state.exit_code if state.exit_code is not None else 5})", red=True)
        return
    terminal = _terminal_sink(state)
    try:
        if terminal is not None:
            # Refreshed: a sink may have failed the run (and said why) after the records were handed over.
            terminal.on_finish(state.run_info(state.exit_code), list(state.results.values()))
            terminal.write(terminalreporter, state.exit_code if state.exit_code is not None else int(exitstatus))
    except Exception as exc:  # noqa: BLE001 - the summary's own crash fails the run, in one line
        try:
            text = state.redactor.text(f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001
            text = type(exc).__name__
        terminalreporter.write_line(f"opscheck: INTERNAL ERROR while writing the summary: {text} (exit code 3)",
                                    red=True, bold=True)
        if state.session is not None:
            _fail_run(state.session)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.close()
    for name in ("opscheck-html", "opscheck-junit", RecordMerger.name):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)
    gcpolicy.run_unconfigured()
