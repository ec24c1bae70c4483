"""How one failed check reads in the terminal and in JUnit: reason, message, runbook, evidence.

pytest accepts any longrepr with `toterminal()`; `reprcrash.message` feeds the short summary line
and JUnit's failure message, so both carry the reason and the one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opscheck.evidence.kinds import Evidence
from opscheck.config.profile import Case
from opscheck.results import RunbookRef

BODY_LINES = 3


@dataclass(frozen=True)
class _Crash:
    path: str
    lineno: int
    message: str


class FailureRepr:
    def __init__(self, text: str, crash: _Crash) -> None:
        self.text = text
        self.reprcrash = crash

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def failure_repr(
    case: Case, runbook: RunbookRef | None, reason: str, message: str,
    evidence: list[Evidence], profile_path: str, detail: str | None = None,
) -> FailureRepr:
    where = f"{profile_path}:{case.line}" if case.line else profile_path
    lines = [
        f"[{reason}] {message}",
        f"  check:    {case.check_id} ({where} {case.field}), severity {case.severity}",
        f"  runbook:  {runbook.section} -> {runbook.link}" if runbook else "  runbook:  (no runbook section for this check)",
    ]
    for index, item in enumerate(evidence[-3:]):
        lines.append(f"  {'evidence:' if index == 0 else '         '} {item.summary()}")
        # Only an HTTP exchange has a body; a sample summary or a TLS handshake is all in its summary line.
        excerpt = [line for line in getattr(item, "body_excerpt", "").splitlines() if line.strip()][:BODY_LINES]
        for line in excerpt:
            lines.append(f"            | {line[:160]}")
    if detail:
        lines += ["", detail]
    return FailureRepr("\n".join(lines), _Crash(profile_path, case.line or 0, f"[{reason}] {message}"))
