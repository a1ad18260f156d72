"""DuckDB access: opening with a clear lock message, migrations, transactions, SQL files."""

from __future__ import annotations

import glob
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ducha.errors import DatabaseBusy, UserError
from ducha.workspace import SQL_DIR

if TYPE_CHECKING:  # imported where a connection is opened: checking files needs no DuckDB
    import duckdb

MIGRATIONS_DIR = SQL_DIR / "migrations"
_MIGRATION = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@cache
def sql(name: str) -> str:
    """The text of sql/<stage>/<name>.sql, named "stage/name" (one purpose per file, in the
    folder of the stage that reads it: targets, submissions, evaluation, reporting, notices)."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _MIGRATION.match(path.name)
        if not m:
            raise RuntimeError(f"migration file name not NNN_name.sql: {path.name}")
        found.append((int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 001.. without gaps: {versions}")
    return found


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


def lock_wait() -> float:
    """Seconds to wait for another process's lock (DUCHA_LOCK_WAIT, ducha.environment)."""
    from ducha.environment import current

    return current().lock_wait


def require_database(path: Path) -> None:
    """A command that reads the database needs one: say how to make it."""
    if not path.exists():
        raise UserError(f"数据库 {path} 不存在，请先导入目标任务分解表（ducha targets import）")


def connect(
    path: Path, *, read_only: bool = False, wait: float | None = None, any_version: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting up to `wait` seconds for another writer.

    DuckDB lets one process write a file at a time; a second process gets a
    lock error. A scheduled run and a supervisor's run therefore queue here,
    and give up with a plain message when the other one takes too long.
    """
    import duckdb

    if read_only:
        require_database(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = lock_wait() if wait is None else wait
    deadline = time.monotonic() + wait
    delay = 0.05
    waiting: Path | None = None
    try:
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise UserError(f"无法打开数据库 {path}：文件损坏或不是 DuckDB 数据库") from exc
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"数据库 {path} 正被另一个 ducha 进程使用，已等待 {wait:.0f} 秒，请稍后再试"
                    ) from exc
                if waiting is None and wait > 0:
                    waiting = _say_waiting(path)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
    finally:
        if waiting is not None:
            waiting.unlink(missing_ok=True)
    if not read_only:
        migrate(con)
    elif not any_version:  # any_version: a backup copies a database of any schema version
        _check_version(con, path)
    return con


def _say_waiting(path: Path) -> Path | None:
    """A mark beside the database that this process waits for it (<db>.waiting-<pid>): the
    portal, which holds the database while uploads keep coming, lets go when it sees one."""
    mark = path.with_name(f"{path.name}.waiting-{os.getpid()}")
    try:
        mark.touch()
    except OSError:
        return None
    return mark


def others_waiting(path: Path) -> bool:
    """Whether another living ducha process waits for the database (see _say_waiting)."""
    for mark in path.parent.glob(f"{glob.escape(path.name)}.waiting-*"):
        pid = mark.name.rsplit("-", 1)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            mark.unlink(missing_ok=True)  # left behind by a process that was killed
            continue
        except PermissionError:
            pass
        return True
    return False


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied (0 for a database ducha has never written)."""
    import duckdb

    try:
        rows = con.sql("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    except duckdb.CatalogException:  # no such table: a new database
        return 0
    return int(rows[0][0]) if rows else 0


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    latest = len(migrations())
    current = schema_version(con)
    if current > latest:
        raise UserError(
            f"数据库 {path} 由更新版本的 ducha 创建（结构版本 {current}），请升级 ducha"
        )
    if current < latest:
        raise UserError(f"数据库 {path} 结构版本较旧（{current}），请先运行一次写入命令以升级")


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply pending migrations, each in its own transaction. Returns versions applied."""
    current = schema_version(con)
    if current == 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    known = migrations()
    if current > len(known):
        raise UserError(f"数据库由更新版本的 ducha 创建（结构版本 {current}），请升级 ducha")
    applied = []
    for version, name, text in known[current:]:
        with transaction(con):
            con.execute(text)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, datetime.now()]
            )
        applied.append(version)
    return applied


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing: commit on success, roll back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@dataclass
class _Hold:
    """A database this process keeps open for a run (held)."""

    con: duckdb.DuckDBPyConnection
    depth: int = 1


_held: dict[Path, _Hold] = {}  # path -> the hold that serves opened() for it
_held_lock = threading.Lock()


@contextmanager
def held(path: Path) -> Iterator[bool]:
    """Keep an existing database open in this process while a run's steps follow one another.

    Each step still says `opened(...)`, and gets its own connection (a cursor) to the database
    held here: no step opens the file again, nor checkpoints it on closing (about 25 ms a step),
    and steps may run in threads side by side. Another process cannot slip in between two
    steps: it waits (ducha.db.connect, up to DUCHA_LOCK_WAIT) for the run to end. Yields whether
    the database is held: when it does not exist yet, or another process has it now, nothing is
    held and every step opens the file itself as usual (and waits for the other process, or says
    what is missing). Nested or from several threads: the last one out closes it. After a step
    has failed the run lets it go (let_go), so that a retry's wait leaves the file to others."""
    import duckdb

    key = path.resolve()
    hold: _Hold | None = None
    with _held_lock:
        if key in _held:
            hold = _held[key]
            hold.depth += 1
        elif path.exists():
            with suppress(DatabaseBusy, duckdb.Error):
                hold = _held[key] = _Hold(connect(path, wait=0))
    try:
        yield hold is not None
    finally:
        if hold is not None:
            with _held_lock:
                hold.depth -= 1
                last = hold.depth == 0
                if last and _held.get(key) is hold:
                    del _held[key]
            if last:
                hold.con.close()  # a second close (after let_go) does nothing


def let_go() -> None:
    """Stop holding: close every database this process holds, at once. For a step that failed
    while no other step runs: its retry may wait for minutes, and the rest of the run opens the
    file step by step, as without held."""
    with _held_lock:
        holds = list(_held.values())
        _held.clear()
    for hold in holds:
        hold.con.close()


@contextmanager
def opened(
    path: Path, *, read_only: bool = False, any_version: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one step: a cursor on the database when this process holds it (held),
    else the file opened (waiting for another writer) and closed afterwards. Under held, a
    read-only step gets a cursor that can write too: the steps that ask for read-only only read."""
    with _held_lock:
        hold = _held.get(path.resolve())
        con = hold.con.cursor() if hold else None
    if con is None:
        con = connect(path, read_only=read_only, any_version=any_version)
    try:
        yield con
    finally:
        con.close()
