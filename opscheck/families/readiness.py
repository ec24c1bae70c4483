"""Readiness: live and ready probes, the dependencies a not-ready answer names, and --wait-ready.

The runbook sentence it serves: "the service is ready when `/health/ready` answers 200; if not, the
body names the dependency that is down (database, cache, queue)".
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Iterator

from opscheck.contract.expect import expect_status
from opscheck.transport.http import HttpClient
from opscheck.transport.target import CheckHttp
from opscheck.jsonvalue import loads
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import Builder, Case, status_set


@dataclass(frozen=True)
class ReadinessCase(Case):
    """One probe of `readiness:`: `live` or `ready`, the URL path it GETs and the statuses that pass."""

    path: str = "/health/ready"
    probe: str = "ready"  # "live" or "ready"
    expect_status: tuple[int, ...] = (200,)


def build(raw: dict[str, Any], b: Builder) -> Iterator[ReadinessCase]:
    """Up to two cases from `readiness: {live: /health/live, ready: /health/ready, expect_status: 200}`.

    Check ids are `readiness::live` and `readiness::ready`, each at its own profile line.
    """
    for probe in ("live", "ready"):
        if probe in raw:
            fields = b.common("readiness", probe, ("readiness",), raw)
            fields.update(field=f"readiness.{probe}", line=b.line(("readiness", probe)))
            yield ReadinessCase(**fields, path=raw[probe], probe=probe, expect_status=status_set(raw.get("expect_status")))


def run(case: ReadinessCase, http: CheckHttp) -> None:
    """GET the probe's path without an API key; pass on one of `expect_status` (default 200).

    Raises CheckFailed with `status` on any other status, naming the dependencies a not-ready body
    reports down ("status 503, expected 200; down: database"), or a transport reason when nothing
    answered.
    """
    response = http.get(case.path, auth=False)
    expect_status(response, case.expect_status, f"GET {case.path}", describe_not_ready(response.status, response.text))


_HEALTHY = {"ok", "up", "pass", "passed", "healthy", "ready", "true", "green"}


def down_dependencies(body: Any) -> list[str]:
    """Names of unhealthy dependencies in the common health-body shapes.

    Handles {"checks": {"db": "down"}}, {"checks": {"db": {"status": "down"}}}, Spring's
    {"components": {"db": {"status": "DOWN"}}}, and the health+json draft's lists of results.
    """
    if not isinstance(body, dict):
        return []
    down: list[str] = []
    for key in ("checks", "components", "dependencies", "details"):
        group = body.get(key)
        if isinstance(group, dict):
            down.extend(name for name, value in group.items() if not _healthy(value))
        elif isinstance(group, list):
            for item in group:
                if isinstance(item, dict) and not _healthy(item):
                    down.append(str(item.get("name") or item.get("id") or "?"))
    return down


def _healthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in _HEALTHY
    if isinstance(value, dict):
        for key in ("status", "state", "healthy"):
            if key in value:
                return _healthy(value[key])
        return True
    if isinstance(value, list):
        return all(_healthy(v) for v in value)
    return True


def describe_not_ready(status: int, body_text: str) -> str:
    try:
        down = down_dependencies(loads(body_text, what="readiness body"))
    except ValueError:  # not JSON, too deep or out of range: the status alone tells the story
        down = []
    return f"down: {', '.join(down)}" if down else ""


@dataclass
class WaitResult:
    ready: bool
    waited_s: float
    polls: int
    last: str  # the last answer seen, as one line


def wait_ready(
    client: HttpClient, url: str, seconds: float, expect_status: tuple[int, ...] = (200,)
) -> WaitResult:
    """Poll `url` with jittered exponential backoff until it answers `expect_status` or time runs out."""
    start = time.monotonic()
    deadline = start + seconds
    delay = 0.25
    polls = 0
    last = "no answer yet"
    while True:
        polls += 1
        try:
            response = client.request("GET", url, deadline_at=deadline)
            if response.status in expect_status:
                return WaitResult(True, time.monotonic() - start, polls, f"status {response.status}")
            extra = describe_not_ready(response.status, response.text)
            last = f"status {response.status}" + (f" ({extra})" if extra else "")
        except CheckFailed as failure:
            # A refused connection during a deploy is expected: forget it and keep polling.
            client.unreachable.clear()
            last = failure.message
        remaining = deadline - time.monotonic()
        if remaining <= delay * 0.5:
            # Too little time for another honest poll: keep the last real answer as the verdict.
            return WaitResult(False, time.monotonic() - start, polls, last)
        time.sleep(min(delay * random.uniform(0.8, 1.2), remaining - delay * 0.5))
        delay = min(delay * 2, 5.0)


def not_ready_failure(url: str, result: WaitResult) -> CheckFailed:
    return CheckFailed(
        Reason.TIMEOUT,
        f"service not ready after waiting {result.waited_s:.1f} s ({result.polls} polls of {url}); last answer: {result.last}",
    )


Case = ReadinessCase  # the family protocol's name for this module's case type
