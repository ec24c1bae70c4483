"""What one HTTP exchange leaves behind for the reports (already redacted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Evidence:
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
        return dict(self.__dict__)
