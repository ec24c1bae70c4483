"""How a run of checks uses CPython's cyclic garbage collector.

A run allocates a few hundred objects per check (request, response, evidence, record, the report
plugins' rows) and keeps most of them to the end. With CPython's default thresholds (700, 10, 10)
that means a young collection every few dozen allocations of a check and a full one that walks
everything still alive: at 1000 smoke checks about 0.27 s of CPU in the collector, 0.19 s of it in
the full collections that pytest itself runs at its end (`gc_collect_harder`) over objects that
die with the process anyway.

`GcPolicy` (registered when checks will run in this process):
- `gc.freeze()` moves every object alive at that moment into the permanent generation, which no
  collection walks: after configure, after collection, and when the session finishes (before the
  reports are built). Frozen objects are still freed by reference counting; only a reference
  cycle among them waits for `gc.unfreeze()`.
- the youngest generation's threshold is raised to YOUNG_THRESHOLD for the run (restored at its
  end): fewer, larger young collections, the same objects collected.
- the end: a run nested in another pytest run of this process (pytester's in-process runs) hands
  every object back to the collector at its unconfigure. The outermost run leaves them frozen,
  so pytest's closing full collections walk only what is not frozen; the process ends right after.
  Should a program call `pytest.main()` again in the same process, the next run's configure hands
  them back and collects once before freezing anew, so nothing accumulates across runs.

See https://docs.python.org/3/library/gc.html#gc.freeze and #gc.set_threshold.
"""

from __future__ import annotations

import gc

import pytest

YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)

_active_runs = 0  # pytest configs alive in this process: >1 means a run nested in another one
_left_frozen = False  # an outermost run ended with its objects still frozen


def run_configured() -> None:
    """Called at the start of the plugin's pytest_configure for every pytest run that loads
    opscheck, with or without a profile (an outer test session has none)."""
    global _active_runs
    _active_runs += 1


def run_unconfigured() -> None:
    """Called at the end of the plugin's pytest_unconfigure."""
    global _active_runs
    _active_runs -= 1


class GcPolicy:
    """The run's collector policy (see the module docstring). Registered by the plugin's configure
    on the controller and on each xdist worker when checks will run in this process."""

    name = "opscheck-gc"

    def __init__(self) -> None:
        global _left_frozen
        if _left_frozen:  # a previous run in this process left its objects frozen: theirs to free now
            gc.unfreeze()
            gc.collect()
            _left_frozen = False
        self._thresholds = gc.get_threshold()
        self._nested = _active_runs > 1

    def pytest_configure(self, config: pytest.Config) -> None:
        young, *older = self._thresholds
        if young > 0:  # 0 means the collector was tuned off by someone else: leave it so
            gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
        gc.freeze()  # imports, the profile, the plugins

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        gc.freeze()  # the collected items, their fixtures and marks

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        gc.freeze()  # every check's record and report rows, before the reports are built

    # After pytest's own unconfigure collection, which then walks the unfrozen objects alone.
    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        global _left_frozen
        gc.set_threshold(*self._thresholds)
        if self._nested:
            # pytest's cleanup collects once more after this: a cycle among the frozen objects is
            # freed there, and an exception from its __del__ still reaches pytest's warning.
            gc.unfreeze()
        else:
            _left_frozen = True
