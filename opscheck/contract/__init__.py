"""JSON Schema and OpenAPI 3.x contract checks: pure logic, the caller fetches the documents.

One module per job; imports point one way, from the top of this list down:

* `contract.openapi` reads an OpenAPI 3.x document: `load_spec`, `operations`,
  `response_schema`, `version_of`; `build_request` gives the request that exercises an operation
  as documented (`Unfillable` when a required value is unknown); `server_base` places routes
  under `servers[0].url` on the target.
* `contract.mutate`: `invalid_bodies` derives, deterministically, a bounded list of request
  bodies that break a schema (for "does the service reject what its own contract forbids?").
* `contract.generate` builds a small body that conforms to a schema (hypothesis for `pattern`
  strings): what `build_request` sends when nothing better is documented, and what every invalid
  body is one change away from.
* `contract.validate`: `validate` checks one JSON value against a schema and names each
  `Violation` by its JSON path; OpenAPI 3.0's dialect is translated into Draft 2020-12 first.
  `$ref`s resolve inside the schema and the document only: nothing is ever fetched.
* `contract.expect` matches an answer against a check's `expect:` block.

The names below are the package's public API, re-exported so callers import from
`opscheck.contract` and need not know which module holds what.
"""

from __future__ import annotations

from opscheck.contract.mutate import invalid_bodies
from opscheck.contract.openapi import (
    NO_BODY,
    SAFE_METHODS,
    Operation,
    OperationRequest,
    ServerBase,
    Unfillable,
    build_request,
    load_spec,
    operations,
    response_schema,
    server_base,
    version_of,
)
from opscheck.contract.validate import Violation, validate

__all__ = [
    "NO_BODY",
    "SAFE_METHODS",
    "Operation",
    "OperationRequest",
    "ServerBase",
    "Unfillable",
    "Violation",
    "build_request",
    "invalid_bodies",
    "load_spec",
    "operations",
    "response_schema",
    "server_base",
    "validate",
    "version_of",
]
