"""Auth: protected routes refuse missing and wrong keys and accept every configured key (rotation)."""

from opscheck.families.auth import run


def test_auth(auth_check, opscheck_http):
    run(auth_check, opscheck_http)
