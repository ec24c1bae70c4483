"""Host checks through the plugin, on real local conditions: a port we open, this machine's disk."""

from __future__ import annotations

import socket

from tests.conftest import RUNBOOK
from tests.hostile import closed_port


def profile(port: int, process: str, disk: str) -> str:
    return f"""\
service: host
runbook: RUNBOOK.md
host:
  runbook: "API Not Responding"
  disk: [{disk}]
  ports:
    - {{port: {port}, host: 127.0.0.1, process: {process}}}
    - {{port: {closed_port()}}}
"""


def test_host_checks_run_only_with_marker_and_judge_ports_and_disk(service, run_checks):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        text = profile(port, "python", "{path: /, warn: 0, critical: 100}")
        without = run_checks("--base-url", service().base_url, profile=text, runbook=RUNBOOK)
        assert without.ret == 5  # no -m host: nothing selected, and that is not a pass
        run = run_checks("--base-url", service().base_url, "-m", "host", profile=text, runbook=RUNBOOK)
        wrong = run_checks("--base-url", service().base_url, "-m", "host", runbook=RUNBOOK,
                           profile=profile(port, "nginx", "{path: /, critical: 0}"))
    outcomes = run.outcomes()
    assert outcomes[f"host::port-{port}"] == "passed"
    assert outcomes["host::disk:/"] == "degraded"  # any usage is above a warning band of 0 %
    closed = [c for c in run.results["checks"] if c["id"].startswith("host::port-") and c["id"] != f"host::port-{port}"][0]
    assert closed["outcome"] == "failed" and closed["reason"] == "connect"
    assert "nothing listens on port" in closed["message"]

    held = wrong.check(f"host::port-{port}")
    assert held["outcome"] == "failed" and held["reason"] == "connect"
    assert f"127.0.0.1:{port} is held by python" in held["message"] and "expected nginx" in held["message"]
    disk = wrong.check("host::disk:/")
    assert disk["outcome"] == "failed" and disk["reason"] == "threshold"
    assert "disk / at" in disk["message"] and "> critical 0 %" in disk["message"]
