"""Transport failures: one exception tree, each class carrying the `Reason` a check fails with.

Every client opscheck has raises (or, for httpx, is translated into) these classes: the httpx path
(`opscheck.transport.http.transport_error`), the sampler's own client (`opscheck.transport.raw`) and the
TLS inspection (`opscheck.transport.tls`). Nobody maps strings to reasons any more: the class is
the classification, and `reason` is read off it.

    TransportError                 (no reason of its own: never raised bare)
    ├── DnsError                   dns       the host name did not resolve
    ├── ConnectError               connect   refused, unreachable, or the TCP connect timed out
    ├── TlsError                   tls       the TLS handshake failed
    │   └── CertificateError       tls       the certificate was not verified (chain, name, dates)
    ├── TransportTimeout           timeout   no complete answer (or handshake) within the bound
    └── ProtocolError              protocol  what came back was not a usable HTTP exchange
        ├── NotHttp                          bytes that cannot begin an HTTP/1.x response
        ├── BadEncoding                      a body that could not be decoded (corrupt gzip, ...)
        ├── ConnectionBroken                 reset or closed in the middle of the exchange
        ├── RedirectLoop                     more redirects than are followed
        ├── RedirectRefused                  a redirect that is not followed (origin, scheme)
        └── UnsupportedUrl                   a URL the client cannot send

Usage:

    try:
        ...
    except TransportError as exc:
        raise CheckFailed(exc.reason, f"{label}: {exc.message}")

`message` is the one-line text shown to users (already the exact wording of each client); `kind`
is `reason.value` ("dns", "connect", "tls", "timeout", "protocol"), the string the sampler keeps
per sample (`Sample.error`).
"""

from __future__ import annotations

from typing import ClassVar

from opscheck.outcome import Reason


class TransportError(Exception):
    """A request that produced no complete answer. `reason`: the class's Reason; `message`: one line."""

    reason: ClassVar[Reason]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def kind(self) -> str:
        """`reason.value`: what the sampler records per sample, e.g. "connect"."""
        return self.reason.value

    def __reduce__(self) -> tuple[type[TransportError], tuple[str]]:  # picklable with its one argument
        return type(self), (self.message,)


class DnsError(TransportError):
    """The host name did not resolve (or is not a valid host name)."""

    reason = Reason.DNS


class ConnectError(TransportError):
    """Refused, unreachable, or the TCP connect did not complete in time."""

    reason = Reason.CONNECT


class TlsError(TransportError):
    """The TLS handshake failed: an alert, a wrong protocol, a peer that is not TLS."""

    reason = Reason.TLS


class CertificateError(TlsError):
    """The handshake rejected the server's certificate (chain, hostname, validity dates)."""


class TransportTimeout(TransportError):
    """No complete answer (or no handshake) within the request's bound; named so that it does not
    shadow the builtin TimeoutError, which asyncio and sockets raise."""

    reason = Reason.TIMEOUT


class ProtocolError(TransportError):
    """An exchange that happened but is not usable HTTP."""

    reason = Reason.PROTOCOL


class NotHttp(ProtocolError):
    """Bytes that cannot begin an HTTP/1.x response ("not an HTTP response: N bytes starting ...")."""


class BadEncoding(ProtocolError):
    """A body whose content coding could not be undone."""


class ConnectionBroken(ProtocolError):
    """The connection was reset or closed before the answer was complete."""


class RedirectLoop(ProtocolError):
    """More redirects than the client follows."""


class RedirectRefused(ProtocolError):
    """A redirect that is not followed: another origin, scheme or a refused address."""


class UnsupportedUrl(ProtocolError):
    """A URL the client cannot send (an unknown scheme, say)."""


# The transport reasons, in the order the sampler has always listed them.
REASONS: tuple[Reason, ...] = (Reason.CONNECT, Reason.DNS, Reason.TLS, Reason.TIMEOUT, Reason.PROTOCOL)
# Failures that mean "nothing is there": the run's memo of unreachable origins keys on these.
UNREACHABLE: tuple[type[TransportError], ...] = (ConnectError, DnsError)
