"""TLS: certificate lifetime against warning and failure bands, hostname, chain, protocol version.

The runbook sentence it serves: "renew the certificate before it expires: warn 30 days before,
page 7 days before; TLS 1.2 or newer only".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from opscheck.measure.bands import to_decimal
from opscheck.evidence.kinds import TlsHandshake
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp



@dataclass(frozen=True)
class TlsCase(Case):
    """The `tls:` check: days left before expiry against `warn_days`/`fail_days` (exact decimals,
    days), the minimum protocol, an optional CA file and the host name to verify."""

    warn_days: Decimal = Decimal(30)
    fail_days: Decimal = Decimal(7)
    min_protocol: str = "TLSv1.2"
    ca_file: str | None = None
    host: str | None = None  # the name to verify; default: the base URL's host


def build(raw: dict[str, Any], b: Builder) -> Iterator[TlsCase]:
    """One case, `tls::certificate`, from `tls: {warn_days: 30, fail_days: 7, min_protocol: TLSv1.2}`.

    `fail_days` above `warn_days` is a problem at `tls.fail_days`.
    """
    warn, fail = to_decimal(raw.get("warn_days", 30)), to_decimal(raw.get("fail_days", 7))
    if fail > warn:
        b.problem(("tls", "fail_days"), f"fail_days ({fail}) must not exceed warn_days ({warn})")
        return
    ca_file = str(b.file(raw["ca_file"])) if "ca_file" in raw else b.profile.http.ca_file
    yield TlsCase(**b.common("tls", "certificate", ("tls",), raw), warn_days=warn, fail_days=fail,
                  min_protocol=raw.get("min_protocol", "TLSv1.2"), ca_file=ca_file, host=raw.get("host"))


def run(case: TlsCase, http: CheckHttp) -> None:
    """Handshake with the target's host and port and judge the certificate and protocol.

    Skipped when the target is not https. Raises CheckFailed with `tls` (expired or within
    `fail_days`, wrong host, untrusted chain, old protocol) or a transport reason (`dns`, `connect`,
    `timeout`); CheckDegraded with `tls` within `warn_days`.
    """
    from opscheck.transport.errors import TransportError
    from opscheck.transport.tls import evaluate, inspect_tls  # cryptography: only when a TLS check runs

    url = urlsplit(http.target.base_url)
    if url.scheme != "https":
        pytest.skip(f"target {http.target.base_url} is not https: no certificate to check")
    host, port = url.hostname or "", url.port or 443
    evidence = TlsHandshake(host=host, port=port)
    http.evidence.append(evidence)
    try:
        report = inspect_tls(host, port, server_hostname=case.host, ca_file=case.ca_file,
                             timeout_s=http.client.settings.timeout_s)
    except TransportError as exc:
        evidence.error = exc.message
        raise CheckFailed(exc.reason, f"TLS {host}:{port}: {exc.message}", evidence) from None
    evidence.protocol, evidence.cipher, evidence.subject, evidence.issuer = (
        report.protocol, report.cipher, report.subject, report.issuer)
    evidence.san = list(report.san)
    evidence.not_after = report.not_after.isoformat() if report.not_after else None
    evidence.days_left = None if report.days_left is None else str(report.days_left)
    findings = evaluate(report, warn_days=case.warn_days, fail_days=case.fail_days, min_protocol=case.min_protocol)
    fails = [str(f) for f in findings if f.level == "fail"]
    # Days left are the number judged, when expiry is among the findings (a wrong name has none).
    if fails:
        expiry = any(f.what == "expiry" and f.level == "fail" for f in findings)
        facts = dict(observed=report.days_left, limit=case.fail_days, unit="days") if expiry else {}
        raise CheckFailed(Reason.TLS, f"TLS {host}:{port}: " + "; ".join(fails), evidence, **facts)
    warns = [str(f) for f in findings if f.level == "warn"]
    if warns:
        raise CheckDegraded(Reason.TLS, f"TLS {host}:{port}: " + "; ".join(warns), evidence,
                            observed=report.days_left, limit=case.warn_days, unit="days")


Case = TlsCase  # the family protocol's name for this module's case type
