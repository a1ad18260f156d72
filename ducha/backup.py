"""Backups of a workspace's database: a consistent copy, never half-written, the newest N kept.

The copy is taken through a read-only connection, which DuckDB grants only while no process
writes the file: a backup waits for a running step, or a monthly run holding the database for
all of its steps (ducha.db.held), like any other command (ducha.db.connect),
and no step can change the database while it is copied. DuckDB's `COPY FROM DATABASE` writes
tables, views, sequences and constraints into a new file under a temporary name; the file gets
its final name only after every table's row count has been checked against the original.
Pruning removes only files named exactly like a backup (never the database, never the copy just
made, whatever the clock says).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ducha.db import opened
from ducha.errors import UserError, os_reason, os_reason_in

if TYPE_CHECKING:
    import duckdb

PARTIAL = ".partial"
DEFAULT_KEEP = 30
_NAME = re.compile(r"^ducha-\d{8}-\d{6}\.duckdb$")  # ducha-YYYYMMDD-HHMMSS.duckdb


@dataclass(frozen=True)
class Backup:
    path: Path
    tables: int
    rows: int
    size: int
    removed: list[Path] = field(default_factory=list)


def backup_database(
    db_path: Path, out_dir: Path, *, keep: int = DEFAULT_KEEP,
    now: Callable[[], datetime] = datetime.now,
) -> Backup:  # fmt: skip
    """Copy the database to out_dir/ducha-YYYYMMDD-HHMMSS.duckdb, then keep the newest `keep`
    (a second backup within the same second replaces the first: it is as new or newer)."""
    if keep < 1:
        raise UserError(f"备份保留份数应为正整数，而不是 {keep}")
    if not db_path.exists():
        raise UserError(f"数据库 {db_path} 不存在，没有可备份的内容")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"无法创建备份目录 {out_dir}：{os_reason(exc)}") from exc
    try:
        with _only_backup(out_dir):  # another backup into the same folder waits for this one
            final = out_dir / f"ducha-{now():%Y%m%d-%H%M%S}.duckdb"
            partial = final.with_name(final.name + PARTIAL)
            for leftover in out_dir.glob(f"ducha-*.duckdb{PARTIAL}*"):  # a backup cut short
                leftover.unlink()
            try:
                with opened(db_path, read_only=True, any_version=True) as con:
                    tables, rows = _copy(con, partial)
                os.replace(partial, final)
            except BaseException:
                for path in (partial, partial.with_name(partial.name + ".wal")):
                    path.unlink(missing_ok=True)
                raise
            removed = prune_backups(out_dir, keep, spare={final, db_path})
    except OSError as exc:
        raise UserError(f"备份 {db_path} 到 {out_dir} 失败：{os_reason(exc)}") from exc
    return Backup(final, tables, rows, final.stat().st_size, removed)


@contextmanager
def _only_backup(out_dir: Path) -> Iterator[None]:
    with open(out_dir / ".backup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _copy(con: duckdb.DuckDBPyConnection, target: Path) -> tuple[int, int]:
    """COPY FROM DATABASE into `target`, then every table's row count checked; (tables, rows)."""
    import duckdb

    source = con.sql("SELECT current_database()").fetchall()[0][0]
    src = '"' + source.replace('"', '""') + '"'
    alias = f"ducha_backup_{secrets.token_hex(4)}"  # never the name of the database copied
    path = str(target).replace("'", "''")
    attached = False
    try:
        con.execute(f"ATTACH '{path}' AS {alias} (READ_WRITE)")
        attached = True
        con.execute(f"COPY FROM DATABASE {src} TO {alias}")
        tables = con.sql(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = $db "
            "ORDER BY ALL",
            params={"db": source},
        ).fetchall()
        rows = 0
        for schema, name in tables:
            table = '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'
            ((original,),) = con.sql(f"SELECT count(*) FROM {src}.{table}").fetchall()
            ((copied,),) = con.sql(f"SELECT count(*) FROM {alias}.{table}").fetchall()
            if original != copied:
                raise UserError(
                    f"备份核对未通过：表 {schema}.{name} 复制后 {copied} 行，原有 {original} 行；"
                    "这份备份未保存"
                )
            rows += original
        attached = False
        con.execute(f"DETACH {alias}")  # the copy's checkpoint: most of its writing
    except BaseException as exc:
        if attached:
            with suppress(duckdb.Error):
                con.execute(f"DETACH {alias}")
        if isinstance(exc, duckdb.IOException):  # the backup folder's disk: full, read-only, …
            raise OSError(_duckdb_reason(str(exc))) from exc
        raise
    return len(tables), rows


def _duckdb_reason(message: str) -> str:
    """DuckDB's (English, several lines) I/O error as a short Chinese reason."""
    return os_reason_in(message) or "无法写入备份文件：" + message.strip().splitlines()[-1][-200:]


def backups(out_dir: Path) -> list[Path]:
    """The finished backups in out_dir (named ducha-YYYYMMDD-HHMMSS.duckdb), oldest first."""
    return sorted(p for p in out_dir.iterdir() if _NAME.match(p.name) and p.is_file())


def prune_backups(out_dir: Path, keep: int, spare: Collection[Path] = ()) -> list[Path]:
    """Remove all but the newest `keep` backups, never one of `spare` (the copy just made counts
    as the newest even if the clock went back); returns what was removed."""
    spared = {p.resolve() for p in spare}
    found = backups(out_dir)
    others = [p for p in found if p.resolve() not in spared]
    room = keep - (len(found) - len(others))  # the spared backups count as the newest
    old = others[: max(0, len(others) - room)]
    for path in old:
        path.unlink()
    return old
