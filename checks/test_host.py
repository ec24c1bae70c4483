"""Host: resources and ports on the service's own machine (only with `-m host`)."""


def test_host(host_check):
    host_check.run()
