"""Smoke: one request per `smoke:` entry, its answer compared with an `expect:` block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from opscheck.contract.expect import Expect
from opscheck.config.profile import MUTATING_METHODS, Builder, Case


@dataclass(frozen=True)
class SmokeCase(Case):
    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    has_json_body: bool = False
    send_auth: bool = True
    follow_redirects: bool = False
    expect: Expect = field(default_factory=Expect)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[SmokeCase]:
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
