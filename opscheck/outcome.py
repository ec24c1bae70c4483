"""The failure taxonomy: every failed check carries one `Reason` and a one-line message."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opscheck.evidence.kinds import Evidence


class Reason(str, Enum):
    """Why a check failed. The values are stable: they appear in results.json and JUnit."""

    DNS = "dns"  # the host name did not resolve
    CONNECT = "connect"  # refused, unreachable, or the TCP connect timed out
    TLS = "tls"  # handshake or certificate verification failed
    TIMEOUT = "timeout"  # a read timed out, the check's deadline passed, or readiness never came
    PROTOCOL = "protocol"  # malformed HTTP, reset mid-answer, redirect loop
    STATUS = "status"  # an unexpected status code
    BODY = "body"  # the body, content type or headers did not match
    LATENCY = "latency"  # an answer slower than its budget
    LIMIT = "limit"  # an oversized request was accepted, or one at the limit refused
    AUTH = "auth"  # a protected route answered without a valid key, or refused a valid one
    SCHEMA = "schema"  # a response broke its JSON Schema / OpenAPI contract, or versions disagree
    STALE = "stale"  # data older than its freshness bound
    THRESHOLD = "threshold"  # a measured value outside its band (KPI, host resource, certificate days)
    ERRORS = "errors"  # the error ratio of a sample (or of the service's own counters) over its budget
    NO_DATA = "no_data"  # nothing to measure: no valid sample, a missing/empty series, an absent field
    ERROR = "error"  # the check itself crashed: a bug in opscheck or in a custom check

    def __str__(self) -> str:
        return self.value


class _Verdict(Exception):
    """A reason, a one-line message and the evidence behind it."""

    def __init__(self, reason: Reason, message: str, evidence: Evidence | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence


class CheckFailed(_Verdict, AssertionError):
    """A check's verdict: raised inside a check, rendered by the plugin without a traceback."""

    def __str__(self) -> str:
        return f"[{self.reason.value}] {self.message}"


class CheckDegraded(_Verdict):
    """A value in a warning band: reported as `degraded`, never green; fails only with --strict."""

    def __str__(self) -> str:
        return f"[{self.reason.value}] degraded: {self.message}"
