"""`opscheck notify --test`: a test alert through every route, through the CLI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Iterator

import pytest

# Imported at collection, before any in-process pytester run: such a run's sys.modules snapshot would
# otherwise drop the store's SQLAlchemy modules it imported, and a later import here would mix two copies.
from opscheck.history.store import open_store
from tests.recording_receiver import RecordingReceiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingReceiver]:
    server = RecordingReceiver()
    yield server
    server.close()


def _cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscheck", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def _profile(tmp_path, receiver: RecordingReceiver, broken: str = "") -> str:
    path = tmp_path / "opscheck.yaml"
    path.write_text(textwrap.dedent(f"""\
        service: cli-svc
        smoke: [{{name: health, path: /health, severity: critical}}]
        notify:
          timeout_s: 1
          routes:
            - {{match: {{severity: critical}}, to: [exec]}}
            - {{match: {{severity: warning}}, to: [risk{', broken' if broken else ''}]}}
          receivers:
            exec: {{slack: "{receiver.url}/test/exec-token-5555"}}
            risk: {{webhook: "{receiver.url}/test/risk-token-6666"}}
            broken: {{webhook: "{receiver.url}/status/500/broken-token-7777"}}
            am: {{alertmanager: "{receiver.url}/test/am"}}
          fallback: am
        """))
    return str(path)


def test_notify_test_sends_a_test_alert_through_every_route_and_logs_it(tmp_path, receiver):
    receiver.clear()
    history = str(tmp_path / "history.db")
    result = _cli("notify", "--test", "--profile", _profile(tmp_path, receiver), "--history", history, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'ok      slack receiver "exec": test alert delivered after 1 attempt' in result.stdout
    assert "test alert delivered to 3 receiver(s) (logged in the history)" in result.stdout
    assert "TEST" in receiver.bodies("/test/exec-token-5555")[0]["text"]
    assert receiver.bodies("/test/risk-token-6666")[0]["state"] == "test"
    assert receiver.bodies("/test/am/api/v2/alerts")[0][0]["labels"]["alertname"] == "OpscheckTest"
    store = open_store(history)
    try:
        assert sorted((d.receiver, d.state, d.ok) for d in store.deliveries()) == [
            ("am", "test", True), ("exec", "test", True), ("risk", "test", True)]
    finally:
        store.close()
    assert "token" not in result.stdout + result.stderr


def test_notify_test_names_a_receiver_that_fails_and_exits_1_without_showing_its_url(tmp_path, receiver):
    receiver.clear()
    result = _cli("notify", "--test", "--profile", _profile(tmp_path, receiver, broken="yes"), cwd=tmp_path)
    assert result.returncode == 1
    assert 'FAILED  webhook receiver "broken": status 500: receiver broken after 2 attempts' in result.stdout
    assert "test alert failed for broken" in result.stdout
    assert "broken-token-7777" not in result.stdout + result.stderr
    assert len(receiver.bodies("/status/500/broken-token-7777")) == 2  # retried once


@pytest.mark.parametrize(("args", "expected"), [
    ((), "opscheck notify: nothing to do: pass --test"),
    (("--test", "--notify", "ftp://example/hook-token-8888"), "opscheck notify: --notify: expected an http:// or https:// URL"),
    (("--test",), "opscheck notify: no profile: no opscheck.yaml here"),
])
def test_notify_without_what_it_needs_exits_4_in_one_line(tmp_path, args, expected):
    result = _cli("notify", *args, cwd=tmp_path)
    assert result.returncode == 4
    assert result.stderr.startswith(expected), result.stderr
    assert "hook-token-8888" not in result.stderr and "Traceback" not in result.stderr
