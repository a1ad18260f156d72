"""Ingest monthly progress spreadsheets: identify, map, check, then store whole or not at all.

Per file (ducha.submissions.checking): archive the bytes unchanged under their SHA-256 and read the sheets
(ducha.submissions.intake, in worker processes for large batches), find who sent it and for which
month, map every row to a task and metric, check the values, and produce a receipt. Nothing is written
to the database until a whole batch of files has been checked in memory; the
batch is then written in one transaction (one DuckDB commit costs more than
reading a small file), each file still all-or-nothing: a rejected file adds
its receipt and no figure.

A large run (ducha.submissions.intake.worker_count) is checked by worker processes (ducha.submissions.parallel), each with a frozen
copy of what checking needs (the register, every year's tasks, last months' figures), while
this process stores the batches in order (and, while it waits, checks files from the end of
the queue that no worker has started). A file whose check depends on something the run
itself changed since (the same bytes accepted earlier in the run, or last month's figures of
its unit stored by an earlier batch) is checked again here, so the database ends exactly as
when one process checks every file in order (tests/submissions/test_crash.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ducha import clock
from ducha.errors import UserError
from ducha.periods import Period
from ducha.sandbox import Sandbox
from ducha.units import UnitRegister

if TYPE_CHECKING:  # the worker processes that check files import neither (0.4 s of their start)
    import duckdb

    from ducha.submissions.checkers import Checkers
from ducha.submissions.checking import Context
from ducha.submissions.inbox import collect_files, plan_take_out, take_out
from ducha.submissions.parallel import Expected, checked_in_order
from ducha.submissions.results import FileResult
from ducha.submissions.spreadsheet import read_workbook
from ducha.submissions.store import store_batch

BATCH_FILES = 200


Arrival = datetime | Callable[[Path], datetime] | None


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    *,
    register: UnitRegister,
    workspace: str,
    archive_dir: Path,
    unit: Expected[str] = None,
    period: Expected[Period] = None,
    batch_files: int = BATCH_FILES,
    inbox: Path | None = None,
    timezone: str = clock.DEFAULT_TIMEZONE,
    received_at: Arrival = None,
    sandbox: Sandbox | None = None,
    context: Context | None = None,
    checkers: Checkers | None = None,
) -> list[FileResult]:
    """Ingest files and folders; one broken file is one rejection, the others go on.

    A file's time of receipt is when it arrived in its folder (ducha.clock.arrived), or
    `received_at` (a time, or one per file) for files the office received another way. Files
    under `inbox` are moved out of it once their batch is committed (see take_out). `sandbox`:
    one the caller keeps between runs (the portal's clerk), else one for this run. `context`: one
    the caller keeps while it holds `con` (the clerk, between rounds): the tasks and the accepted
    files are loaded once, not per run; nobody else can change them meanwhile. `checkers`:
    sandboxes the caller keeps with `context` that read and check the files (the clerk)."""
    if isinstance(unit, str) and register.resolve_unit(unit) is None:
        raise UserError(f"--unit 指定的单位“{unit}”不在单位名册中")
    files = collect_files(paths)
    if not files:
        return []
    if checkers is not None:
        sandbox = checkers.sandboxes[0]
    if sandbox is not None:
        return _ingest(con, files, sandbox, register, workspace, archive_dir, unit, period,
                       batch_files, inbox, timezone, received_at, context, checkers)  # fmt: skip
    with Sandbox(memory=memory_limit()) as sandbox:
        sandbox.start()  # in the background, while the context loads
        return _ingest(con, files, sandbox, register, workspace, archive_dir, unit, period,
                       batch_files, inbox, timezone, received_at)  # fmt: skip


def memory_limit() -> int:
    """The address space a child reading files may add (DUCHA_READ_MEMORY_MB)."""
    from ducha.environment import current  # here: worker processes import no pydantic

    return current().read_memory_mb * 1024 * 1024


def _ingest(
    con: duckdb.DuckDBPyConnection, files: list[Path], sandbox: Sandbox, register: UnitRegister,
    workspace: str, archive_dir: Path, unit: Expected[str], period: Expected[Period],
    batch_files: int, inbox: Path | None, timezone: str, received_at: Arrival,
    ctx: Context | None = None, checkers: Checkers | None = None,
) -> list[FileResult]:  # fmt: skip
    arrivals = {p: _arrival(p, received_at, timezone) for p in files}
    files.sort(key=arrivals.__getitem__)  # stable: files that arrived together keep their order
    if ctx is None:
        ctx = Context(
            workspace, register, con=con,
            units=frozenset(unit.values()) if isinstance(unit, dict) else None,
        )  # fmt: skip
        ctx.load_accepted()
    elif ctx.con is not con or ctx.workspace != workspace or ctx.register is not register:
        raise ValueError("a kept context belongs to the same connection, workspace and register")
    ctx.read, ctx.memory = sandbox.reader(read_workbook), sandbox.memory
    results: list[FileResult] = []
    batch: list[FileResult] = []
    # (unit, period) stored by this run (with checkers: since their copy of the context)
    changed = checkers.changed if checkers is not None else set()
    for result in checked_in_order(
        files, ctx, archive_dir, unit, period, changed, sandbox, checkers
    ):
        result.received_at = arrivals[result.path]
        if result.ok and result.status != "duplicate":
            ctx.accepted[result.sha256] = (result.unit or "", result.period or "")
        batch.append(result)
        if len(batch) == batch_files:
            results += _stored(con, ctx, batch, changed, inbox, timezone)
            batch = []
    results += _stored(con, ctx, batch, changed, inbox, timezone)
    return results


def _arrival(path: Path, given: Arrival, timezone: str) -> datetime:
    if isinstance(given, datetime):
        return given
    if given is not None:
        return given(path)
    return clock.arrived(path.lstat(), timezone)  # a link: when the link arrived


def _stored(
    con: duckdb.DuckDBPyConnection, ctx: Context, batch: list[FileResult],
    changed: set[tuple[str | None, str | None]], inbox: Path | None, timezone: str,
) -> list[FileResult]:  # fmt: skip
    if inbox is not None:
        plan_take_out(batch, inbox, clock.today(timezone))
    store_batch(con, batch)
    ctx.previous.clear()  # the batch may have added last month's figures
    changed.update((r.unit, r.period) for r in batch if r.status in ("accepted", "superseded"))
    if inbox is not None:
        take_out(batch, inbox)
    return batch
