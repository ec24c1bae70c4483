"""Host: resources and ports on the service's own machine (only with `-m host`)."""

from opscheck.families.host import run


def test_host(host_check):
    run(host_check)
