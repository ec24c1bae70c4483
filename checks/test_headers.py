"""Headers: request id round trip and required (e.g. security) headers."""


def test_headers(headers_check):
    headers_check.run()
