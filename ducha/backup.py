"""Backups of a workspace's database: a consistent copy, never half-written, the newest N kept.

The copy is taken through a read-only connection, which DuckDB grants only while no process
writes the file: a backup waits for a running step, or a monthly run holding the database for
all of its steps (ducha.db.held), like any other command (ducha.db.connect),
and no step can change the database while it is copied. DuckDB's `COPY FROM DATABASE` writes
tables, views, sequences and constraints into a new file under a temporary name; the file gets
its final name only after every table's row count has been checked against the original.

A backup is named after its workspace and database: ducha-<code>-YYYYMMDD-HHMMSS-<tag>.duckdb,
where <code> is the workspace's code (workspace.yaml) and <tag> eight hex digits of the SHA-256
of the database's absolute path, so that workspaces sharing a backup folder (`--out`), even two
left with the same code, never take each other's names, in the same second or any other.
Pruning removes only this workspace's backups: files named exactly so with its code and tag
(never the database, never the copy just made, whatever the clock says), and, in the
database's own folder (data/backups/ beside it, where nobody else writes), the backups earlier
versions named ducha-YYYYMMDD-HHMMSS.duckdb. Anywhere else such a file cannot be told apart from
another workspace's, and is never touched.
"""

from __future__ import annotations

import fcntl
import hashlib
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
DEFAULT_CODE = "default"  # workspace.yaml's default code
STAMP = "%Y%m%d-%H%M%S"
# ducha-<code>-YYYYMMDD-HHMMSS-<tag>.duckdb (the code as workspace.yaml allows it)
_NAME = re.compile(
    r"^ducha-(?P<code>[A-Za-z0-9][A-Za-z0-9_-]{0,39})-(?P<stamp>\d{8}-\d{6})-(?P<tag>[0-9a-f]{8})"
    r"\.duckdb$"
)
_OLD_NAME = re.compile(r"^ducha-(?P<stamp>\d{8}-\d{6})\.duckdb$")  # before the code and tag


@dataclass(frozen=True)
class Backup:
    path: Path
    tables: int
    rows: int
    size: int
    removed: list[Path] = field(default_factory=list)


def backup_database(
    db_path: Path, out_dir: Path, *, keep: int = DEFAULT_KEEP, code: str | None = None,
    now: Callable[[], datetime] = datetime.now,
) -> Backup:  # fmt: skip
    """Copy the database to out_dir/ducha-<code>-YYYYMMDD-HHMMSS-<tag>.duckdb, then keep this
    workspace's newest `keep` (a second backup of the same database within the same second
    replaces the first: it is as new or newer). `code`: the workspace's code (None: the
    default code)."""
    if keep < 1:
        raise UserError(f"备份保留份数应为正整数，而不是 {keep}")
    if not db_path.exists():
        raise UserError(f"数据库 {db_path} 不存在，没有可备份的内容")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"无法创建备份目录 {out_dir}：{os_reason(exc)}") from exc
    owner = Owner.of(db_path, out_dir, code)
    try:
        with _only_backup(out_dir):  # another backup into the same folder waits for this one
            final = out_dir / owner.name(now())
            partial = final.with_name(final.name + PARTIAL)
            for leftover in out_dir.glob(f"ducha-*.duckdb{PARTIAL}*"):  # a backup cut short
                if owner.owns(leftover.name.partition(PARTIAL)[0]):
                    leftover.unlink()
            try:
                with opened(db_path, read_only=True, any_version=True) as con:
                    tables, rows = _copy(con, partial)
                os.replace(partial, final)
            except BaseException:
                for path in (partial, partial.with_name(partial.name + ".wal")):
                    path.unlink(missing_ok=True)
                raise
            removed = prune_backups(out_dir, keep, spare={final, db_path}, owner=owner)
    except OSError as exc:
        raise UserError(f"备份 {db_path} 到 {out_dir} 失败：{os_reason(exc)}") from exc
    return Backup(final, tables, rows, final.stat().st_size, removed)


@dataclass(frozen=True)
class Owner:
    """Whose backups a name is: a workspace's code, its database's tag, and whether the folder
    is the database's own (data/backups/ beside it), where older unnamed backups are its own."""

    code: str
    tag: str
    home: bool

    @classmethod
    def of(cls, db_path: Path, out_dir: Path, code: str | None = None) -> Owner:
        where = str(db_path.resolve())
        tag = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        home = out_dir.resolve() == (db_path.parent / "backups").resolve()
        return cls(code or DEFAULT_CODE, tag, home)

    def name(self, when: datetime) -> str:
        return f"ducha-{self.code}-{when:{STAMP}}-{self.tag}.duckdb"

    def owns(self, name: str) -> bool:
        found = _NAME.match(name)
        if found:
            return found["code"] == self.code and found["tag"] == self.tag
        return self.home and _OLD_NAME.match(name) is not None


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


def _stamp(name: str) -> str:
    found = _NAME.match(name) or _OLD_NAME.match(name)
    return found["stamp"] if found else ""


def backups(out_dir: Path, owner: Owner | None = None) -> list[Path]:
    """The finished backups in out_dir, oldest first (by the time in their names): all of them,
    whichever workspace made them, or those of `owner`."""
    found = [
        p
        for p in out_dir.iterdir()
        if (owner.owns(p.name) if owner else bool(_NAME.match(p.name) or _OLD_NAME.match(p.name)))
        and p.is_file()
    ]
    return sorted(found, key=lambda p: (_stamp(p.name), p.name))


def prune_backups(
    out_dir: Path, keep: int, spare: Collection[Path] = (), *, owner: Owner
) -> list[Path]:
    """Remove all but the newest `keep` of the owner's backups, never one of `spare` (the copy
    just made counts as the newest even if the clock went back); returns what was removed.
    Nothing of another workspace is ever removed."""
    spared = {p.resolve() for p in spare}
    found = backups(out_dir, owner)
    others = [p for p in found if p.resolve() not in spared]
    room = keep - (len(found) - len(others))  # the spared backups count as the newest
    old = others[: max(0, len(others) - room)]
    for path in old:
        path.unlink()
    return old
