"""Bounded delivery: one POST per attempt, retried once, under a per-run budget.

Each attempt goes through the run's transport (opscheck.transport.http.HttpClient), so its
`timeout_s` bounds the whole exchange (connect, send, answer: a receiver that trickles or never
answers is cut off) and every error text is redacted. No profile headers are sent: the service's
credentials are not the receiver's. A receiver whose send failed both attempts is not tried again
in the same run (each later alert for it is reported as not sent), and once the run's `budget_s`
is spent no send starts: so N failing checks and a dead receiver cost at most about one budget,
never N x 2 x timeout. Nothing here raises.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from opscheck.config.notify import Receiver
from opscheck.evidence.redact import Redactor

ATTEMPTS = 2  # the first try and one retry
RETRY_PAUSE_S = 0.5
MAX_ANSWER_BYTES = 64 * 1024


@dataclass
class SendResult:
    """`ok`: a 2xx answer; `attempts` made (0: not sent); `error`: one redacted line, or None;
    `status`: the last HTTP status, if any."""

    ok: bool
    attempts: int
    error: str | None = None
    status: int | None = None


def post_url(receiver: Receiver) -> str:
    """Where a receiver's alerts are POSTed: Alertmanager's v2 API under its base URL."""
    if receiver.kind == "alertmanager":
        return receiver.url.rstrip("/") + "/api/v2/alerts"
    return receiver.url


class Sender:
    """Sends JSON bodies to receivers. `redactor` is the run's; every receiver URL is registered
    with it before anything is sent, so no message shows one."""

    def __init__(self, redactor: Redactor, timeout_s: float, budget_s: float, verify_tls: bool = True) -> None:
        from opscheck.config.settings import HttpSettings
        from opscheck.transport.http import HttpClient

        self.redactor = redactor
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + budget_s
        self.budget_s = budget_s
        self.failed: dict[str, str] = {}  # receiver name -> why it failed this run
        settings = HttpSettings(timeout_s=timeout_s, deadline_s=timeout_s, max_body_bytes=MAX_ANSWER_BYTES,
                                verify_tls=verify_tls)
        self.client = HttpClient(settings, redactor)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, receiver: Receiver, body: Any) -> SendResult:
        from opscheck.config.notify import url_secrets

        self.redactor.add_secrets(url_secrets(receiver.url))
        if receiver.name in self.failed:
            return SendResult(False, 0, f"not sent: receiver failed earlier in this run ({self.failed[receiver.name]})")
        url = post_url(receiver)
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        error, status, attempts = None, None, 0
        for attempt in range(ATTEMPTS):
            if time.monotonic() >= self.deadline:
                error = error or f"not sent: the run's notification budget of {self.budget_s:g} s was spent"
                break
            if attempt:
                time.sleep(RETRY_PAUSE_S)
            attempts += 1
            ok, status, error = self._attempt(url, content)
            if ok:
                return SendResult(True, attempts, None, status)
        if attempts:
            self.failed[receiver.name] = error or "failed"
        return SendResult(False, attempts, error, status)

    def _attempt(self, url: str, content: bytes) -> tuple[bool, int | None, str | None]:
        from opscheck.outcome import CheckFailed

        # A refused connection is memoised by the client for the run; a retry must really retry.
        self.client.unreachable.clear()
        try:
            response = self.client.request("POST", url, content=content, headers={"Content-Type": "application/json"},
                                           credentials=False)
        except CheckFailed as exc:
            detail = exc.evidence.error if exc.evidence is not None and getattr(exc.evidence, "error", None) else exc.message
            return False, None, self.redactor.text(f"{exc.reason.value}: {detail}")
        except Exception as exc:  # noqa: BLE001 - a sender bug must not fail or stop the run
            return False, None, self.redactor.text(f"error: {type(exc).__name__}: {exc}")
        if 200 <= response.status < 300:
            return True, response.status, None
        excerpt = " ".join(response.text[:120].split())
        return False, response.status, self.redactor.text(f"status {response.status}" + (f": {excerpt}" if excerpt else ""))
