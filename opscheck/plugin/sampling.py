"""pytest hooks for sampled checks (issue 11): early verdicts (`--no-early-stop`) and the runner's
load. Loaded through `pytest_plugins` of `opscheck.plugin`.

`--no-early-stop` samples every SLO and benchmark check in full, even once its verdict is certain
(opscheck.measure.early). Every process of the run (xdist workers included) reads the option in
its own pytest_configure, so the switch holds wherever the checks run.

Under pytest-xdist, pytest-benchmark switches itself off; the benchmark family then times its
rounds itself (families/benchmark.py) and the header says so once.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck")
    group.addoption("--no-early-stop", dest="opscheck_no_early_stop", action="store_true", default=False,
                    help="sample SLO and benchmark checks in full, even once a budget is broken whatever the "
                         "rest answer (default: stop at a certain verdict).")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # Imported only to switch it off: a pytest session without opscheck checks must not pay for
    # the measuring modules (tests/e2e/test_plugin.py holds the list of what every session imports).
    if config.getoption("opscheck_no_early_stop", False):
        from opscheck.measure import early

        early.ENABLED = False


def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    early = sys.modules.get("opscheck.measure.early")
    if early is not None:
        early.ENABLED = True  # a later in-process run (pytester) starts from the default


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    from opscheck.plugin import STATE_KEY

    state = config.stash.get(STATE_KEY, None)
    if state is None or state.target is None or not state.profile.cases("benchmark"):
        return None
    if benchmark_disabled(config):
        return ["opscheck benchmark: pytest-benchmark is switched off (pytest-xdist or --benchmark-disable); "
                "benchmark rounds are timed by opscheck and are not in pytest-benchmark's table or JSON"]
    return None


def benchmark_disabled(config: Any) -> bool:
    """Whether pytest-benchmark will time nothing in this run: it switches itself off under
    pytest-xdist (`-n`, `--dist`) and with --benchmark-disable."""
    try:
        if config.getoption("benchmark_disable", False) and not config.getoption("benchmark_enable", False):
            return True
        return config.getoption("dist", "no") != "no" or hasattr(config, "workerinput")
    except ValueError:
        return True  # pytest-benchmark is not even loaded
