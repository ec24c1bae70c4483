"""Keep secrets out of evidence, messages, logs and reports: by header name, by value and by URL structure.

Rules (the README's "Secrets" section states them for users):
- a header is sensitive by name: SENSITIVE_HEADERS, the profile's auth header, and any name that looks
  like a credential (token, secret, key, auth, session, signature, cookie, password, credential);
- every value sent in a sensitive header is registered as a secret by value when it is sent, so the
  service echoing it back is redacted too; so are cookie values the service sets;
- in a URL, the userinfo password and the values of query parameters named like credentials;
- values shorter than MIN_SECRET_CHARS are never replaced by value (replacing every "1" would wreck
  the reports and tell an attacker the value anyway): they are redacted by header name only.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections import abc
from functools import lru_cache
from typing import Any, Iterable, Mapping
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 4
# Headers whose values are credentials whatever the profile says.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token", "x-csrf-token"}
)
# Any header named like this carries a credential (X-Goog-Api-Key, X-Session-Id, X-Hub-Signature...).
_SENSITIVE_NAME = re.compile(r"token|secret|key|auth|session|signature|cookie|passw|credential", re.I)
# Challenges name a scheme and a realm, and CORS headers name headers or say "true": never a
# credential, and registering "true" as a secret would blank it out of every report.
_NOT_SENSITIVE = frozenset({"www-authenticate", "proxy-authenticate"})
_NOT_SENSITIVE_PREFIX = "access-control-"
# Query parameters whose values are credentials (lower case; matched case-insensitively).
CREDENTIAL_PARAMS = frozenset({
    "key", "api_key", "apikey", "api-key", "token", "access_token", "id_token", "refresh_token", "auth",
    "sig", "signature", "password", "passwd", "pwd", "secret", "client_secret", "session", "code",
    # Signed URLs of the big object stores: AWS S3, Google Cloud Storage, Azure SAS, CloudFront.
    "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    "x-goog-signature", "x-goog-credential",
    "sv", "se",
    "key-pair-id", "policy",
})
_PARAM_ALT = "|".join(re.escape(p) for p in sorted(CREDENTIAL_PARAMS, key=len, reverse=True))
# A credential-named parameter inside free text (a message quoting a path, a log line): its value
# runs to the next separator or quote.
_QUERY_IN_TEXT = re.compile(rf"(?i)([?&;](?:{_PARAM_ALT})=)([^&;#\s'\"<>]+)")
# scheme://user:password@ inside free text.
_USERINFO_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"<>]*:)([^/\s@'\"<>]+)(@)")


# Cached: every header of every request and answer asks, and the case-insensitive alternation costs
# a few microseconds a search; a run sees a few dozen names. Bounded, as a service picks the names.
@lru_cache(maxsize=1024)
def is_sensitive_name(name: str) -> bool:
    """Whether a header named `name` is treated as carrying a credential (the built-in rule)."""
    lower = name.lower()
    if lower in _NOT_SENSITIVE or lower.startswith(_NOT_SENSITIVE_PREFIX):
        return False
    return lower in SENSITIVE_HEADERS or bool(_SENSITIVE_NAME.search(lower))


class Redactor:
    """Replaces known secret values anywhere in text, sensitive header values wholesale, and the
    credential parts of URLs. One per run; values are added while the run sends them."""

    def __init__(self, secrets: Iterable[str] = (), headers: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._headers = set(SENSITIVE_HEADERS)
        self._pattern: re.Pattern[str] | None = None
        self._sensitive: dict[str, bool] = {}  # is_sensitive's answers, per header name as written
        # text() and url() answers under the current secrets. Every request redacts the same URL,
        # header values and short bodies again, and a lookup costs far less than the regexes. A new
        # secret replaces both dicts (never clears them in place: a thread still redacting with the
        # old pattern writes into the dict that was dropped, see text()).
        self._texts: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        self._registered_urls: set[str] = set()  # register_url is idempotent: each URL is read once
        self.add_headers(headers)
        self.add_secrets(secrets)

    # --- registering ----------------------------------------------------------------------

    def add_secrets(self, values: Iterable[str]) -> None:
        new = {v for v in values if v and len(v) >= MIN_SECRET_CHARS and v not in self._secrets and v != REDACTED}
        if not new:
            return
        self._secrets.update(new)
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered)))
        # After the new pattern is in place: an answer memoized from now on is made with it.
        self._texts, self._urls = {}, {}

    def add_headers(self, names: Iterable[str]) -> None:
        self._headers.update(n.lower() for n in names)
        self._sensitive.clear()

    def is_sensitive(self, name: str) -> bool:
        """A header redacted by name: built-in, the profile's auth header, or named like a credential."""
        known = self._sensitive.get(name)
        if known is None:
            if len(self._sensitive) >= 4096:  # a service inventing names cannot grow this without bound
                self._sensitive.clear()
            known = self._sensitive[name] = name.lower() in self._headers or is_sensitive_name(name)
        return known

    def contains_secret(self, value: str) -> bool:
        return self._pattern is not None and bool(self._pattern.search(value))

    def register_header(self, name: str, value: str, *, received: bool = False) -> None:
        """Register the credential parts of a header about to be sent (any sensitive header), or
        `received` from the service: there only Set-Cookie and the headers sensitive by exact name
        (SENSITIVE_HEADERS, the auth header), not the name pattern, whose values are not always secret."""
        lower = name.lower()
        if not value or not self.is_sensitive(name) or (received and lower not in self._headers):
            return
        found = [value.strip()]
        if lower == "cookie":
            found += [v for _, v in _cookie_pairs(value)]
        elif lower == "set-cookie":
            found = [v for _, v in _cookie_pairs(value.split(";", 1)[0])]
        else:
            scheme, _, credential = value.strip().partition(" ")
            if credential:  # "Bearer <token>", "Basic <b64>": the token alone may be echoed
                found.append(credential.strip())
                if scheme.lower() == "basic":
                    found += _basic_parts(credential.strip())
        self.add_secrets(found)

    def register_url(self, url: str) -> None:
        """Register the userinfo password and credential query values of a URL that is sent."""
        if url in self._registered_urls:
            return
        if len(self._registered_urls) >= _MEMO_SIZE:
            self._registered_urls.clear()
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        if parts.password:
            self.add_secrets([parts.password, unquote(parts.password)])
        for name, value in _query_pairs(parts.query):
            if name.lower() in CREDENTIAL_PARAMS and value:
                self.add_secrets([value, unquote(value)])
        self._registered_urls.add(url)  # only once its secrets are registered

    # --- redacting ------------------------------------------------------------------------

    def text(self, value: str) -> str:
        """Known secret values, userinfo passwords and credential query values in free text."""
        if not value:
            return value
        memo = self._texts  # first the memo, then the pattern: see __init__
        known = memo.get(value)
        if known is not None:
            return known
        pattern = self._pattern
        original = value
        if pattern is not None:
            value = pattern.sub(REDACTED, value)
        if "=" in value:
            value = _QUERY_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, value)
        if "@" in value:
            value = _USERINFO_IN_TEXT.sub(lambda m: m.group(1) + REDACTED + m.group(3), value)
        if len(original) <= _MEMO_CHARS:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[original] = value
        return value

    def url(self, url: str) -> str:
        """A URL fit to show: userinfo password and credential-named query values replaced, then
        known secret values anywhere. Not a URL (or unparsable): redacted as text."""
        memo = self._urls  # first the memo, then the pattern (inside text): see __init__
        known = memo.get(url)
        if known is None:
            known = self._url(url)
            if len(url) <= _MEMO_CHARS:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[url] = known
        return known

    def _url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            netloc = parts.netloc
            if parts.password is not None:
                netloc = f"{parts.username or ''}:{REDACTED}@{netloc.rpartition('@')[2]}"
            query = "&".join(
                f"{name}={REDACTED}" if name.lower() in CREDENTIAL_PARAMS and value else (f"{name}={value}" if eq else name)
                for name, eq, value in _query_triples(parts.query)
            )
            rebuilt = urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))
        except ValueError:
            return self.text(url)
        return self.text(rebuilt)

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        # collections.abc, not typing: typing's alias makes every isinstance go through __instancecheck__.
        items = headers.items() if isinstance(headers, abc.Mapping) else headers
        out: dict[str, str] = {}
        for name, value in items:
            clean = REDACTED if self.is_sensitive(name) else self.text(value)
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


