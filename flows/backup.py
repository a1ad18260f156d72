"""Backups of a workspace's database: a consistent copy, never half-written, the newest N kept.

The copy is taken through a read-only connection, which DuckDB grants only while no process
writes the file: a backup waits for a running step like any other command (flows.db.connect),
and no step can change the database while it is copied. DuckDB's `COPY FROM DATABASE` writes
tables, views, sequences and constraints into a new file under a temporary name; the file gets
its final name only after every table's row count has been checked against the original.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flows.db import opened
from flows.errors import UserError

if TYPE_CHECKING:
    import duckdb

PREFIX = "ducha-"
SUFFIX = ".duckdb"
PARTIAL = ".partial"
DEFAULT_KEEP = 30


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
    """Copy the database to out_dir/ducha-YYYYMMDD-HHMMSS.duckdb, then keep the newest `keep`."""
    if keep < 1:
        raise UserError(f"备份保留份数应为正整数，而不是 {keep}")
    if not db_path.exists():
        raise UserError(f"数据库 {db_path} 不存在，没有可备份的内容")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = _REASONS.get(exc.errno or 0) or exc.strerror
        raise UserError(f"无法创建备份目录 {out_dir}：{reason}") from exc
    with _only_backup(out_dir):  # another backup into the same folder waits for this one
        final = out_dir / f"{PREFIX}{now():%Y%m%d-%H%M%S}{SUFFIX}"
        partial = final.with_name(final.name + PARTIAL)
        for leftover in out_dir.glob(f"{PREFIX}*{SUFFIX}{PARTIAL}*"):  # from a backup cut short
            leftover.unlink()
        try:
            with opened(db_path, read_only=True, any_version=True) as con:
                tables, rows = _copy(con, partial)
            os.replace(partial, final)
        except BaseException as exc:
            for path in (partial, partial.with_name(partial.name + ".wal")):
                path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                reason = _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
                raise UserError(f"备份 {db_path} 到 {out_dir} 失败：{reason}") from exc
            raise
        return Backup(final, tables, rows, final.stat().st_size, prune_backups(out_dir, keep))


@contextmanager
def _only_backup(out_dir: Path) -> Iterator[None]:
    with open(out_dir / ".backup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _copy(con: duckdb.DuckDBPyConnection, target: Path) -> tuple[int, int]:
    """COPY FROM DATABASE into `target`, then every table's row count checked; (tables, rows)."""
    import duckdb

    source = con.sql("SELECT current_database()").fetchall()[0][0]
    quoted = str(target).replace("'", "''")
    attached = False
    try:
        con.execute(f"ATTACH '{quoted}' AS ducha_backup (READ_WRITE)")
        attached = True
        con.execute(f'COPY FROM DATABASE "{source}" TO ducha_backup')
        names = [
            r[0]
            for r in con.sql(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = $db ORDER BY 1",
                params={"db": source},
            ).fetchall()
        ]
        rows = 0
        for name in names:
            table = name.replace('"', '""')
            ((original,),) = con.sql(f'SELECT count(*) FROM "{source}".main."{table}"').fetchall()
            ((copied,),) = con.sql(f'SELECT count(*) FROM ducha_backup.main."{table}"').fetchall()
            if original != copied:
                raise RuntimeError(f"backup of table {name}: {copied} rows, expected {original}")
            rows += original
        attached = False
        con.execute("DETACH ducha_backup")  # the copy's checkpoint: most of its writing
    except BaseException as exc:
        if attached:
            with suppress(duckdb.Error):
                con.execute("DETACH ducha_backup")
        if isinstance(exc, duckdb.IOException):  # the backup folder's disk: full, read-only, …
            raise OSError(_reason(str(exc))) from exc
        raise
    return len(names), rows


_REASONS = {
    errno.ENOSPC: "磁盘空间不足", errno.EDQUOT: "超出磁盘配额", errno.EFBIG: "文件超过允许的大小",
    errno.EACCES: "没有写入权限", errno.EPERM: "没有写入权限", errno.EROFS: "文件系统只读",
    errno.ENOTDIR: "路径中的某一级是文件而不是目录", errno.EEXIST: "已有同名文件",
}  # fmt: skip


def _reason(message: str) -> str:
    """DuckDB's (English, several lines) I/O error as a short Chinese reason."""
    for code, reason in _REASONS.items():
        if os.strerror(code) in message:
            return reason
    return "无法写入备份文件：" + message.strip().splitlines()[-1][-200:]


def backups(out_dir: Path) -> list[Path]:
    """The finished backups in out_dir, oldest first (their names sort by time)."""
    return sorted(p for p in out_dir.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def prune_backups(out_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups; returns what was removed."""
    old = backups(out_dir)[:-keep]
    for path in old:
        path.unlink()
    return old
