"""Schema: JSON Schema files per route, and the service against its OpenAPI document."""

from opscheck.families.schema import run_openapi, run_schema


def test_schema(schema_check, opscheck_http):
    run_schema(schema_check, opscheck_http)


def test_openapi(openapi_check, opscheck_http):
    run_openapi(openapi_check, opscheck_http)
