"""Prefect for real: a `prefect server` on 127.0.0.1, deployments from prefect.yaml, process
workers, the scheduler creating runs by itself.

Slow (a server takes ~15 s to start): one server for the "prefect" group (tests/helpers.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.helpers import BIN, ROOT, PrefectServer, start_server

pytestmark = pytest.mark.xdist_group("prefect")


def fill(server: PrefectServer, name: str, db: Path) -> Path:
    """A test workspace with a copy of `db` and an empty inbox."""
    root = server.workspace(name)
    shutil.copy(db, root / "data" / "ducha.duckdb")
    (root / "data" / "inbox").mkdir(exist_ok=True)
    return root


def code_of(root: Path) -> str:
    return yaml.safe_load((root / "config" / "workspace.yaml").read_text(encoding="utf-8"))["code"]


def runs_of(server: PrefectServer, deployment_id: str, state: str | None = None) -> list[dict]:
    body: dict = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}
    if state:
        body["flow_runs"]["state"] = {"type": {"any_": [state]}}
    return server.api("POST", "/flow_runs/filter", body)  # type: ignore[return-value]


# ------------------------------------------------------------------ the scheduler


def test_the_scheduler_creates_the_daily_runs_by_itself(prefect_server: PrefectServer) -> None:
    """The project's prefect.yaml, deployed with the locked versions: the server schedules the
    daily 09:00 (Asia/Shanghai) runs without anyone asking, and its scheduler service keeps
    doing so (the runs are deleted, and it makes them again). Prefect 3.8.8 with SQLAlchemy 2.1
    registered the schedule and created no run, ever."""
    server = prefect_server
    daily = server.api("GET", "/deployments/name/ducha-daily/daily")
    (schedule,) = daily["schedules"]
    assert schedule["schedule"]["cron"] == "0 9 * * *"
    assert schedule["schedule"]["timezone"] == "Asia/Shanghai"

    def upcoming() -> list[dict]:
        return [r for r in runs_of(server, daily["id"], "SCHEDULED") if r["auto_scheduled"]]

    deadline = time.monotonic() + 60
    while not upcoming() and time.monotonic() < deadline:
        time.sleep(1)
    first = upcoming()
    assert first, "no upcoming run of the daily deployment"
    for run in first:
        start = dt.datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
        assert start > dt.datetime.now(dt.UTC)
        assert (start.hour, start.minute) == (1, 0)  # 09:00 in Shanghai
    for run in first:
        server.api("DELETE", f"/flow_runs/{run['id']}")
    # the scheduler may make the new runs at once (it looks every 5 s): no check that none is
    # left in between, only that new ones come, none of them a deleted one
    old = {r["id"] for r in first}
    deadline = time.monotonic() + 90
    while not [r for r in upcoming() if r["id"] not in old] and time.monotonic() < deadline:
        time.sleep(2)
    again = upcoming()
    assert again and {r["id"] for r in again}.isdisjoint(old)
    log = server.log.read_text(encoding="utf-8", errors="replace")
    # no error of the server but SQLite's "database is locked", which Prefect's own SQLite
    # database logs (and retries) on a loaded machine; the runs above were made regardless
    errors = [t for t in log.split("Traceback (most recent call last)")[1:]
              if "database is locked" not in t]  # fmt: skip
    assert not errors and "InvalidRequestError" not in log, log[-3000:]


def test_upcoming_shows_when_the_daily_round_runs_next(prefect_server: PrefectServer) -> None:
    """How a supervisor checks a live installation: `ducha upcoming` lists the scheduled runs."""
    server = prefect_server
    deadline = time.monotonic() + 60
    while True:
        proc = subprocess.run([str(BIN / "ducha"), "upcoming"], env=server.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "即将自动运行的流程（北京时间）："
    daily = [line for line in lines if "ducha-daily/daily" in line]
    assert daily and all(" 09:00（周" in line for line in daily)
    gone = subprocess.run([str(BIN / "ducha"), "upcoming"], env={**server.env, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert gone.returncode == 2 and gone.stderr.startswith("错误：无法连接 Prefect 服务器"), (
        gone.stderr
    )


def test_a_short_schedule_is_run_by_a_worker(
    prefect_server: PrefectServer, _sample_months_db: Path
) -> None:
    """A deployment scheduled every 5 s: the scheduler creates its runs, a real worker picks one
    up and runs it, and the month's evaluation is in the workspace's database."""
    server = prefect_server
    root = fill(server, "short", _sample_months_db)
    if not server.workers:
        server.start_worker("worker-a")
    server.prefect(
        "--no-prompt", "deploy", "flows/step.py:run_step", "--name", "every-5s",
        "--pool", "ducha", "--interval", "5",
        "--param", "step=研判", "--param", "period=\"2026-03\"", "--param", f"workspace={code_of(root)}",
    )  # fmt: skip
    deployment = server.api("GET", "/deployments/name/ducha-step/every-5s")
    try:
        deadline = time.monotonic() + 240
        done: list[dict] = []
        while not done and time.monotonic() < deadline:
            done = [
                r for r in runs_of(server, deployment["id"], "COMPLETED") if r["auto_scheduled"]
            ]
            time.sleep(2)
        assert done, runs_of(server, deployment["id"])
    finally:
        server.api("POST", f"/deployments/{deployment['id']}/pause_deployment")
        for _ in range(3):  # a run the worker took already finishes before we read
            time.sleep(2)
            taken = [
                r["id"]
                for r in runs_of(server, deployment["id"])
                if r["state"]["type"] in ("PENDING", "RUNNING")
            ]
            server.wait_for_runs(taken)
        server.api("DELETE", f"/deployments/{deployment['id']}")
    con = duckdb.connect(str(root / "data" / "ducha.duckdb"), read_only=True)
    try:
        runs = con.sql(
            "SELECT period, evaluated_at FROM eval_runs WHERE period = '2026-03'"
        ).fetchall()
    finally:
        con.close()
    assert runs and runs[0][1] > dt.datetime.now() - dt.timedelta(minutes=10)


# ------------------------------------------------------------------ deployments with parameters


def test_deployment_from_prefect_yaml_runs_with_parameters(
    prefect_server: PrefectServer, _sample_months_db: Path
) -> None:
    server = prefect_server
    if not server.workers:
        server.start_worker("worker-a")
    ws = fill(server, "monthly", _sample_months_db)
    settings = ws / "config" / "workspace.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + "base_url: https://ducha.example.gov.cn/\n",
                        encoding="utf-8")  # fmt: skip
    out = server.prefect(
        "deployment", "run", "ducha-monthly/monthly",
        "--param", "period=\"2026-03\"", "--param", f"workspace={code_of(ws)}",
        "--param", "as_of=\"2026-04-09\"", "--watch", "--watch-timeout", "240",
    )  # fmt: skip
    assert "Completed" in out
    con = duckdb.connect(str(ws / "data" / "ducha.duckdb"), read_only=True)
    assert con.sql("SELECT period FROM eval_runs ORDER BY period").fetchall()[-1] == ("2026-03",)
    statuses = dict(
        con.sql(
            "SELECT status, count(*) FROM outbox WHERE period = '2026-03' GROUP BY ALL"
        ).fetchall()
    )
    con.close()
    assert statuses.get("unconfigured", 0) > 100  # no channel configured: every notice is a file
    assert (ws / "data" / "reports" / "武进区-2026-03-目标任务推进情况通报.html").exists()
    keys = [
        "ducha-t-monthly-2026-03-summary",
        "ducha-t-monthly-2026-03-lagging",
        "ducha-t-monthly-2026-03-briefing",
    ]
    artifacts = server.api("POST", "/artifacts/filter", {"artifacts": {"key": {"any_": keys}}})
    by_key = {a["key"]: a for a in artifacts}
    assert set(by_key) == set(keys)
    assert by_key[keys[1]]["type"] == "table"
    # the briefing is a link to the dashboard's copy, not a file:// path on the worker's machine
    assert "(https://ducha.example.gov.cn/d/briefing?period=2026-03)" in by_key[keys[2]]["data"]
    summary = by_key[keys[0]]["data"]
    assert "武进区 2026年3月督查" in summary and "未报送 1 个：嘉泽镇" in summary
    table = json.loads(by_key[keys[1]]["data"])
    row = next(r for r in table if r["任务编号"] == "2026-061")
    assert row["工作内容"].startswith("新增公共停车泊位")
    assert row["滞后指标"] == "新增公共停车泊位：完成 371个，序时 375个，目标 1500个"
    # the run graph reads in Chinese
    run_id = next(a["flow_run_id"] for a in artifacts)
    names = {
        t["name"]
        for t in server.api(
            "POST", "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [run_id]}}}
        )
    }
    assert {"接收报表", "研判 2026-03", "生成通报 2026-03", "发送通知（全部）"} <= names, names
    assert server.api("GET", f"/flow_runs/{run_id}")["name"] == "t-monthly 月度督查 2026-03"


def test_parameters_are_choices_with_chinese_descriptions(prefect_server: PrefectServer) -> None:
    """What a supervisor sees in the Prefect UI's run form: steps and kinds as Chinese choices,
    the period checked as YYYY-MM, the workspace one of those configured. The server refuses a
    run with a wrong value before any worker starts it."""
    server = prefect_server
    step = server.api("GET", "/deployments/name/ducha-step/step")
    schema = step["parameter_openapi_schema"]
    props, defs = schema["properties"], schema["definitions"]
    assert defs["Step"]["enum"] == [
        "发模板",
        "催报",
        "接收报表",
        "研判",
        "生成通报",
        "发送通知",
        "备份",
    ]
    assert defs["NoticeKind"]["enum"] == [
        "填报通知",
        "催报",
        "逾期催报",
        "回执",
        "申请答复",
        "催办",
        "督办",
        "专报",
        "通报",
    ]
    assert props["step"]["description"].startswith("要运行的步骤")
    period = props["period"]["anyOf"][0]
    assert period["pattern"] and period["examples"] == ["2026-03"]
    workspaces = props["workspace"]["anyOf"][0]["enum"]
    assert {"wujin", "changzhou", "t-monthly", "t-daily"} <= set(workspaces)
    assert all(p.get("description") for p in props.values())
    for bad in ({"period": "2026-13"}, {"workspace": "../../etc"}, {"step": "drop"}):
        with pytest.raises(Exception, match="422|409|400"):
            server.api("POST", f"/deployments/{step['id']}/create_flow_run", {"parameters": bad})


def test_the_daily_deployment_ends_with_a_backup(
    prefect_server: PrefectServer, _sample_months_db: Path
) -> None:
    """13 April 2026, the 8th working day: receiving, receipts and 逾期催报 to the unit still
    missing; the run ends with a copy of the database in data/backups/."""
    server = prefect_server
    if not server.workers:
        server.start_worker("worker-a")
    ws = fill(server, "daily", _sample_months_db)
    out = server.prefect(
        "deployment", "run", "ducha-daily/daily",
        "--param", f"workspace={code_of(ws)}", "--param", "today=\"2026-04-13\"",
        "--watch", "--watch-timeout", "240",
    )  # fmt: skip
    assert "Completed" in out
    from ducha.backup import backups

    (copy,) = backups(ws / "data" / "backups")
    counts = []
    for db in (ws / "data" / "ducha.duckdb", copy):
        con = duckdb.connect(str(db), read_only=True)
        counts.append(con.sql("SELECT count(*) FROM submissions").fetchall())
        con.close()
    assert counts[0] == counts[1] and counts[0][0][0] > 0
    con = duckdb.connect(str(ws / "data" / "ducha.duckdb"), read_only=True)
    overdue = con.sql("SELECT recipient FROM outbox WHERE kind = 'overdue'").fetchall()
    con.close()
    assert overdue == [("嘉泽镇",)]


def changzhou_workspace(root: Path) -> Path:
    from demo.sample_progress import generate_month
    from ducha.db import opened
    from ducha.periods import Period
    from tests.helpers import Workspace

    ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    table = (
        ROOT / "workspaces" / "changzhou" / "data" / "samples" / "changzhou-2026-key-work-table.txt"
    )
    ws.ok("targets", "import", str(table), "--year", "2026")
    ws.ok("targets", "confirm", str(root / "config" / "reviews" / "targets-2026.yaml"))
    with opened(ws.db) as con:
        generate_month(con, Period(2026, 3), root / "data" / "inbox", workspace=code_of(root))
    return root


def test_two_workspaces_as_separate_runs_on_two_workers(
    prefect_server: PrefectServer, _sample_months_db: Path
) -> None:
    server = prefect_server
    while len(server.workers) < 2:
        server.start_worker(f"worker-{len(server.workers)}")
    wujin = fill(server, "wujin", _sample_months_db)
    changzhou = changzhou_workspace(server.workspace("changzhou"))
    deployment = server.api("GET", "/deployments/name/ducha-monthly/monthly")
    runs = []
    for ws in (wujin, changzhou):
        run = server.api("POST", f"/deployments/{deployment['id']}/create_flow_run",
                         {"parameters": {"period": "2026-03", "workspace": code_of(ws), "as_of": "2026-04-09"}})  # fmt: skip
        runs.append(run["id"])
    states = server.wait_for_runs(runs)
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
    cz.close()
    assert accepted == [(16,)]  # every unit's generated file came in through the flow's ingest
    assert not list((changzhou / "data" / "inbox").iterdir())  # and left the inbox


def test_two_runs_of_one_workspace_queue_in_the_open(
    prefect_server: PrefectServer, _sample_months_db: Path
) -> None:
    """While one run works on a workspace (here: this test holds the workspace's slot, as a
    run does), a second run of it waits through the workspace's concurrency limit, saying so in
    its log, instead of inside DuckDB's lock; once the slot is free it runs to completion."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = prefect_server
    if not server.workers:
        server.start_worker("worker-a")
    ws = fill(server, "slot", _sample_months_db)
    monthly = server.api("GET", "/deployments/name/ducha-monthly/monthly")
    params = {"period": "2026-03", "workspace": code_of(ws), "as_of": "2026-04-09", "dry_run": True}
    name = "ducha-t-slot-run"

    def logs(run: str) -> list[str]:
        body = {"logs": {"flow_run_id": {"any_": [run]}}, "limit": 200}
        return [entry["message"] for entry in server.api("POST", "/logs/filter", body)]

    with temporary_settings({PREFECT_API_URL: server.url}):
        with get_client(sync_client=True) as client:
            client.upsert_global_concurrency_limit_by_name(name, 1)
        with concurrency(name, occupy=1, strict=True):  # another run is working on it
            run = server.api(
                "POST", f"/deployments/{monthly['id']}/create_flow_run", {"parameters": params}
            )["id"]
            deadline = time.monotonic() + 120
            while not any("正在进行另一次运行，本次排队等待" in m for m in logs(run)):
                assert time.monotonic() < deadline, logs(run)
                time.sleep(1)
            time.sleep(3)
            assert server.api("GET", f"/flow_runs/{run}")["state"]["type"] == "RUNNING"
            con = duckdb.connect(str(ws / "data" / "ducha.duckdb"), read_only=True)  # untouched
            assert con.sql(
                "SELECT count(*) FROM eval_runs WHERE period = '2026-03'"
            ).fetchall() == [(0,)]
            con.close()
    assert server.wait_for_runs([run]) == {run: "COMPLETED"}
    con = duckdb.connect(str(ws / "data" / "ducha.duckdb"), read_only=True)  # then it ran
    assert con.sql("SELECT count(*) FROM eval_runs WHERE period = '2026-03'").fetchall() == [(1,)]
    con.close()
    limit = server.api("GET", f"/v2/concurrency_limits/{name}")
    assert limit["limit"] == 1 and limit["active_slots"] == 0  # given back


