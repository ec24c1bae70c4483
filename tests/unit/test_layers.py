"""The layering check (issue 10, §1): import-linter's contracts in pyproject.toml hold for the package.

The contracts say one direction of dependency through the pipeline (cli, plugin, families|report,
contract, measure, transport, config|evidence, runbook, leaf modules) and that the demo service
stands apart. `lint-imports` runs as a subprocess from this interpreter's bin directory, on the
real tree, and on scratch copies with one wrong-direction import added, to show the check bites.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
TIMEOUT_S = 120.0


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on cwd's pyproject.toml, the package imported from cwd first."""
    if not LINT_IMPORTS.is_file():
        pytest.fail(f"{LINT_IMPORTS} not found: install the dev extra (pip install -e '.[dev]'), which brings import-linter")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(cwd)  # a scratch copy shadows the editable install
    env["COLUMNS"] = "200"  # one contract per line in the output
    argv = [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(cwd / "pyproject.toml")]
    for contract in contracts:
        argv += ["--contract", contract]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def scratch_copy(tmp_path: Path) -> Path:
    """The package and pyproject.toml copied under tmp_path, so a wrong import never touches the tree."""
    work = tmp_path / "scratch"
    shutil.copytree(ROOT / "opscheck", work / "opscheck", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    return work


def add_import(module: Path, statement: str) -> None:
    text = module.read_text(encoding="utf-8")
    # After the docstring and `from __future__`, where an import is legal Python.
    anchor = "from __future__ import annotations\n"
    assert anchor in text, f"{module} has no `{anchor.strip()}` line to put the import after"
    module.write_text(text.replace(anchor, f"{anchor}{statement}\n", 1), encoding="utf-8")


def test_every_import_layering_contract_holds_for_the_package():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, f"lint-imports found imports against the layering:\n{proc.stdout}\n{proc.stderr}"
    assert "0 broken" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract"),
    [
        # A leaf module reaching up to the plugin.
        ("files.py", "import opscheck.plugin", "layers"),
        # The profile importing a family statically (the registry is looked up late on purpose).
        ("config/profile.py", "from opscheck.families import registry", "layers"),
        # Measurement reaching up to the contract checks.
        ("measure/bands.py", "import opscheck.contract", "layers"),
        # A report importing the pytest plugin: reports consume result records.
        ("report/failure.py", "import opscheck.plugin", "layers"),
        # Anything but the CLI starting the demo service.
        ("transport/http.py", "import opscheck.demo.faults", "demo-apart"),
        # The demo service leaning on opscheck's own modules.
        ("demo/faults.py", "import opscheck.outcome", "demo-self-contained"),
    ],
    ids=["leaf-to-plugin", "config-to-families", "measure-to-contract", "report-to-plugin",
         "transport-to-demo", "demo-to-outcome"],
)
def test_an_import_against_the_direction_breaks_its_contract(tmp_path, module, statement, contract):
    work = scratch_copy(tmp_path)
    before = lint_imports(work, contract)
    assert before.returncode == 0, f"the unchanged scratch copy should pass {contract}:\n{before.stdout}\n{before.stderr}"

    add_import(work / "opscheck" / module, statement)
    after = lint_imports(work, contract)
    assert after.returncode != 0, f"`{statement}` in {module} should break {contract}:\n{after.stdout}"
    assert "1 broken" in after.stdout, after.stdout
    # The report names the offending module, so the failure says where to look.
    importer = "opscheck." + module.removesuffix(".py").replace("/", ".")
    assert importer in after.stdout, after.stdout
