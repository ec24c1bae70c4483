"""Host: CPU, memory and disk against bands, and ports that must be listening (and who holds them).

Runs on the service's own machine only, selected with `-m host`. The runbook sentences it serves:
"disk usage below 80 %, critical above 90 %" and "the API listens on port 8000 (uvicorn)".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from opscheck.measure.bands import Band, classify, describe, to_decimal
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class HostCase(Case):
    """One `host:` resource: `cpu`, `memory` or `disk` (percent used, against `band`) or a `port` that
    must be listening (on `bind_host` if given, held by a process whose name contains `process`).

    `sample_s` is how long CPU use is sampled, in seconds.
    """

    resource: str = "cpu"  # "cpu", "memory", "disk" or "port"
    band: Band = Band()
    disk_path: str = "/"
    sample_s: float = 0.5
    port: int = 0
    bind_host: str | None = None
    process: str | None = None


def build(raw: dict[str, Any], b: Builder) -> Iterator[HostCase]:
    """Cases from `host: {cpu: {warn: 80, critical: 95}, memory: {...}, disk: [{path: /, ...}], ports: [{port: 8000}]}`.

    Check ids: `host::cpu`, `host::memory`, `host::disk:<path>`, `host::port-<n>`; bands in percent.
    """
    for resource in ("cpu", "memory"):
        if resource in raw:
            entry = raw[resource]
            yield HostCase(**b.common("host", resource, ("host", resource), {**raw, **entry}), resource=resource,
                           band=_band(entry), sample_s=float(entry.get("sample_s", 0.5)))
    for index, entry in enumerate(raw.get("disk", [])):
        path = entry.get("path", "/")
        yield HostCase(**b.common("host", f"disk:{path}", ("host", "disk", index), {**raw, **entry}),
                       resource="disk", band=_band(entry), disk_path=path)
    for index, entry in enumerate(raw.get("ports", [])):
        yield HostCase(**b.common("host", f"port-{entry['port']}", ("host", "ports", index), {**raw, **entry}),
                       resource="port", port=int(entry["port"]), bind_host=entry.get("host"), process=entry.get("process"))


def _band(entry: dict[str, Any]) -> Band:
    pick = lambda key: to_decimal(entry[key]) if key in entry else None  # noqa: E731
    return Band(warn=pick("warn"), critical=pick("critical"))


def run(case: HostCase, http: CheckHttp | None = None) -> None:
    """Read this machine (`http` is unused: the host family sends no request).

    Raises CheckDegraded (`threshold`) inside a warning band, CheckFailed (`threshold`) past the
    critical bound or when the value cannot be read, CheckFailed (`connect`) when nothing listens on
    the port or another process holds it.
    """
    from opscheck.transport import host as hostinfo

    if case.resource == "port":
        _check_port(case)
        return
    try:
        value = {"cpu": lambda: hostinfo.cpu_percent(case.sample_s), "memory": hostinfo.memory_percent,
                 "disk": lambda: hostinfo.disk_percent(case.disk_path)}[case.resource]()
    except ValueError as exc:
        raise CheckFailed(Reason.THRESHOLD, str(exc)) from None
    label = {"cpu": "CPU", "memory": "memory", "disk": f"disk {case.disk_path}"}[case.resource]
    level = classify(value, case.band)
    if level == "ok":
        return
    message = f"{label} at {describe(value, case.band, '%')}"
    if level == "warn":
        raise CheckDegraded(Reason.THRESHOLD, message, observed=value, limit=case.band.warn, unit="%")
    raise CheckFailed(Reason.THRESHOLD, message, observed=value, limit=case.band.critical, unit="%")


def _check_port(case: HostCase) -> None:
    from opscheck.transport import host as hostinfo

    where = f"{case.bind_host}:{case.port}" if case.bind_host else f"port {case.port}"
    owners = hostinfo.listening(case.port, case.bind_host)
    if not owners:
        raise CheckFailed(Reason.CONNECT, f"nothing listens on {where}")
    if case.process is None:
        return
    held = ", ".join(f"{o.process or '?'} (pid {o.pid if o.pid is not None else '?'}) on {o.address}" for o in owners)
    if not any(o.process and case.process.lower() in o.process.lower() for o in owners):
        raise CheckFailed(Reason.CONNECT, f"{where} is held by {held}, expected {case.process}")


Case = HostCase  # the family protocol's name for this module's case type