def test_a_users_mistake_is_not_retried() -> None:
    """A task's retries are for what may work next time (a database another run holds, a bot
    that did not answer); a user's mistake fails at once with its message."""
    from prefect.states import Failed

    from ducha.errors import DatabaseBusy, UserError
    from ducha.orchestration.tasks import _not_a_user_error, ingest_task, notify_task

    assert ingest_task.retry_condition_fn is notify_task.retry_condition_fn is _not_a_user_error
    assert not _not_a_user_error(None, None, Failed(data=UserError("单位“火星镇”不在单位名册中")))
    assert _not_a_user_error(None, None, Failed(data=OSError("connection reset")))
    busy = DatabaseBusy(
        "数据库 data/ducha.duckdb 正被另一个 ducha 进程使用，已等待 30 秒，请稍后再试"
    )
    assert _not_a_user_error(None, None, Failed(data=busy))  # the other run may be done by then


# ------------------------------------------------------------------ ducha serve and ducha run


def test_serve_runs_what_prefect_yaml_declares() -> None:
    """`ducha serve` and `prefect deploy --all` read the one declaration: the same deployments,
    flows, schedules and parameters."""
    from ducha.orchestration.deployments import deployments_from_yaml

    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    served = deployments_from_yaml()
    assert [d.name for d in served] == [d["name"] for d in declared]
    for d, spec in zip(served, declared, strict=True):
        assert d.entrypoint.endswith(spec["entrypoint"].split(":")[1])
        assert d.parameters == (spec.get("parameters") or {})
        crons = [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]
        assert crons == [(s["cron"], s["timezone"]) for s in spec.get("schedules") or []]


