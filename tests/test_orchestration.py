"""Prefect for real: a `prefect server` on 127.0.0.1, deployments from prefect.yaml, process workers.

Slow (a server takes ~20 s to start): one server for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.conftest import ROOT
from tests.servers import free_port

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def prefect_env(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DUCHA_HOME": str(ROOT),
    }
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=home,
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
        pytest.fail("prefect server did not start within 120 s")
    workers: list[subprocess.Popen] = []
    try:
        prefect(env, "work-pool", "create", "ducha", "--type", "process")
        prefect(env, "--no-prompt", "deploy", "--all")
        yield env, workers
    finally:
        for proc in [*workers, server]:
            proc.terminate()
        for proc in [*workers, server]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def prefect(env: dict, *args: str, timeout: float = 300) -> str:
    proc = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def start_worker(env: dict, workers: list, name: str) -> None:
    workers.append(
        subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "ducha", "--name", name],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
    )  # fmt: skip


def api(env: dict, method: str, path: str, body: dict | None = None) -> object:
    """A call to the server's API, tried again while the server is busy: on a loaded machine
    its SQLite can be locked for a moment (seen as a 500 on a read, and as a 503 on creating a
    flow run). Reads are tried again on any server error; writes, like Prefect's own client
    does, only on 429, 502 and 503 (the server did not take the request)."""
    reads = method == "GET" or path.endswith("/filter")
    for attempt in range(5):
        try:
            reply = httpx.request(method, env["PREFECT_API_URL"] + path, json=body, timeout=30)
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
        return reply.json()
    raise AssertionError("unreachable")


def wujin_workspace(root: Path, months_db: Path) -> Path:
    shutil.copytree(ROOT / "config", root / "config")
    (root / "data").mkdir(parents=True)
    shutil.copy(months_db, root / "data" / "ducha.duckdb")
    (root / "data" / "inbox").mkdir()
    return root


def test_deployment_from_prefect_yaml_runs_with_parameters(
    prefect_env, _sample_months_db: Path, tmp_path: Path
) -> None:
    env, workers = prefect_env
    start_worker(env, workers, "worker-a")
    ws = wujin_workspace(tmp_path / "wujin", _sample_months_db)
    out = prefect(
        env, "deployment", "run", "ducha-monthly/monthly",
        "--param", "period=\"2026-03\"", "--param", f"workspace={ws}", "--param", "as_of=\"2026-04-09\"",
        "--watch", "--watch-timeout", "240",
    )  # fmt: skip
    assert "Completed" in out
    con = duckdb.connect(str(ws / "data" / "ducha.duckdb"), read_only=True)
    assert con.sql("SELECT period FROM eval_runs ORDER BY period").fetchall()[-1] == ("2026-03",)
    statuses = dict(
        con.sql(
            "SELECT status, count(*) FROM outbox WHERE period = '2026-03' GROUP BY ALL"
        ).fetchall()
    )
    assert statuses.get("unconfigured", 0) > 100  # no channel configured: every notice is a file
    con.close()
    assert (ws / "data" / "reports" / "武进区-2026-03-目标任务推进情况通报.html").exists()
    artifacts = api(env, "POST", "/artifacts/filter", {
        "artifacts": {"key": {"any_": ["ducha-wujin-2026-03-summary", "ducha-wujin-2026-03-lagging",
                                        "ducha-wujin-2026-03-briefing"]}}})  # fmt: skip
    by_key = {a["key"]: a for a in artifacts}
    assert set(by_key) == {
        "ducha-wujin-2026-03-summary",
        "ducha-wujin-2026-03-lagging",
        "ducha-wujin-2026-03-briefing",
    }
    assert by_key["ducha-wujin-2026-03-lagging"]["type"] == "table"
    # Prefect stores a link artifact as Markdown holding the link
    assert (ws / "data" / "reports").as_uri() in by_key["ducha-wujin-2026-03-briefing"]["data"]
    summary = by_key["ducha-wujin-2026-03-summary"]["data"]

    assert "武进区 2026年3月督查" in summary and "未报送 1 个：嘉泽镇" in summary
    table = json.loads(by_key["ducha-wujin-2026-03-lagging"]["data"])
    assert table and {"任务编号", "状态", "牵头单位"} <= set(table[0])


def test_the_daily_deployment_ends_with_a_backup(
    prefect_env, _sample_months_db: Path, tmp_path: Path
) -> None:
    """13 April 2026, the 8th working day: nothing but receiving is due; the run ends with a
    copy of the database in data/backups/."""
    env, workers = prefect_env
    if not workers:
        start_worker(env, workers, "worker-a")
    ws = wujin_workspace(tmp_path / "wujin", _sample_months_db)
    out = prefect(
        env, "deployment", "run", "ducha-daily/daily",
        "--param", f"workspace={ws}", "--param", "today=\"2026-04-13\"",
        "--watch", "--watch-timeout", "240",
    )  # fmt: skip
    assert "Completed" in out
    from flows.backup import backups

    (copy,) = backups(ws / "data" / "backups")
    counts = []
    for db in (ws / "data" / "ducha.duckdb", copy):
        con = duckdb.connect(str(db), read_only=True)
        counts.append(con.sql("SELECT count(*) FROM submissions").fetchall())
        con.close()
    assert counts[0] == counts[1] and counts[0][0][0] > 0


def changzhou_workspace(root: Path) -> Path:
    from flows.db import opened
    from flows.periods import Period
    from flows.sample_progress import generate_month
    from tests.conftest import Workspace

    shutil.copytree(ROOT / "workspaces" / "changzhou" / "config", root / "config")
    ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    table = (
        ROOT / "workspaces" / "changzhou" / "data" / "samples" / "changzhou-2026-key-work-table.txt"
    )
    ws.ok("targets", "import", str(table), "--year", "2026")
    ws.ok("targets", "confirm", str(root / "config" / "reviews" / "targets-2026.yaml"))
    with opened(ws.db) as con:
        generate_month(con, Period(2026, 3), root / "data" / "inbox", workspace="changzhou")
    return root


def test_two_workspaces_as_separate_runs_on_two_workers(
    prefect_env, _sample_months_db: Path, tmp_path: Path
) -> None:
    env, workers = prefect_env
    while len(workers) < 2:
        start_worker(env, workers, f"worker-{len(workers)}")
    wujin = wujin_workspace(tmp_path / "wujin", _sample_months_db)
    changzhou = changzhou_workspace(tmp_path / "changzhou")
    deployment = api(env, "GET", "/deployments/name/ducha-monthly/monthly")
    runs = []
    for ws in (wujin, changzhou):
        run = api(env, "POST", f"/deployments/{deployment['id']}/create_flow_run",
                  {"parameters": {"period": "2026-03", "workspace": str(ws), "as_of": "2026-04-09"}})  # fmt: skip
        runs.append(run["id"])
    deadline = time.monotonic() + 300
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {r: api(env, "GET", f"/flow_runs/{r}")["state"]["type"] for r in runs}
        if all(s in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for s in states.values()):
            break
        time.sleep(2)
    assert set(states.values()) == {"COMPLETED"}, states
    for ws, name, units in ((wujin, "武进区", 50), (changzhou, "常州市", 16)):
        con = duckdb.connect(str(ws / "data" / "ducha.duckdb"), read_only=True)
        assert con.sql("SELECT count(*) FROM eval_units WHERE period = '2026-03'").fetchall() == [
            (units,)
        ]
        con.close()
        assert (ws / "data" / "reports" / f"{name}-2026-03-目标任务推进情况通报.html").exists()
    cz = duckdb.connect(str(changzhou / "data" / "ducha.duckdb"), read_only=True)
    accepted = cz.sql(
        "SELECT count(*) FROM submissions WHERE status = 'accepted' AND period = '2026-03'"
    ).fetchall()
    assert accepted == [(16,)]  # every unit's generated file came in through the flow's ingest


def test_a_users_mistake_is_not_retried() -> None:
    """A task's retries are for what may work next time (a database another run holds, a bot
    that did not answer); a user's mistake fails at once with its message."""
    from prefect.states import Failed

    from flows.errors import DatabaseBusy, UserError
    from flows.orchestration import _not_a_user_error, ingest_task, notify_task

    assert ingest_task.retry_condition_fn is notify_task.retry_condition_fn is _not_a_user_error
    assert not _not_a_user_error(None, None, Failed(data=UserError("单位“火星镇”不在单位名册中")))
    assert _not_a_user_error(None, None, Failed(data=OSError("connection reset")))
    busy = DatabaseBusy(
        "数据库 data/ducha.duckdb 正被另一个 ducha 进程使用，已等待 30 秒，请稍后再试"
    )
    assert _not_a_user_error(None, None, Failed(data=busy))  # the other run may be done by then
