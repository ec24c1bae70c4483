"""TLS: certificate lifetime against warning and failure bands, hostname, chain, protocol version."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from opscheck.measure.bands import to_decimal
from opscheck.evidence.kinds import Evidence
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp



@dataclass(frozen=True)
class TlsCase(Case):
    warn_days: Decimal = Decimal(30)
    fail_days: Decimal = Decimal(7)
    min_protocol: str = "TLSv1.2"
    ca_file: str | None = None
    host: str | None = None  # the name to verify; default: the base URL's host


def build(raw: dict[str, Any], b: Builder) -> Iterator[TlsCase]:
    warn, fail = to_decimal(raw.get("warn_days", 30)), to_decimal(raw.get("fail_days", 7))
    if fail > warn:
        b.problem(("tls", "fail_days"), f"fail_days ({fail}) must not exceed warn_days ({warn})")
        return
    ca_file = str(b.file(raw["ca_file"])) if "ca_file" in raw else b.profile.http.ca_file
    yield TlsCase(**b.common("tls", "certificate", ("tls",), raw), warn_days=warn, fail_days=fail,
                  min_protocol=raw.get("min_protocol", "TLSv1.2"), ca_file=ca_file, host=raw.get("host"))


def run(case: TlsCase, http: CheckHttp) -> None:
    from opscheck.transport.errors import TransportError
    from opscheck.transport.tls import evaluate, inspect_tls  # cryptography: only when a TLS check runs

    url = urlsplit(http.target.base_url)
    if url.scheme != "https":
        pytest.skip(f"target {http.target.base_url} is not https: no certificate to check")
    host, port = url.hostname or "", url.port or 443
    evidence = Evidence(method="TLS", url=f"https://{host}:{port}", request_id="-")
    http.evidence.append(evidence)
    try:
        report = inspect_tls(host, port, server_hostname=case.host, ca_file=case.ca_file,
                             timeout_s=http.client.settings.timeout_s)
    except TransportError as exc:
        evidence.error = exc.message
        raise CheckFailed(exc.reason, f"TLS {host}:{port}: {exc.message}", evidence) from None
    evidence.body_excerpt = (f"protocol {report.protocol}, cipher {report.cipher}, subject {report.subject}, "
                             f"issuer {report.issuer}, SAN {', '.join(report.san)}, not after {report.not_after}, "
                             f"days left {report.days_left}")
    findings = evaluate(report, warn_days=case.warn_days, fail_days=case.fail_days, min_protocol=case.min_protocol)
    fails = [str(f) for f in findings if f.level == "fail"]
    if fails:
        raise CheckFailed(Reason.TLS, f"TLS {host}:{port}: " + "; ".join(fails), evidence)
    warns = [str(f) for f in findings if f.level == "warn"]
    if warns:
        raise CheckDegraded(Reason.TLS, f"TLS {host}:{port}: " + "; ".join(warns), evidence)
