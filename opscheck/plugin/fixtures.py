"""The per-family fixtures, generated from the registry table: one `<section>_check` per row.

A check file asks for its family's fixture and runs it, nothing more:

    def test_smoke(smoke_check):
        smoke_check.run()

The plugin parametrizes `<section>_check` indirectly with the section's cases (one test per case,
id = the case's name). The fixture turns `request.param` into a `CaseRun`: the case plus what its
family's `run` needs (the row's `needs`: the check's CheckHttp, built from pytest-base-url's
`base_url`; pytest-benchmark's `benchmark`; the --baseline path), declared as the generated
fixture's arguments for the families that need them. The CheckHttp is the test's one: a custom
check that also asks for `opscheck_http` gets the same object. A mutating case is skipped before any fixture is set up (the plugin's pytest_runtest_setup
calls `skip_unless_allowed`), unless the target's environment allows mutating checks.

Imported with the plugin, so this module imports nothing heavy: the family module is imported
when its first case runs, and only the profile's sections have cases.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import pytest

from opscheck.families.registry import FAMILIES, HTTP, NEED_FIXTURES, Family

if TYPE_CHECKING:
    from opscheck.config.profile import Case
    from opscheck.plugin.session import RunState
    from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class CaseRun:
    """One parametrized check, ready to run: its case, its family's row and what `run` needs.

    `http` is the check's CheckHttp, or None for a family that needs no HTTP (host); `needs` holds
    the family's keyword arguments (benchmark: `benchmark`, `baseline`).
    """

    case: Case
    family: Family
    http: CheckHttp | None = None
    needs: dict[str, Any] = field(default_factory=dict)

    def run(self) -> None:
        """Call `run(case, http, **needs)` of the family's module: returns on a pass, raises
        CheckFailed / CheckDegraded (or skips) as that function's docstring says."""
        self.family.load().run(self.case, self.http, **self.needs)


@functools.cache
def _check_http() -> Callable[[pytest.FixtureRequest, str | None], CheckHttp]:
    from opscheck.plugin import check_http  # the plugin package imports this module: look it up once, at run time

    return check_http


def case_param(request: pytest.FixtureRequest) -> Case:
    """The case this test instance checks (`request.param`); skips a mutating case unless the
    target's environment allows mutating checks (`allow_mutating: true`)."""
    from opscheck.plugin import _state  # the plugin package imports this module: look it up at call time

    case: Case = request.param
    skip_unless_allowed(_state(request), case)
    return case


def skip_unless_allowed(state: RunState, case: Case) -> None:
    """pytest.skip for a mutating case when the target's environment does not allow mutating
    checks. The plugin calls it before the test's fixtures are set up (pytest_runtest_setup)."""
    if case.mutating and (state.target is None or not state.target.allow_mutating):
        env = state.target.environment if state.target else "none"
        pytest.skip(f"mutating check: environment {env!r} does not allow mutating checks (allow_mutating: true)")


def _fixture_for(family: Family) -> Callable[..., CaseRun]:
    # The needs are declared as the fixture's own arguments, so pytest resolves them once, when it
    # builds the fixture closure at collection, instead of a request.getfixturevalue per need and check.
    http_arg = NEED_FIXTURES[HTTP] if HTTP in family.needs else None
    extra = [(need, NEED_FIXTURES[need]) for need in family.needs if need != HTTP]

    def fixture(request: pytest.FixtureRequest, **given: Any) -> CaseRun:
        case = case_param(request)
        http = _check_http()(request, given[http_arg]) if http_arg is not None else None
        return CaseRun(case, family, http, {need: given[argname] for need, argname in extra})

    fixture.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(NEED_FIXTURES[need], inspect.Parameter.KEYWORD_ONLY) for need in family.needs])
    fixture.__name__ = fixture.__qualname__ = family.argname
    fixture.__module__ = __name__
    fixture.__doc__ = (f"The `{family.section}:` case this test instance checks, as a CaseRun (`.run()` runs it; "
                       f"`.case` is the case): {family.summary}.")
    return pytest.fixture(name=family.argname)(fixture)  # type: ignore[no-any-return]


for _family in FAMILIES.values():
    globals()[_family.argname] = _fixture_for(_family)
del _family

__all__ = [f.argname for f in FAMILIES.values()]
"""The generated fixtures, for `from opscheck.plugin.fixtures import *` in the plugin package."""
