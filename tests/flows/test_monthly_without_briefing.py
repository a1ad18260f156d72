"""A month whose briefing cannot be written still chases: the monthly flow, run through Prefect
against a real server, with the workspace's reports folder taken by a file. The reminders and
escalations reach the (stand-in) DingTalk bots, the bulletin (which names the briefing's file)
waits, and the run ends Failed with one Chinese line. Once the folder is free again, a second
run writes the briefing and sends the bulletins, and nothing sent before is sent twice.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.helpers import ROOT, BotServer, PrefectServer

pytestmark = pytest.mark.xdist_group("prefect")

CODE = "t-no-briefing"
AS_OF = dt.date(2026, 4, 9)  # the day after March's deadline: 逾期催报 to the unit that is missing


def _rows(db: Path, text: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(text).fetchall()
    finally:
        con.close()


@pytest.fixture
def workspace(
    prefect_server: PrefectServer,
    _sample_months_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """The sample months in a workspace of their own, every unit and leader with a bot."""
    root = tmp_path / "ws"
    shutil.copytree(ROOT / "config", root / "config")
    settings_path = root / "config" / "workspace.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings_path.write_text(
        yaml.safe_dump({**settings, "code": CODE}, allow_unicode=True), encoding="utf-8"
    )
    db = root / "data" / "ducha.duckdb"
    db.parent.mkdir()
    shutil.copy(_sample_months_db, db)
    (root / "data" / "inbox").mkdir()
    names = {
        n
        for (n,) in _rows(
            db,
            "SELECT DISTINCT n FROM tasks, "
            "unnest(list_concat(lead_units, responsible_units, leaders)) AS t(n) WHERE active",
        )
    }
    bot = BotServer().start()
    url = f"dtalk://127.0.0.1:{bot.port}/robot/send?access_token=${{DUCHA_TEST_BOT_TOKEN}}"
    channels = root / "config" / "channels.yaml"
    data = yaml.safe_load(channels.read_text(encoding="utf-8"))
    data.update(
        recipients={n: [{"name": f"{n}钉钉群", "format": "markdown", "url": url}] for n in names},
        rate_limit={"count": 1000, "seconds": 60},
    )
    channels.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    listed = prefect_server.env["DUCHA_WORKSPACES"]
    monkeypatch.setenv("DUCHA_WORKSPACES", f"{listed}:{root}")
    monkeypatch.setenv("DUCHA_TEST_BOT_TOKEN", prefect_server.env["DUCHA_TEST_BOT_TOKEN"])
    try:
        yield root, bot
    finally:
        bot.stop()


def test_the_notices_go_out_when_the_briefing_cannot_be_written(
    prefect_server: PrefectServer, workspace: tuple[Path, BotServer]
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from ducha.errors import UserError
    from flows.monthly import monthly_supervision

    server = prefect_server
    root, bot = workspace
    db = root / "data" / "ducha.duckdb"
    reports = root / "data" / "reports"
    reports.write_text("一个文件占了通报目录的位置", encoding="utf-8")  # not writable, even by root

    with temporary_settings({PREFECT_API_URL: server.url}):
        state = monthly_supervision(
            period="2026-03", workspace=CODE, as_of=AS_OF, return_state=True
        )
    # the run failed, visibly, with one line saying what happened and what was still done
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, UserError), error
    assert error.message.startswith("2026年3月通报未生成：无法写入通报"), error.message
    assert "已有同名文件" in error.message and "其余通知照常发送" in error.message
    run_id = str(state.state_details.flow_run_id)
    assert server.api("GET", f"/flow_runs/{run_id}")["state"]["type"] == "FAILED"
    steps = {
        t["name"]: t["state"]["type"]
        for t in server.api(
            "POST", "/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [run_id]}}}
        )
    }
    assert steps["研判 2026-03"] == "COMPLETED" and steps["生成通报 2026-03"] == "FAILED"
    notify = next(name for name in steps if name.startswith("发送通知"))
    assert steps[notify] == "COMPLETED"
    summary = server.api(
        "POST",
        "/artifacts/filter",
        {"artifacts": {"key": {"any_": [f"ducha-{CODE}-2026-03-summary"]}}},
    )
    assert "**通报未生成**" in summary[0]["data"]

    # the notices that do not need the briefing reached the bots; the bulletin waits for it
    titles = Counter(m.title.split("】")[0] + "】" for m in bot.received)
    assert {"【逾期催报】", "【催办】", "【专报】"} <= set(titles), titles
    assert "【通报】" not in titles
    overdue = [m for m in bot.received if m.title.startswith("【逾期催报】")]
    assert len(overdue) == 1 and "嘉泽镇" in overdue[0].text
    ledger = _rows(db, "SELECT kind, status FROM outbox WHERE period = '2026-03'")
    assert ledger and {s for _, s in ledger} == {"sent"}
    assert "bulletin" not in {k for k, _ in ledger}
    assert len(bot.received) == len(ledger)
    assert not reports.is_dir()

    # the folder freed, the month run again: the briefing is written, the bulletins sent, and
    # nothing of the first run sent twice
    reports.unlink()
    first = len(bot.received)
    with temporary_settings({PREFECT_API_URL: server.url}):
        result = monthly_supervision(period="2026-03", workspace=CODE, as_of=AS_OF)
    assert Path(result["briefing"]).is_file()
    again = bot.received[first:]
    assert again and {m.title.split("】")[0] + "】" for m in again} == {"【通报】"}
    assert result["notices"]["sent"] == len(again)