def test_serve_stops_on_sigterm_even_when_the_server_went_first(tmp_path: Path) -> None:
    """`ducha serve` under systemd: SIGTERM stops it within a few seconds, also after its Prefect
    server has gone away."""
    server = start_server(tmp_path, deploy=False)
    try:
        env = {**server.env, "PREFECT_LOGGING_LEVEL": "INFO"}
        serve = subprocess.Popen([str(BIN / "ducha"), "serve"], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            names: set[str] = set()
            while names != {"daily", "monthly", "step"} and time.monotonic() < deadline:
                names = {d["name"] for d in server.api("POST", "/deployments/filter", {})}
                time.sleep(1)
            assert names == {"daily", "monthly", "step"}
            daily = server.api("GET", "/deployments/name/ducha-daily/daily")
            assert [s["schedule"]["cron"] for s in daily["schedules"]] == ["0 9 * * *"]
            server.server.terminate()  # the server goes first
            server.server.wait(timeout=30)
            time.sleep(3)
            started = time.monotonic()
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=15)
            assert time.monotonic() - started < 10
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
    finally:
        server.stop()


def test_ducha_run_prints_only_its_own_lines(sample_months) -> None:
    """Whatever a user's shell says about Prefect (nothing, or analytics on and chatty logging),
    `ducha run` prints just its result: no telemetry traceback, no lines of the temporary server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DUCHA_"))}
    env["PREFECT_HOME"] = str(sample_months.root / "prefect-home")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "true"
    env["PREFECT_LOGGING_LEVEL"] = "INFO"
    proc = subprocess.run(
        [str(BIN / "ducha"), "run", "--period", "2026-03", "--as-of", "2026-04-09", "--dry-run"],
        cwd=sample_months.root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("2026年3月督查流程已完成")
    assert proc.stderr == "", proc.stderr
