"""The profile's `http:` section, typed: what bounds every request (README "How requests are bounded").

Its own small module so the transport can read it without the profile loader (YAML, jsonschema).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

DEADLINE_PER_TIMEOUT = 3  # the check deadline when none is given: 3 x timeout_s (15 s by default)


@dataclass(frozen=True)
class HttpSettings:
    """How requests are bounded (README "How requests are bounded").

    timeout_s: seconds one request may take, whole exchange (connect, TLS, send, answer, body,
      redirects); also each connect/read/write. deadline_s: seconds all the requests of one check
      may take together; None (not given) means DEADLINE_PER_TIMEOUT x timeout_s.
    max_body_bytes: decoded body bytes kept per answer; decoding and reading stop there.
    """

    timeout_s: float = 5.0
    deadline_s: float = None  # type: ignore[assignment]  # always a float after __post_init__
    max_body_bytes: int = 1 << 20
    verify_tls: bool = True
    ca_file: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Origins ("https://login.example.com") a redirect may lead to besides the host a check was
    # pointed at (`http.allow_redirect_origins`); sensitive headers are dropped all the same.
    allow_redirect_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.deadline_s is None:
            object.__setattr__(self, "deadline_s", DEADLINE_PER_TIMEOUT * self.timeout_s)
