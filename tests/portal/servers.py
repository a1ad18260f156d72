"""`ducha portal` as its own process on 127.0.0.1, and what a test does with it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import Workspace

DUCHA = str(Path(sys.executable).with_name("ducha"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def links_of(ws: Workspace, *args: str) -> list[dict[str, Any]]:
    return json.loads(ws.ok("links", "--period", "2026-03", "--format", "json", *args))


class PortalServer:
    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        from ducha.config import load_config

        self.env = env  # the process's environment (None: this one's)
        self.root = root
        self.ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
        self.db = self.ws.db
        self.spool = root / "data" / "portal" / "spool"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cfg_code = load_config(root / "config").code
        self.log = root / "portal.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PortalServer:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [DUCHA, "--db", str(self.db), "--config", str(self.ws.config), "portal",
                 "--port", str(self.port), "--access-log"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the portal did not start:\n{self.log_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def link(self, unit: str) -> str:
        (row,) = links_of(self.ws, "--unit", unit, "--base-url", self.base)
        return row["url"]

    def token(self, unit: str) -> str:
        return self.link(unit).rsplit("/", 1)[1]

    def form_action(self, unit: str, kind: str = "upload") -> str:
        """The address of a form on the unit's page (it carries the form's token): the upload,
        evidence or request form."""
        return self.task_form(unit, kind)[0]

    def task_form(self, unit: str, kind: str) -> tuple[str, str]:
        """A form of the unit's page (upload, evidence, request): its address, and the first
        task it offers ("" for a form without tasks)."""
        page = httpx.get(self.link(unit)).text
        found = re.search(rf'action="([^"]+/{kind}\?form=[^"]+)"', page)
        assert found, f"no {kind} form on the page"
        task = re.search(r'<option value="([^"]+)"', page)
        return self.base + found.group(1), task.group(1) if task else ""

    def upload(self, unit: str, path: Path, action: str | None = None) -> httpx.Response:
        """What the page's form sends, then the receipt page it is sent on to."""
        return httpx.post(
            action or self.form_action(unit), files={"file": (path.name, path.read_bytes())},
            follow_redirects=True, timeout=60,
        )  # fmt: skip

    def wait_for_receipt(self, url: httpx.URL, seconds: float = 60) -> httpx.Response:
        deadline = time.monotonic() + seconds
        while True:
            page = httpx.get(url, timeout=30)
            if "正在核验" not in page.text or time.monotonic() > deadline:
                return page
            time.sleep(0.5)

    def spooled(self) -> set[str]:
        return {p.name for p in self.spool.iterdir()} if self.spool.exists() else set()

    def query(self, sql: str, params: list | dict | None = None) -> list[tuple]:
        """A short read while the portal's desk may hold the database: retried."""
        import duckdb

        deadline = time.monotonic() + 30
        while True:
            try:
                con = duckdb.connect(str(self.db), read_only=True)
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
                continue
            try:
                return con.sql(sql, params=params).fetchall()
            finally:
                con.close()

    def stored(self, unit: str) -> list[str]:
        """The unit's March submissions in order: accepted, rejected, or superseded (an accepted
        file a later one replaced)."""
        rows = self.query(
            "SELECT status, superseded_by FROM submissions WHERE unit = ? AND period = '2026-03' "
            "ORDER BY submission_id", [unit])  # fmt: skip
        return ["superseded" if later is not None else status for status, later in rows]

    def events(
        self, timeout: float, want: set[tuple[str, str | None]]
    ) -> set[tuple[str, str | None]]:
        deadline = time.monotonic() + timeout
        while True:
            found = set(self.query("SELECT action, unit FROM portal_events"))
            if want <= found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)
