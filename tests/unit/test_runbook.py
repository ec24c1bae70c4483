from __future__ import annotations

import dataclasses
import os
import pickle
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from opscheck.files import RUNBOOK_LIMIT
from opscheck.runbook import Runbook, RunbookError, Section, slugify

SAMPLE = """\
# Ops Runbook

Intro line for the whole runbook.

## Monitoring & Alerts

- Pager goes to #ops-alerts
- Dashboards live in Grafana
* Escalate after 15 minutes
1. this fourth line is past the cap

## 5.1 Rotate API Keys

> Keys live in the vault.

```bash
# not a heading
vault kv put secret/api key=...
```

    # indented code, not a heading either

## Check `/health/ready`

Readiness must return **200**.

Setup
=====

Setext body.

Teardown
--------

## Setup

## Setup-1

## Setup

### [Café](https://example.com/cafe) *Ops*

## 🚀 Deploy

Run the pipeline.
"""


@pytest.fixture(scope="module")
def rb() -> Runbook:
    return Runbook.parse(SAMPLE)


def titles(rb: Runbook) -> list[str]:
    return [s.title for s in rb.sections]


# --------------------------------------------------------------------- slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Monitoring & Alerts", "monitoring--alerts"),
        ("5.1 Rotate API Keys", "51-rotate-api-keys"),
        ("Check `/health/ready`", "check-healthready"),
        ("Café Ops", "café-ops"),
        ("🚀 Deploy", "-deploy"),
        ("snake_case-and-dash", "snake_case-and-dash"),
        ("Ünïcödé ÄÖÜ", "ünïcödé-äöü"),
        ("日本語 見出し", "日本語-見出し"),
        ("Q&A: what? (really!)", "qa-what-really"),
        ("", ""),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


# --------------------------------------------------------------------- parsing


def test_headings_levels_lines_and_titles(rb: Runbook) -> None:
    got = [(s.level, s.title, s.anchor, s.line) for s in rb.sections]
    assert got == [
        (1, "Ops Runbook", "ops-runbook", 1),
        (2, "Monitoring & Alerts", "monitoring--alerts", 5),
        (2, "5.1 Rotate API Keys", "51-rotate-api-keys", 12),
        (2, "Check /health/ready", "check-healthready", 23),
        (1, "Setup", "setup", 27),
        (2, "Teardown", "teardown", 32),
        (2, "Setup", "setup-1", 35),
        (2, "Setup-1", "setup-1-1", 37),
        (2, "Setup", "setup-2", 39),
        (3, "Café Ops", "café-ops", 41),
        (2, "🚀 Deploy", "-deploy", 43),
    ]


def test_code_blocks_are_not_headings(rb: Runbook) -> None:
    assert not any("not a heading" in t for t in titles(rb))
    assert not any("indented" in t for t in titles(rb))


def test_duplicate_anchors_follow_github_slugger() -> None:
    rb = Runbook.parse("# Setup\n\n# Setup\n\n# Setup-1\n")
    assert [s.anchor for s in rb.sections] == ["setup", "setup-1", "setup-1-1"]
    rb = Runbook.parse("# Foo-1\n# Foo\n# Foo\n# Foo\n")
    assert [s.anchor for s in rb.sections] == ["foo-1", "foo", "foo-2", "foo-3"]


def test_setext_headings() -> None:
    rb = Runbook.parse("Alpha\n=====\n\nBeta\ncontinued\n---\n\ntext\n")
    assert [(s.level, s.title, s.line) for s in rb.sections] == [
        (1, "Alpha", 1),
        (2, "Beta continued", 4),
    ]
    assert rb.sections[1].excerpt == ("text",)


def test_thematic_break_after_blank_is_not_setext() -> None:
    rb = Runbook.parse("# A\n\npara\n\n---\n\nmore\n")
    assert titles(rb) == ["A"]
    assert rb.sections[0].excerpt == ("para", "more")


def test_inline_markup_is_stripped_from_titles() -> None:
    text = (
        "# Use `kubectl` **now**\n"
        "# See [the docs](https://x.example/docs) and _more_\n"
        "# Logo ![alt *text*](logo.png) <span>html</span> &amp; \\*stars\\*\n"
        "# Auto <https://example.com>\n"
    )
    rb = Runbook.parse(text)
    assert titles(rb) == [
        "Use kubectl now",
        "See the docs and more",
        "Logo alt text html & *stars*",
        "Auto https://example.com",
    ]
    assert rb.sections[0].anchor == "use-kubectl-now"
    assert rb.sections[2].anchor == "logo-alt-text-html--stars"


