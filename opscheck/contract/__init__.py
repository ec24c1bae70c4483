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
`opscheck.contract` and need not know which module holds what. They are resolved on first use
(PEP 562): `contract.expect` is on every smoke check's path, and importing this package must not
load jsonschema, referencing and hypothesis (~100 ms) for a run that never validates a schema.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module

_PUBLIC = {
    "invalid_bodies": "opscheck.contract.mutate",
    **dict.fromkeys(
        ["NO_BODY", "SAFE_METHODS", "Operation", "OperationRequest", "ServerBase", "Unfillable", "build_request",
         "load_spec", "operations", "response_schema", "server_base", "version_of"],
        "opscheck.contract.openapi"),
    "Violation": "opscheck.contract.validate",
}

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


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """`validate` is both a submodule and the public function it defines. Loading the submodule
    binds the package attribute to the module (the import system does that, on whichever import
    comes first), which would shadow a lazy name; this descriptor keeps `opscheck.contract.validate`
    the function, as the eager `from .validate import validate` did."""

    @property
    def validate(self) -> object:
        return import_module("opscheck.contract.validate").validate

    @validate.setter
    def validate(self, value: object) -> None:
        pass  # the submodule stays reachable as sys.modules["opscheck.contract.validate"]


sys.modules[__name__].__class__ = _Package