# Bounds of the memos above: entries per dict, and the longest text kept (a body excerpt is longer
# and rarely the same twice).
_MEMO_SIZE = 4096
_MEMO_CHARS = 512


def strip_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """`http://user:pass@host/p` -> ("http://host/p", "user", "pass"); user and password are
    percent-decoded; (url, None, None) when there is no userinfo."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    clean = urlunsplit(SplitResult(parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return clean, user, password


def basic_header(user: str | None, password: str | None) -> str:
    token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode("ascii")
    return f"Basic {token}"


def _basic_parts(token: str) -> list[str]:
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
    user, sep, password = decoded.partition(":")
    return [decoded, password, quote(password, safe="")] if sep and password else []


def _cookie_pairs(header: str) -> list[tuple[str, str]]:
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            pairs.append((name.strip(), value.strip().strip('"')))
    return pairs


def _query_triples(query: str) -> list[tuple[str, str, str]]:
    if not query:
        return []
    out = []
    for part in re.split(r"[&;]", query):
        name, eq, value = part.partition("=")
        out.append((name, eq, value))
    return out


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [(unquote(name), value) for name, eq, value in _query_triples(query) if eq]


class RedactingFilter(logging.Filter):
    """Rewrites every record passing through it: message and args redacted by the run's Redactor.

    Installed on the handlers pytest uses (live log, captured log) and on the httpx/httpcore
    loggers, so a DEBUG line with a URL, a header or a Set-Cookie never carries a secret.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("opscheck-redact")
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args don't fit its format: show it unformatted, still redacted
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redactor.text(_headerish(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            # A formatter uses exc_text when set: the traceback (an httpx error names the URL) redacted too.
            record.exc_text = self.redactor.text(logging.Formatter().formatException(record.exc_info))
        return True


# httpcore logs request headers as a list of (bytes, bytes) pairs: redact sensitive ones by name.
_HEADER_PAIR = re.compile(r"\((b?)(['\"])([A-Za-z0-9!#$%&'*+.^_`|~-]+)\2, (b?)(['\"])(.*?)\5\)")


def _headerish(message: str) -> str:
    if "(" not in message:
        return message

    def repl(m: re.Match[str]) -> str:
        if not is_sensitive_name(m.group(3)):
            return m.group(0)
        return f"({m.group(1)}{m.group(2)}{m.group(3)}{m.group(2)}, {m.group(4)}{m.group(5)}{REDACTED}{m.group(5)})"

    return _HEADER_PAIR.sub(repl, message)
