"""Test certificates (made with `cryptography`) and a real HTTPS server on loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class CertFactory:
    """A throwaway CA in `folder`, issuing leaf certificates on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca_key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("opscheck test CA")).issuer_name(_name("opscheck test CA"))
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, name: str, hosts: tuple[str, ...] = ("127.0.0.1",), days: float = 90,
             self_signed: bool = False, not_before_days_ago: float = 2) -> tuple[Path, Path]:
        """A leaf valid from `not_before_days_ago` days ago until `days` from now (negative: expired)."""
        key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        sans = [x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hosts]
        issuer_key, issuer = (key, _name(name)) if self_signed else (self.ca_key, self.ca_cert.subject)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=not_before_days_ago))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        cert_file, key_file = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return cert_file, key_file


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _OkKeepAlive(_Ok):
    protocol_version = "HTTP/1.1"  # answers carry Content-Length, so the connection stays open


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class TlsServer:
    def __init__(self, cert: Path, key: Path, *, host: str = "127.0.0.1", minimum_version: ssl.TLSVersion | None = None,
                 maximum_version: ssl.TLSVersion | None = None, ciphers: str | None = None,
                 keep_alive: bool = False) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if ciphers is not None:
            context.set_ciphers(ciphers)  # e.g. "DEFAULT:@SECLEVEL=0", which OpenSSL 3 needs below TLS 1.2
        if minimum_version is not None:
            context.minimum_version = minimum_version
        if maximum_version is not None:
            context.maximum_version = maximum_version
        server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
        self.httpd = server_class((host, 0), _OkKeepAlive if keep_alive else _Ok)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port: int = self.httpd.server_address[1]
        self.base_url = f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
