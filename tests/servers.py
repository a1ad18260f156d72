"""Real servers on 127.0.0.1 for delivery tests: group-bot webhooks and SMTP."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    """Answer an HTTP request with a JSON body, as the bot gateways do."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def database_held_elsewhere(path: Path, release_after: float | None = None) -> Iterator[None]:
    """Another process holding the DuckDB file for writing (from entry, until exit or until
    `release_after` seconds have passed)."""
    release = "" if release_after is None else f"time.sleep({release_after}); c.close(); "
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         f"{release}time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    path: str
    query: dict[str, str]
    payload: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        p = self.payload
        if "markdown" in p:
            return p["markdown"].get("text") or p["markdown"].get("content") or ""
        if "text" in p:
            return p["text"].get("content", "")
        return p.get("content", {}).get("text", "")

    @property
    def title(self) -> str:
        return self.payload.get("markdown", {}).get("title", "")


class _Server(ThreadingHTTPServer):
    # http.server listens with a backlog of 5: with more bots sent to at once the kernel drops
    # connections, and each costs the client a 1 s SYN retry
    request_queue_size = 128
    daemon_threads = True


@dataclass
class BotServer:
    """Answers like DingTalk (errcode), WeCom (errcode) and Feishu (code) group bots.

    mode: ok | errcode (HTTP 200 with an error in the body) | http500 | slow (sleeps `delay`).
    A DingTalk request carrying timestamp/sign is checked against `dingtalk_secret`.
    """

    mode: str = "ok"
    delay: float = 0.0
    dingtalk_secret: str | None = None
    echo_token: bool = False  # put the access token into the error message, as some gateways do
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def start(self) -> BotServer:
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                if bot.delay:
                    time.sleep(bot.delay)
                feishu = "/hook/" in url.path
                if bot.mode == "http500":
                    self._reply(500, {"errcode": -1, "errmsg": "system busy"})
                    return
                if bot.dingtalk_secret and "timestamp" in query:
                    string = f"{query['timestamp']}\n{bot.dingtalk_secret}".encode()
                    sign = base64.b64encode(
                        hmac.new(bot.dingtalk_secret.encode(), string, hashlib.sha256).digest()
                    )
                    if sign.decode() != query.get("sign"):
                        self._reply(200, {"errcode": 310000, "errmsg": "sign not match"})
                        return
                if bot.mode == "errcode":
                    token = query.get("access_token") or query.get("key") or ""
                    message = (
                        f"invalid token {token}" if bot.echo_token else "keywords not in content"
                    )
                    self._reply(
                        200,
                        {"code": 19021, "msg": message}
                        if feishu
                        else {"errcode": 310000, "errmsg": message},
                    )
                    return
                bot.received.append(Received(url.path, query, payload, time.monotonic()))
                self._reply(
                    200, {"code": 0, "msg": "success"} if feishu else {"errcode": 0, "errmsg": "ok"}
                )

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                reply_json(self, status, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1 with LOGIN/PLAIN authentication; keeps every message."""

    user: str
    password: str
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    port: int = 0

    def start(self) -> SmtpServer:
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope) -> str:  # noqa: N802, ANN001
                server.messages.append(
                    email.message_from_bytes(envelope.content, policy=email_policy)
                )
                return "250 OK"

        def authenticate(smtp, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
            ok = (
                auth_data.login == self.user.encode()
                and auth_data.password == self.password.encode()
            )
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
