"""Schema: one route's JSON answer against a JSON Schema file (the `schema:` section).

The runbook sentence it serves: "GET /api/items/1 returns an item as documented in schemas/item.json".
The service against its OpenAPI document is the `openapi:` section (families/openapi.py); both
report as family `schema`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from opscheck.contract import validate
from opscheck.files import DATA_LIMIT, FileReadError, read_bounded
from opscheck.transport.http import Response
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import Builder, Case, status_set
from opscheck.transport.target import CheckHttp


@dataclass(frozen=True)
class SchemaCase(Case):
    """One `schema:` entry: the path to GET, the statuses that pass, and the JSON Schema (already
    read from `schema_file`, JSON or YAML) its body must validate against."""

    path: str = "/"
    schema: dict[str, Any] = field(default_factory=dict)
    schema_file: str = ""
    status: tuple[int, ...] = (200,)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[SchemaCase]:
    """One SchemaCase per entry, e.g. `{name: item, path: /api/items/1, schema: schemas/item.json}`.

    The schema file is read here (at most 4 MiB, a regular file); an unreadable or unparsable file is
    a problem at the entry's `schema:` line.
    """
    cases: list[SchemaCase] = []
    for index, entry in enumerate(entries):
        path = ("schema", index)
        file = b.file(entry["schema"])
        try:
            text = read_bounded(file, DATA_LIMIT, "schema file").decode("utf-8")  # never /dev/zero or a pipe
            schema = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        except FileReadError as exc:
            b.problem(path + ("schema",), f"{file}: {exc.cause}")
            continue
        except OSError as exc:
            b.problem(path + ("schema",), f"{file}: {exc.strerror}")
            continue
        except (ValueError, yaml.YAMLError) as exc:
            b.problem(path + ("schema",), f"{file}: not a JSON Schema document: {exc}")
            continue
        cases.append(SchemaCase(**b.common("schema", entry["name"], path, entry), path=entry["path"], schema=schema,
                                schema_file=str(file), status=status_set(entry.get("status"))))
    b.unique(cases, [("schema", i, "name") for i in range(len(cases))])
    yield from cases


def run(case: SchemaCase, http: CheckHttp) -> None:
    """GET the path and validate its JSON body against the schema.

    Raises CheckFailed with `status` (a status outside `status`, default 200) or `schema` (the body is
    not JSON, or breaks the schema: the first violation's JSON path and rule, and how many more).
    """
    response = http.get(case.path)
    label = f"GET {case.path}"
    if response.status not in case.status:
        raise CheckFailed(Reason.STATUS, f"{label}: status {response.status}, expected "
                          f"{' or '.join(map(str, case.status))}", response.evidence)
    _conform(response, case.schema, None, f"{label} against {case.schema_file}")


def _conform(response: Response, schema: dict[str, Any], root: dict[str, Any] | None, label: str) -> None:
    try:
        violations = validate(response.json(label), schema, root=root, limit=3)
    except ValueError as exc:
        raise CheckFailed(Reason.SCHEMA, f"{label}: {exc}", response.evidence) from None
    if violations:
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        raise CheckFailed(Reason.SCHEMA, f"{label}: {violations[0].message}{more}", response.evidence)


Case = SchemaCase  # the family protocol's name for this module's case type
