"""Protected routes (family `auth`): each refuses no key and a wrong key, and accepts every configured key.

The runbook sentences it serves: "requests without a valid API key get 401" and "after a key rotation,
both the old and the new key work". The section is `protected:`; its checks report as family `auth`
(check ids `auth::<route>:<probe>`, marker `-m auth`), as they always have.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from opscheck.contract.expect import Expect
from opscheck.outcome import CheckFailed, Reason
from opscheck.config.profile import Builder, Case
from opscheck.transport.target import CheckHttp, is_mutating


@dataclass(frozen=True)
class AuthCase(Case):
    """One probe of one `protected:` route: `no-key`, `wrong-key` or `key-N` (the N-th configured key).

    `expect` is what a valid key gets (default status 200); `refuse` the statuses that count as a
    refusal for the keyless and wrong-key probes (default 401 or 403).
    """

    probe: str = "no-key"  # "no-key", "wrong-key" or "key-N" (1-based index into the configured keys)
    method: str = "GET"
    path: str = "/"
    expect: Expect = field(default_factory=Expect)  # what a valid key gets
    refuse: tuple[int, ...] = (401, 403)


def build(entries: list[dict[str, Any]], b: Builder) -> Iterator[AuthCase]:
    """Per `protected:` entry (`{name: items, path: /api/items}`): a no-key, a wrong-key and one key-N
    case per key in the `auth: {keys_env}` variable (at least key-1).

    A profile without `auth:` is a problem at `protected:`. Probes on a writing route are mutating.
    """
    auth = b.profile.auth
    if auth is None:
        b.problem(("protected",), "protected routes need `auth: {header, keys_env}` to know which key to send")
        return
    # One case per configured key, so a broken rotation names the key (by position, never by value).
    probes = ["no-key", "wrong-key"] + [f"key-{n}" for n in range(1, max(len(auth.keys), 1) + 1)]
    cases: list[AuthCase] = []
    paths = []
    for index, entry in enumerate(entries):
        path = ("protected", index)
        method = entry.get("method", "GET")
        refuse = entry.get("refuse", [401, 403])
        for probe in probes:
            cases.append(AuthCase(
                **b.common("auth", f"{entry['name']}:{probe}", path, entry),
                # Every probe on a writing route sends that write: a service with an auth bypass
                # would act on the no-key and wrong-key probes too.
                mutating=is_mutating(method),
                probe=probe, method=method, path=entry["path"],
                expect=Expect.from_profile(entry.get("expect", {})),
                refuse=tuple(refuse) if isinstance(refuse, list) else (int(refuse),),
            ))
            paths.append(path + ("name",))
    b.unique(cases, paths)
    yield from cases


def run(case: AuthCase, http: CheckHttp) -> None:
    """Send the route's request with no key, a random wrong key, or configured key N.

    Raises CheckFailed with `auth` when a refusal probe is not refused (status outside `refuse`) or
    a key is not accepted (status outside `expect.status`), naming the key by position, never by
    value. A key-N probe beyond the keys the variable holds is skipped.
    """
    auth = http.auth
    assert auth is not None
    label = f"{case.method} {case.path}"
    if case.probe in ("no-key", "wrong-key"):
        if case.probe == "no-key":
            response = http.request(case.method, case.path, auth=False)
            what = "without a key"
        else:
            wrong = f"opscheck-wrong-{secrets.token_hex(8)}"
            response = http.request(case.method, case.path, auth=False, headers={auth.header: auth.header_value(wrong)})
            what = "with a wrong key"
        if response.status not in case.refuse:
            want = " or ".join(map(str, case.refuse))
            raise CheckFailed(Reason.AUTH, f"{label} {what}: status {response.status}, expected {want}", response.evidence)
        return
    index = int(case.probe.split("-", 1)[1]) - 1
    if index >= len(auth.keys):
        pytest.skip(f"{auth.keys_env} holds {len(auth.keys)} key(s); nothing to send as key #{index + 1}")
    response = http.request(case.method, case.path, auth=False,
                            headers={auth.header: auth.header_value(auth.keys[index])})
    if response.status not in case.expect.status:
        want = " or ".join(map(str, case.expect.status))
        raise CheckFailed(Reason.AUTH, f"{label} with key #{index + 1} of {len(auth.keys)} ({auth.keys_env}): "
                          f"status {response.status}, expected {want}", response.evidence)


Case = AuthCase  # the family protocol's name for this module's case type
