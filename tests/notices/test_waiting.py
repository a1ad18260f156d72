"""notify never holds the database while it sleeps out a bot's rate-limit window: DuckDB locks the
file for as long as a process has it open, and a window can take a minute (20 messages a minute
per bot), so an ingest, a backup or another run started meanwhile must get the file. Real
processes: notify (the command, or inside a run that holds the database), the bot server on
127.0.0.1, and a second process writing to the database during the window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from ducha.db import connect
from ducha.notices import outbox
from ducha.notices.planning import Notice
from tests.helpers import ROOT, BotServer, Workspace

WINDOW = 3.0  # seconds: one message per window to the one bot
AS_OF = "2026-04-09"


@pytest.fixture
def bot() -> BotServer:
    server = BotServer().start()
    yield server
    server.stop()


def write_meanwhile(db: Path) -> subprocess.CompletedProcess[str]:
    """Another process writes to the database at once (no waiting for a lock)."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "c.execute('CREATE TABLE written_meanwhile AS SELECT 42 AS answer'); c.close()")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def during_the_window(proc: subprocess.Popen[str], bot: BotServer, db: Path) -> tuple[str, float]:
    """Once the first message is out and the second waits for the window: write to the database
    from another process. Its error, if any, and the seconds the window had still to run."""
    deadline = time.monotonic() + 120
    while not bot.received and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert bot.received, proc.communicate()
    time.sleep(0.5)  # the reply recorded, the window being slept out
    writer = write_meanwhile(db)
    left = WINDOW - (time.monotonic() - bot.received[0].at)
    assert len(bot.received) == 1 and left > 0, "the writer came after the window"
    return ("" if writer.returncode == 0 else writer.stderr.strip().splitlines()[-1]), left


def assert_written_and_delivered(db: Path, bot: BotServer, messages: int) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.sql("SELECT answer FROM written_meanwhile").fetchall() == [(42,)]
        assert con.sql("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchall() == [
            (messages,)
        ]
    finally:
        con.close()
    times = [r.at for r in bot.received]
    assert len(times) == messages
    assert all(b - a >= WINDOW - 0.05 for a, b in zip(times, times[1:], strict=False))


def one_bot_for_two(ws: Workspace, bot: BotServer) -> None:
    """工信局 and 发改局 in one group: one bot, one message per window."""
    url = f"dtalk://127.0.0.1:{bot.port}/robot/send?access_token=shared-bot-token-0123"
    data = {"rate_limit": {"count": 1, "seconds": WINDOW},
            "recipients": {u: [{"name": f"{u}所在群", "url": url}] for u in ("工信局", "发改局")}}  # fmt: skip
    (ws.config / "channels.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )


def test_delivery_lets_go_of_the_database_while_it_waits_for_a_window(
    tmp_path: Path, bot: BotServer
) -> None:
    db = tmp_path / "ducha.duckdb"
    url = f"wxbot://127.0.0.1:{bot.port}/cgi-bin/webhook/send?key=one-bot-key-0123"
    con = connect(db)
    messages = [
        outbox.Message(f"k{i}", Notice("chase", f"单位{i}", "标题", {}), "群", url, "text", 1, 1,
                       "标题", f"第{i}条", f"h{i}")
        for i in range(2)
    ]  # fmt: skip
    outbox.enqueue(con, messages, "2026-03", tmp_path / "outbox")
    con.close()
    script = textwrap.dedent(f"""
        from pathlib import Path
        from ducha.notices.channels import ChannelConfig, RateLimit
        from ducha.notices.outbox import deliver_from
        from ducha.notices.secrets import Secrets
        report = deliver_from(Path({str(db)!r}), ChannelConfig(rate_limit=RateLimit(1, {WINDOW})), Secrets())
        print(report.sent, report.failed, report.deferred)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    error, left = during_the_window(proc, bot, db)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert error == "", f"the database was held {left:.1f} s before the window's end: {error}"
    assert out.split() == ["2", "0", "0"]
    assert_written_and_delivered(db, bot, 2)


def test_notify_lets_go_of_the_database_while_it_waits_for_a_window(
    evaluated: Workspace, bot: BotServer
) -> None:
    """`ducha notify` by hand: an ingest or a backup started while it waits gets the database."""
    one_bot_for_two(evaluated, bot)
    command = [str(Path(sys.executable).with_name("ducha")), "--db", str(evaluated.db), "--config",
               str(evaluated.config), "notify", "--period", "2026-03", "--as-of", AS_OF, "--kind",
               "bulletin", "--format", "json"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "DUCHA_LOCK_WAIT": "30"})  # fmt: skip
    error, left = during_the_window(proc, bot, evaluated.db)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert error == "", f"notify held the database {left:.1f} s before the window's end: {error}"
    result = json.loads(out)
    assert result["sent"] == 2 and result["failed"] == 0 and result["deferred"] == 0
    assert_written_and_delivered(evaluated.db, bot, 2)


def test_a_run_holding_the_database_lets_go_of_it_while_notify_waits(
    evaluated: Workspace, bot: BotServer
) -> None:
    """Inside a run (the monthly flow holds the database for all of its steps, ducha.db.held):
    the hold is let go for the window too, and the run's later steps open the file themselves."""
    one_bot_for_two(evaluated, bot)
    script = textwrap.dedent(f"""
        import datetime as dt, json
        from ducha import operations
        from ducha.config import load_config
        from ducha.db import held
        from ducha.periods import Period
        from ducha.workspace import Workspace
        cfg = load_config(Workspace.from_options({str(evaluated.db)!r}, {str(evaluated.config)!r}))
        with held(cfg.workspace.db_path) as holding:
            assert holding
            result = operations.notify(cfg, Period.parse("2026-03"), kinds=["bulletin"],
                                       as_of=dt.date(2026, 4, 9))
            titles = operations.task_titles(cfg, 2026)  # a later step of the run
        print(json.dumps({{"sent": result.sent, "titles": len(titles)}}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    error, left = during_the_window(proc, bot, evaluated.db)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert error == "", f"the run held the database {left:.1f} s before the window's end: {error}"
    assert json.loads(out) == {"sent": 2, "titles": 94}
    assert_written_and_delivered(evaluated.db, bot, 2)
