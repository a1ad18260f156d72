"""The database's life: migrations from every earlier version, refusing what is not ducha's,
one writer at a time, a run holding the file across its steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ducha import db
from tests.helpers import ROOT, SEED_TABLE, Workspace, assert_user_error, database_held_elsewhere


def _old_database(path: Path, done: int) -> duckdb.DuckDBPyConnection:
    """A database as an older ducha left it: the first `done` migrations applied."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for version, name, text in db.migrations()[:done]:
        con.execute(text)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    return con


@pytest.mark.parametrize("done", range(len(db.migrations())))
def test_newer_ducha_upgrades_an_older_database(tmp_path: Path, done: int) -> None:
    """A database left at any earlier schema version is upgraded in place, data kept."""
    path = tmp_path / "old.duckdb"
    con = _old_database(path, done)
    con.execute("CREATE TABLE keep_me (x INTEGER)")
    con.execute("INSERT INTO keep_me VALUES (42)")
    con.close()
    con = db.connect(path)
    try:
        assert db.schema_version(con) == len(db.migrations())
        assert con.sql("SELECT x FROM keep_me").fetchall() == [(42,)]
        assert con.sql("SELECT count(*) FROM tasks").fetchall() == [(0,)]
    finally:
        con.close()


# (table, insert): rows for every table of any older schema, ids from the sequences; positional
# where no migration added a column to the table, else naming the first schema's columns.
OLD_ROWS = (
    ("units", "INSERT INTO units VALUES ('测试局', 'department', []), ('甲镇', 'town', ['甲'])"),
    ("imports", "INSERT INTO imports VALUES (nextval('import_id_seq'), 2026, 'a.xlsx', 'sha', "
                "TIMESTAMP '2026-01-05 09:00', 1, 0, 0, 0)"),
    ("tasks", "INSERT INTO tasks (task_id, year, seq, goal, content, leaders, lead_units, "
              "responsible_units, responsible_text, related_pending, content_hash, reviewed_hash, "
              "active, import_id) VALUES ('2026-001', 2026, 1, '目标', '内容', ['张三'], ['测试局'], "
              "['甲镇', '测试局', '甲镇'], '甲镇', false, 'new', 'old', true, 1), "
              "('2026-002', 2026, NULL, '目标', '删去', [], ['测试局'], [], '', false, 'h', NULL, "
              "false, 1)"),
    ("task_history", "INSERT INTO task_history (task_id, import_id, change, goal, content, "
                     "leaders, lead_units, responsible_units) VALUES ('2026-001', 1, 'added', '目标', '内容', "
                     "['张三'], ['测试局'], ['甲镇'])"),
    ("metrics", "INSERT INTO metrics VALUES ('2026-001', 1, '新增', 10, '亿元', 'cumulative', "
                "'at_least', true)"),
    ("metric_allocations", "INSERT INTO metric_allocations VALUES ('2026-001', 1, '甲镇', 4)"),
    ("metric_schedule", "INSERT INTO metric_schedule VALUES ('2026-001', 1, 6, 0.5)"),
    ("reviews", "INSERT INTO reviews VALUES (nextval('review_id_seq'), 2026, 'r.yaml', 'sha', "
                "TIMESTAMP '2026-01-06 09:00', 1, 1)"),
    ("submissions", "INSERT INTO submissions VALUES (nextval('submission_id_seq'), 'sha1', "
                    "'甲镇.xlsx', 'archive/sha1.xlsx', '甲镇', '2026-03', 'accepted', NULL, NULL, "
                    "TIMESTAMP '2026-04-02 09:00', TIMESTAMP '2026-04-02 09:01', 2, '李四', '已接收')"),
    ("submission_problems", "INSERT INTO submission_problems VALUES (1, 1, '进展表', 'E5', "
                            "'warning', '累计数小于上月')"),
    ("progress_metrics", "INSERT INTO progress_metrics VALUES (1, '甲镇', '2026-03', '2026-001', 1, "
                         "1, 3, '进展表', 5, 'task_id', 100)"),
    ("progress_tasks", "INSERT INTO progress_tasks VALUES (1, '甲镇', '2026-03', '2026-001', "
                       "'on_schedule', '推进中', '资金不足', '加快')"),
    ("eval_runs", "INSERT INTO eval_runs VALUES ('2026-03', TIMESTAMP '2026-04-08 09:00', "
                  "DATE '2026-04-07', '{}')"),
    ("eval_metrics", "INSERT INTO eval_metrics VALUES ('2026-03', '2026-001', 1, '新增', "
                     "'cumulative', 'at_least', '亿元', 10, 3, 2.5, 0.3, 5, 'units', false, "
                     "'on_track', 0)"),
    ("eval_unit_metrics", "INSERT INTO eval_unit_metrics VALUES ('2026-03', '甲镇', '2026-001', 1, "
                          "'responsible', 4, 3, 1, false, 'done')"),
    ("eval_tasks", "INSERT INTO eval_tasks VALUES ('2026-03', '2026-001', 'on_track', 0, "
                   "['测试局'], [], ['测试局'])"),
    ("eval_units", "INSERT INTO eval_units VALUES ('2026-03', '甲镇', 'town', 'on_time', "
                   "TIMESTAMP '2026-04-02 09:00', 1, 1, 1.0, 1)"),
    ("outbox", "INSERT INTO outbox VALUES (nextval('notice_id_seq'), 'k1', '2026-03', 'receipt', "
               "'甲镇', [], 'file', NULL, 'markdown', 1, 1, '回执', '正文', 'h', 'unconfigured', 0, "
               "TIMESTAMP '2026-04-02 09:02', TIMESTAMP '2026-04-02 09:02', NULL, NULL, 'f.md')"),
    ("outbox_attempts", "INSERT INTO outbox_attempts VALUES (1, 1, TIMESTAMP '2026-04-02 09:03', "
                        "NULL, 'file', NULL, NULL)"),
)  # fmt: skip


