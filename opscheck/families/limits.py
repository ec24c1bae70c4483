"""Payload limits: oversized bodies and batches are refused, also when chunked; a body at the limit is not.

Bodies are generated as a stream of small chunks, and never much more than the limit is sent:
a 1 GiB limit costs 1 GiB of traffic, not 1 GiB of memory. The runbook sentences it serves:
"confirm 413 PAYLOAD_TOO_LARGE" and "batch ingest limit blocks oversized list payloads".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from opscheck.contract.expect import Expect, json_mismatch
from opscheck.transport.http import Response
from opscheck.outcome import CheckDegraded, CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp

CHUNK = 64 * 1024


@dataclass(frozen=True)
class LimitCase(Case):
    """One probe of one `limits:` entry: `content-length` or `chunked` (a body of `max_body_bytes` + 1
    bytes), `at-limit` (exactly `max_body_bytes`, must be accepted; mutating) or `batch` (a list of
    `max_items` + 1 copies of `item`). `expect` is the refusal (default status 413)."""

    probe: str = "content-length"
    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    max_body_bytes: int | None = None
    max_items: int | None = None
    item: Any = None
    expect: Expect = field(default_factory=lambda: Expect(status=(413,)))


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[LimitCase]:
    """Per entry, e.g. `{name: ingest, path: /api/ingest, max_body_bytes: 1048576, max_items: 500}`,
    the probes its limits call for; check ids `limits::<name>:<probe>`. An entry with neither limit
    is a problem at its line."""
    cases: list[LimitCase] = []
    paths = []
    for index, entry in enumerate(entries):
        path = ("limits", index)
        if "max_body_bytes" not in entry and "max_items" not in entry:
            b.problem(path, "a limit needs max_body_bytes, max_items, or both")
            continue
        if "max_items" in entry and "item" not in entry:
            b.problem(path + ("item",), "max_items needs an `item:` to repeat max_items + 1 times")
            continue
        probes = []
        if "max_body_bytes" in entry:
            probes.append("content-length")
            if entry.get("chunked", True):
                probes.append("chunked")
            if entry.get("at_limit", True):
                probes.append("at-limit")
        if "max_items" in entry:
            probes.append("batch")
        for probe in probes:
            default_status = (413, 422) if probe == "batch" else (413,)
            raw_expect = entry.get("batch_expect" if probe == "batch" else "expect", {})
            cases.append(LimitCase(
                **b.common("limits", f"{entry['name']}:{probe}", path, entry),
                # Every probe sends a body with a writing method: on a service without the limit
                # being checked, the oversized one is accepted, i.e. written.
                mutating=True,
                probe=probe,
                method=entry.get("method", "POST"),
                path=entry["path"],
                headers={"Content-Type": entry.get("content_type", "application/json"), **entry.get("headers", {})},
                max_body_bytes=entry.get("max_body_bytes"),
                max_items=entry.get("max_items"),
                item=entry.get("item"),
                expect=Expect.from_profile(raw_expect, default_status),
            ))
            paths.append(path + ("name",))
    b.unique(cases, paths)
    yield from cases


def padded_json(size: int, item: Any = None) -> Iterator[bytes]:
    """Exactly `size` bytes of valid JSON, streamed: a one-item list whose string field is padding."""
    template = dict(item) if isinstance(item, dict) else {}
    pad_key = next((k for k, v in template.items() if isinstance(v, str)), "padding")
    template[pad_key] = ""
    head, tail = json.dumps([template], separators=(",", ":")).split(f'"{pad_key}":""', 1)
    head, tail = (head + f'"{pad_key}":"').encode(), ('"' + tail).encode()
    padding = size - len(head) - len(tail)
    if padding < 0:  # a limit smaller than any JSON list: fall back to plain bytes
        yield from _repeat(b"x", size)
        return
    yield head
    yield from _repeat(b"x", padding)
    yield tail


def _repeat(byte: bytes, count: int) -> Iterator[bytes]:
    block = byte * CHUNK
    while count > 0:
        part = block[: min(CHUNK, count)]
        count -= len(part)
        yield part


def run(case: LimitCase, http: CheckHttp) -> None:
    """Send the probe's body (streamed, never held in memory) and judge the answer.

    Raises CheckFailed with `limit` when an oversized body or batch is not refused as `expect` says,
    or when a body at the limit is refused or crashes the service (5xx); a transport reason when
    nothing answered.
    """
    label = f"{case.method} {case.path}"
    if case.probe == "batch":
        assert case.max_items is not None
        body = json.dumps([case.item] * (case.max_items + 1), separators=(",", ":")).encode()
        what = f"a batch of {case.max_items + 1} items (limit {case.max_items})"
        response = _send(http, case, what, body, chunked=False)
        _expect_refused(case, response, f"{label} with {what}")
        return
    assert case.max_body_bytes is not None
    if case.probe == "at-limit":
        what = f"a body of exactly {case.max_body_bytes} bytes (the limit)"
        response = _send(http, case, what, padded_json(case.max_body_bytes, case.item),
                         chunked=False, length=case.max_body_bytes)
        if response.status in case.expect.status or response.status >= 500:
            raise CheckFailed(Reason.LIMIT, f"{label} with {what}: status {response.status}; "
                              "a body at the limit must be accepted", response.evidence, observed=response.status,
                              limit=f"not {' or '.join(map(str, case.expect.status))}, below 500", unit="status")
        return
    size = case.max_body_bytes + 1
    chunked = case.probe == "chunked"
    what = f"a {'chunked ' if chunked else ''}body of {size} bytes (limit {case.max_body_bytes})"
    response = _send(http, case, what, padded_json(size, case.item), chunked=chunked, length=None if chunked else size)
    _expect_refused(case, response, f"{label} with {what}")


def _send(http: CheckHttp, case: LimitCase, what: str, body: Any, chunked: bool, length: int | None = None) -> Response:
    headers = dict(case.headers)
    if length is not None:
        headers["Content-Length"] = str(length)  # with an iterator body, httpx then streams without chunking
    try:
        return http.request(case.method, case.path, headers=headers, content=body)
    except CheckFailed as failure:
        if failure.reason is Reason.PROTOCOL and case.probe != "at-limit":
            # Refused, but rudely: the connection was cut instead of answering with a status.
            raise CheckDegraded(Reason.LIMIT, f"{case.method} {case.path} with {what}: connection cut without an answer "
                                f"({failure.message.split(': ', 1)[-1]}); expected status "
                                f"{' or '.join(map(str, case.expect.status))}", failure.evidence) from None
        raise


def _expect_refused(case: LimitCase, response: Response, label: str) -> None:
    want = " or ".join(map(str, case.expect.status))
    if response.status not in case.expect.status:
        verdict = "accepted" if response.status < 300 else "answered"
        raise CheckFailed(Reason.LIMIT, f"{label}: {verdict} with status {response.status}, expected {want}",
                          response.evidence, observed=response.status, limit=want, unit="status")
    if case.expect.has_json:
        mismatch = json_mismatch(response.json(label), case.expect.json)
        if mismatch:
            raise CheckFailed(Reason.LIMIT, f"{label}: refused with {response.status}, but {mismatch}", response.evidence)


Case = LimitCase  # the family protocol's name for this module's case type
