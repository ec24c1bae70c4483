"""The service under test, and the HTTP view one check has of it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from opscheck.evidence import Evidence
from opscheck.http import UNSET, HttpClient, Response
from opscheck.outcome import CheckFailed
from opscheck.profile import Auth


@dataclass(frozen=True)
class Target:
    base_url: str
    environment: str  # profile environment name, or "adhoc" for a bare --base-url
    allow_mutating: bool = False

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


@dataclass
class CheckHttp:
    """Requests of one check: relative to the target, under one deadline, recording evidence."""

    client: HttpClient
    target: Target
    auth: Auth | None = None
    gate_failure: CheckFailed | None = None
    evidence: list[Evidence] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # the run's memo (e.g. a fetched OpenAPI document)
    attachments: list[dict[str, Any]] = field(default_factory=list)  # measurements and pictures for the reports
    deadline_at: float = 0.0

    def __post_init__(self) -> None:
        self.deadline_at = time.monotonic() + self.client.settings.deadline_s

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = UNSET,
        content: Any = None,
        auth: bool = True,
        follow_redirects: bool = False,
        record: bool = True,
    ) -> Response:
        if self.gate_failure is not None:
            raise CheckFailed(self.gate_failure.reason, self.gate_failure.message)
        merged = dict(headers or {})
        if auth and self.auth is not None and self.auth.keys:
            merged.setdefault(self.auth.header, self.auth.header_value(self.auth.keys[0]))
        return self._send(method, self.target.url(path), record, headers=merged, json=json, content=content,
                          follow_redirects=follow_redirects)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def get_url(self, url: str) -> Response:
        """GET another origin (e.g. a pipeline's status URL): same bounds and evidence, never our key."""
        return self._send("GET", url, True)

    def _send(self, method: str, url: str, record: bool, **kwargs: Any) -> Response:
        """Every request of a check goes here: its deadline, and its evidence kept (failures always)."""
        try:
            response = self.client.request(method, url, deadline_at=self.deadline_at, **kwargs)
        except CheckFailed as failure:
            if failure.evidence is not None:
                self.evidence.append(failure.evidence)
            raise
        if record:
            self.evidence.append(response.evidence)
        return response
