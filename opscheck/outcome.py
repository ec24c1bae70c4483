"""The failure taxonomy: every failed check carries one `Reason` and a one-line message, and,
where a number was judged, the facts behind the sentence (`observed`, `limit`, `unit`).

Facts, e.g. a smoke check that got a 503, an SLO whose p95 broke its budget:

    CheckFailed(Reason.STATUS, "GET /health: status 503, expected 200",
                observed=Decimal(503), limit="200", unit="status")
    CheckFailed(Reason.LATENCY, "GET /: p95 812.4 ms > 400 ms (n=50, errors 0 %)",
                observed=Decimal("812.4"), limit=Decimal(400), unit="ms")

Fingerprint: what "the same failure as last night" means. `fingerprint(check_id)` is the first 16
hex digits of SHA-256 over the check id, the reason and the failure's *shape*. The shape is the
`shape` the raiser gave, else the message with every number and every hexadecimal id masked
("p95 812.4 ms > 400 ms" and "p95 954.0 ms > 400 ms" share one shape; a number right after a
letter, as in "p95" or "TLSv1.2", names a thing and is kept), except that an observed status
(unit "status") stays in the shape: a 503 and a 404 are different failures. So the same fault on two
runs gives the same fingerprint whatever was measured, and a different fault (another check,
reason, field or status) gives another. Changing a check's wording changes its fingerprints.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol


class EvidenceItem(Protocol):
    """What a verdict may carry as evidence: any kind in opscheck.evidence.kinds (an HTTP exchange,
    a sample summary, a TLS handshake), or a custom check's own object with these two methods.
    Structural, so this leaf module imports nothing of opscheck."""

    def summary(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


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
    RUNNER = "runner"  # unmeasurable: the machine running opscheck was overloaded during a sample, not the service

    def __str__(self) -> str:
        return self.value


# A hexadecimal run with a digit in it (request ids, hashes), then any number: 1, 812.4, 1,024, 12:30:05.
# A number right after a letter names a thing, not a measure ("p95", "TLSv1.2", "x2"): kept.
_MASK = re.compile(r"\b(?=[0-9a-f]*[0-9])[0-9a-f]{8,}\b|(?<![A-Za-z_.0-9])[0-9]+(?:[.,:][0-9]+)*")


def shape_of(message: str) -> str:
    """`message` with numbers and hex ids masked as "#": what stays the same across runs of one fault."""
    return _MASK.sub("#", message)


def fingerprint(check_id: str, reason: Reason | str, shape: str) -> str:
    """16 hex digits of SHA-256 over "check_id\\0reason\\0shape" (see the module docstring)."""
    text = f"{check_id}\0{Reason(reason).value}\0{shape}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _fact(value: Decimal | int | float | str | None) -> str | None:
    # Exact decimal text for numbers (results.json keeps Decimals as strings, as in `measurements`).
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        value = Decimal(repr(value))
    return format(value, "f") if isinstance(value, Decimal) else str(value)


class _Verdict(Exception):
    """A reason, a one-line message, the evidence behind it, and optionally the number judged.

    `observed`: what was measured (Decimal, or int/float); `limit`: what it was judged against
    (a Decimal, or text such as "200 or 204" for a status); `unit`: "ms", "status", "%", "days",
    "bytes", or a KPI's own unit. `shape`: overrides the masked message as the fingerprint's shape.
    """

    def __init__(self, reason: Reason, message: str, evidence: EvidenceItem | None = None, *,
                 observed: Decimal | int | float | None = None, limit: Decimal | int | float | str | None = None,
                 unit: str | None = None, shape: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence = evidence
        self.observed = observed
        self.limit = limit
        self.unit = unit
        self.shape = shape

    def fingerprint(self, check_id: str) -> str:
        """A short stable hash of check id + reason + shape (see the module docstring)."""
        shape = self.shape if self.shape is not None else shape_of(self.message)
        if self.unit == "status" and self.shape is None:
            shape += f" [status {_fact(self.observed)}]"  # a status is a category, not a measure: 503 is not 404
        return fingerprint(check_id, self.reason, shape)

    def facts(self, check_id: str) -> dict[str, Any]:
        """The per-check fields of results.json: {"observed", "limit", "unit", "fingerprint"};
        numbers as exact decimal text ("812.4"), absent facts None. JSON-able."""
        return {"observed": _fact(self.observed), "limit": _fact(self.limit), "unit": self.unit,
                "fingerprint": self.fingerprint(check_id)}


class CheckFailed(_Verdict, AssertionError):
    """A check's verdict: raised inside a check, rendered by the plugin without a traceback."""

    def __str__(self) -> str:
        return f"[{self.reason.value}] {self.message}"


class CheckDegraded(_Verdict):
    """A value in a warning band: reported as `degraded`, never green; fails only with --strict."""

    def __str__(self) -> str:
        return f"[{self.reason.value}] degraded: {self.message}"
