"""The compiled yes/no schema check (opscheck/config/schemacheck.py) answers exactly as jsonschema does.

The profile loader trusts its "yes" and skips jsonschema, so a "yes" where jsonschema finds an
error would let an invalid profile run: these tests compare the two on the real profile schema
(seed profiles, hypothesis mutants of them) and on the keyword rules one by one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings

from opscheck.config import profile as profile_module
from opscheck.config.profile import ProfileError, load_profile, profile_schema
from opscheck.config.schemacheck import Unsupported, compile_schema
from tests.unit.test_profile_fuzz import SEEDS, structure_mutants, text_mutants

ROOT = Path(__file__).resolve().parents[2]
JSONSCHEMA = jsonschema.Draft202012Validator(profile_schema())


def document(text: str) -> Any:
    """The data the loader validates: YAML 1.2 reading, then ${VAR} interpolation (no variables set)."""
    raw, doc = profile_module._read_yaml(text, "opscheck.yaml")
    ctx = profile_module._Ctx("opscheck.yaml", doc.lines, plain=doc.plain)
    return profile_module._interpolate(raw, (), {}, ctx)


def agree(data: Any) -> None:
    quick = profile_module._quick_check()
    assert quick is not None
    expected = JSONSCHEMA.is_valid(data)
    assert quick(data) == expected, f"quick check says {quick(data)}, jsonschema says {expected} for {data!r:.2000}"


def test_the_profile_schema_compiles_to_the_quick_check():
    # A keyword the compiler does not know would silently send every profile through jsonschema again.
    assert profile_module._quick_check() is not None


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_the_quick_check_agrees_with_jsonschema_on_every_seed_profile(seed):
    agree(document(SEEDS[seed]))


def test_the_quick_check_agrees_with_jsonschema_on_the_repository_profiles():
    for path in [ROOT / "opscheck" / "demo" / "opscheck.yaml", *ROOT.glob("*.yaml"), *ROOT.glob("examples/**/*.yaml")]:
        agree(document(path.read_text(encoding="utf-8")))


AGREEMENT = settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


@AGREEMENT
@given(text=structure_mutants())
def test_the_quick_check_agrees_with_jsonschema_on_profiles_mutated_in_structure(text):
    try:
        data = document(text)
    except ProfileError:
        return  # not readable as YAML: never reaches the schema
    agree(data)


@AGREEMENT
@given(text=text_mutants())
def test_the_quick_check_agrees_with_jsonschema_on_profiles_mutated_as_text(text):
    try:
        data = document(text)
    except (ProfileError, RecursionError):
        return
    agree(data)


# --- the keyword rules, one by one, against jsonschema ------------------------------------------

RULES: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, 2.0, 2.5, True, "1", None]),  # 2.0 is an integer; True is not
    ({"type": "number"}, [1, 1.5, False, "1"]),
    ({"type": ["string", "null"]}, ["a", None, 0]),
    ({"enum": [1, "a", None]}, [1, 1.0, True, "a", None, "b"]),  # True never equals 1
    ({"enum": [True]}, [True, 1]),
    ({"const": [1, {"a": False}]}, [[1, {"a": False}], [1, {"a": 0}], [True, {"a": False}]]),
    ({"pattern": "^[a-z]+$"}, ["abc", "ab1", 5]),
    ({"pattern": "b"}, ["abc", "xyz"]),  # searched anywhere, like re.search
    ({"minLength": 2, "maxLength": 3}, ["a", "ab", "abcd", 12345]),
    ({"minimum": 1, "maximum": 3}, [0, 1, 3, 3.5, True, "9"]),
    ({"exclusiveMinimum": 0, "exclusiveMaximum": 1}, [0, 0.5, 1]),
    ({"items": {"type": "integer"}, "minItems": 1, "maxItems": 2}, [[], [1], [1, 2, 3], [1, "a"], "x"]),
    ({"required": ["a"], "minProperties": 1, "maxProperties": 2}, [{}, {"a": 1}, {"b": 1}, {"a": 1, "b": 2, "c": 3}, []]),
    ({"properties": {"a": {"type": "string"}}, "patternProperties": {"^x-": {"type": "integer"}},
      "additionalProperties": False},
     [{"a": "s"}, {"a": 1}, {"x-1": 1}, {"x-1": "s"}, {"y": 1}, {"ax-": 1}]),
    ({"patternProperties": {"^a": {"type": "integer"}, "b$": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
     [{"ab": 1}, {"ab": "s"}, {"c": "s"}, {"c": 1}]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, [{"ok": 1}, {"Not ok": 1}]),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, [1, 1.5, "a"]),  # 1 matches both: not exactly one
    ({"anyOf": [{"type": "integer"}, {"minLength": 3}]}, [1, "ab", "abc"]),
    ({"allOf": [{"minimum": 1}, {"maximum": 2}]}, [0, 1, 3]),
    ({"not": {"type": "string"}}, ["a", 1]),
    ({"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "additionalProperties": False}},
      "$ref": "#/$defs/node"},
     [{}, {"next": {"next": {}}}, {"next": {"next": {"x": 1}}}, {"next": 1}]),  # a recursive $ref
    ({"properties": {"a": True, "b": False}}, [{"a": 1}, {"b": 1}, {}]),
]


@pytest.mark.parametrize(("schema", "instances"), RULES, ids=[str(i) for i in range(len(RULES))])
def test_each_keyword_rule_answers_as_jsonschema_does(schema, instances):
    check = compile_schema(schema)
    reference = jsonschema.Draft202012Validator(schema)
    for instance in instances:
        assert check(instance) == reference.is_valid(instance), f"{schema} on {instance!r}"


def test_a_keyword_the_compiler_does_not_know_leaves_the_decision_to_jsonschema():
    for schema in ({"uniqueItems": True}, {"type": "object", "unevaluatedProperties": False},
                   {"$ref": "https://example.com/other.json"}, {"format": "email"}):
        with pytest.raises(Unsupported):
            compile_schema(schema)


def test_a_value_json_does_not_have_gets_no_quick_yes():
    check = compile_schema({})
    assert check({"a": [1, "b", None, 2.5, True]})
    assert not check({"a": (1, 2)})  # jsonschema decides: a tuple is not a JSON array
    assert not check({1: "a"})


def test_an_invalid_profile_still_gets_jsonschemas_messages_with_lines(tmp_path):
    (tmp_path / "opscheck.yaml").write_text("service: x\nsmoke:\n  - {name: a, path: /h, expect: {status: 99}}\n"
                                            "http: {timeout_s: -1}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path / "opscheck.yaml")
    lines = str(caught.value).splitlines()
    assert any(":3: smoke[0].expect.status:" in line for line in lines), lines
    assert any(":4: http.timeout_s:" in line for line in lines), lines


@pytest.mark.parametrize(("key", "shown"), [
    (" ", "' '"),  # found by tests/unit/test_profile_fuzz.py: printed "file:1:  : unknown field", no field to read
    ("0\x1e", "'0\\x1e'"),  # found by the fuzz test too: \x1e ends a line for str.splitlines
    ("a\u2028b", "'a\\u2028b'"),
    ("\t", "'\\t'"),
])
def test_a_key_of_blanks_or_control_characters_is_named_quoted_and_escaped_on_one_line(tmp_path, key, shown):
    (tmp_path / "opscheck.yaml").write_text(f"{{{json.dumps(key)}: 0}}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path / "opscheck.yaml")
    lines = str(caught.value).splitlines()
    assert f"{tmp_path / 'opscheck.yaml'}:1: {shown}: unknown field;" in str(caught.value), lines
    assert all(line.startswith(f"{tmp_path / 'opscheck.yaml'}:1: ") for line in lines), lines


def test_a_printable_key_is_named_as_written(tmp_path):
    (tmp_path / "opscheck.yaml").write_text("service: x\nÉquipe y: 1\n", encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path / "opscheck.yaml")
    assert f"{tmp_path / 'opscheck.yaml'}:2: Équipe y: unknown field;" in str(caught.value)
