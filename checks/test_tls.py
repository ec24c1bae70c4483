"""TLS: certificate expiry bands, hostname, trusted chain and minimum protocol, for https targets."""


def test_tls(tls_check):
    tls_check.run()
