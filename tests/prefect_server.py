"""A real Prefect server on 127.0.0.1 for the tests that need one, with prefect.yaml deployed.

One server for every test of the "prefect" xdist group (they run in one worker process): it
takes about 15 s to start. The workspaces the tests run are made before the deployments, so
that the deployments' parameter schemas offer them (the server checks a run's parameters
against that schema); each test fills its own workspace's data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# test workspaces: name -> (config copied from, code)
WORKSPACES = {
    "monthly": ("config", "t-monthly"),
    "daily": ("config", "t-daily"),
    "wujin": ("config", "t-wujin"),
    "changzhou": ("workspaces/changzhou/config", "t-changzhou"),
    "short": ("config", "t-short"),
    "slot": ("config", "t-slot"),
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
