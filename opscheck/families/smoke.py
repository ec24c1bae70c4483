"""Smoke: one request per `smoke:` entry, its answer compared with an `expect:` block.

The runbook sentence it serves: "check `/health` answers 200" (with the JSON, content type, headers
and latency budget the entry expects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from opscheck.contract.expect import Expect, check_expect
from opscheck.config.profile import MUTATING_METHODS, Builder, Case
from opscheck.transport.http import UNSET
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class SmokeCase(Case):
    """One `smoke:` entry: a request (method, path, headers, optional JSON body) and its `expect:` block.

    `mutating` defaults to True for POST, PUT, PATCH and DELETE; `send_auth` False sends no API key;
    `follow_redirects` True follows redirects hop by hop under the transport's origin rules.
    """

    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    has_json_body: bool = False
    send_auth: bool = True
    follow_redirects: bool = False
    expect: Expect = field(default_factory=Expect)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[SmokeCase]:
    """One SmokeCase per `smoke:` entry, e.g. `[{name: health, path: /health, expect: {status: 200}}]`.

    Check ids are `smoke::<name>`; a repeated name is a profile problem at its `name:` line.
    """
    cases: list[SmokeCase] = []
    for index, entry in enumerate(entries):
        path = ("smoke", index)
        method = entry.get("method", "GET")
        cases.append(SmokeCase(
            **b.common("smoke", entry["name"], path, entry),
            mutating=entry.get("mutating", method in MUTATING_METHODS),
            method=method,
            path=entry["path"],
            headers=dict(entry.get("headers", {})),
            json_body=entry.get("json"),
            has_json_body="json" in entry,
            send_auth=entry.get("auth", True),
            follow_redirects=entry.get("follow_redirects", False),
            expect=Expect.from_profile(entry.get("expect", {})),
        ))
    b.unique(cases, [("smoke", i, "name") for i in range(len(cases))])
    yield from cases


def run(case: SmokeCase, http: CheckHttp) -> None:
    """Send the entry's request once and hold the answer to its `expect:` block.

    Raises CheckFailed with `status` (another status), `body` (JSON subset, content type, a header
    or the text differ) or `latency` (over `max_ms`, in milliseconds), or a transport reason when
    nothing usable answered; a mutating entry on a read-only target is skipped by the transport.
    """
    response = http.request(
        case.method,
        case.path,
        headers=case.headers,
        json=case.json_body if case.has_json_body else UNSET,
        auth=case.send_auth,
        follow_redirects=case.follow_redirects,
    )
    check_expect(response, case.expect, f"{case.method} {case.path}")


Case = SmokeCase  # the family protocol's name for this module's case type
