"""How a bot message travels (ducha.notices.channels._http): through the proxy the environment names, and
trusting the certificates it names, as httpx and requests do. Real servers on 127.0.0.1: a
forward proxy that answers like a bot, and an HTTPS bot with a certificate of its own CA (a
private 政务钉钉 signed by the government's CA)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ducha.notices.secrets import Secrets
from ducha.notices.transports import send_resolved
from tests.helpers import reply_json


class _AnswersLikeABot(BaseHTTPRequestHandler):
    seen: list[str]

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(f"{self.path} {json.loads(self.rfile.read(length))['msgtype']}")
        reply_json(self, 200, {"errcode": 0, "errmsg": "ok"})

    def log_message(self, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []
    handler = type("Handler", (_AnswersLikeABot,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE",
                 "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_bot_messages_go_through_the_proxy_the_environment_names(
    clean_env: pytest.MonkeyPatch,
) -> None:
    proxy, seen = _serve()
    try:
        clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        url = "wxbot://bots.invalid/cgi-bin/webhook/send?key=k1"
        assert send_resolved(url, "标题", "正文", "text", Secrets()) == (True, None)
        # a forward proxy gets the whole address: the host is resolved by the proxy, not here
        assert seen == ["http://bots.invalid/cgi-bin/webhook/send?key=k1 text"]
        clean_env.setenv("NO_PROXY", "bots.invalid")  # this host is reached directly: it is not
        ok, error = send_resolved(url, "标题", "正文", "text", Secrets())
        assert not ok and error is not None and error.startswith("连接失败")
        assert len(seen) == 1
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.fixture
def private_ca_bot(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS bot on 127.0.0.1 whose certificate is signed by a CA of its own."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "某区政务云测试根证书")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "server.pem"
    chain.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(chain)
    server, seen = _serve(tls)
    try:
        yield server.server_address[1], ca_file, seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_private_bot_is_trusted_through_the_ca_the_environment_names(
    clean_env: pytest.MonkeyPatch, private_ca_bot: tuple[int, Path, list[str]]
) -> None:
    port, ca_file, seen = private_ca_bot
    url = f"dtalks://127.0.0.1:{port}/robot/send?access_token=t1"
    ok, error = send_resolved(url, "标题", "正文", "markdown", Secrets())  # certifi's CAs only
    assert not ok and error == "连接失败：SSLError" and seen == []
    clean_env.setenv("SSL_CERT_FILE", str(ca_file))
    assert send_resolved(url, "标题", "正文", "markdown", Secrets()) == (True, None)
    assert seen == ["/robot/send?access_token=t1 markdown"]
