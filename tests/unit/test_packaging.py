"""What `pip install .` ships: every package, and the data files the code reads at run time."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_on_disk_is_listed_for_the_wheel():
    # An editable install finds unlisted packages anyway; a real install does not.
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "opscheck").rglob("__init__.py")}
    listed = set(CONFIG["packages"]) - {"opscheck.checks"}
    assert on_disk == listed
    assert CONFIG["package-dir"]["opscheck.checks"] == "checks"


def test_data_files_read_at_run_time_are_shipped():
    data = CONFIG["package-data"]
    for pattern in ("profile.schema.json", "results.schema.json", "manifest.schema.json"):
        assert pattern in data["opscheck"] and (ROOT / "opscheck" / pattern).is_file()
    assert {"RUNBOOK.md", "opscheck.yaml", "schemas/*.json"} <= set(data["opscheck.demo"])
