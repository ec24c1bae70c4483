"""The check families: which profile section feeds which parametrized argument."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str  # the profile section, e.g. "smoke"
    argname: str  # the indirect parameter a check module asks for, e.g. "smoke_check"
    summary: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("smoke", "smoke_check", "one request per entry; status, JSON subset, content type, headers, latency budget"),
        Family("readiness", "readiness_check", "liveness and readiness URLs; names the dependencies that are down"),
    )
}

BY_ARGNAME: dict[str, Family] = {f.argname: f for f in FAMILIES.values()}
