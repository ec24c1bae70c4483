"""The profile loader's short cuts (issue 10, Measure) say exactly what the long way says.

- a document without an alias (*name) skips the alias-expansion walk: the bounds still hold;
- the YAML resolver's per-document memo gives every scalar the tag the resolver gives it;
- the compiled schema check's loops keep jsonschema's meaning of oneOf, anyOf, allOf, items, required.
"""

from __future__ import annotations

import pytest

from opscheck.config import profile as profile_module
from opscheck.config.profile import MAX_NODES, ProfileError, Yaml12Loader
from opscheck.config.schemacheck import compile_schema

TREE = """\
service: shop
runbook: RUNBOOK.md
http: {timeout_s: 2, headers: {X-Team: ops}}
defaults: {smoke: {runbook: '#api'}}
smoke:
  - {name: health, path: /health, expect: {status: 200, json: {status: ok}}}
  - name: home
    path: /
    expect: {status: [200, 204], content_type: text/html, max_ms: 1.5}
  - {name: 'quoted', path: "/q?x=1", expect: {status: 200, headers: {X-On: on, X-Yes: yes, X-Null: ~}}}
"""


def _read_the_long_way(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    real = profile_module._check_depth

    def says_aliases(text: str, file: str) -> tuple[bool, int]:
        real(text, file)
        return True, 0  # as if the document had an alias: the expansion walk runs

    with monkeypatch.context() as patch:
        patch.setattr(profile_module, "_check_depth", says_aliases)
        return profile_module._read_yaml(text, "p.yaml")


def test_a_document_without_aliases_reads_the_same_values_lines_and_warnings_as_the_long_way(monkeypatch):
    value, doc = profile_module._read_yaml(TREE, "p.yaml")
    long_value, long_doc = _read_the_long_way(TREE, monkeypatch)
    assert value == long_value
    assert doc.lines == long_doc.lines and doc.plain == long_doc.plain
    assert doc.warnings == long_doc.warnings and doc.problems == long_doc.problems
    # on and yes: text here, booleans for YAML 1.1 tools
    assert [w.field for w in doc.warnings] == ["smoke[2].expect.headers.X-On", "smoke[2].expect.headers.X-Yes"]


def test_the_event_pass_counts_the_values_a_tree_writes_and_sees_an_alias():
    assert profile_module._check_depth("a: [1, 2, {b: c}]\n", "p.yaml") == (False, 8)
    assert profile_module._check_depth("a: &x [1]\nb: *x\n", "p.yaml") == (True, 5)


def test_more_values_than_the_bound_without_any_alias_is_still_refused_at_its_line():
    text = "service: s\nbig: [" + ",".join(["1"] * (MAX_NODES + 1)) + "]\n"
    with pytest.raises(ProfileError) as raised:
        profile_module._read_yaml(text, "p.yaml")
    assert str(raised.value).startswith(f"p.yaml:2: more than {MAX_NODES} values here"), str(raised.value)


def test_an_alias_still_takes_the_expansion_walk(monkeypatch):
    calls = []
    real = profile_module._expanded_sizes
    monkeypatch.setattr(profile_module, "_expanded_sizes", lambda root: calls.append(root) or real(root))
    value, _ = profile_module._read_yaml("service: s\nbase: &b {x: 1}\nother: *b\n", "p.yaml")
    assert value == {"service": "s", "base": {"x": 1}, "other": {"x": 1}} and len(calls) == 1
    with pytest.raises(ProfileError, match="recursive alias"):
        profile_module._read_yaml("service: s\nx: &a [*a]\n", "p.yaml")


@pytest.mark.parametrize("text, tags", [
    ("[1, '1', 1, \"1\", 1]", ["int", "str", "int", "str", "int"]),
    ("[true, 'true', true, on, on]", ["bool", "str", "bool", "str", "str"]),
    ("[~, '~', ~, null, '', 1.5, 1.5]", ["null", "str", "null", "null", "str", "float", "float"]),
])
def test_a_scalar_seen_again_gets_the_tag_its_style_gives_it(text, tags):
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    assert [item.tag.rsplit(":", 1)[1] for item in node.value] == tags


def test_the_compiled_check_keeps_one_of_any_of_all_of_items_and_required():
    check = compile_schema({
        "type": "object",
        "required": ["a", "b"],
        "properties": {
            "a": {"oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]},
            "b": {"type": "array", "items": {"anyOf": [{"const": 1}, {"const": "x"}]}},
            "c": {"allOf": [{"type": "string"}, {"minLength": 2}, {"maxLength": 3}]},
        },
    })
    assert check({"a": "s", "b": [1, "x"]})
    assert not check({"a": 1, "b": []})  # 1 is an integer and a number: oneOf wants exactly one
    assert check({"a": 1.5, "b": []})
    assert not check({"a": "s", "b": [2]})  # no anyOf branch
    assert not check({"a": "s"}) and not check({"b": []})  # each required name
    assert check({"a": "s", "b": [], "c": "ab"})
    assert not check({"a": "s", "b": [], "c": "a"}) and not check({"a": "s", "b": [], "c": "abcd"})
    assert not check({"a": "s", "b": [], "c": 12})
