"""Schema: each `schema:` route's JSON against its JSON Schema file."""


def test_schema(schema_check):
    schema_check.run()
