"""OpenAPI (family `schema`): the service against its OpenAPI document."""


def test_openapi(openapi_check):
    openapi_check.run()
