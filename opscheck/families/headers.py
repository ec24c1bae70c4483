"""Headers: the service answers with a request id (ours echoed, or its own) and required headers.

The runbook sentences it serves: "every answer carries X-Request-Id, so logs can be correlated" and
"security headers (X-Content-Type-Options: nosniff, ...) are set".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from opscheck.transport.http import REQUEST_ID_HEADER, Response
from opscheck.transport.target import CheckHttp
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import Builder, Case


@dataclass(frozen=True)
class HeadersCase(Case):
    """One `headers:` entry: the path to GET, whether an X-Request-Id must come back, and the headers
    the answer must carry (`require`: name -> value, `"*"` for any value; values compare case-blind)."""

    path: str = "/"
    request_id: bool = True
    require: Mapping[str, str] = field(default_factory=dict)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[HeadersCase]:
    """One HeadersCase per entry, e.g. `{name: api, path: /api/items, require: {Cache-Control: no-store}}`."""
    cases = [
        HeadersCase(**b.common("headers", e["name"], ("headers", i), e), path=e["path"],
                    request_id=e.get("request_id", True), require=dict(e.get("require", {})))
        for i, e in enumerate(entries)
    ]
    b.unique(cases, [("headers", i, "name") for i in range(len(cases))])
    yield from cases


def run(case: HeadersCase, http: CheckHttp) -> None:
    """GET the entry's path and check its answer's headers.

    Raises CheckFailed with `body` when no X-Request-Id came back (if asked for), or a required
    header is missing or has another value; a transport reason when nothing answered.
    """
    check(case, http.get(case.path))


def check(case: HeadersCase, response: Response) -> None:
    """Raise CheckFailed with `body` when no X-Request-Id came back (if asked for), or a required
    header is missing or has another value."""
    label = f"GET {case.path}"
    if case.request_id:
        sent = response.evidence.request_id
        got = response.headers.get(REQUEST_ID_HEADER)
        if not got:
            raise CheckFailed(Reason.BODY, f"{label}: no {REQUEST_ID_HEADER} in the answer (sent {sent}); "
                              "logs cannot be correlated with requests", response.evidence)
    missing = [name for name in case.require if name not in response.headers]
    if missing:
        raise CheckFailed(Reason.BODY, f"{label}: required header(s) missing: {', '.join(missing)}", response.evidence)
    for name, want in case.require.items():
        got = response.headers[name]
        if want != "*" and got.lower() != want.lower():
            raise CheckFailed(Reason.BODY, f"{label}: header {name} is {got!r}, expected {want!r}", response.evidence)


Case = HeadersCase  # the family protocol's name for this module's case type
