"""What the tests share: the command line run in this process against a throw-away workspace
(Workspace, assert_user_error), the sample data's paths, and real servers on 127.0.0.1 (group
bots and SMTP that answer like the real ones, a Prefect server with prefect.yaml deployed)."""

from __future__ import annotations

import base64
import contextlib
import email
import hashlib
import hmac
import io
import json
import os
import shutil
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

import duckdb
import httpx
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from ducha.cli import main

ROOT = Path(__file__).resolve().parents[1]


SAMPLES = ROOT / "data" / "samples"


SEED_TABLE = SAMPLES / "wujin-2026-target-decomposition-table.txt"


REVIEW_2026 = ROOT / "config" / "reviews" / "targets-2026.yaml"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Workspace:
    root: Path
    config: Path
    db: Path

    def run(self, *args: str, stdin: str = "") -> Result:
        """Run `ducha --db … --config … ARGS` in this process."""
        out, err = io.StringIO(), io.StringIO()
        old_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["--db", str(self.db), "--config", str(self.config), *args])
        finally:
            sys.stdin = old_stdin
        return Result(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str, stdin: str = "") -> str:
        result = self.run(*args, stdin=stdin)
        assert result.code == 0, result.err
        return result.out

    def state(self) -> dict[str, list[tuple]]:
        """Every table's rows, sorted: to prove a failed command changed nothing."""
        if not self.db.exists():
            return {}
        try:
            con = duckdb.connect(str(self.db), read_only=True)
        except duckdb.IOException:  # not a database: compare the bytes
            return {"<bytes>": [(self.db.read_bytes(),)]}
        try:
            tables = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
            return {
                t: sorted(con.sql(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in sorted(tables)
            }
        finally:
            con.close()


def show(ws: Workspace) -> list[dict]:
    return json.loads(ws.ok("targets", "show", "--year", "2026", "--format", "json"))


def by_id(tasks: list[dict]) -> dict[str, dict]:
    return {t["id"]: t for t in tasks}


def metric_tuples(task: dict) -> list[tuple]:
    return [(m["value"], m["unit"], m["kind"], m["bound"]) for m in task["metrics"]]


def corrected_table(tmp_path: Path) -> Path:
    """The seed with a reworded task, a removed task, a new task and a changed unit."""
    text = SEED_TABLE.read_text(encoding="utf-8")
    text = text.replace("招引科技型中小微企业330家以上。", "招引科技型中小微企业350家以上。")
    removed = "\t\n\t\n\t统筹抓好对口支援工作。\n\t孙益锋\n\n朱慧峰\n\t发改局\n\t相关单位\n\n"
    assert removed in text
    text = text.replace(removed, "")
    new = "\t\n\t\n\t新建城市口袋公园12个以上。\n\t裴晓冬\n\t城管局\n\t各镇、街道\n\n"
    anchor = "\t\n\t\n\t更新老旧小区636户以上。"
    text = text.replace(anchor, new + anchor)
    text = text.replace(
        "\t全面启动“九五”普法。\n\t盛世麟\n\t司法局\n\t各镇、街道",
        "\t全面启动“九五”普法。\n\t盛世麟\n\t司法局\n\t各镇、开发区、街道",
    )
    path = tmp_path / "分解表-修订.txt"
    path.write_text(text, encoding="utf-8")
    return path


def assert_user_error(
    ws: Workspace, args: list[str], *needles: str, lines: bool = False, stdin: str = ""
) -> str:
    """The command fails with a Chinese message (one line unless `lines`: a list of names to add,
    for example) holding every needle, and leaves the database as it was."""
    before = ws.state()
    result = ws.run(*args, stdin=stdin)
    assert result.code == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    line = result.err.strip()
    assert line.startswith("错误：") and (lines or "\n" not in line), line
    for needle in needles:
        assert needle in line, line
    assert ws.state() == before  # the database is unchanged
    return line


# ------------------------------------------------------------------ servers on 127.0.0.1


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


# ------------------------------------------------------------------ a Prefect server


BIN = Path(sys.executable).parent


# test workspaces: name -> (config copied from, code)
WORKSPACES = {
    "monthly": ("config", "t-monthly"),
    "daily": ("config", "t-daily"),
    "wujin": ("config", "t-wujin"),
    "changzhou": ("workspaces/changzhou/config", "t-changzhou"),
    "short": ("config", "t-short"),
    "slot": ("config", "t-slot"),
    "board": ("config", "t-board"),
    "month": ("config", "t-month"),
}


@dataclass
class PrefectServer:
    home: Path
    env: dict[str, str]
    log: Path
    server: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.env["PREFECT_API_URL"]

    def workspace(self, name: str) -> Path:
        return self.home / "workspaces" / name

    def prefect(self, *args: str, timeout: float = 300) -> str:
        proc = subprocess.run([str(BIN / "prefect"), *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def start_worker(self, name: str) -> None:
        self.workers.append(
            subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", "ducha", "--name", name],
                env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip

    def api(self, method: str, path: str, body: dict | None = None) -> object:
        """A call to the server's API, tried again while the server is busy: on a loaded machine
        its SQLite can be locked for a moment (seen as a 500 on a read, and as a 503 on creating
        a flow run). Reads are tried again on any server error; writes, like Prefect's own
        client does, only on 429, 502 and 503 (the server did not take the request)."""
        reads = method == "GET" or path.endswith("/filter")
        for attempt in range(5):
            try:
                reply = httpx.request(method, self.url + path, json=body, timeout=30)
            except httpx.TransportError:
                if not reads or attempt == 4:
                    raise
                time.sleep(1)
                continue
            busy = reply.status_code in (429, 502, 503) or (reads and reply.status_code >= 500)
            if busy and attempt < 4:
                time.sleep(1 + attempt)
                continue
            reply.raise_for_status()
            return reply.json() if reply.content else None
        raise AssertionError("unreachable")

    def wait_for_runs(self, ids: list[str], timeout: float = 300) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = {r: self.api("GET", f"/flow_runs/{r}")["state"]["type"] for r in ids}
            if all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states.values()):
                break
            time.sleep(1)
        return states

    def stop(self) -> None:
        for proc in [*self.workers, self.server]:
            proc.terminate()
        for proc in [*self.workers, self.server]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def make_workspaces(home: Path) -> list[Path]:
    made = []
    for name, (config, code) in WORKSPACES.items():
        root = home / "workspaces" / name
        shutil.copytree(ROOT / config, root / "config")
        settings_path = root / "config" / "workspace.yaml"
        settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
        settings["code"] = code
        settings_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        (root / "data").mkdir()
        made.append(root)
    return made


def start_server(home: Path, deploy: bool = True) -> PrefectServer:
    port = free_port()
    roots = make_workspaces(home)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # the scheduler looks for due schedules every 5 s instead of every 60 s (a test's
        # minute is precious); what it does each time is unchanged
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "DUCHA_HOME": str(ROOT),
        "DUCHA_WORKSPACES": os.pathsep.join(str(r) for r in roots),
        "DUCHA_TEST_BOT_TOKEN": "bot-token-3f9a1c7e5d2b8046",  # the stand-in bots' access token
    }
    log = home / "server.log"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_LOGGING_LEVEL": "INFO"}, stdout=log.open("w"),
        stderr=subprocess.STDOUT, cwd=home,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        server.kill()
        raise RuntimeError(f"prefect server did not start within 120 s:\n{log.read_text()}")
    running = PrefectServer(home, env, log, server)
    try:
        if deploy:
            running.prefect("work-pool", "create", "ducha", "--type", "process")
            running.prefect("--no-prompt", "deploy", "--all")
    except BaseException:
        running.stop()
        raise
    return running
