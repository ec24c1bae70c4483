"""The service under test, and the HTTP view one check has of it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import pytest

from opscheck.evidence.kinds import Evidence
from opscheck.transport.http import UNSET, HttpClient, Response
from opscheck.outcome import CheckFailed
from opscheck.config.profile import Auth

# Methods that only read. Anything else writes, whichever family sends it.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_mutating(method: str) -> bool:
    return method.upper() not in SAFE_METHODS


class MutatingRefused(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """A write request to an environment that does not allow mutating checks.

    A pytest skip (not a failure, not an Exception a family could swallow): whichever check sends
    it, the result is `skipped` with this message, and nothing was sent.
    """

    # Shown like every other skip ("Skipped: ..."), in the terminal and in results.json alike:
    # pytest prints an outcome exception by module and name.
    __module__ = "builtins"
    __qualname__ = "Skipped"

    def __init__(self, method: str, path: str, environment: str) -> None:
        self.method, self.path, self.environment = method, path, environment
        super().__init__(f"mutating request {method} {path} skipped: environment {environment!r} does not allow "
                         "mutating checks (allow_mutating: true)")


@dataclass(frozen=True)
class Target:
    """Where checks go. `base_url` never holds `user:password@`: those become `authorization`
    (an `Authorization: Basic` value) at load time, so no report can show them."""

    base_url: str
    environment: str  # profile environment name, or "adhoc" for a bare --base-url
    allow_mutating: bool = False
    authorization: str | None = field(default=None, repr=False)  # from the URL's userinfo

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
        """One request to the target. Raises MutatingRefused (before anything is sent) for a method
        other than GET/HEAD/OPTIONS when the environment does not allow mutating checks, and
        CheckFailed for anything but a complete answer."""
        self.guard(method, path)
        if self.gate_failure is not None:
            raise CheckFailed(self.gate_failure.reason, self.gate_failure.message)
        return self._send(method, self.target.url(path), record, headers=self.send_headers(headers, auth=auth),
                          json=json, content=content, follow_redirects=follow_redirects, credentials=auth)

    def guard(self, method: str, path: str) -> None:
        """The one read-only rule, for every path a check can send by: raise MutatingRefused for a
        writing method unless the target allows mutating checks."""
        if is_mutating(method) and not self.target.allow_mutating:
            raise MutatingRefused(method.upper(), self.client.redactor.url(path), self.target.environment)

    def send_headers(self, headers: Mapping[str, str] | None = None, *, auth: bool = True,
                     with_profile: bool = False) -> dict[str, str]:
        """The check's headers plus the target's credentials: explicit headers win (by name, in any
        case), then the profile's http.headers, then the auth key, then the base URL's user:password.
        The HttpClient adds the profile's headers itself; `with_profile` includes them here, for
        senders with their own client (the SLO sampler). Every sensitive value is registered."""
        merged = dict(headers or {})
        if with_profile:
            given_now = {name.lower() for name in merged}
            merged.update({n: v for n, v in self.client.settings.headers.items()
                           if n.lower() not in given_now and (auth or not self.client.redactor.is_sensitive(n))})
        given = {name.lower() for name in merged} | {name.lower() for name in self.client.settings.headers}
        if auth and self.auth is not None and self.auth.keys and self.auth.header.lower() not in given:
            merged[self.auth.header] = self.auth.header_value(self.auth.keys[0])
            given.add(self.auth.header.lower())
        if auth and self.target.authorization and "authorization" not in given:
            merged["Authorization"] = self.target.authorization
        for name, value in merged.items():
            self.client.redactor.register_header(name, value)
        return merged

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def get_url(self, url: str) -> Response:
        """GET another origin (e.g. a pipeline's status URL): same bounds and evidence, never our key."""
        return self._send("GET", url, True, credentials=False)

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
