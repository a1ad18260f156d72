"""Checking one received file, everything but storing it: identify, find the table, map and check
every row. Context holds what checking needs, loaded once per run (and frozen for worker
processes).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ducha.db import sql
from ducha.periods import Period
from ducha.sandbox import MEMORY_BYTES
from ducha.submissions.assignments import TaskLines, unit_tasks
from ducha.submissions.intake import Reader, Received
from ducha.submissions.limits import FileRejected
from ducha.submissions.spreadsheet import read_workbook
from ducha.units import UnitRegister

if TYPE_CHECKING:  # the worker processes that check files import neither (0.4 s of their start)
    import duckdb
from ducha.submissions.identify import UnitNames, identify
from ducha.submissions.results import ERROR, Before, FileResult
from ducha.submissions.rows import UnitIndex, parse_rows


@dataclass
class Context:
    """What the checks need, loaded once per batch."""

    workspace: str
    register: UnitRegister
    years: dict[int, Mapping[str, list[TaskLines]]] = field(default_factory=dict)
    indexes: dict[int, UnitIndex] = field(default_factory=dict)  # id(task list) -> its index
    previous: dict[str, dict[tuple[str, str, int], float]] = field(default_factory=dict)
    con: duckdb.DuckDBPyConnection | None = None
    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)  # sha256 -> (unit, period)
    frozen: bool = False  # a copy for worker processes: nothing more can be loaded
    # how cells are read: in the storing process through a sandbox (ducha.sandbox), in a
    # worker process (itself under limits) directly
    read: Reader = read_workbook
    memory: int = MEMORY_BYTES  # address space a process reading files may use
    # the units the files are expected to be of (the portal's uploads, each through its unit's
    # link): only their tasks are loaded; None, or a file of another unit: every unit's
    units: frozenset[str] | None = None
    # what names the unit and period files are expected to be of, as a receipt says it: the
    # command's options, or the portal's link
    given: tuple[str, str] = ("--unit 选项", "--period 选项")
    unit_names: UnitNames = field(init=False)

    def __post_init__(self) -> None:
        self.unit_names = UnitNames.of(self.register)

    def load_accepted(self) -> None:
        assert self.con is not None
        self.accepted = {
            sha: (unit, period)
            for sha, unit, period in self.con.sql(sql("submissions/accepted_hashes")).fetchall()
        }

    def index_of(self, unit: str, period: Period) -> UnitIndex | None:
        """The unit's tasks for the period's year, indexed for matching rows (None: none).
        Units with the same tasks share one list (see UnitTasks), and so one index."""
        if self.units is not None and unit not in self.units and not self.frozen:
            self.units = None  # not one of the units expected: every unit's tasks from now on
            self.years.clear()
            self.indexes.clear()
        tasks = self.year_tasks(period.year).get(unit)
        if not tasks:
            return None
        index = self.indexes.get(id(tasks))
        if index is None:
            index = self.indexes[id(tasks)] = UnitIndex.build(tasks)
        return index

    def year_tasks(self, year: int) -> Mapping[str, list[TaskLines]]:
        """Every unit's tasks of the year (only the expected units' while `units` is set),
        loaded once: the portal's pages show them too."""
        tasks = self.years.get(year)
        if tasks is None:
            if self.frozen:
                raise NeedsMain
            assert self.con is not None
            tasks = self.years[year] = unit_tasks(self.con, Period(year, 1), self.units)
        return tasks

    def previous_cumulative(self, period: Period) -> dict[tuple[str, str, int], float]:
        before = period.previous()
        if before is None:
            return {}
        key = str(before)
        if key not in self.previous:
            if self.frozen:
                raise NeedsMain
            assert self.con is not None
            self.previous[key] = {
                (u, t, p): v
                for u, t, p, v in self.con.sql(
                    sql("submissions/period_figures"), params={"period": key}
                ).fetchall()
            }
        return self.previous[key]

    def frozen_copy(self, periods: Collection[Period] | None = None) -> Context:
        """What worker processes check files with: every year with tasks and every period's
        latest cumulative figures of those years, loaded now; `periods`: only the figures
        files of these periods are checked against (the months before them). A file for
        another year or period comes back to the caller (NeedsMain); figures stored later
        are the caller's to notice."""
        assert self.con is not None
        if self.units is not None:  # a worker may be given a file of any unit
            self.units = None
            self.years.clear()
            self.indexes.clear()
        years = [
            y for (y,) in self.con.sql("SELECT DISTINCT year FROM tasks WHERE active").fetchall()
        ]
        previous: dict[str, dict[tuple[str, str, int], float]] = {}
        for year in years:
            self.year_tasks(year)
            if periods is not None:
                continue
            for month in range(1, 13):
                previous[str(Period(year, month))] = {}
            rows = self.con.sql(sql("submissions/year_figures"), params={"year": str(year)})
            for period, unit, task_id, position, value in rows.fetchall():
                previous[period][(unit, task_id, position)] = value
        for period in periods or ():
            before = period.previous()
            if before is not None and before.year in self.years:
                previous[str(before)] = dict(self.previous_cumulative(period))
        return Context(
            self.workspace, self.register, years=dict(self.years), previous=previous,
            accepted=dict(self.accepted), frozen=True, given=self.given,
        )  # fmt: skip


class NeedsMain(Exception):
    """A worker process cannot check this file with what it was given."""


def check_file(
    found: Received, ctx: Context, *, unit: str | None = None, period: Period | None = None
) -> FileResult:
    """Everything after reading but the database write: identify, map, check."""
    result = FileResult(found.path, found.sha256, archive_path=found.archive_path)
    if found.received_at is not None:
        result.received_at = found.received_at
    if found.problem is not None:
        result.add(ERROR, found.problem.message, found.problem.sheet, found.problem.cell)
        return result
    if found.sha256 in ctx.accepted:  # the same bytes were accepted before: nothing to parse
        result.unit, result.period = ctx.accepted[found.sha256]
        result.status = "duplicate"
        return result
    book = found.book
    if book is None:  # not parsed: accepted when reading began, superseded since
        try:  # the archived copy holds exactly the bytes hashed
            book = ctx.read(found.path.name, Path(found.archive_path).read_bytes())
        except FileRejected as exc:
            result.add(ERROR, exc.message, exc.sheet, exc.cell)
            return result
    found_unit, found_period = identify(result, book, ctx, unit, period)
    result.unit = found_unit
    result.period = str(found_period) if found_period else None
    if not result.ok or found_unit is None or found_period is None:
        return result
    index = ctx.index_of(found_unit, found_period)
    if index is None:
        result.add(ERROR, f"{found_unit}在 {found_period.year} 年没有需要报送的任务")
        return result
    parse_rows(result, book, index, Before(found_period, ctx.previous_cumulative(found_period)))
    return result
