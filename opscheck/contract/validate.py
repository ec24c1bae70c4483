"""JSON Schema validation that never touches the network, and OpenAPI 3.0's dialect translated.

* `validate` checks one JSON value against a schema and names each violation by its JSON path
  (`Violation`: path, rule, one-line message). Plain schemas use their `$schema` dialect (Draft
  2020-12 when they declare none); schemas of an OpenAPI document (`root=`) use Draft 2020-12,
  after OpenAPI 3.0's dialect is translated into it (`nullable`, boolean
  `exclusiveMaximum`/`exclusiveMinimum`, `$ref` siblings, OpenAPI-only annotations).
* `CompiledSchema` is one schema compiled against its document: the body generators
  (contract.generate, contract.mutate) check what they build with it.
* `$ref`s resolve inside the schema and the document only: a remote reference is a ValueError,
  never a fetch.

This module imports nothing else of opscheck.contract: openapi, generate and mutate build on it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema.exceptions import SchemaError, UnknownType, ValidationError, best_match

__all__ = ["CompiledSchema", "Violation", "format_path", "json_kind", "resolve_pointer", "validate"]

# Where the schema under validation is placed inside (a copy of) the OpenAPI document, so that its
# "#/components/..." references resolve against the document, as OpenAPI defines them.
_DOC_URI = "urn:opscheck:openapi-document"
_SUBJECT = "x-opscheck-subject"
_MAX_ERRORS = 1000  # errors looked at per validation; a 100k-item array must not take minutes
_MAX_TEXT = 60  # characters of an instance or keyword value quoted in a message
_OPENAPI30_DROPPED = frozenset({"nullable", "example", "xml", "discriminator", "readOnly", "writeOnly", "externalDocs"})


@dataclass(frozen=True)
class Violation:
    path: str  # JSON path into the instance, e.g. "$.items[0].quantity"
    rule: str  # the failing keyword and its value, e.g. "type: integer"
    message: str  # one line: "$.items[0].quantity: '37' is not of type 'integer' (type: integer)"

    def __str__(self) -> str:
        return self.message


def validate(instance: object, schema: dict, *, root: dict | None = None, limit: int = 5) -> list[Violation]:
    """Up to `limit` violations of `schema` by `instance`; [] when it conforms.

    The first is jsonschema's `best_match` (for anyOf/oneOf it descends to the most relevant
    branch); the others follow sorted by instance path. `root` is the OpenAPI document `schema`
    belongs to: its "#/..." references resolve there. Raises ValueError for an invalid schema or a
    `$ref` that points outside the schema/document (remote references are never fetched).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    from opscheck.jsonvalue import plain  # bodies carry exact Decimals; jsonschema mixes them badly with float schemas

    return CompiledSchema(schema, root).violations(plain(instance), limit)


class CompiledSchema:
    """One schema compiled into a validator that never touches the network.

    `schema` and `document` are what is validated against (OpenAPI 3.0 already translated);
    `errors`, `is_valid` and `violations` validate one instance. ValueError for an invalid schema or
    a `$ref` outside the schema/document, at construction or (unresolvable) at validation.
    """

    def __init__(self, schema: dict, root: dict | None) -> None:
        if not isinstance(schema, (dict, bool)):
            raise ValueError(f"a schema must be an object, got {json_kind(schema)}")
        if root is not None and not isinstance(root, dict):
            raise ValueError(f"root must be the OpenAPI document (an object), got {json_kind(root)}")
        openapi30 = root is not None and str(root.get("openapi", "")).startswith("3.0")
        self.schema: Any = _translate_30(schema) if openapi30 else schema
        registry: referencing.Registry = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
        if root is None:
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            self.document: Any = self.schema
            top: Any = self.schema
        else:
            cls = jsonschema.Draft202012Validator
            document = _translate_doc_30(root) if openapi30 else dict(root)
            document[_SUBJECT] = self.schema
            self.document = document
            resource = referencing.Resource(contents=document, specification=referencing.jsonschema.DRAFT202012)
            registry = registry.with_resource(_DOC_URI, resource)
            top = {"$ref": f"{_DOC_URI}#/{_SUBJECT}"}
        _refuse_remote_refs(self.schema, self.document)
        try:
            cls.check_schema(self.schema)
        except SchemaError as err:
            where = _schema_where(err)
            raise ValueError(f"invalid schema{where}: {_one_line(err.message)}") from None
        self.validator = cls(top, registry=registry)

    def errors(self, instance: object) -> list[ValidationError]:
        try:
            return list(itertools.islice(self.validator.iter_errors(instance), _MAX_ERRORS))
        except referencing.exceptions.Unresolvable as err:
            raise ValueError(f"cannot resolve $ref {_ref_of(err)!r}: not found in the schema or document") from None
        except UnknownType as err:
            raise ValueError(f"invalid schema: unknown type {err.type!r}") from None

    def is_valid(self, instance: object) -> bool:
        try:
            return next(iter(self.validator.iter_errors(instance)), None) is None
        except referencing.exceptions.Unresolvable as err:
            raise ValueError(f"cannot resolve $ref {_ref_of(err)!r}: not found in the schema or document") from None
        except UnknownType as err:
            raise ValueError(f"invalid schema: unknown type {err.type!r}") from None

    def violations(self, instance: object, limit: int) -> list[Violation]:
        errors = self.errors(instance)
        if not errors:
            return []
        best = best_match(errors)
        top = best
        while top.parent is not None:
            top = top.parent
        rest = sorted((e for e in errors if e is not top), key=lambda e: _path_key(e.absolute_path))
        found: list[Violation] = []
        for error in [best, *rest]:
            violation = _violation(error)
            if violation not in found:
                found.append(violation)
            if len(found) == limit:
                break
        return found


