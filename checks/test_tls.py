"""TLS: certificate expiry bands, hostname, trusted chain and minimum protocol, for https targets."""

from opscheck.families.tls import run


def test_tls(tls_check, opscheck_http):
    run(tls_check, opscheck_http)
