"""Keep secrets out of evidence, messages and reports: by header name and by value."""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

REDACTED = "[REDACTED]"
# Headers whose values are credentials whatever the profile says.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token", "x-csrf-token"}
)


class Redactor:
    """Replaces known secret values anywhere in text, and sensitive header values wholesale."""

    def __init__(self, secrets: Iterable[str] = (), headers: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._headers = set(SENSITIVE_HEADERS)
        self._pattern: re.Pattern[str] | None = None
        self.add_headers(headers)
        self.add_secrets(secrets)

    def add_secrets(self, values: Iterable[str]) -> None:
        self._secrets.update(v for v in values if v)
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def add_headers(self, names: Iterable[str]) -> None:
        self._headers.update(n.lower() for n in names)

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(REDACTED, value)

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            clean = REDACTED if name.lower() in self._headers else self.text(value)
            # Repeated headers (Set-Cookie, Vary) are joined as HTTP allows.
            out[name] = f"{out[name]}, {clean}" if name in out else clean
        return out

    def data(self, value: Any) -> Any:
        """Redact every string inside a JSON-like structure."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value