def _refuse_retrieval(uri: str) -> referencing.Resource:
    raise ValueError(f"{uri} is not in the schema or document, and opscheck never fetches remote schemas")


def _ref_of(err: referencing.exceptions.Unresolvable) -> str:
    ref = str(getattr(err, "ref", ""))
    ref = ref.replace(f"{_DOC_URI}#/{_SUBJECT}", "#").replace(f"{_DOC_URI}#", "#")
    return ref if "#" in ref or ":" in ref else f"#{ref}"


def _refuse_remote_refs(schema: Any, document: Any) -> None:
    """ValueError for any reachable `$ref` outside the schema/document (before anything is validated)."""
    known: set[str] | None = None  # the embedded `$id`s, collected on the first non-local reference
    seen: set[int] = set()
    pending: list[tuple[Any, str]] = [(schema, "")]
    while pending:
        start, start_base = pending.pop()
        for node, base in _walk_with_base(start, start_base):
            if id(node) in seen:
                continue
            seen.add(id(node))
            ref = node.get("$ref")
            if not isinstance(ref, str):
                continue
            uri, fragment = urldefrag(ref)
            if uri:
                if known is None:
                    known = {
                        urldefrag(urljoin(id_base, node_["$id"])).url
                        for node_, id_base in _walk_with_base(document, "")
                        if isinstance(node_.get("$id"), str)
                    }
                target = urldefrag(urljoin(base, uri)).url
                if target not in known:
                    raise ValueError(
                        f"$ref {ref!r} points outside the schema and document; "
                        "opscheck never fetches remote schemas: inline or bundle it"
                    )
            elif fragment.startswith("/") and not base:
                target_node = resolve_pointer(document, fragment)
                if target_node is None:
                    raise ValueError(f"$ref {ref!r} not found in the schema or document")
                if isinstance(target_node, (dict, list)):
                    pending.append((target_node, base))


def _walk_with_base(node: Any, base: str) -> Iterator[tuple[dict, str]]:
    stack = [(node, base)]
    while stack:
        item, item_base = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$id"), str):
                item_base = urljoin(item_base, item["$id"])
            yield item, item_base
            stack.extend((value, item_base) for value in item.values() if isinstance(value, (dict, list)))
        elif isinstance(item, list):
            stack.extend((value, item_base) for value in item if isinstance(value, (dict, list)))


def resolve_pointer(document: Any, fragment: str) -> Any:
    """The node at a JSON pointer ("/components/schemas/Item"), or None."""
    node = document
    for part in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _schema_where(err: SchemaError) -> str:
    path = [str(p) for p in err.absolute_path]
    return f" at {'/'.join(path)}" if path else ""


def _violation(error: ValidationError) -> Violation:
    path = format_path(error.absolute_path)
    keyword = str(error.validator)
    value: Any = error.validator_value
    if keyword == "required" and isinstance(value, list):  # one error per missing property: name that one
        value = [name for name in value if error.message == f"{name!r} is a required property"] or value
    rule = f"{keyword}: {_show(value, top=True)}"
    message = error.message
    full = repr(error.instance)
    if len(full) > _MAX_TEXT and full in message:
        message = message.replace(full, _clip(full))
    message = _clip(_one_line(message), 300)
    return Violation(path=path, rule=rule, message=f"{path}: {message} ({rule})")


def format_path(parts: Any) -> str:
    """`$`, `$.items[0].quantity`, `$['content-type']` for a sequence of keys and indexes."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{str(part)!r}]"
    return out


def _path_key(parts: Any) -> tuple:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in parts)


def _show(value: Any, top: bool = False) -> str:
    """A keyword value for a rule: bare type names, Python-style lists, JSON literals."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return _clip(value) if top else _clip(repr(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return _clip("[" + ", ".join(_show(v) for v in value) + "]", 120)
    try:
        return _clip(json.dumps(value, sort_keys=True, default=str), 120)
    except (TypeError, ValueError):
        return _clip(repr(value), 120)


def _clip(text: str, size: int = _MAX_TEXT) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# OpenAPI 3.0 -> Draft 2020-12


def _translate_doc_30(node: Any, key: str | None = None, parent_key: str | None = None) -> Any:
    """A copy of an OpenAPI 3.0 document whose Schema Objects are translated to Draft 2020-12."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if (k == "schema" and isinstance(v, dict)) or (key == "schemas" and parent_key == "components"):
                out[k] = _translate_30(v)
            else:
                out[k] = _translate_doc_30(v, k, key)
        return out
    if isinstance(node, list):
        return [_translate_doc_30(v, key, parent_key) for v in node]
    return node


def _translate_30(schema: Any) -> Any:
    """One OpenAPI 3.0 Schema Object in Draft 2020-12 terms.

    `nullable: true` adds "null" to `type` (and null to an `enum`); without a `type` it wraps the
    schema in anyOf [null, schema]. Boolean exclusiveMinimum/Maximum become numeric; a `$ref`'s
    siblings are ignored, as 3.0 specifies; example/xml/discriminator/readOnly/writeOnly are dropped.
    """
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI30_DROPPED:
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _translate_30(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _translate_30(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_translate_30(sub) for sub in value]
        else:
            out[key] = value
    for bound, flag in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if isinstance(out.get(flag), bool) and out.pop(flag) and bound in out:
            out[flag] = out.pop(bound)
    if schema.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            if "null" not in types:
                out["type"] = [*types, "null"]
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif out:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def json_kind(value: Any) -> str:
    """A JSON value's type in words, for messages: "an object", "a list", "null", "a number"..."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
