"""The modules split by job (issue 10 §7) keep their imports pointing one way inside each package.

Read from the source (no imports run), so a wrong-direction import fails here even when it would
not yet make a cycle. Imports under `if TYPE_CHECKING:` are for annotations only and are skipped.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module -> the modules of its own package it may import (at run time)
ALLOWED = {
    "opscheck.contract.validate": set(),
    "opscheck.contract.generate": {"opscheck.contract.validate"},
    "opscheck.contract.mutate": {"opscheck.contract.validate", "opscheck.contract.generate"},
    "opscheck.contract.openapi": {"opscheck.contract.validate", "opscheck.contract.generate"},
    "opscheck.report.charts.scale": set(),
    "opscheck.report.charts.svg": {"opscheck.report.charts.scale"},
    "opscheck.report.charts.latency": {"opscheck.report.charts.scale", "opscheck.report.charts.svg"},
    "opscheck.demo.models": set(),
    "opscheck.demo.faults": set(),
    "opscheck.demo.middleware": {"opscheck.demo.models"},
    "opscheck.demo.routes": {"opscheck.demo.models", "opscheck.demo.middleware", "opscheck.demo.faults"},
    "opscheck.demo.data": {"opscheck.demo.routes"},  # the restore drill's data: its routes reuse the key check
    "opscheck.demo.switch": set(),  # the run-time fault switch (the watch's demo); faults read it per request
}


def _runtime_imports(module: str) -> set[str]:
    path = ROOT / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_each_split_module_imports_only_the_modules_below_it_in_its_package(module: str) -> None:
    package = module.rsplit(".", 1)[0]
    own = {name for name in _runtime_imports(module) if name.startswith(package + ".")}
    assert own <= ALLOWED[module], f"{module} imports {sorted(own - ALLOWED[module])} against the direction"


def test_every_module_of_the_split_packages_has_a_place_in_the_direction() -> None:
    # A new module must be placed in ALLOWED, or its imports go unchecked.
    listed = {m for m in ALLOWED}
    for package, exempt in (("opscheck/contract", {"__init__", "expect"}), ("opscheck/report/charts", {"__init__"}),
                            ("opscheck/demo", {"__init__", "__main__", "app", "server", "launcher"})):
        for path in (ROOT / package).glob("*.py"):
            if path.stem not in exempt:
                assert f"{package.replace('/', '.')}.{path.stem}" in listed, path


def test_the_fault_list_still_loads_without_the_web_framework() -> None:
    # The CLI and the launcher import demo.faults before pytest starts; anyio imported then cannot be
    # assertion-rewritten. The fault behaviour that moved there must not pull FastAPI in.
    code = ("import sys, opscheck.demo.faults; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'anyio', 'pydantic'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
