"""The run modes (`--mode gate|oncall|nightly|restore`): one preset per user, as data.

A preset gives defaults only: an option the user passes explicitly always wins over it. The
plugin (opscheck/plugin/gate.py) applies `markexpr`, the retry fields, `wait_ready_s` and
`options`; the watch reads `watch`; the README's modes table is written from this table.

Fields of a `Mode`:
- `markexpr`: the `-m` expression that picks the families, or None for every family the profile
  defines (host checks still need `-m host`).
- `retries`, `retry_delay_s`, `retry_on`: as `--retries`, `--retry-delay` (seconds) and
  `--retry-on` (reason names; empty means the transport reasons only).
- `wait_ready_s`: as `--wait-ready`, used only when the profile defines a readiness URL.
- `watch`: the watch's defaults in this mode (`interval_s`, `markexpr`), or None: a watch runs
  only when `--watch` asks for one.
- `mutating`: "skip" (a mutating check is skipped unless the environment allows it, as in any
  run) or "deselect" (not even listed unless the environment allows it).
- `summary`: write summary.md (and append it to $GITHUB_STEP_SUMMARY, with workflow annotations
  under GitHub Actions); `no_checks_is_usage_error`: a run that selects no checks ends with exit 4.
- `options`: other plugins' options this mode turns on, by their pytest `dest` name, as data (none
  yet: the nightly job's history defaults to $OPSCHECK_HISTORY by itself). One whose plugin is not
  installed, or that the user set, is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a retry can fix: the network between the runner and the service, not an answer.
TRANSPORT_REASONS: tuple[str, ...] = ("dns", "connect", "tls", "timeout", "protocol")


@dataclass(frozen=True)
class Mode:
    name: str
    purpose: str
    markexpr: str | None = None
    retries: int = 0
    retry_delay_s: float = 0.0
    retry_on: tuple[str, ...] = ()
    wait_ready_s: float | None = None
    watch: dict[str, Any] | None = None
    mutating: str = "skip"
    summary: bool = False
    no_checks_is_usage_error: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    reports: str = "report.html, junit.xml, results.json"


MODES: dict[str, Mode] = {
    "gate": Mode(
        name="gate",
        purpose="a pipeline step after a deploy: is this release fit to stay?",
        retries=2, retry_delay_s=2.0,
        wait_ready_s=120.0,
        watch={"interval_s": 30.0, "markexpr": "smoke or readiness"},
        mutating="deselect",
        summary=True, no_checks_is_usage_error=True,
        reports="report.html, junit.xml, results.json, summary.md (+ $GITHUB_STEP_SUMMARY, annotations)",
    ),
    "oncall": Mode(
        name="oncall",
        purpose="an engineer's pass during an incident: every check once, no retries hiding a fault",
    ),
    "nightly": Mode(
        name="nightly",
        purpose="scheduled synthetic monitoring: every family, SLOs and benchmarks included",
        retries=1, retry_delay_s=5.0,
        no_checks_is_usage_error=True,
    ),
    "restore": Mode(
        name="restore",
        purpose="the restore drill: is the restored environment up and serving?",
        markexpr="smoke or readiness",
        retries=1, retry_delay_s=2.0,
        wait_ready_s=300.0,
        summary=True, no_checks_is_usage_error=True,
        reports="report.html, junit.xml, results.json, summary.md (+ $GITHUB_STEP_SUMMARY, annotations)",
    ),
}


def mode_table() -> list[dict[str, str]]:
    """One row per preset, as the README's modes table shows it (column -> text)."""
    rows = []
    for mode in MODES.values():
        retry_on = ", ".join(mode.retry_on) if mode.retry_on else "transport reasons"
        rows.append({
            "mode": mode.name,
            "families / markers": (f"`-m {mode.markexpr}`" if mode.markexpr else "every family in the profile")
                                  + ("; mutating checks only where the environment allows them" if mode.mutating == "deselect" else ""),
            "retries": f"{mode.retries} after {mode.retry_delay_s:g} s, on {retry_on}" if mode.retries else "none",
            "wait for readiness": f"{mode.wait_ready_s:g} s" if mode.wait_ready_s else "no",
            "watch": (f"only with `--watch`; `-m {mode.watch['markexpr']}` every {mode.watch['interval_s']:g} s"
                      if mode.watch else "only with `--watch`"),
            "reports": mode.reports + ("; no checks selected = exit 4" if mode.no_checks_is_usage_error else ""),
        })
    return rows
