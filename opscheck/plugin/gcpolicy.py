"""How a run of checks uses CPython's cyclic garbage collector.

A run keeps most of what it allocates to its end: the modules, the profile, the collected items,
then per check its record, evidence and the report plugins' rows. Every full collection walks all
of them, and so does the interpreter's own collection as the process exits. At 1000 smoke checks a
plain pytest run of a bare file spends ~0.2 s of CPU in the collections that gc.callbacks count
(most in the full ones pytest runs as it ends, `gc_collect_harder`) and ~0.2 s more after its
atexit handlers, where the interpreter's final collection walks every object still alive.

`GcPolicy` (registered when checks will run in this process):
- `gc.freeze()` moves every object alive at that moment into the permanent generation, which no
  collection walks: after configure, after collection, every FREEZE_EVERY checks and when the
  session finishes (before the reports are built). Before each freeze but the first, a full
  collection frees the garbage made since the last one (it walks only what is not frozen yet, so
  it is cheap), so only live objects are frozen, and a `__del__` among that garbage still runs
  while pytest reports its exceptions. Frozen objects are still freed by reference counting.
- the first freeze, at configure, does not collect first: it would walk every imported module
  (~20 ms) for the few cycles an import leaves.
- loading the profile (`paused()`) runs with the collector off: it builds a tree of up to
  100,000 values without cycles, and at 1000 entries its allocations set off a full collection
  of ~20 ms that found nothing.
- the end: a run nested in another pytest run of this process (pytester's in-process runs) hands
  every object back to the collector at its unconfigure. The outermost run leaves them frozen, so
  pytest's closing full collections and the interpreter's at exit walk only what is not frozen.
  Should a program call `pytest.main()` again in the same process, that run's configure hands
  them back and collects once before freezing anew, so nothing accumulates across runs.

The trade-off: a reference cycle among the frozen objects that becomes garbage later (after its
freeze) is not freed before the process ends, and if its `__del__` raises, pytest does not report
it. The thresholds are left as they are: a young generation of 10,000 instead of 700 saved no
measurable CPU and made the longest young pause 4 ms instead of 0.3 ms, inside SLO samples.

See https://docs.python.org/3/library/gc.html#gc.freeze
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

import pytest

FREEZE_EVERY = 100  # checks between two collect-and-freeze steps

_active_runs = 0  # pytest configs alive in this process: >1 means a run nested in another one
_left_frozen = False  # an outermost run ended with its objects still frozen


def run_configured() -> None:
    """Called at the start of the plugin's pytest_configure for every pytest run that loads
    opscheck, with or without a profile (an outer test session has none)."""
    global _active_runs, _left_frozen
    _active_runs += 1
    if _left_frozen:  # an earlier run in this process left its objects frozen: theirs to free now
        gc.unfreeze()
        gc.collect()
        _left_frozen = False


def run_unconfigured() -> None:
    """Called at the end of the plugin's pytest_unconfigure."""
    global _active_runs
    _active_runs -= 1


def _collect_and_freeze() -> None:
    gc.collect()  # only what is not frozen yet: what the run made since the last freeze
    gc.freeze()


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for the block (reference counting still frees), back as it was after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class GcPolicy:
    """The run's collector policy (see the module docstring). Registered by the plugin's configure
    on the controller and on each xdist worker when checks will run in this process."""

    name = "opscheck-gc"

    def __init__(self) -> None:
        self._nested = _active_runs > 1
        self._checks = 0

    def pytest_configure(self, config: pytest.Config) -> None:
        gc.freeze()  # imports, the profile, the plugins

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        _collect_and_freeze()  # the collected items, their fixtures and marks

    def pytest_runtest_logfinish(self) -> None:
        self._checks += 1
        if self._checks % FREEZE_EVERY == 0:
            _collect_and_freeze()  # what the last checks keep: records, report rows

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        _collect_and_freeze()  # every check's record and report rows, before the reports are built

    # After pytest's own unconfigure collection, which then walks the unfrozen objects alone.
    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        global _left_frozen
        if self._nested:
            # pytest's cleanup collects once more after this: a cycle among the frozen objects is
            # freed there, and an exception from its __del__ still reaches pytest's warning.
            gc.unfreeze()
        else:
            _left_frozen = True