@pytest.mark.parametrize("done", range(1, len(db.migrations())))
def test_an_older_database_keeps_its_rows_when_upgraded(tmp_path: Path, done: int) -> None:
    """Rows written at any earlier schema version come through every later migration as they
    were (metrics.unit as metrics.measure), the sequences go on, and the shared views read them."""
    path = tmp_path / "old.duckdb"
    con = _old_database(path, done)
    tables = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    tables.discard("schema_migrations")
    for table, insert in OLD_ROWS:
        if table in tables:
            con.execute(insert)
    before = {t: con.sql(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    con.close()
    con = db.connect(path)
    try:
        assert db.schema_version(con) == len(db.migrations())
        for table, rows in before.items():
            after = con.sql(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            width = len(rows[0]) if rows else 0  # columns added later (tasks.deadline) are NULL
            assert [r[:width] for r in after] == rows, table
            assert all(v is None for r in after for v in r[width:]), table
        assert con.sql("SELECT measure FROM metrics").fetchall() == [("亿元",)]
        assert con.sql("SELECT nextval('import_id_seq'), nextval('review_id_seq')").fetchall() == [
            (2, 2)
        ]
        assert con.sql("SELECT * FROM assignments ORDER BY unit").fetchall() == [
            (2026, "2026-001", "测试局", "lead"),
            (2026, "2026-001", "甲镇", "responsible"),
        ]
        assert con.sql("SELECT task_id FROM tasks_needing_review").fetchall() == [("2026-001",)]
        if done >= 2:
            assert con.sql("SELECT nextval('submission_id_seq')").fetchall() == [(2,)]
            assert con.sql("SELECT * FROM latest_figures").fetchall() == [
                ("2026-03", "甲镇", "2026-001", 1, 3.0)
            ]
            assert con.sql("SELECT issues FROM latest_statements").fetchall() == [("资金不足",)]
        if done >= 4:
            assert con.sql("SELECT nextval('notice_id_seq')").fetchall() == [(2,)]
    finally:
        con.close()


def test_database_from_a_newer_ducha_is_refused(ws: Workspace) -> None:
    ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    con = duckdb.connect(str(ws.db))
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    con.close()
    assert_user_error(ws, ["targets", "show", "--year", "2026"], "更新版本的 ducha")
    assert_user_error(
        ws, ["targets", "import", str(SEED_TABLE), "--year", "2026"], "更新版本的 ducha"
    )


def test_a_duckdb_file_ducha_never_wrote_is_refused_by_reading_commands(ws: Workspace) -> None:
    """Another program's DuckDB file (no schema_migrations): a reading command says so plainly
    and leaves the file as it was."""
    ws.db.parent.mkdir(parents=True)
    con = duckdb.connect(str(ws.db))
    con.execute("CREATE TABLE other (x INTEGER)")
    con.close()
    assert_user_error(ws, ["targets", "show", "--year", "2026"], "结构版本较旧（0）")
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        assert con.sql("SELECT table_name FROM duckdb_tables()").fetchall() == [("other",)]
    finally:
        con.close()


def test_a_file_that_is_not_a_database(ws: Workspace) -> None:
    ws.db.parent.mkdir(parents=True)
    ws.db.write_text("这不是数据库", encoding="utf-8")
    assert_user_error(
        ws, ["targets", "import", str(SEED_TABLE), "--year", "2026"], "不是 DuckDB 数据库"
    )


def test_second_writer_waits_then_stops_with_a_clear_message(ws: Workspace) -> None:
    ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    with database_held_elsewhere(ws.db):
        env = {**os.environ, "DUCHA_LOCK_WAIT": "1"}
        started = time.monotonic()
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("ducha")),
                "--db",
                str(ws.db),
                "--config",
                str(ws.config),
                "targets",
                "import",
                str(SEED_TABLE),
                "--year",
                "2026",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        waited = time.monotonic() - started
    assert proc.returncode == 2
    assert "正被另一个 ducha 进程使用" in proc.stderr and "Traceback" not in proc.stderr
    assert waited >= 1.0
    # once the other process is gone, the same command goes through
    assert "未变 94" in ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")


def test_two_runs_at_once_wait_for_each_other(sample_months: Workspace) -> None:
    """A scheduled run and a supervisor's run at the same moment: one waits, nothing is corrupted."""
    from demo.sample_progress import generate_month
    from ducha.db import opened
    from ducha.periods import Period

    sample_months.ok("evaluate", "--period", "2026-03")
    inbox = sample_months.root / "inbox-04"
    with opened(sample_months.db) as con:
        files = generate_month(con, Period(2026, 4), inbox, workspace="wujin")
    ducha = str(Path(sys.executable).with_name("ducha"))
    base = [ducha, "--db", str(sample_months.db), "--config", str(sample_months.config)]
    env = {**os.environ, "DUCHA_LOCK_WAIT": "120"}
    procs = [
        subprocess.Popen([*base, "ingest", str(inbox), "--format", "json"], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([*base, "notify", "--period", "2026-03", "--as-of", "2026-04-09", "--format", "json"],
                         env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([*base, "evaluate", "--period", "2026-03", "--format", "json"], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    ingested = json.loads(outputs[0][0])
    assert len(ingested) == len(files)
    notified = json.loads(outputs[1][0])
    con = duckdb.connect(str(sample_months.db), read_only=True)
    assert con.sql("SELECT count(*) FROM submissions WHERE period = '2026-04'").fetchall()[0][
        0
    ] == len([r for r in ingested if r["status"] != "duplicate"])
    keys = con.sql("SELECT count(*), count(DISTINCT idempotency_key) FROM outbox").fetchall()[0]
    assert keys[0] == keys[1] == notified["planned"]
    con.close()
    # running both again changes nothing
    before = sample_months.state()
    sample_months.ok("ingest", str(inbox))
    again = json.loads(
        sample_months.ok(
            "notify", "--period", "2026-03", "--as-of", "2026-04-09", "--format", "json"
        )
    )
    assert again["new"] == 0
    after = sample_months.state()
    assert {t: v for t, v in after.items() if not t.startswith("outbox")} == {
        t: v for t, v in before.items() if not t.startswith("outbox")
    }


def _other_process_can_open(path: Path) -> bool:
    """Whether a separate process can open the database for writing right now."""
    probe = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(path)],
        capture_output=True, text=True,
    )  # fmt: skip
    return probe.returncode == 0


def test_a_held_database_serves_every_step_and_is_released_after(imported: Workspace) -> None:
    """A run holds the file from its first step to its last: the steps' connections (read-only
    ones too, and from other threads) share it, another process cannot slip in between two
    steps, and once the run is over the file is free again and holds what the steps wrote."""
    from concurrent.futures import ThreadPoolExecutor

    with db.held(imported.db) as holding:
        assert holding
        with db.opened(imported.db) as con:
            con.execute("CREATE TABLE step_one AS SELECT 1 AS x")
        assert not _other_process_can_open(imported.db)  # between two steps: still held
        with db.opened(imported.db, read_only=True) as con:
            assert con.sql("SELECT x FROM step_one").fetchall() == [(1,)]

        def count(_: int) -> int:
            with db.opened(imported.db, read_only=True) as con:
                return con.sql("SELECT count(*) FROM tasks").fetchall()[0][0]

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(count, range(4))) == [94] * 4
        with db.held(imported.db) as inner:  # a run inside a run (the daily flow's month)
            assert inner
        with db.opened(imported.db) as con:  # the inner one did not close it
            con.execute("INSERT INTO step_one VALUES (2)")
    assert _other_process_can_open(imported.db)
    con = duckdb.connect(str(imported.db), read_only=True)
    assert con.sql("SELECT x FROM step_one ORDER BY x").fetchall() == [(1,), (2,)]
    con.close()


def test_nothing_is_held_when_the_database_is_missing_or_in_use(ws: Workspace) -> None:
    """No database yet: nothing is created, and the steps say what is missing as before.
    Another process has it: the run does not wait at the start; each step waits for the file
    itself, as without held."""
    with db.held(ws.db) as holding:
        assert not holding
        with pytest.raises(db.UserError, match="不存在"), db.opened(ws.db, read_only=True):
            pass
    assert not ws.db.exists()
    ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    with database_held_elsewhere(ws.db, release_after=1.5):
        started = time.monotonic()
        with db.held(ws.db) as holding:
            assert not holding
            assert time.monotonic() - started < 1.0  # did not wait for the other process
            with db.opened(ws.db) as con:  # waits until the other process lets go
                assert time.monotonic() - started >= 1.0
                assert con.sql("SELECT count(*) FROM tasks").fetchall() == [(94,)]


def test_the_last_holder_out_closes_the_database_whatever_the_order(imported: Workspace) -> None:
    """Two threads hold the same file; the first in leaves first: the second still has it, and
    when it leaves the file is free (nobody keeps it locked for the life of the process)."""
    import threading

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def second() -> None:
        first_in.wait(10)
        with db.held(imported.db):
            second_in.set()
            first_out.wait(10)
            with db.opened(imported.db, read_only=True) as con:  # still served by the hold
                seen.append(con.sql("SELECT count(*) FROM tasks").fetchall()[0][0])
            seen.append(int(_other_process_can_open(imported.db)))

    thread = threading.Thread(target=second)
    thread.start()
    with db.held(imported.db):
        first_in.set()
        second_in.wait(10)
    first_out.set()
    thread.join(30)
    assert seen == [94, 0]  # the second thread read through the hold, and the file was held
    assert _other_process_can_open(imported.db)


def test_a_step_to_be_retried_lets_the_database_go(imported: Workspace) -> None:
    """A step failing with something worth a retry (the retry waits 10 s to 2 min): the run stops
    holding the file at once, the rest of the run opens it step by step, and leaving the run's
    `held` afterwards is harmless. A user's mistake (no retry: the run ends) changes nothing."""
    from prefect.states import Failed

    from ducha.errors import UserError
    from ducha.orchestration.tasks import _not_a_user_error

    with db.held(imported.db) as holding:
        assert holding
        assert not _not_a_user_error(None, None, Failed(data=UserError("单位不在名册中")))
        assert not _other_process_can_open(imported.db)
        assert _not_a_user_error(None, None, Failed(data=OSError("No space left on device")))
        assert _other_process_can_open(imported.db)
        with db.opened(imported.db) as con:  # opens the file itself now
            con.execute("CREATE TABLE after_retry AS SELECT 1 AS x")
        assert _other_process_can_open(imported.db)  # and closed it again
    assert _other_process_can_open(imported.db)
    con = duckdb.connect(str(imported.db), read_only=True)
    assert con.sql("SELECT x FROM after_retry").fetchall() == [(1,)]
    con.close()


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--period", "2026-03"],
        ["notify", "--period", "2026-03"],
        ["ingest"],
        ["report", "--period", "2026-03"],
        ["templates", "--period", "2026-03"],
        ["targets", "confirm", str(ROOT / "config" / "reviews" / "targets-2026.yaml")],
    ],
)
def test_a_mistyped_database_is_refused_and_nothing_is_made(ws: Workspace, args: list[str]) -> None:
    """`--db data/duhca.duckdb`: a reading or judging command says the database does not exist
    instead of making an empty one (and its folder)."""
    typo = ws.root / "dat" / "duhca.duckdb"
    result = Workspace(ws.root, ws.config, typo).run(*args)
    assert result.code == 2 and "不存在" in result.err, result.err
    assert not typo.exists() and not typo.parent.exists()


def test_a_process_waiting_for_the_database_says_so_beside_it(ws: Workspace) -> None:
    """While ducha waits for another process's lock it leaves <db>.waiting-<pid> (the portal's
    clerk, which keeps the database open while uploads keep coming, lets go when it sees one);
    the mark goes when the wait ends, and a mark of a process that was killed is ignored."""
    import threading

    from ducha.db import connect, others_waiting

    ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    mark = ws.db.with_name(f"{ws.db.name}.waiting-{os.getpid()}")
    seen: list[bool] = []
    with database_held_elsewhere(ws.db, release_after=1.5):
        assert not others_waiting(ws.db)
        waiter = threading.Thread(target=lambda: connect(ws.db, wait=30).close())
        waiter.start()
        deadline = time.monotonic() + 10
        while waiter.is_alive() and time.monotonic() < deadline and not seen:
            if mark.exists():
                seen.append(others_waiting(ws.db))
            time.sleep(0.02)
        waiter.join(timeout=30)
    assert seen == [True]
    assert not mark.exists() and not others_waiting(ws.db)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = ws.db.with_name(f"{ws.db.name}.waiting-{dead.pid}")
    stale.touch()
    assert not others_waiting(ws.db) and not stale.exists()