def test_reference_link_in_title_uses_definitions() -> None:
    rb = Runbook.parse("# Read [the guide][g]\n\n[g]: https://example.com/guide\n")
    assert titles(rb) == ["Read the guide"]


def test_headings_in_blockquotes_and_lists() -> None:
    rb = Runbook.parse("> # Quoted\n> body\n\n- ## Listed\n  item text\n")
    assert [(s.level, s.title, s.line) for s in rb.sections] == [
        (1, "Quoted", 1),
        (2, "Listed", 4),
    ]
    assert rb.sections[0].excerpt == ("body",)
    assert rb.sections[1].excerpt == ("item text",)


def test_html_block_swallows_hash_line() -> None:
    rb = Runbook.parse("<div>\n# not a heading\n</div>\n\n# Real\n")
    assert titles(rb) == ["Real"]
    assert rb.sections[0].line == 5


def test_table_does_not_turn_into_setext_heading() -> None:
    rb = Runbook.parse("# T\n\n| a | b |\n|---|---|\nrow\n===\n")
    assert titles(rb) == ["T"]


def test_empty_title_heading_kept_but_not_findable() -> None:
    rb = Runbook.parse("# Real\n\n#\n\nbody\n\n## <b></b>\n")
    assert [(s.level, s.title, s.anchor) for s in rb.sections] == [
        (1, "Real", "real"),
        (1, "", ""),
        (2, "", ""),
    ]
    assert rb.sections[1].excerpt == ("body",)
    assert rb.find("") is None
    assert rb.find("#") is None
    assert rb.find("   ") is None


def test_emoji_title() -> None:
    rb = Runbook.parse("## 🚀 Deploy\n\n## 🔥🔥 Fire drill 🔥\n")
    assert [s.anchor for s in rb.sections] == ["-deploy", "-fire-drill-"]
    assert rb.find("🚀 deploy") is rb.sections[0]
    assert rb.find("#-deploy") is rb.sections[0]


def test_crlf_and_cr_line_endings() -> None:
    lf = "# One\n\nbody one\n\n## Two\n\n```\n# nope\n```\nafter\n"
    rb_lf = Runbook.parse(lf)
    for newline in ("\r\n", "\r"):
        rb = Runbook.parse(lf.replace("\n", newline))
        assert rb.sections == rb_lf.sections
    assert [(s.title, s.line) for s in rb_lf.sections] == [("One", 1), ("Two", 5)]
    assert rb_lf.sections[1].excerpt == ("# nope", "after")
    assert all("\r" not in line for s in rb_lf.sections for line in s.excerpt)


def test_bom_is_ignored_in_parse() -> None:
    rb = Runbook.parse("\ufeff# Title\n\ntext\n")
    assert [(s.title, s.anchor, s.line) for s in rb.sections] == [("Title", "title", 1)]


def test_no_headings() -> None:
    rb = Runbook.parse("just text\n\n    # code\n")
    assert rb.sections == ()
    assert rb.find("just text") is None
    assert rb.suggest("anything") == []
    assert Runbook.parse("").sections == ()


# --------------------------------------------------------------------- excerpt


def test_excerpt_strips_markers_and_caps_at_three(rb: Runbook) -> None:
    sec = rb.find("Monitoring & Alerts")
    assert sec is not None
    assert sec.excerpt == (
        "Pager goes to #ops-alerts",
        "Dashboards live in Grafana",
        "Escalate after 15 minutes",
    )


def test_excerpt_skips_fences_and_quotes(rb: Runbook) -> None:
    sec = rb.find("#51-rotate-api-keys")
    assert sec is not None
    assert sec.excerpt == (
        "Keys live in the vault.",
        "# not a heading",
        "vault kv put secret/api key=...",
    )


def test_excerpt_stops_at_next_heading_of_any_level() -> None:
    rb = Runbook.parse("## A\nonly this\n#### deeper\nnot A's\n# B\n")
    assert rb.sections[0].excerpt == ("only this",)
    assert rb.sections[1].excerpt == ("not A's",)
    assert rb.sections[2].excerpt == ()


