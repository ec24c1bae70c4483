"""The TLS family through the plugin, against real HTTPS servers with five kinds of certificate."""

from __future__ import annotations

import pytest

from tests.conftest import RUNBOOK
from tests.tls_server import CertFactory, TlsServer

PROFILE = """\
service: secure
runbook: RUNBOOK.md
tls: {warn_days: 30, fail_days: 7, ca_file: ca.pem, runbook: "Health Checks", severity: critical}
"""


@pytest.mark.parametrize(
    ("variant", "outcome", "text"),
    [
        ("valid", "passed", None),
        ("expiring", "degraded", "days (warn at <= 30)"),
        ("expired", "failed", "certificate has expired"),
        ("wrong_host", "failed", "hostname"),
        ("self_signed", "failed", "self-signed certificate"),
    ],
)
def test_certificate_variants(run_checks, pytester, variant, outcome, text):
    certs = CertFactory(pytester.path)
    cert = {
        "valid": lambda: certs.leaf("valid", days=90),
        "expiring": lambda: certs.leaf("expiring", days=12),
        "expired": lambda: certs.leaf("expired", days=-2, not_before_days_ago=30),
        "wrong_host": lambda: certs.leaf("other", hosts=("other.example",)),
        "self_signed": lambda: certs.leaf("self", self_signed=True),
    }[variant]()
    with TlsServer(*cert) as server:
        run = run_checks("--base-url", server.base_url, profile=PROFILE, runbook=RUNBOOK)
    check = run.check("tls::certificate")
    assert check["outcome"] == outcome, check
    assert run.ret == (1 if outcome == "failed" else 0)
    if text:
        assert check["reason"] == "tls"
        assert text in check["message"]
        assert check["runbook"]["anchor"] == "health-checks"


def test_http_target_skips_the_tls_check(service, run_checks):
    run = run_checks("--base-url", service().base_url, profile=PROFILE.replace("ca_file: ca.pem, ", ""), runbook=RUNBOOK)
    assert run.check("tls::certificate")["outcome"] == "skipped"
    assert "not https" in run.check("tls::certificate")["message"]
