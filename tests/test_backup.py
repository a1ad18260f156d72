"""Database backups: complete, usable, never half-written, pruned to the newest N."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ducha.backup import Owner, backup_database, backups
from tests.helpers import ROOT, Workspace, assert_user_error, database_held_elsewhere


def _sequences(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(
            "SELECT sequence_name, last_value FROM duckdb_sequences() ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_backup_is_a_complete_copy_ducha_can_work_on(sample_months: Workspace) -> None:
    ws = sample_months
    made = json.loads(ws.ok("backup", "--format", "json"))
    path = Path(made["path"])
    assert path.parent == ws.db.parent / "backups" and path.is_file()
    assert Workspace(ws.root, ws.config, path).state() == ws.state()
    assert made["rows"] == sum(len(rows) for rows in ws.state().values()) > 0
    assert _files(path.parent) == [".backup.lock", path.name]  # nothing temporary left
    # put back in place of the database: the sequences stand where they stood, views and
    # schema version came along, and ducha works on it
    restored = Workspace(ws.root / "restored", ws.config, ws.root / "restored" / "ducha.duckdb")
    restored.db.parent.mkdir()
    shutil.copy(path, restored.db)
    assert _sequences(restored.db) == _sequences(ws.db)
    assert any(last for _, last in _sequences(ws.db))
    restored.ok("evaluate", "--period", "2026-03")
    ws.ok("evaluate", "--period", "2026-03")
    judged = ("eval_metrics", "eval_unit_metrics", "eval_tasks", "eval_units")
    after, after_restored = ws.state(), restored.state()
    assert after["eval_tasks"]
    assert {t: after_restored[t] for t in judged} == {t: after[t] for t in judged}


def test_backups_are_pruned_to_the_newest_and_leftovers_cleared(confirmed: Workspace) -> None:
    """In the database's own folder (data/backups/): the newest `keep` of its backups stay, its
    backups cut short are cleared, and so are those an earlier version named without a code
    (nobody else writes there); other files stay."""
    out = confirmed.db.parent / "backups"
    out.mkdir()
    (out / "说明.txt").write_text("其他文件不动", encoding="utf-8")
    (out / "ducha-20260101-000000.duckdb.partial").write_bytes(b"cut short")  # a killed backup
    (out / "ducha-20260101-000000.duckdb.partial.wal").write_bytes(b"cut short")
    (out / "ducha-20260301-090000.duckdb").write_bytes(b"an earlier version's backup")
    owner = Owner.of(confirmed.db, out, "wujin")
    start = datetime(2026, 4, 1, 9, 0, 0)
    made = [
        backup_database(confirmed.db, out, keep=2, code="wujin",
                        now=lambda i=i: start + timedelta(days=i))
        for i in range(4)
    ]  # fmt: skip
    name = f"ducha-wujin-202604{{:02d}}-090000-{owner.tag}.duckdb".format
    assert [p.name for p in backups(out)] == [name(3), name(4)]
    assert made[1].removed == [out / "ducha-20260301-090000.duckdb"]
    assert made[2].removed == [out / name(1)]
    assert made[3].removed == [out / name(2)]
    assert _files(out) == sorted([".backup.lock", "说明.txt", name(3), name(4)])


def test_workspaces_sharing_a_backup_folder_keep_to_their_own(
    confirmed: Workspace, tmp_path: Path
) -> None:
    """Two real workspaces (武进区 and 常州市) back up into one `--out` folder, each keeping one
    copy, at once (within the same second, as a shared schedule does): each copy is named with
    its workspace's code, neither overwrites nor prunes the other's, and files nobody can tell
    apart (an earlier version's backup without a code, one cut short) are never touched."""
    wujin = confirmed
    root = tmp_path / "常州"
    shutil.copytree(ROOT / "workspaces" / "changzhou" / "config", root / "config")
    changzhou = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    changzhou.db.parent.mkdir(parents=True)
    shutil.copy(wujin.db, changzhou.db)
    shared = tmp_path / "共享备份"
    shared.mkdir()
    unknown = ["ducha-20260101-000000.duckdb", "ducha-20260102-000000.duckdb.partial"]
    for name in unknown:
        (shared / name).write_bytes(b"whose?")

    def backup(ws: Workspace) -> Path:
        out = ws.ok("backup", "--out", str(shared), "--keep", "1", "--format", "json")
        return Path(json.loads(out)["path"])

    rounds = [(backup(wujin), backup(changzhou)) for _ in range(3)]
    for ours, theirs in rounds:
        assert ours != theirs
        assert ours.name.startswith("ducha-wujin-") and theirs.name.startswith("ducha-changzhou-")
    last_wujin, last_changzhou = rounds[-1]
    assert set(backups(shared)) == {last_wujin, last_changzhou, shared / unknown[0]}
    assert Workspace(root, changzhou.config, last_changzhou).state() == changzhou.state()
    assert Workspace(wujin.root, wujin.config, last_wujin).state() == wujin.state()
    for name in unknown:
        assert (shared / name).read_bytes() == b"whose?"


def test_two_databases_of_one_code_in_one_second_stay_apart(
    confirmed: Workspace, tmp_path: Path
) -> None:
    """Two workspaces left with the default code, backing up into one folder at the same instant,
    month after month: the tag of each database keeps their copies and their pruning apart."""
    other = tmp_path / "另一个" / "ducha.duckdb"
    other.parent.mkdir()
    shutil.copy(confirmed.db, other)
    shared = tmp_path / "共享"
    start = datetime(2026, 4, 1, 9, 0, 0)
    for day in range(3):
        when = start + timedelta(days=day)
        for db in (confirmed.db, other):
            made = backup_database(db, shared, keep=2, now=lambda when=when: when)
            assert made.path.name.startswith(f"ducha-default-{when:%Y%m%d-%H%M%S}-")
    mine, theirs = (backups(shared, Owner.of(db, shared)) for db in (confirmed.db, other))
    assert len(mine) == len(theirs) == 2 and not set(mine) & set(theirs)
    assert sorted(mine + theirs) == sorted(backups(shared))


def test_backup_waits_for_a_writer_then_stops_with_a_clear_message(
    confirmed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database_held_elsewhere(confirmed.db):
        monkeypatch.setenv("DUCHA_LOCK_WAIT", "1")
        result = confirmed.run("backup")
    assert result.code == 2 and "Traceback" not in result.err
    assert "正被另一个 ducha 进程使用" in result.err
    assert not [n for n in _files(confirmed.db.parent / "backups") if n.startswith("ducha-")]


def test_a_backup_that_cannot_be_written_leaves_nothing_behind(confirmed: Workspace) -> None:
    """A full disk, for real: files this process writes may not exceed 1 MB (the database is
    several MB). The command fails with a plain message and leaves no partial copy."""
    before = confirmed.state()
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "from ducha.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "--db", str(confirmed.db), "--config",
         str(confirmed.config), "backup"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("错误：备份") and "失败" in line and "\n" not in line, line
    assert _files(confirmed.db.parent / "backups") == [".backup.lock"]
    assert confirmed.state() == before


@pytest.mark.parametrize("value", ["很多", "0", "-3", "true"])
def test_a_bad_backup_keep_in_workspace_yaml(confirmed: Workspace, value: str) -> None:
    path = confirmed.config / "workspace.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("backup_keep: 30", f"backup_keep: {value}"),
        encoding="utf-8",
    )
    assert_user_error(confirmed, ["backup"], "workspace.yaml", "backup_keep", "正整数")
    # and a monthly run stops on it before any step, not after them all
    assert_user_error(confirmed, ["run", "--period", "2026-03"], "backup_keep", "正整数")
    assert not (confirmed.db.parent / "inbox").exists()


def test_nothing_to_back_up(ws: Workspace) -> None:
    assert_user_error(ws, ["backup"], "不存在", "没有可备份的内容")
    assert_user_error(ws, ["backup", "--keep", "0"], "正整数")


def test_a_backup_folder_that_cannot_be_made(confirmed: Workspace) -> None:
    blocker = confirmed.root / "备份"
    blocker.write_text("一个文件，不是目录", encoding="utf-8")
    assert_user_error(
        confirmed,
        ["backup", "--out", str(blocker / "2026")],
        "无法创建备份目录",
        "是文件而不是目录",
    )
    assert_user_error(
        confirmed, ["backup", "--out", str(blocker)], "无法创建备份目录", "已有同名文件"
    )


def test_a_database_of_an_older_version_is_backed_up_as_it_is(ws: Workspace) -> None:
    """Before a newer ducha upgrades a database, its old form can be kept."""
    from ducha import db

    ws.db.parent.mkdir(parents=True)
    con = duckdb.connect(str(ws.db))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    version, name, text = db.migrations()[0]
    con.execute(text)
    con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    con.close()
    before = ws.state()
    assert_user_error(ws, ["targets", "show", "--year", "2026"], "结构版本较旧（1）")
    made = json.loads(ws.ok("backup", "--format", "json"))
    assert Workspace(ws.root, ws.config, Path(made["path"])).state() == before == ws.state()


def test_pruning_never_takes_the_database_or_the_copy_just_made(
    confirmed: Workspace, tmp_path: Path
) -> None:
    """Backups written next to a database whose name starts like theirs, and a clock that went
    back: only files named exactly like a backup go, and never the one just made."""
    out = tmp_path / "同一目录"
    out.mkdir()
    db = out / "ducha-2026.duckdb"
    shutil.copy(confirmed.db, db)
    later = datetime(2026, 5, 1, 9, 0, 0)
    first = backup_database(db, out, keep=1, now=lambda: later)
    second = backup_database(db, out, keep=1, now=lambda: later - timedelta(days=1))  # clock back
    assert second.path.is_file() and second.removed == [first.path]
    assert db.is_file() and backups(out) == [second.path]


def test_an_existing_backup_folder_that_cannot_be_written(confirmed: Workspace) -> None:
    """Not root-proof by permissions (the tests may run as root): the lock file's place is
    taken by a directory, so it cannot be opened for writing."""
    out = confirmed.db.parent / "backups"
    (out / ".backup.lock").mkdir(parents=True)
    assert_user_error(confirmed, ["backup"], "备份", "失败")
    assert backups(out) == []


@pytest.mark.parametrize("name", ["ducha_backup.duckdb", 'a"b.duckdb', "武进 (2026).duckdb"])
def test_databases_with_unusual_names_and_schemas(tmp_path: Path, name: str) -> None:
    db = tmp_path / name
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA s")
    for table in ("main.t", "s.t", 's."odd ""name"""'):
        con.execute(f"CREATE TABLE {table} AS SELECT range AS x FROM range(3)")
    con.execute("INSERT INTO s.t VALUES (99)")
    con.close()
    made = backup_database(db, tmp_path / "bk", keep=3)
    assert (made.tables, made.rows) == (3, 10)
    copy = duckdb.connect(str(made.path), read_only=True)
    try:
        assert copy.sql("SELECT count(*) FROM s.t").fetchall() == [(4,)]
        assert copy.sql('SELECT sum(x) FROM s."odd ""name"""').fetchall() == [(3,)]
    finally:
        copy.close()
