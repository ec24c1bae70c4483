"""Parse the team's Markdown runbook into addressable sections.

Failures found by opscheck are mapped to runbook sections; this module turns a
``RUNBOOK.md`` into a tuple of :class:`Section` objects (heading level, rendered
title, GitHub-compatible anchor, source line and a short excerpt) and offers
lookups (:meth:`Runbook.find`), "did you mean" suggestions
(:meth:`Runbook.suggest`) and links (:meth:`Runbook.link`).

Headings are recognised by markdown-it-py's CommonMark parser (plus tables), so
``# comment`` lines inside code blocks are not headings while setext headings
are.  Anchors follow GitHub's rule as implemented by ``github-slugger``.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

from opscheck.files import RUNBOOK_LIMIT, FileReadError, read_bounded

__all__ = ["RunbookError", "Section", "Runbook", "slugify"]

EXCERPT_LINES = 3
EXCERPT_WIDTH = 160
SUGGEST_CUTOFF = 0.5


class RunbookError(Exception):
    """The runbook could not be read; ``str()`` is ``"<path>: <cause>"``."""

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(path, cause)
        self.path = path
        self.cause = cause

    def __str__(self) -> str:
        return f"{self.path}: {self.cause}"


@dataclass(frozen=True)
class Section:
    level: int
    title: str
    anchor: str
    line: int
    excerpt: tuple[str, ...] = ()


# --------------------------------------------------------------------------
# Slugs (github-slugger)
# --------------------------------------------------------------------------

# Unicode general categories that survive slugging: letters, marks, numbers and
# connector punctuation (underscore etc.).  ' ' and '-' are kept explicitly.
_KEEP_CATEGORIES = frozenset(
    {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc"}
)


def _keep(ch: str) -> bool:
    if ch == " " or ch == "-":
        return True
    if ch < "\x80":
        return ch.isalnum() or ch == "_"
    return unicodedata.category(ch) in _KEEP_CATEGORIES


_ASCII_DROP = re.compile(r"[^a-z0-9_\- ]+")


def slugify(title: str) -> str:
    """GitHub heading anchor for *title* (without ``#``, without dedup suffix).

    Lower-cases, drops every character that is not a Unicode letter, mark,
    number, connector punctuation, ``-`` or space, then turns each space into
    ``-``.  Like github-slugger, it does not trim or collapse hyphens.
    """
    lowered = title.lower()
    if lowered.isascii():
        kept = _ASCII_DROP.sub("", lowered)
    else:
        kept = "".join([ch for ch in lowered if _keep(ch)])
    return kept.replace(" ", "-")


class _Slugger:
    """github-slugger's occurrence counting for repeated anchors."""

    def __init__(self) -> None:
        self._occurrences: dict[str, int] = {}

    def slug(self, title: str) -> str:
        original = result = slugify(title)
        while result in self._occurrences:
            self._occurrences[original] += 1
            result = f"{original}-{self._occurrences[original]}"
        self._occurrences[result] = 0
        return result


# --------------------------------------------------------------------------
# Markdown parsing
# --------------------------------------------------------------------------

_MD: MarkdownIt | None = None


def _markdown() -> MarkdownIt:
    global _MD
    if _MD is None:
        md = MarkdownIt("commonmark").enable("table")
        # Inline parsing is only needed for heading titles; it is done on demand
        # in Runbook.parse, which keeps big runbooks fast.
        md.disable(["inline", "text_join"])
        _MD = md
    return _MD


def _inline_text(tokens: Iterable[Token] | None) -> str:
    parts: list[str] = []
    for tok in tokens or ():
        kind = tok.type
        if kind in ("text", "text_special", "code_inline"):
            parts.append(tok.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "image":
            parts.append(_inline_text(tok.children) if tok.children else tok.content)
        elif kind == "html_inline":
            continue
        elif tok.children:
            parts.append(_inline_text(tok.children))
        # *_open / *_close markers (em, strong, link) carry no text
    return "".join(parts)


# Characters that can start inline markup in the CommonMark preset (escapes,
# code spans, emphasis, links/images, autolinks/HTML, entities, line breaks).
_INLINE_SPECIAL = re.compile(r"[\\`*_\[\]!<&\n]")


def _heading_title(md: MarkdownIt, content: str, env: dict[str, Any]) -> str:
    if not _INLINE_SPECIAL.search(content):
        return content.strip()
    children: list[Token] = []
    md.inline.parse(content, md, env, children)
    return _inline_text(children).strip()


def _normalize(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    # Same newline normalisation as markdown-it, so token maps index these lines.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")


_MARKER_RE = re.compile(r"^(?:>[ \t]?|[-*+](?:[ \t]+|$)|\d{1,9}[.)](?:[ \t]+|$))")
_FENCE_RE = re.compile(r"^(?:`{3,}|~{3,})")
_HR_RE = re.compile(r"^(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_TABLE_DELIM_RE = re.compile(r"^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$")


def _excerpt_line(raw: str) -> str:
    line = raw.strip()
    if not line or _HR_RE.match(line):
        return ""
    while True:
        m = _MARKER_RE.match(line)
        if not m:
            break
        line = line[m.end():].lstrip()
    if not line or _FENCE_RE.match(line) or _HR_RE.match(line):
        return ""
    if "|" in line and _TABLE_DELIM_RE.match(line):
        return ""
    if len(line) > EXCERPT_WIDTH:
        line = line[: EXCERPT_WIDTH - 1].rstrip() + "…"
    return line


def _excerpt(lines: Sequence[str], start: int, end: int) -> tuple[str, ...]:
    out: list[str] = []
    for i in range(start, min(end, len(lines))):
        text = _excerpt_line(lines[i])
        if text:
            out.append(text)
            if len(out) == EXCERPT_LINES:
                break
    return tuple(out)


def _title_key(title: str) -> str:
    return " ".join(title.split()).casefold()


# --------------------------------------------------------------------------
# Runbook
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Runbook:
    path: str
    sections: tuple[Section, ...]
    _by_anchor: dict[str, Section] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )
    _by_title: dict[str, Section] = field(
        init=False, compare=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if not isinstance(self.sections, tuple):
            object.__setattr__(self, "sections", tuple(self.sections))
        by_anchor: dict[str, Section] = {}
        by_title: dict[str, Section] = {}
        for sec in self.sections:
            if sec.anchor:
                by_anchor.setdefault(sec.anchor.lower(), sec)
            key = _title_key(sec.title)
            if key:
                by_title.setdefault(key, sec)
        object.__setattr__(self, "_by_anchor", by_anchor)
        object.__setattr__(self, "_by_title", by_title)

    # -- construction -----------------------------------------------------

    @classmethod
    def parse(cls, text: str, path: str = "RUNBOOK.md") -> Runbook:
        """Parse Markdown *text*; *path* is only used for links and messages."""
        text = _normalize(text)
        md = _markdown()
        env: dict[str, Any] = {}
        tokens = md.parse(text, env)
        lines = text.split("\n")

        # (level, title, first line index, line index after the heading)
        heads: list[tuple[int, str, int, int]] = []
        for i, tok in enumerate(tokens):
            if tok.type != "heading_open" or tok.map is None:
                continue
            level = int(tok.tag[1:])
            title = ""
            inline = tokens[i + 1] if i + 1 < len(tokens) else None
            if inline is not None and inline.type == "inline":
                title = _heading_title(md, inline.content, env)
            heads.append((level, title, tok.map[0], tok.map[1]))

        slugger = _Slugger()
        sections: list[Section] = []
        for n, (level, title, first, after) in enumerate(heads):
            body_end = heads[n + 1][2] if n + 1 < len(heads) else len(lines)
            anchor = slugger.slug(title) if title else ""
            sections.append(
                Section(
                    level=level,
                    title=title,
                    anchor=anchor,
                    line=first + 1,
                    excerpt=_excerpt(lines, after, body_end),
                )
            )
        return cls(path=path, sections=tuple(sections))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Runbook:
        """Read and parse a UTF-8 runbook; :class:`RunbookError` if unreadable.

        Only a regular file of at most ``RUNBOOK_LIMIT`` (4 MiB) is read: a directory, named pipe
        or device is refused without blocking.
        """
        name = os.fspath(path)
        try:
            # Regular files only, bounded: /dev/zero or a named pipe must not hold the run.
            data = read_bounded(name, RUNBOOK_LIMIT, "runbook")
        except FileReadError as exc:
            raise RunbookError(name, exc.cause) from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1].hex()
            raise RunbookError(
                name, f"not valid UTF-8 text (byte 0x{bad} at offset {exc.start})"
            ) from None
        if "\0" in text:
            raise RunbookError(name, "binary file (contains NUL bytes), not Markdown text")
        return cls.parse(text, name)

    # -- lookups ----------------------------------------------------------

    def find(self, ref: str) -> Section | None:
        """Section for ``#anchor`` or a title (case/whitespace-insensitive)."""
        ref = ref.strip()
        if ref.startswith("#"):
            anchor = ref[1:].strip().lower()
            if not anchor:
                return None
            found = self._by_anchor.get(anchor)
            if found is None and "%" in anchor:
                found = self._by_anchor.get(unquote(anchor).lower())
            return found
        key = _title_key(ref)
        if not key:
            return None
        found = self._by_title.get(key)
        if found is None:
            slug = slugify(ref)
            if slug:
                found = self._by_anchor.get(slug)
        return found

    def suggest(self, ref: str, n: int = 3) -> list[str]:
        """Up to *n* close section references (``"#anchor"`` or titles)."""
        if n <= 0:
            return []
        ref = ref.strip()
        if ref.startswith("#"):
            bare = ref[1:].strip()
            return self._suggest_anchors(bare.lower(), n) or self._suggest_titles(
                bare.replace("-", " "), n
            )
        return self._suggest_titles(ref, n) or self._suggest_anchors(slugify(ref), n)

    def _suggest_anchors(self, anchor: str, n: int) -> list[str]:
        if not anchor:
            return []
        candidates = ["#" + a for a in self._by_anchor]
        return difflib.get_close_matches("#" + anchor, candidates, n, SUGGEST_CUTOFF)

    def _suggest_titles(self, title: str, n: int) -> list[str]:
        key = _title_key(title)
        if not key:
            return []
        matches = difflib.get_close_matches(key, list(self._by_title), n, SUGGEST_CUTOFF)
        return [self._by_title[m].title for m in matches]

    def link(self, section: Section, base_url: str | None = None) -> str:
        """``base_url#anchor`` (or ``path#anchor``) pointing at *section*."""
        base = self.path if base_url is None else base_url.split("#", 1)[0]
        return f"{base}#{section.anchor}"
