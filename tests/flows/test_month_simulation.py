"""A whole reporting month, run by the daily flow day by day, as the schedule would.

Period 2026-04 is collected in May 2026, which opens with the Labour Day holiday (1–5 May) and
has a make-up working day on Saturday 9 May: the 1st working day is 6 May (templates), the
3rd is 8 May (催报), the 5th is 11 May (the deadline, a Monday), the 6th is 12 May
(evaluation and the month's notices). The units' files arrive on different days: most early,
湖塘镇 on the deadline, 雪堰镇 the day after, 嘉泽镇 never, 湟里镇 first a broken draft and
then the corrected file. Six recipients have a (stand-in) DingTalk bot; the rest get files.

Every day is run through the `daily` flow against a real Prefect server: 8 May by a real worker
from the deployment, the other days by calling the flow in this process, with ducha's clock
set to 09:00 of the day (ducha.clock.now: the time files are received at).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.helpers import BotServer, PrefectServer

pytestmark = pytest.mark.xdist_group("prefect")

D = dt.date
ON_DEADLINE, LATE, NEVER, DRAFTED = "湖塘镇", "雪堰镇", "嘉泽镇", "湟里镇"
BOTS = (ON_DEADLINE, LATE, NEVER, DRAFTED, "工信局", "孙益锋")
WORKER_DAY = D(2026, 5, 8)


def arrival_day(name: str, unit: str, i: int) -> dt.date | None:
    if unit == NEVER:
        return None
    if unit == ON_DEADLINE:
        return D(2026, 5, 11)
    if unit == LATE:
        return D(2026, 5, 12)
    if unit == DRAFTED:
        return D(2026, 5, 7) if "初稿" in name else D(2026, 5, 9)
    return (
        D(2026, 5, 7) if i % 2 else D(2026, 5, 9)
    )  # never on the worker's day (its clock is real)


def ledger(db: Path, since: int = 0) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(
            "SELECT notice_id, kind, recipient, channel, status, body FROM outbox "
            "WHERE notice_id > $since ORDER BY notice_id",
            params={"since": since},
        ).fetchall()
    finally:
        con.close()


def query(db: Path, text: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(text).fetchall()
    finally:
        con.close()


@pytest.fixture
def month(
    prefect_server: PrefectServer,
    _sample_months_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    from demo.sample_progress import Plan, generate_month
    from ducha.db import opened
    from ducha.periods import Period

    server = prefect_server
    root = server.workspace("month")
    db = root / "data" / "ducha.duckdb"
    shutil.copy(_sample_months_db, db)
    code = yaml.safe_load((root / "config" / "workspace.yaml").read_text(encoding="utf-8"))["code"]
    plan = Plan(
        silent_last_month=(NEVER,), rejected_then_fixed=(DRAFTED,), corrected_later=(), last_month=4
    )
    with opened(db) as con:
        files = generate_month(con, Period(2026, 4), tmp_path / "made", workspace=code, plan=plan)
    units = {}
    for i, path in enumerate(files):
        unit = next(u for u in (ON_DEADLINE, LATE, DRAFTED) if u in path.name) if any(
            u in path.name for u in (ON_DEADLINE, LATE, DRAFTED)) else f"other-{i}"  # fmt: skip
        units[path] = arrival_day(path.name, unit, i)
    bot = BotServer().start()
    host = f"127.0.0.1:{bot.port}"
    recipients = {
        name: [{"name": f"{name}钉钉群", "format": "markdown",
                "url": f"dtalk://{host}/robot/send?access_token=${{DUCHA_TEST_BOT_TOKEN}}"}]
        for name in BOTS
    }  # fmt: skip
    channels = root / "config" / "channels.yaml"
    data = yaml.safe_load(channels.read_text(encoding="utf-8"))
    data.update(recipients=recipients, rate_limit={"count": 100, "seconds": 60})
    channels.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DUCHA_WORKSPACES", server.env["DUCHA_WORKSPACES"])
    monkeypatch.setenv("DUCHA_TEST_BOT_TOKEN", server.env["DUCHA_TEST_BOT_TOKEN"])
    if not server.workers:
        server.start_worker("worker-a")
    try:
        yield server, root, code, units, bot
    finally:
        bot.stop()


def test_a_month_day_by_day(month, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import ducha.clock
    from flows.daily import daily

    server, root, code, arrivals, bot = month
    db = root / "data" / "ducha.duckdb"
    inbox = root / "data" / "inbox"
    inbox.mkdir(exist_ok=True)
    reporting = {
        u
        for (u,) in query(
            db,
            "SELECT DISTINCT u FROM tasks, unnest(list_concat(lead_units, responsible_units)) AS t(u) WHERE year = 2026 AND active",
        )
    }
    seen_backups: dict[Path, int] = {}  # each backup and when it was written (ns)
    sent_before = 0
    days: dict[dt.date, dict] = {}
    for offset in range(31):
        day = D(2026, 5, 1) + dt.timedelta(days=offset)
        arriving = [p for p, d in arrivals.items() if d == day]
        for path in arriving:
            shutil.copy(path, inbox / path.name)
        last_id = max([r[0] for r in ledger(db)], default=0)
        if day == WORKER_DAY:  # through the deployment, on a real worker
            out = server.prefect("deployment", "run", "ducha-daily/daily", "--param", f"workspace={code}",
                                 "--param", f'today="{day}"', "--watch", "--watch-timeout", "240")  # fmt: skip
            assert "Completed" in out
            backup = max((root / "data" / "backups").glob("ducha-*.duckdb"))
            result = {"backup": str(backup)}
        else:
            nine = dt.datetime.combine(day, dt.time(9, 0))
            monkeypatch.setattr(
                ducha.clock, "now", lambda timezone="Asia/Shanghai", nine=nine: nine
            )
            with temporary_settings({PREFECT_API_URL: server.url}):
                result = daily(workspace=code, today=day)
        new = ledger(db, last_id)
        kinds = Counter(k for _, k, *_ in new)
        days[day] = {
            "kinds": kinds,
            "new": new,
            "arrived": [p.name for p in arriving],
            "result": result,
        }
        # every day: the inbox emptied, and a backup made by this run
        assert not [p for p in inbox.rglob("*") if p.is_file()], day
        backup = Path(result["backup"])
        # (named to the second: a run within the same second as the day before replaces that
        # backup, as ducha.backup says; it is still this run's)
        made = backup.stat().st_mtime_ns
        assert made > seen_backups.get(backup, -1), day
        seen_backups[backup] = made
        # receipts the day each file arrives, one per file, to its sender
        assert kinds["receipt"] == len(arriving), (day, kinds)
        # nothing sent twice: every bot message the receiver got is a new ledger entry sent once
        sent_now = len(bot.received)
        assert sent_now - sent_before == sum(1 for r in new if r[3] != "file"), day
        sent_before = sent_now
        working = day not in (D(2026, 5, i) for i in (1, 2, 3, 4, 5)) and (
            day.weekday() < 5 or day == D(2026, 5, 9)
        )
        if not working:
            assert set(kinds) <= {"receipt"}, (day, kinds)

    def recipients(day: dt.date, kind: str) -> set[str]:
        return {r[2] for r in days[day]["new"] if r[1] == kind}

    # 6 May, the 1st working day after the holiday: every reporting unit's template, nothing else
    templates = list((root / "data" / "templates" / "2026-04").glob("*.xlsx"))
    assert len(templates) == len(reporting) == 50
    assert days[D(2026, 5, 6)]["result"]["templates"] == 50
    assert all(not days[d]["kinds"] for d in (D(2026, 5, 1), D(2026, 5, 3), D(2026, 5, 5)))
    # and the 填报通知 to each of them, with its link to the portal
    assert dict(days[D(2026, 5, 6)]["kinds"]) == {"invite": 50}
    assert recipients(D(2026, 5, 6), "invite") == set(reporting)
    # 8 May (3rd working day, on the worker): 催报 to every unit without an accepted file, incl.
    # 湟里镇 whose draft was refused on the 7th; none to those who reported on the 7th
    reported_7 = {r[2] for r in days[D(2026, 5, 7)]["new"] if r[1] == "receipt"}
    assert recipients(WORKER_DAY, "reminder") == (reporting - reported_7) | {DRAFTED}
    assert set(days[WORKER_DAY]["kinds"]) == {"reminder"}
    body = next(r[5] for r in days[WORKER_DAY]["new"] if r[2] == NEVER and r[3] != "file")
    assert "报送截止日为 2026年5月11日" in body and "今天是" not in body
    # 9 May (a make-up Saturday, 4th working day): the corrected file is received
    assert DRAFTED in recipients(D(2026, 5, 9), "receipt")
    # 11 May, the deadline: 催报 once more, to those still missing, saying today is the last day
    assert recipients(D(2026, 5, 11), "reminder") == {NEVER, LATE}
    assert all(
        "今天是2026年4月目标任务进展情况的报送截止日" in r[5]
        for r in days[D(2026, 5, 11)]["new"]
        if r[1] == "reminder"
    )
    assert ON_DEADLINE in recipients(D(2026, 5, 11), "receipt")
    # 12 May, the 6th: the late file, the evaluation and the month's notices; 逾期催报 to the one
    # still missing, never "today is the deadline"
    kinds_12 = days[D(2026, 5, 12)]["kinds"]
    assert {"chase", "bulletin", "overdue", "receipt"} <= set(kinds_12), kinds_12
    assert "reminder" not in kinds_12
    assert recipients(D(2026, 5, 12), "overdue") == {NEVER}
    submissions = dict(
        query(db, "SELECT unit, submission FROM eval_units WHERE period = '2026-04'")
    )
    assert submissions[ON_DEADLINE] == "on_time" and submissions[DRAFTED] == "on_time"
    assert submissions[LATE] == "late" and submissions[NEVER] == "missing"
    assert Counter(submissions.values()) == {"on_time": 48, "late": 1, "missing": 1}
    # every later working day: 逾期催报 to 嘉泽镇 alone, dated the day; none at weekends
    for offset in range(13, 32):
        day = D(2026, 5, offset)
        expected = {NEVER} if day.weekday() < 5 else set()
        assert recipients(day, "overdue") == expected, day
        assert set(days[day]["kinds"]) <= {"overdue"}, day
        for r in days[day]["new"]:
            assert f"{day.year}年{day.month}月{day.day}日" in r[5] and "今天是" not in r[5]
    overdue_13 = next(r[5] for r in days[D(2026, 5, 13)]["new"] if r[3] != "file")
    assert "已逾期 2 个工作日" in overdue_13
    # the ledger: no notice twice; every message a bot got was sent once
    rows = query(db, "SELECT idempotency_key, status FROM outbox")
    assert len(rows) == len({k for k, _ in rows})
    assert {s for _, s in rows} <= {"sent", "unconfigured"}
    sent = query(
        db,
        "SELECT notice_id, count(*) FROM outbox_attempts WHERE ok GROUP BY ALL HAVING count(*) > 1",
    )
    assert sent == []
    texts = [m.text for m in bot.received]
    assert len(texts) == len(set(texts)) == sum(1 for _, s in rows if s == "sent")
    # a supervisor runs the evaluation day again: nothing new is sent
    before = len(bot.received)
    monkeypatch.setattr(
        ducha.clock, "now", lambda timezone="Asia/Shanghai": dt.datetime(2026, 5, 12, 15, 0)
    )
    with temporary_settings({PREFECT_API_URL: server.url}):
        daily(workspace=code, today=D(2026, 5, 12))
    assert len(bot.received) == before