def test_excerpt_numbered_nested_and_long_lines() -> None:
    long = "x" * 300
    rb = Runbook.parse(f"# A\n\n1. first\n2) second\n> - quoted item\n\n# B\n\n{long}\n")
    assert rb.sections[0].excerpt == ("first", "second", "quoted item")
    (line,) = rb.sections[1].excerpt
    assert len(line) == 160
    assert line.endswith("…")
    assert line[:-1] == "x" * 159


# ------------------------------------------------------------------ find/suggest


def test_find_by_title_case_and_whitespace_insensitive(rb: Runbook) -> None:
    sec = rb.find("  monitoring   &  ALERTS ")
    assert sec is not None
    assert sec.anchor == "monitoring--alerts"
    assert rb.find("check /health/ready") is rb.sections[3]


def test_find_by_anchor(rb: Runbook) -> None:
    assert rb.find("#monitoring--alerts") is rb.sections[1]
    assert rb.find("#SETUP-1") is rb.sections[6]
    assert rb.find("#setup-2") is rb.sections[8]
    assert rb.find("#caf%C3%A9-ops") is rb.sections[9]
    assert rb.find("#no-such-anchor") is None


def test_find_by_slug_of_title(rb: Runbook) -> None:
    # markup in the reference is not part of the rendered title, so the title
    # does not match, but its slug does
    sec = rb.find("Check `/health/ready`")
    assert sec is not None and sec.title == "Check /health/ready"
    assert rb.find("rotate-api-keys") is None
    assert rb.find("51-rotate-api-keys") is rb.sections[2]


def test_find_first_match_in_document_order(rb: Runbook) -> None:
    assert rb.find("setup") is rb.sections[4]
    assert rb.find("Setup-1") is rb.sections[7]  # title match beats anchor


def test_find_unknown_returns_none_and_suggest_proposes(rb: Runbook) -> None:
    assert rb.find("Monitoring and Alerts") is None
    assert rb.suggest("Monitoring and Alerts")[0] == "Monitoring & Alerts"
    assert rb.find("Rotate API Key") is None
    assert rb.suggest("Rotate API Key")[0] == "5.1 Rotate API Keys"


def test_suggest_anchor_refs(rb: Runbook) -> None:
    assert rb.suggest("#monitoring-alerts")[0] == "#monitoring--alerts"
    assert rb.suggest("#check-health-ready")[0] == "#check-healthready"
    assert all(s.startswith("#") for s in rb.suggest("#setup"))


def test_suggest_respects_n_and_falls_back(rb: Runbook) -> None:
    assert rb.suggest("Setup", n=1) == ["Setup"]
    assert len(rb.suggest("#setup", n=2)) == 2
    assert rb.suggest("Setup", n=0) == []
    # nothing close among anchors -> try titles
    langs = Runbook.parse("# C++ / C# / F# / .NET\n# Other\n")
    assert langs.sections[0].anchor == "c--c--f--net"
    assert langs.suggest("#C++ / C# / F# / .NET") == ["C++ / C# / F# / .NET"]
    assert langs.suggest("#c++/c#/f#/.net") == ["#c--c--f--net"]
    # nothing close among titles -> try anchors (slug of the ref)
    assert langs.find("c--c--f--nett") is None
    assert langs.suggest("c--c--f--nett") == ["#c--c--f--net"]
    assert langs.find("c--c--f--net") is langs.sections[0]
    assert rb.suggest("completely unrelated words") == []


# ------------------------------------------------------------------------- link


def test_link_without_and_with_base_url(rb: Runbook) -> None:
    sec = rb.sections[1]
    assert rb.link(sec) == "RUNBOOK.md#monitoring--alerts"
    base = "https://git.example.com/ops/RUNBOOK.md"
    assert rb.link(sec, base) == base + "#monitoring--alerts"
    assert rb.link(sec, base + "#old") == base + "#monitoring--alerts"
    other = Runbook.parse("# Hi", path="docs/ops.md")
    assert other.link(other.sections[0]) == "docs/ops.md#hi"


# ------------------------------------------------------------------------- load


