"""What a check leaves behind for the reports (already redacted), in one of several kinds.

Every kind has `summary() -> str` (one line: the terminal, JUnit and report.html show it) and
`to_dict() -> dict` (JSON-able, with a `kind` field: one item of a check's `evidence` in
results.json). `summary_of(item)` renders that line again from a `to_dict()` item.

- `Evidence` (kind "http"): one HTTP exchange, request and answer. Its dict keeps every field it
  had before kinds existed, so readers of older results.json files keep working.
- `SampleSummary` (kind "sample_summary"): many requests summed up (SLO, benchmark): how many,
  how they ended, latency percentiles (ms, over the answers with an expected status only).
- `TlsHandshake` (kind "tls_handshake"): one TLS handshake: protocol, cipher, the certificate's
  subject, issuer, names and days left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Evidence:
    """One HTTP exchange (kind "http"). Times in ms; headers and URL already redacted."""

    kind: ClassVar[str] = "http"

    method: str
    url: str
    request_id: str
    status: int | None = None
    elapsed_ms: float | None = None
    ttfb_ms: float | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    body_excerpt: str = ""
    body_bytes: int = 0
    truncated: bool = False
    error: str | None = None
    # Redirects followed (or refused), in order: {"status": 302, "location": redacted URL}.
    redirects: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """"GET https://h/health -> 200 in 12.3 ms (request id ...)", or "-> no answer (why)"."""
        if self.status is None:
            outcome = f"no answer ({self.error})" if self.error else "no answer"
        else:
            outcome = f"{self.status}"
        timing = f" in {self.elapsed_ms:.1f} ms" if self.elapsed_ms is not None else ""
        hops = "".join(f" -> {hop['status']} {hop['location']}" for hop in self.redirects)
        return f"{self.method} {self.url}{hops} -> {outcome}{timing} (request id {self.request_id})"

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: the header dicts are never mutated after recording, and asdict's
        # deep copy costs more than the request on a fast loopback target.
        return {"kind": self.kind, **self.__dict__}


# The percentiles a SampleSummary shows, in this order, with their labels.
_SHOWN = (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"), ("max_ms", "max"))


@dataclass
class SampleSummary:
    """Many requests to one URL summed up (kind "sample_summary").

    `n` samples taken of `requested`; `statuses`: how they ended, status codes as text or the
    transport error's reason ({"200": 48, "503": 2} or {"connect": 1}); `n_ok`: answers with an
    expected status, the only ones `percentiles` (ms, e.g. {"p50_ms": 3.1, "p95_ms": 8.0}; None
    when nothing was measured) are computed from. `mode`: "open loop 10/s", "closed loop x2",
    "pytest-benchmark". `details`: further figures (connects, phase p50s, achieved rate).
    """

    kind: ClassVar[str] = "sample_summary"

    method: str
    url: str
    mode: str
    n: int
    requested: int
    n_ok: int
    statuses: dict[str, int] = field(default_factory=dict)
    percentiles: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """"GET https://h/ sampled (open loop 10/s): n=50 of 50, answers 50 x 200; p50 3.1 ms, p95 8.0 ms ..."."""
        answers = ", ".join(f"{count} x {key}" for key, count in self.statuses.items()) or "none"
        shown = [f"{label} {self.percentiles[key]:.1f} ms" for key, label in _SHOWN
                 if self.percentiles.get(key) is not None]
        latency = (f"; over the {self.n_ok} with an expected status: {', '.join(shown)}" if shown
                   else "; no latency measured (no answer with an expected status)")
        return f"{self.method} {self.url} sampled ({self.mode}): n={self.n} of {self.requested}, answers {answers}{latency}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "url": self.url, "mode": self.mode, "n": self.n,
                "requested": self.requested, "n_ok": self.n_ok, "statuses": dict(self.statuses),
                "percentiles": {k: (None if v is None else round(v, 3)) for k, v in self.percentiles.items()},
                "details": dict(self.details)}


@dataclass
class TlsHandshake:
    """One TLS handshake with host:port (kind "tls_handshake"); `error` when none happened.

    `days_left`: exact hundredths as text ("89.52"), negative once expired; `not_after`: ISO 8601 UTC.
    """

    kind: ClassVar[str] = "tls_handshake"

    host: str
    port: int
    protocol: str | None = None
    cipher: str | None = None
    subject: str | None = None
    issuer: str | None = None
    san: list[str] = field(default_factory=list)
    not_after: str | None = None
    days_left: str | None = None
    error: str | None = None

    def summary(self) -> str:
        """"TLS h:443 -> TLSv1.3 TLS_AES_256_GCM_SHA384, subject CN=h, issuer CN=ca, 89.52 days left"."""
        where = f"TLS [{self.host}]:{self.port}" if ":" in self.host else f"TLS {self.host}:{self.port}"
        if self.error is not None or self.protocol is None:
            return f"{where} -> no handshake ({self.error})" if self.error else f"{where} -> no handshake"
        days = f", {self.days_left} days left" if self.days_left is not None else ""
        return f"{where} -> {self.protocol} {self.cipher or '-'}, subject {self.subject}, issuer {self.issuer}{days}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.__dict__, "san": list(self.san)}


AnyEvidence = Evidence | SampleSummary | TlsHandshake
KINDS: dict[str, type[Evidence] | type[SampleSummary] | type[TlsHandshake]] = {
    cls.kind: cls for cls in (Evidence, SampleSummary, TlsHandshake)}


def summary_of(item: dict[str, Any]) -> str:
    """The one-line summary of a `to_dict()` item (an item without `kind` is an "http" one).

    Raises KeyError/TypeError for a dict that is not an evidence item of a known kind."""
    cls = KINDS[item.get("kind", "http")]
    fields = {k: v for k, v in item.items() if k != "kind"}
    return cls(**fields).summary()  # type: ignore[arg-type]
