"""Webhook deliveries over HTTPS (SECURITY.md A8): the connection goes to the address that was checked,
and the certificate is still checked for the URL's host name against the trusted authorities. A real TLS
server on 127.0.0.2 (a loopback address nothing else uses: a connection that went to the name, or to
"localhost", would not reach it) with a certificate for ``hooks.example.test`` from a test authority."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clients import webhooks

HOST = "hooks.example.test"
PINNED = "127.0.0.2"


def _certificate(subject: str, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Loupe test authority")])
    ca = _certificate("Loupe test authority", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(HOST, key, ca_name, ca_key, ca=False)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"host": self.headers["Host"], "path": self.path, "body": body.decode()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((PINNED, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield {"port": server.server_address[1], "ca": str(tmp_path / "ca.pem"), "seen": seen}
    server.shutdown()
    server.server_close()


def _resolving_to_the_receiver(monkeypatch: pytest.MonkeyPatch, port: int, host: str = HOST) -> None:
    """The name resolves (as checked) to the receiver's address; what is tested is what happens next."""
    monkeypatch.setattr(webhooks, "resolve", lambda url: ("https", host, port, PINNED))


def test_an_https_delivery_goes_to_the_checked_address_and_checks_the_certificate_for_the_host(
        tls_receiver, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", tls_receiver["ca"])  # the trusted authorities are the test's
    _resolving_to_the_receiver(monkeypatch, tls_receiver["port"])
    status = webhooks._post(f"https://{HOST}/loupe?x=1", '{"id": 1}', {"Content-Type": "application/json"})
    assert status == 204
    port = tls_receiver["port"]
    assert tls_receiver["seen"] == [{"host": f"{HOST}:{port}", "path": "/loupe?x=1", "body": '{"id": 1}'}]


def test_a_certificate_for_another_name_is_refused(tls_receiver, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", tls_receiver["ca"])
    _resolving_to_the_receiver(monkeypatch, tls_receiver["port"], host="other.example.test")
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        webhooks._post("https://other.example.test/loupe", "{}", {})
    assert tls_receiver["seen"] == []


def test_a_certificate_from_an_authority_nobody_trusts_is_refused(tls_receiver, monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-authorities.pem"))
    _resolving_to_the_receiver(monkeypatch, tls_receiver["port"])
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate"):
        webhooks._post(f"https://{HOST}/loupe", "{}", {})
    assert tls_receiver["seen"] == []


def test_a_receiver_that_never_shakes_hands_is_given_up_after_the_timeout(settings, monkeypatch):
    """A TLS peer that accepts the connection and then says nothing: the sender stops waiting after
    LOUPE_WEBHOOK_TIMEOUT, at the handshake as at the answer."""
    import socket

    settings.LOUPE_WEBHOOK_TIMEOUT = 0.3
    with socket.create_server((PINNED, 0)) as silent:
        _resolving_to_the_receiver(monkeypatch, silent.getsockname()[1])
        with pytest.raises(TimeoutError):
            webhooks._post(f"https://{HOST}/loupe", "{}", {})