def test_load_reads_utf8_with_bom_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "RUNBOOK.md"
    p.write_bytes("\ufeff# Café\r\n\r\nbody\r\n".encode())
    rb = Runbook.load(p)
    assert rb.path == str(p)
    assert [(s.title, s.anchor, s.line, s.excerpt) for s in rb.sections] == [
        ("Café", "café", 1, ("body",))
    ]
    assert rb.link(rb.sections[0]) == f"{p}#café"
    assert Runbook.load(str(p)) == rb


def test_load_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "missing" / "RUNBOOK.md"
    with pytest.raises(RunbookError) as info:
        Runbook.load(p)
    assert info.value.path == str(p)
    assert str(info.value) == f"{p}: file not found"


def test_load_non_utf8_file(tmp_path: Path) -> None:
    p = tmp_path / "RUNBOOK.md"
    p.write_bytes(b"# Caf\xe9\n")
    with pytest.raises(RunbookError) as info:
        Runbook.load(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ")
    assert "UTF-8" in msg and "0xe9" in msg


def test_load_binary_file(tmp_path: Path) -> None:
    png = tmp_path / "logo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(RunbookError) as info:
        Runbook.load(png)
    assert str(info.value).startswith(f"{png}: ")
    nul = tmp_path / "nul.md"
    nul.write_bytes(b"# ok\x00\x00\n")
    with pytest.raises(RunbookError, match="binary"):
        Runbook.load(nul)


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as info:
        Runbook.load(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: ")


def test_runbook_error_shape() -> None:
    err = RunbookError("RUNBOOK.md", "boom")
    assert str(err) == "RUNBOOK.md: boom"
    assert (err.path, err.cause) == ("RUNBOOK.md", "boom")
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == "RUNBOOK.md: boom"


# ------------------------------------------------------------------ dataclasses


def test_dataclasses_are_frozen_and_comparable(rb: Runbook) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        rb.sections[0].title = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rb.path = "x"  # type: ignore[misc]
    assert Runbook.parse(SAMPLE) == rb
    assert hash(Runbook.parse(SAMPLE)) == hash(rb)
    assert "_by_" not in repr(rb)


def test_runbook_built_from_sections_is_searchable() -> None:
    sec = Section(level=2, title="Hand Made", anchor="hand-made", line=3, excerpt=())
    rb = Runbook("X.md", (sec,))
    assert rb.find("hand made") is sec
    assert rb.find("#hand-made") is sec
    replaced = dataclasses.replace(rb, sections=())
    assert replaced.find("hand made") is None


def test_lookups_do_not_reparse(rb: Runbook, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("re-parsed")

    monkeypatch.setattr(MarkdownIt, "parse", boom)
    assert rb.find("Setup") is rb.sections[4]
    assert rb.suggest("Setp") and rb.link(rb.sections[0])


def test_excerpt_skips_empty_markers_and_rules() -> None:
    rb = Runbook.parse("# A\n\n-\n>\n***\n|---|\n> > deep quote\n- [ ] task\nlast\n")
    assert rb.sections[0].excerpt == ("deep quote", "[ ] task", "last")


# ------------------------------------------------------------------ bounded reads


def test_a_runbook_at_dev_zero_is_refused_at_once_instead_of_read_without_end() -> None:
    started = time.monotonic()
    with pytest.raises(RunbookError) as info:
        Runbook.load("/dev/zero")
    assert str(info.value) == "/dev/zero: a character device, not a regular file"
    assert time.monotonic() - started < 5


def test_a_runbook_that_is_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "RUNBOOK.md"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(RunbookError) as info:
        Runbook.load(fifo)
    assert str(info.value) == f"{fifo}: a named pipe, not a regular file"
    assert time.monotonic() - started < 5


def test_a_runbook_over_the_size_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "BIG.md"
    big.write_bytes(b"# A\n" + b"x" * RUNBOOK_LIMIT)
    with pytest.raises(RunbookError) as info:
        Runbook.load(big)
    assert "larger than the 4 MiB limit for runbooks" in str(info.value)


def test_a_runbook_at_the_size_limit_is_read(tmp_path: Path) -> None:
    exact = tmp_path / "EXACT.md"
    exact.write_bytes(b"# A\n" + b"x" * (RUNBOOK_LIMIT - 4))
    assert Runbook.load(exact).sections[0].title == "A"
