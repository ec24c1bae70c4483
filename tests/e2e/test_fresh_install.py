"""A user's install: the wheel in a fresh venv with no extras imports every module and runs every family.

An editable dev install hides a runtime import that only a dev extra satisfies (the TLS family once
needed `cryptography` from `dev` and crashed with ModuleNotFoundError after `pip install opscheck`).
This builds the wheel from a copy of the tree, installs it with its declared dependencies only, and
drives the installed `opscheck` command against real servers. The servers (the reference service and
an HTTPS server) run from this test's own environment, since the reference service is the `demo` extra.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opscheck.demo.launcher import DemoService
from tests.tls_server import CertFactory, TlsServer

ROOT = Path(__file__).resolve().parents[2]
KEY = "fresh-install-key-4b1d"
# Only the reference service's own packages may be missing: they are the `demo` extra.
DEMO_EXTRA = {"fastapi", "uvicorn", "starlette", "pydantic"}

IMPORT_ALL = """
import importlib, json, pkgutil, opscheck
failed = {}
for info in pkgutil.walk_packages(opscheck.__path__, "opscheck."):
    if info.name.endswith(".__main__"):  # importing it runs the command
        continue
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        failed[info.name] = exc.name
print(json.dumps(failed))
"""


def _run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fresh")
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "reports", "build", "dist", "*.egg-info",
                                                              "__pycache__", ".hypothesis", ".benchmarks", ".pytest_cache"))
    wheels = base / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)], timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    assert made.returncode == 0, made.stderr
    wheel = next(wheels.glob("opscheck-*.whl"))
    installed = _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def _opscheck(venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_BASE_URL", "OPSCHECK_PROFILE", "VIRTUAL_ENV")}
    full_env.update(env or {})
    return _run([str(venv / "bin" / "opscheck"), *args], timeout=300, cwd=cwd, env=full_env)


def test_every_module_imports_without_extras_except_the_reference_service(fresh_venv, tmp_path):
    proc = _run([str(fresh_venv / "bin" / "python"), "-c", IMPORT_ALL], timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    failed = json.loads(proc.stdout)
    assert all(name.startswith("opscheck.demo") for name in failed), failed
    assert set(failed.values()) <= DEMO_EXTRA, failed


def test_demo_without_its_extra_says_what_to_install(fresh_venv, tmp_path):
    proc = _opscheck(fresh_venv, "demo", cwd=tmp_path)
    assert proc.returncode == 4
    assert "pip install 'opscheck[demo]'" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_every_family_runs_from_a_plain_install(fresh_venv, tmp_path):
    installed = _run([str(fresh_venv / "bin" / "python"), "-c", "import opscheck, pathlib; print(pathlib.Path(opscheck.__file__).parent)"],
                     timeout=60, cwd=tmp_path)
    profile = Path(installed.stdout.strip()) / "demo" / "opscheck.yaml"
    with DemoService(api_keys=[KEY]) as service:
        # `-m "host or not host"` selects every family, host included (host runs only where -m names it).
        proc = _opscheck(fresh_venv, "run", "--profile", str(profile), "--env", "local", "--report-dir", str(tmp_path / "r"),
                         "-m", "host or not host", "-p", "no:cacheprovider", cwd=tmp_path,
                         env={"DEMO_BASE_URL": service.base_url, "OPSCHECK_API_KEYS": KEY})
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output[-4000:]
    checks = json.loads((tmp_path / "r" / "results.json").read_text())["checks"]
    families = {c["family"] for c in checks}
    assert families >= {"readiness", "smoke", "limits", "auth", "headers", "schema", "freshness", "thresholds",
                        "host", "slo", "benchmark", "metrics"}, families
    assert not [c for c in checks if c["reason"] == "error"], output[-4000:]
    # The host family reads this machine, whose load the test doesn't control; every other family is green.
    not_green = [(c["id"], c["outcome"], c["message"]) for c in checks if c["family"] != "host" and c["outcome"] != "passed"]
    assert not not_green, not_green


def test_tls_family_runs_from_a_plain_install(fresh_venv, tmp_path):
    certs = CertFactory(tmp_path)
    (tmp_path / "RUNBOOK.md").write_text("# R\n\n## Certificates\nRenew it.\n")
    (tmp_path / "opscheck.yaml").write_text(
        "service: s\nrunbook: RUNBOOK.md\ntls: {warn_days: 30, fail_days: 7, ca_file: ca.pem, runbook: Certificates}\n")
    with TlsServer(*certs.leaf("valid", days=90)) as server:
        proc = _opscheck(fresh_venv, "run", "--profile", str(tmp_path / "opscheck.yaml"), "--base-url", server.base_url,
                         "--report-dir", str(tmp_path / "r"), "-p", "no:cacheprovider", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    checks = json.loads((tmp_path / "r" / "results.json").read_text())["checks"]
    assert [(c["id"], c["outcome"]) for c in checks] == [("tls::certificate", "passed")]
