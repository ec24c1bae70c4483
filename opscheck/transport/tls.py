"""Inspect a TLS endpoint's certificate and handshake, then judge the result against bands.

`inspect_tls` makes at most two handshakes: a verifying one (system store or `ca_file`, hostname
checked), and only when that one rejects the certificate, a non-verifying one to read the
certificate anyway, so a broken certificate still reports its expiry, subject and names.
`evaluate` is pure: it turns a `TlsReport` into findings with the actual values and bands.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from cryptography import x509

from opscheck.transport.errors import ConnectError, DnsError, TlsError, TransportTimeout

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH_CODES = {62, 64}
_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_US_PER_DAY = 86_400 * 1_000_000



@dataclass(frozen=True)
class TlsReport:
    host: str  # the name verified against (SNI / hostname)
    port: int
    protocol: str | None  # e.g. "TLSv1.3"
    cipher: str | None
    not_after: datetime | None  # UTC, aware
    days_left: Decimal | None  # exact hundredths, rounded down; negative once expired
    subject: str | None
    issuer: str | None
    san: tuple[str, ...]  # "DNS:example.com", "IP:127.0.0.1"
    chain_ok: bool
    chain_error: str | None  # OpenSSL's verify message when not ok
    hostname_ok: bool
    hostname_error: str | None


@dataclass(frozen=True)
class Finding:
    level: Literal["fail", "warn"]
    what: str  # "chain", "hostname", "expiry", "protocol"
    message: str

    def __str__(self) -> str:
        return f"{self.what}: {self.message}"


def inspect_tls(host: str, port: int = 443, *, server_hostname: str | None = None, ca_file: str | None = None,
                timeout_s: float = 5.0) -> TlsReport:
    """Handshake with host:port and report on the certificate; raises a TransportError when no handshake happens.

    Errors (opscheck.transport.errors, each with its `reason` and a one-line `message`): DnsError,
    ConnectError (refused, failed, or the connect timed out), TransportTimeout (no handshake in
    time), TlsError (the handshake failed). A rejected certificate is not an error: it is read
    with a second handshake and reported.

    Each network wait (connect, handshake) is bounded by `timeout_s`; with two handshakes the call
    takes at most about 4 * timeout_s (name resolution is left to the system resolver's own bounds).
    """
    name = server_hostname or host
    verifying = ssl.create_default_context(cafile=ca_file)
    verifying.check_hostname = True
    try:
        protocol, cipher, der = _handshake(host, port, name, verifying, timeout_s)
        return _report(name, port, protocol, cipher, der, chain_error=None, hostname_error=None)
    except ssl.SSLCertVerificationError as exc:
        message = exc.verify_message or exc.reason or str(exc)
        hostname_failed = exc.verify_code in _NAME_MISMATCH_CODES or "mismatch" in message.lower()

    # Only to read the certificate: nothing from this handshake is trusted.
    reading = ssl.create_default_context()
    reading.check_hostname = False
    reading.verify_mode = ssl.CERT_NONE
    protocol, cipher, der = _handshake(host, port, name, reading, timeout_s)
    if hostname_failed:
        # OpenSSL checks the name before the validity dates, so an expired certificate for the
        # wrong name shows up as a name mismatch only: check the dates ourselves.
        return _report(name, port, protocol, cipher, der, chain_error=_date_error(der), hostname_error=message)
    # The chain failed first, so OpenSSL never got to the name: check it against the SANs ourselves.
    return _report(name, port, protocol, cipher, der, chain_error=message, hostname_error=None, match_san=True)


def minimum_protocol_ok(protocol: str | None, minimum: str = "TLSv1.2") -> bool:
    """True when `protocol` (as `SSLSocket.version()` names it) is at least `minimum`.

    An unknown or missing protocol is not ok; an unknown minimum is a configuration error.
    """
    if minimum not in _PROTOCOLS:
        raise ValueError(f"unknown minimum TLS protocol {minimum!r}; expected one of {', '.join(_PROTOCOLS)}")
    return protocol in _PROTOCOLS and _PROTOCOLS.index(protocol) >= _PROTOCOLS.index(minimum)


def evaluate(report: TlsReport, *, warn_days: Decimal = Decimal(30), fail_days: Decimal = Decimal(7),
             min_protocol: str = "TLSv1.2") -> list[Finding]:
    """The findings for one report: fails first in a fixed order, then warns. Empty means all good."""
    if fail_days > warn_days:
        raise ValueError(f"fail_days ({fail_days}) must not exceed warn_days ({warn_days})")
    findings: list[Finding] = []
    if not report.chain_ok:
        detail = f": {report.chain_error}" if report.chain_error else ""
        findings.append(Finding("fail", "chain", f"certificate verification failed{detail}"))
    if not report.hostname_ok:
        names = f"is for {', '.join(report.san)}" if report.san else "has no subjectAltName"
        findings.append(Finding("fail", "hostname", f"certificate {names}, not {report.host}"))
    days = report.days_left
    if days is not None:
        if days < 0:
            findings.append(Finding("fail", "expiry", f"certificate expired {-days} days ago"))
        elif days <= fail_days:
            findings.append(Finding("fail", "expiry", f"certificate expires in {days} days (fail at <= {fail_days})"))
        elif days <= warn_days:
            findings.append(Finding("warn", "expiry", f"certificate expires in {days} days (warn at <= {warn_days})"))
    if not minimum_protocol_ok(report.protocol, min_protocol):
        findings.append(Finding("fail", "protocol", f"negotiated {report.protocol or 'unknown protocol'}, "
                                                    f"minimum is {min_protocol}"))
    return sorted(findings, key=lambda f: f.level != "fail")


def days_between(now: datetime, not_after: datetime) -> Decimal:
    """Days from `now` to `not_after` in exact hundredths, rounded down (so negative iff expired)."""
    micros = (not_after - now) // timedelta(microseconds=1)
    # Integer floor division is exact, unlike a Decimal quotient at the context's precision.
    return Decimal(micros * 100 // _US_PER_DAY).scaleb(-2)


def hostname_matches(name: str, san: tuple[str, ...]) -> bool:
    """RFC 6125 as OpenSSL applies it: IPs against IP SANs; DNS names against DNS SANs, `*.` a single label."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        wanted = name.lower().rstrip(".")
        return any(_dns_match(entry[4:].lower().rstrip("."), wanted) for entry in san if entry.startswith("DNS:"))
    return any(_ip_equal(entry[3:], ip) for entry in san if entry.startswith("IP:"))


# --- internals -----------------------------------------------------------------------------------


def _handshake(host: str, port: int, name: str, context: ssl.SSLContext,
               timeout_s: float) -> tuple[str | None, str | None, bytes | None]:
    """One connect + handshake; certificate rejections propagate, everything else becomes a TransportError."""
    where = _where(host, port)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except socket.gaierror as exc:
        raise DnsError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    except ConnectionRefusedError as exc:
        raise ConnectError(f"connect to {where} refused") from exc
    except TimeoutError as exc:
        raise ConnectError(f"connect to {where} timed out after {timeout_s:g} s") from exc
    except OSError as exc:
        raise ConnectError(f"connect to {where} failed: {_one_line(exc.strerror or str(exc))}") from exc
    # `with sock` covers a failing wrap_socket; once wrapped, the SSL socket owns the descriptor.
    # Python sends no SNI for an IP name and checks it against IP SANs instead.
    with sock, context.wrap_socket(sock, server_hostname=name, do_handshake_on_connect=False) as tls:
        tls.settimeout(timeout_s)
        try:
            tls.do_handshake()
        except ssl.SSLCertVerificationError:
            raise
        except TimeoutError as exc:
            raise TransportTimeout(f"no TLS handshake from {where} within {timeout_s:g} s") from exc
        except ssl.SSLError as exc:
            raise TlsError(f"TLS handshake with {where} failed: {_one_line(exc.reason or str(exc))}") from exc
        except OSError as exc:
            detail = _one_line(exc.strerror or type(exc).__name__)
            raise TlsError(f"TLS handshake with {where} failed: {detail}") from exc
        cipher = tls.cipher()
        return tls.version(), cipher[0] if cipher else None, tls.getpeercert(binary_form=True)


def _report(name: str, port: int, protocol: str | None, cipher: str | None, der: bytes | None, *,
            chain_error: str | None, hostname_error: str | None, match_san: bool = False) -> TlsReport:
    cert = x509.load_der_x509_certificate(der) if der else None
    san = _san(cert) if cert else ()
    if match_san and not hostname_matches(name, san):
        hostname_error = _mismatch_message(name)
    not_after = cert.not_valid_after_utc if cert else None
    return TlsReport(
        host=name, port=port, protocol=protocol, cipher=cipher, not_after=not_after,
        days_left=days_between(datetime.now(UTC), not_after) if not_after else None,
        subject=cert.subject.rfc4514_string() if cert else None,
        issuer=cert.issuer.rfc4514_string() if cert else None,
        san=san,
        chain_ok=chain_error is None, chain_error=chain_error,
        hostname_ok=hostname_error is None, hostname_error=hostname_error,
    )


def _san(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return (*(f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)),
            *(f"IP:{ip}" for ip in names.get_values_for_type(x509.IPAddress)))


def _date_error(der: bytes | None) -> str | None:
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    now = datetime.now(UTC)
    # OpenSSL's own wording, so chain_error reads the same whichever check found it.
    if now > cert.not_valid_after_utc:
        return "certificate has expired"
    if now < cert.not_valid_before_utc:
        return "certificate is not yet valid"
    return None


def _mismatch_message(name: str) -> str:
    # Python's wording for OpenSSL's codes 62/64, so hostname_error reads the same either way.
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"Hostname mismatch, certificate is not valid for '{name}'."
    return f"IP address mismatch, certificate is not valid for '{name}'."


def _dns_match(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        # One whole leftmost label only, and never a bare "*.tld".
        label, _, rest = name.partition(".")
        return bool(label) and "." in pattern[2:] and rest == pattern[2:]
    return pattern == name


def _ip_equal(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
