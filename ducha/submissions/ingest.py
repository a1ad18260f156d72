"""Ingest monthly progress spreadsheets: identify, map, check, then store whole or not at all.

Per file: archive the bytes unchanged under their SHA-256 and read the sheets
(ducha.submissions.intake, in worker processes for large batches), find who sent it and for which
month, map every row to a task and metric, check the values, and produce a receipt. Nothing is written
to the database until a whole batch of files has been checked in memory; the
batch is then written in one transaction (one DuckDB commit costs more than
reading a small file), each file still all-or-nothing: a rejected file adds
its receipt and no figure.

A large run (ducha.submissions.intake.worker_count) is checked by worker processes, each with a frozen
copy of what checking needs (the register, every year's tasks, last months' figures), while
this process stores the batches in order (and, while it waits, checks files from the end of
the queue that no worker has started). A file whose check depends on something the run
itself changed since (the same bytes accepted earlier in the run, or last month's figures of
its unit stored by an earlier batch) is checked again here, so the database ends exactly as
when one process checks every file in order (tests/test_ingest_crash.py compares the two).
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.forkserver
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import lru_cache
from math import isfinite
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from ducha import clock
from ducha.db import sql, transaction
from ducha.errors import UserError
from ducha.periods import Period
from ducha.submissions.intake import Received, receive, worker_count
from ducha.submissions.spreadsheet import (
    SUFFIXES,
    FileRejected,
    Sheet,
    Workbook,
    cell_ref,
    read_workbook,
)
from ducha.submissions.templates import META_SHEET, MetricLine, TaskLines, unit_tasks
from ducha.submissions.values import (
    ValueProblem,
    is_empty,
    normalise_text,
    parse_number,
    parse_status,
    shown,
    text_or_none,
)
from ducha.units import UnitRegister, normalise_name

if TYPE_CHECKING:  # the worker processes that check files import neither (0.4 s of their start)
    import duckdb
    import polars as pl

ERROR, WARNING = "error", "warning"
FUZZY_CUTOFF = 85.0
TOO_LARGE_FACTOR = 10
MAX_RATE = 1000.0  # a growth rate or a percentage beyond ±1000 % is a typing or unit error
_RATE_MEASURES = ("%", "％", "个百分点", "百分点")
BATCH_FILES = 200

# Canonical columns and the header spellings people use (after normalisation).
COLUMNS: dict[str, tuple[str, ...]] = {
    "task_id": ("任务编号", "任务id", "编号"),
    "seq": ("序号",),
    "content": ("工作内容", "任务内容", "工作任务", "重点任务", "目标任务"),
    "metric_no": ("指标序号",),
    "metric": ("指标", "指标名称", "量化指标"),
    "month": ("本月完成", "当月完成", "本月完成数", "当月完成数", "本月完成值", "本月", "当月", "本月完成情况"),
    "cumulative": (
        "累计完成", "累计完成数", "累计", "累计完成值", "截至本月累计", "年度累计", "全年累计完成",
        "1-本月累计", "本年累计", "累计完成情况",
    ),
    "status": ("完成状态", "进展状态", "状态", "推进状态"),
    "progress": ("进展情况", "工作进展", "进展", "推进情况", "工作推进情况", "完成情况"),
    "issues": ("存在问题", "存在的问题", "问题", "困难问题"),
    "next_steps": ("下步打算", "下一步打算", "下步工作", "下一步工作", "下步计划"),
}  # fmt: skip
_LOOKUP = {spelling: key for key, spellings in COLUMNS.items() for spelling in spellings}
_IDENTIFYING = ("task_id", "seq", "content")
_REPORTING = ("month", "cumulative", "status", "progress")
_BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_SPACES = re.compile(r"\s+")
_MAX_HEADER = 40  # characters: longer text without brackets is never a header
_CUMULATIVE_RANGE = re.compile(r"^1-\d{1,2}月(累计)?(完成)?(数|值)?$")
_TASK_ID = re.compile(r"^(\d{4})-(\d{3})$")
_PERIOD_TEXT = re.compile(r"(20\d{2})\s*年\s*(\d{1,2})\s*月")
_PERIOD_NAME = re.compile(
    r"(20\d{2})\s*(?:年|[-_.])\s*(\d{1,2})(?:\s*月)?(?!\d)|(20\d{2})(\d{2})(?!\d)"
)
_UNIT_LINE = re.compile(r"填报单位\s*[:：]\s*([^\s:：　]+)")
# A notes row starts with one of these words and then a colon; words that never start a task's
# text may be followed by a space too. "注：…" is a note, "注重生态保护，…" a task's text.
_NOTE = re.compile(
    r"^(?:(?:填报人|联系人|联系电话|审核人|单位负责人|分管领导签字|制表人)(?:\s|[:：]|$)"
    r"|(?:注|说明|备注|电话|制表)\s*[:：])"
)
_REPORTER_NOTE = ("填报人", "联系人", "联系电话", "电话")


@dataclass(slots=True)  # many thousands per run
class Problem:
    sheet: str | None
    cell: str | None
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "cell": self.cell,
            "severity": self.severity,
            "message": self.message,
        }

    def line(self) -> str:
        where = f"{self.sheet}!{self.cell}" if self.sheet and self.cell else (self.sheet or "")
        return f"{where}：{self.message}" if where else self.message


@dataclass(slots=True)  # many thousands per run
class MetricFigure:
    task_id: str
    position: int
    month_value: float | None
    cumulative_value: float | None
    sheet: str
    row_no: int
    match_method: str
    match_score: float


@dataclass(slots=True)  # many thousands per run
class TaskNarrative:
    task_id: str
    status: str | None
    progress: str | None
    issues: str | None
    next_steps: str | None


@dataclass
class FileResult:
    """What happened to one file; `status` is accepted / rejected / duplicate / superseded."""

    path: Path
    sha256: str
    unit: str | None = None
    period: str | None = None
    status: str = "rejected"
    problems: list[Problem] = field(default_factory=list)
    metrics: list[MetricFigure] = field(default_factory=list)
    tasks: list[TaskNarrative] = field(default_factory=list)
    reporter: str | None = None
    received_at: datetime = field(default_factory=datetime.now)  # set by ingest (arrival time)
    archive_path: str = ""
    receipt: str = ""
    moved_to: Path | None = None  # where the file goes when it is taken out of the inbox
    kept_as: str = ""  # the same, relative to the data folder (shown in the receipt)
    # pid of the process that checked it ahead of its turn (None: checked in its turn)
    worker: int | None = None

    @property
    def rows(self) -> int:
        return len(self.metrics) + len(
            {t.task_id for t in self.tasks} - {m.task_id for m in self.metrics}
        )

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def add(
        self, severity: str, message: str, sheet: str | None = None, cell: str | None = None
    ) -> None:
        self.problems.append(Problem(sheet, cell, severity, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "unit": self.unit,
            "period": self.period,
            "status": self.status,
            "rows": self.rows if self.status != "rejected" else 0,
            "problems": [p.to_dict() for p in self.problems],
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled compactly: worker processes send back about two hundred figures and
        narratives per file, and plain tuples pickle ten times faster than dataclasses."""
        state = dict(self.__dict__)
        state["metrics"] = list(map(_FIGURE_FIELDS, self.metrics))
        state["tasks"] = list(map(_NARRATIVE_FIELDS, self.tasks))
        return (_unpickled_result, (state,))


_FIGURE_FIELDS = attrgetter(*(f.name for f in fields(MetricFigure)))
_NARRATIVE_FIELDS = attrgetter(*(f.name for f in fields(TaskNarrative)))


def _unpickled_result(state: dict[str, Any]) -> FileResult:
    result = FileResult.__new__(FileResult)
    state["metrics"] = [MetricFigure(*values) for values in state["metrics"]]
    state["tasks"] = [TaskNarrative(*values) for values in state["tasks"]]
    result.__dict__.update(state)
    return result


# ------------------------------------------------------------------ context


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
    unit_names: UnitNames = field(init=False)

    def __post_init__(self) -> None:
        self.unit_names = UnitNames.of(self.register)

    def load_accepted(self) -> None:
        assert self.con is not None
        self.accepted = {
            sha: (unit, period)
            for sha, unit, period in self.con.sql(
                "SELECT sha256, unit, period FROM submissions WHERE status = 'accepted'"
            ).fetchall()
        }

    def index_of(self, unit: str, period: Period) -> UnitIndex | None:
        """The unit's tasks for the period's year, indexed for matching rows (None: none).
        Units with the same tasks share one list (see UnitTasks), and so one index."""
        if period.year not in self.years:
            if self.frozen:
                raise NeedsMain
            assert self.con is not None
            self.years[period.year] = unit_tasks(self.con, Period(period.year, 1))
        tasks = self.years[period.year].get(unit)
        if not tasks:
            return None
        index = self.indexes.get(id(tasks))
        if index is None:
            index = self.indexes[id(tasks)] = UnitIndex.build(tasks)
        return index

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
                    sql("previous_cumulative"), params={"period": key}
                ).fetchall()
            }
        return self.previous[key]

    def frozen_copy(self) -> Context:
        """What worker processes check files with: every year with tasks and every period's
        latest cumulative figures of those years, loaded now. A file for another year comes
        back to the caller (NeedsMain); figures stored later are the caller's to notice."""
        assert self.con is not None
        years = [
            y for (y,) in self.con.sql("SELECT DISTINCT year FROM tasks WHERE active").fetchall()
        ]
        previous: dict[str, dict[tuple[str, str, int], float]] = {}
        for year in years:
            if year not in self.years:
                self.years[year] = unit_tasks(self.con, Period(year, 1))
            for month in range(1, 13):
                previous[str(Period(year, month))] = {}
            rows = self.con.sql(sql("latest_cumulative_figures"), params={"year": str(year)})
            for period, unit, task_id, position, value in rows.fetchall():
                previous[period][(unit, task_id, position)] = value
        return Context(
            self.workspace, self.register, years=dict(self.years), previous=previous,
            accepted=dict(self.accepted), frozen=True,
        )  # fmt: skip


class NeedsMain(Exception):
    """A worker process cannot check this file with what it was given."""


# ------------------------------------------------------------------ identify


def _meta(book: Workbook) -> dict[str, str]:
    for sheet in book.sheets:
        if sheet.name == META_SHEET and sheet.rows and str(sheet.rows[0][0]) == "ducha-template":
            return {str(r[0]).strip(): normalise_text(r[1]) for r in sheet.rows if len(r) > 1}
    return {}


def _title_signals(book: Workbook) -> tuple[str | None, Period | None]:
    """The first 填报单位 line and the first 某年某月 in the top rows of the sheets, in order
    (the search stops once both are found: later sheets hold instructions, long texts
    that are slow to normalise)."""
    unit = period = None
    for sheet in book.sheets:
        if sheet.name == META_SHEET:
            continue
        for row in sheet.rows[:6]:
            for value in row:
                if not isinstance(value, str) or ("年" not in value and "填报单位" not in value):
                    continue  # neither a period nor a unit line
                text = normalise_text(value)
                if unit is None and (m := _UNIT_LINE.search(text)):
                    unit = m.group(1)
                if period is None and (m := _PERIOD_TEXT.search(text)):
                    period = _period_or_none(m.group(1), m.group(2))
                if unit is not None and period is not None:
                    return unit, period
    return unit, period


def _period_or_none(year: str, month: str) -> Period | None:
    if 1 <= int(month) <= 12:
        return Period(int(year), int(month))
    return None


@dataclass
class UnitNames:
    """Every reporting unit's name and aliases, longest first, to find in a file name."""

    ranked: list[tuple[str, str]]  # (name or alias, unit)
    rank: dict[str, int]  # name or alias -> its place in `ranked`
    longest: int

    @classmethod
    def of(cls, register: UnitRegister) -> UnitNames:
        ranked = sorted(
            ((key, unit.name) for unit in register.units if unit.kind != "leader"
             for key in (unit.name, *unit.aliases) if key),
            key=lambda kv: -len(kv[0]),
        )  # fmt: skip
        rank: dict[str, int] = {}
        for i, (key, _) in enumerate(ranked):
            rank.setdefault(key, i)
        return cls(ranked, rank, max((len(k) for k, _ in ranked), default=0))

    def find(self, text: str) -> list[str]:
        """Units named in `text`. Names are taken longest first, and a name found is cut out
        of the text, so that a shorter name inside it does not count as well."""
        found: list[str] = []
        candidates = {
            self.rank[part]
            for i in range(len(text))
            for part in (text[i:j] for j in range(i + 1, min(len(text), i + self.longest) + 1))
            if part in self.rank
        }  # only names that occur at all, in the order of `ranked`
        for i in sorted(candidates):
            key, name = self.ranked[i]
            if key in text:
                found.append(name)
                text = text.replace(key, "|")
        return list(dict.fromkeys(found))


def _name_signals(stem: str, names: UnitNames) -> tuple[list[str], Period | None]:
    text = normalise_text(stem)
    period = None
    if m := _PERIOD_NAME.search(text):
        year, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        period = _period_or_none(year, month)
    return names.find(normalise_name(text)), period


def identify(
    result: FileResult, book: Workbook, ctx: Context, unit_option: str | None,
    period_option: Period | None,
) -> tuple[str | None, Period | None]:  # fmt: skip
    """Unit and period from the template's data, a title line, the file name, the options.

    Every signal present must agree; the first one wins.
    """
    register, workspace = ctx.register, ctx.workspace
    meta = _meta(book)
    units: list[tuple[str, str]] = []  # (source, raw name)
    periods: list[tuple[str, Period]] = []
    if meta:
        if meta.get("工作区") and meta["工作区"] != workspace:
            result.add(ERROR, f"这是“{meta['工作区']}”工作区的模板，不是本工作区（{workspace}）的")
        if meta.get("填报单位"):
            units.append(("模板信息", meta["填报单位"]))
        try:
            periods.append(("模板信息", Period.parse(meta.get("报送期", ""))))
        except UserError:
            result.add(ERROR, f"模板信息中的报送期“{meta.get('报送期')}”无效")
    title_unit, title_period = _title_signals(book)
    if title_unit:
        units.append(("表头“填报单位”", title_unit))
    if title_period:
        periods.append(("表头", title_period))
    name_units, name_period = _name_signals(result.path.stem, ctx.unit_names)
    if len(name_units) > 1:
        result.add(ERROR, f"文件名中出现多个单位（{'、'.join(name_units)}），无法确定填报单位")
    elif name_units:
        units.append(("文件名", name_units[0]))
    if name_period:
        periods.append(("文件名", name_period))
    if unit_option:
        units.append(("--unit 选项", unit_option))
    if period_option:
        periods.append(("--period 选项", period_option))

    resolved: list[tuple[str, str]] = []
    for source, raw in units:
        # 政府办（金融） is a name; 湖塘镇（盖章） is a name and a remark
        name = register.resolve_unit(raw) or register.resolve_unit(_BRACKETS.sub("", raw))
        if name is None:
            result.add(ERROR, f"{source}中的填报单位“{raw}”不在单位名册中")
        else:
            resolved.append((source, name))
    unit = resolved[0][1] if resolved else None
    for source, name in resolved[1:]:
        if name != unit:
            result.add(ERROR, f"{resolved[0][0]}的填报单位（{unit}）与{source}（{name}）不一致")
    period = periods[0][1] if periods else None
    for source, other in periods[1:]:
        if other != period:
            result.add(
                ERROR, f"{periods[0][0]}的报送期（{period.zh}）与{source}（{other.zh}）不一致"
            )
    if unit is None and not units:
        result.add(
            ERROR,
            "无法确定填报单位：文件中没有“填报单位”，文件名中也没有单位名称（可用 --unit 指定）",
        )
    if period is None:
        result.add(ERROR, "无法确定报送期：文件中和文件名中都没有“某年某月”（可用 --period 指定）")
    return unit, period


# ------------------------------------------------------------------ layout


def _header_key(value: Any) -> str | None:
    if type(value) is not str or (
        len(value) > _MAX_HEADER and "(" not in value and "（" not in value
    ):
        return None  # a header names its column in a few words (a remark goes in brackets)
    return _header_text_key(value)


@lru_cache(maxsize=16_384)  # the same headers and task texts come in every file
def _header_text_key(value: str) -> str | None:
    text = _SPACES.sub("", _BRACKETS.sub("", normalise_text(value))).rstrip(":：*＊")
    if not text:
        return None
    if text in _LOOKUP:
        return _LOOKUP[text]
    if _CUMULATIVE_RANGE.match(text):
        return "cumulative"
    return None


def _task_text(value: Any) -> str:
    """A task text or metric label as compared: NFKC, no white space, full-width brackets."""
    return _task_text_key(str(value))


@lru_cache(maxsize=16_384)
def _task_text_key(text: str) -> str:
    return normalise_name(normalise_text(text))


@dataclass
class Layout:
    header_rows: tuple[int, ...]
    columns: dict[str, int]

    @property
    def first_data_row(self) -> int:
        return max(self.header_rows) + 1


def find_layout(sheet: Sheet) -> Layout | None:
    """The header: the row (among the first 30) naming most known columns, completed by
    the rows just above and below it (two-level headers with merged parent cells)."""
    best_row, best = -1, {}
    header_key, limit = _header_text_key, _MAX_HEADER  # the cells of 30 rows: kept lean
    for r, row in enumerate(sheet.rows[:30]):
        keys: dict[str, int] = {}
        for c, value in enumerate(row):
            if type(value) is not str or not value:
                continue
            if len(value) > limit and "(" not in value and "（" not in value:
                continue  # as _header_key
            key = header_key(value)
            if key and key not in keys:
                keys[key] = c
        if len(keys) > len(best):
            best_row, best = r, keys
    if best_row < 0:
        return None
    used = [best_row]
    columns = dict(best)
    for r in (best_row - 1, best_row + 1):
        if not 0 <= r < len(sheet.rows):
            continue
        extra = {}
        for c, value in enumerate(sheet.rows[r]):
            key = _header_key(value)
            if key and key not in columns and c not in columns.values():
                extra[key] = c
        if extra:
            columns.update(extra)
            used.append(r)
    identifies = set(_IDENTIFYING) & columns.keys()
    reports = set(_REPORTING) & columns.keys()
    if not identifies or not reports:
        return None
    return Layout(tuple(sorted(used)), columns)


# ------------------------------------------------------------------ rows


@dataclass
class UnitIndex:
    """A unit's tasks, indexed for matching rows."""

    tasks: dict[str, TaskLines]
    by_seq: dict[int, TaskLines]
    texts: dict[str, str]  # normalised content -> task id
    positions: dict[str, list[int]]  # task id -> its metrics' positions (none: a milestone)
    metrics: dict[tuple[str, int], MetricLine]

    @classmethod
    def build(cls, tasks: Sequence[TaskLines]) -> UnitIndex:
        return cls(
            {t.task_id: t for t in tasks},
            {t.seq: t for t in tasks},
            {_task_text(t.content): t.task_id for t in tasks},
            {t.task_id: [m.position for m in t.metrics if m.position] for t in tasks},
            {(t.task_id, m.position): m for t in tasks for m in t.metrics},
        )


def _cell(row: list[Any], columns: dict[str, int], key: str) -> Any:
    c = columns.get(key)
    return row[c] if c is not None and c < len(row) else ""


def _is_note_row(row: list[Any]) -> str | None:
    """The text of a notes row ("填报人：…", "注：…"): its first filled cell is such a text."""
    for value in row:
        if isinstance(value, str) and value.strip():
            if value.lstrip()[0].isascii():
                return None  # every note word is Chinese (a task id, a number: not a note)
            text = normalise_text(value)
            return text if _NOTE.match(text) else None
        if value not in ("", None):
            return None
    return None


def _names_a_task(row: list[Any], columns: dict[str, int], index: UnitIndex) -> bool:
    """Whether the row's task id, 序号 or exact task text names one of the unit's tasks (such
    a row is never a notes row), checked without a word on the receipt."""
    if normalise_text(_cell(row, columns, "task_id")) in index.tasks:
        return True
    raw_seq = _cell(row, columns, "seq")
    if not is_empty(raw_seq) and _seq_task(raw_seq, index) is not None:
        return True
    raw_text = _cell(row, columns, "content")
    return not is_empty(raw_text) and _task_text(raw_text) in index.texts


def _repeats_header(row: list[Any], identifying: tuple[int, ...]) -> bool:
    """A header repeated on a new page. Data rows hold task ids, numbers and task texts in
    the identifying columns (their indexes), so the row is only checked as a header when
    one of those holds a header word."""
    width = len(row)
    for c in identifying:
        if c < width and _header_key(row[c]):
            return find_layout(Sheet("", [row])) is not None
    return False


def _seq_task(raw_seq: Any, index: UnitIndex) -> TaskLines | None:
    try:
        seq = parse_number(raw_seq)
    except ValueProblem:
        return None
    if seq is None or not float(seq).is_integer():
        return None
    return index.by_seq.get(int(seq))


def _match_task(
    row: list[Any], columns: dict[str, int], index: UnitIndex, year: int, previous: TaskLines | None,
    result: FileResult, sheet: str, r: int,
) -> tuple[TaskLines | None, str, float]:  # fmt: skip
    """The row's task: by task id, else by 序号 (table order), else by the task text
    (exact, then fuzzy). Method "" = nothing identifies the row; "failed" = a problem was
    added to the receipt."""
    raw_id = normalise_text(_cell(row, columns, "task_id"))
    if raw_id:
        task = index.tasks.get(raw_id)
        if task is not None:
            return task, "task_id", 100.0
        m = _TASK_ID.match(raw_id)
        where = cell_ref(r, columns["task_id"])
        if not m or int(m.group(1)) != year:
            result.add(ERROR, f"任务编号“{raw_id}”无效，应为 {year}-001 这样的格式", sheet, where)
        else:
            result.add(ERROR, f"任务编号 {raw_id} 不是本单位在 {year} 年承担的任务", sheet, where)
        return None, "failed", 0.0
    raw_seq = _cell(row, columns, "seq")
    raw_text = _cell(row, columns, "content")
    by_seq = _seq_task(raw_seq, index) if not is_empty(raw_seq) else None
    if is_empty(raw_text):
        if by_seq is not None:
            return by_seq, "seq", 100.0
        if not is_empty(raw_seq):
            result.add(
                ERROR,
                f"序号“{shown(raw_seq)}”对应不到本单位的任务",
                sheet,
                cell_ref(r, columns["seq"]),
            )
            return None, "failed", 0.0
        names_metric = not is_empty(_cell(row, columns, "metric_no")) or not is_empty(
            _cell(row, columns, "metric")
        )
        if previous is not None and names_metric:  # a metric row under a merged task cell
            return previous, "continued", 100.0
        return None, "", 0.0
    key = _task_text(raw_text)
    where = cell_ref(r, columns["content"])
    if key in index.texts:
        task = index.tasks[index.texts[key]]
        return task, ("seq" if by_seq is task else "text"), 100.0
    if by_seq is not None and fuzz.WRatio(key, _task_text(by_seq.content)) >= FUZZY_CUTOFF:
        return by_seq, "seq", 100.0
    best = process.extractOne(
        key, index.texts.keys(), scorer=fuzz.WRatio, score_cutoff=FUZZY_CUTOFF
    )
    if best is not None:
        task = index.tasks[index.texts[best[0]]]
        note = (
            f"，与序号“{shown(raw_seq)}”不一致" if by_seq is not None and by_seq is not task else ""
        )
        result.add(
            WARNING,
            f"按工作内容近似对应到任务 {task.task_id}（相似度 {best[1]:.0f}）{note}",
            sheet,
            where,
        )
        return task, "fuzzy", float(best[1])
    quoted = str(raw_text).strip()
    quoted = quoted[:20] + ("…" if len(quoted) > 20 else "")
    result.add(ERROR, f"工作内容“{quoted}”对应不到本单位的任务", sheet, where)
    return None, "failed", 0.0


def _match_metric(
    row: list[Any], columns: dict[str, int], task: TaskLines, positions: list[int],
    used: set[int], result: FileResult, sheet: str, r: int,
) -> int | None:  # fmt: skip
    if not positions:
        return 0
    raw_no = _cell(row, columns, "metric_no")
    if type(raw_no) is float and raw_no.is_integer() and int(raw_no) in positions:
        return int(raw_no)  # as the template has it
    if not is_empty(raw_no):
        try:
            number = parse_number(raw_no)
        except ValueProblem:
            number = None
        if number is None or not float(number).is_integer() or int(number) not in positions:
            result.add(
                ERROR,
                f"指标序号“{shown(raw_no)}”不是任务 {task.task_id} 的指标",
                sheet,
                cell_ref(r, columns["metric_no"]),
            )
            return None
        return int(number)
    raw_label = _cell(row, columns, "metric")
    if not is_empty(raw_label):
        labels = {m.position: _task_text(m.label or "") for m in task.metrics if m.position}
        key = _task_text(raw_label)
        exact = [p for p, label in labels.items() if label == key]
        if exact:
            return exact[0]
        best = process.extractOne(key, labels, scorer=fuzz.WRatio, score_cutoff=FUZZY_CUTOFF)
        if best is not None:
            return int(best[2])
    remaining = [p for p in positions if p not in used]
    return remaining[0] if remaining else positions[-1]


def parse_rows(
    result: FileResult, book: Workbook, index: UnitIndex, period: Period,
    previous: dict[tuple[str, str, int], float],
) -> None:  # fmt: skip
    """Map every data row of every sheet to a task and metric and check its values."""
    seen_metrics: dict[tuple[str, int], tuple[str, int]] = {}  # -> (sheet, row) seen first
    narratives: dict[str, TaskNarrative] = {}
    any_layout = False
    for sheet in book.sheets:
        if sheet.name == META_SHEET or sheet.hidden:
            continue
        layout = find_layout(sheet)
        if layout is None:
            continue
        any_layout = True
        cols = layout.columns
        identifying = tuple(cols[key] for key in _IDENTIFYING if key in cols)
        texts = tuple(cols.get(key) for key in _NARRATIVE)
        figures = tuple((key, cols[key]) for key in ("month", "cumulative") if key in cols)
        last_task: TaskLines | None = None
        used_positions: dict[str, set[int]] = {}
        for r in range(layout.first_data_row, len(sheet.rows)):
            row = sheet.rows[r]
            if row.count("") + row.count(None) == len(row):
                last_task = None
                continue
            note = _is_note_row(row)
            if note is not None and not _names_a_task(row, cols, index):
                if note.startswith(_REPORTER_NOTE):
                    parts = [
                        normalise_text(v)
                        for v in row
                        if isinstance(v, str | int | float) and str(v).strip()
                    ]
                    result.reporter = " ".join(parts)[:200]
                last_task = None
                continue
            if _repeats_header(row, identifying):
                continue
            task, method, score = _match_task(
                row, cols, index, period.year, last_task, result, sheet.name, r
            )
            if task is None:
                reported = any(not is_empty(_cell(row, cols, k)) for k in _REPORTING)
                if method == "" and reported:
                    result.add(
                        ERROR,
                        "这一行填了进展，但没有任务编号、序号或工作内容，对应不到任务",
                        sheet.name,
                        cell_ref(r, 0),
                    )
                last_task = None  # method "failed": the problem is already on the receipt
                continue
            last_task = task
            _check_cells(result, sheet, r, cols)
            used = used_positions.setdefault(task.task_id, set())
            position = _match_metric(
                row, cols, task, index.positions[task.task_id], used, result, sheet.name, r
            )
            if position is None:
                continue
            used.add(position)
            _read_narrative(result, narratives, task, row, cols.get("status"), texts, sheet.name, r)
            if position == 0:
                key = (task.task_id, 0)
                if key in seen_metrics and method != "continued":
                    result.add(
                        ERROR,
                        f"任务 {task.task_id} 出现了两次（另见 {_row_ref(seen_metrics[key])}）",
                        sheet.name,
                        cell_ref(r, 0),
                    )
                seen_metrics.setdefault(key, (sheet.name, r))
                continue
            key = (task.task_id, position)
            if key in seen_metrics:
                result.add(
                    ERROR, f"任务 {task.task_id} 的第 {position} 个指标出现了两次（另见 {_row_ref(seen_metrics[key])}）",
                    sheet.name, cell_ref(r, 0),
                )  # fmt: skip
                continue
            seen_metrics[key] = (sheet.name, r)
            figure = _read_figure(
                result, task, index.metrics[key], row, cols, figures, sheet.name, r, method, score,
                period, previous,
            )  # fmt: skip
            if figure is not None:
                result.metrics.append(figure)
    result.tasks = list(narratives.values())
    if not any_layout:
        result.add(
            ERROR,
            "没有找到进展表的表头（应有“任务编号”或“工作内容”，以及“本月完成”“累计完成”等列）",
        )
    elif not result.metrics and not result.tasks and result.ok:
        result.add(ERROR, "表中没有填报任何任务的进展")


def _label(task: TaskLines, metric: MetricLine) -> str:
    return f"任务 {task.task_id}“{metric.label}”"


def _row_ref(where: tuple[str, int]) -> str:
    return f"{where[0]}!{cell_ref(where[1], 0)}"


def _check_cells(result: FileResult, sheet: Sheet, r: int, cols: dict[str, int]) -> None:
    """Error cells (#DIV/0!, #N/A) in the row's columns and formulas without a saved result
    in its number cells: the reader sees both as empty cells."""
    if not sheet.formulas and not sheet.errors:
        return
    for key, c in cols.items():
        ref = cell_ref(r, c)
        error = sheet.errors.get(ref)
        if error is not None:
            shown_error = f"“{error}”" if error else ""
            result.add(
                ERROR,
                f"单元格显示错误值{shown_error}，不是有效的填报内容，请改正公式或改填数值后再报送",
                sheet.name,
                ref,
            )
        elif key in ("month", "cumulative") and sheet.formulas.get(ref) is False:
            result.add(
                ERROR,
                "单元格是公式，但没有保存计算结果，请复制后“粘贴为数值”再报送",
                sheet.name,
                ref,
            )


_NARRATIVE = ("progress", "issues", "next_steps")


def _read_narrative(
    result: FileResult, narratives: dict[str, TaskNarrative], task: TaskLines, row: list[Any],
    status_column: int | None, text_columns: tuple[int | None, ...], sheet: str, r: int,
) -> None:  # fmt: skip
    """The row's 完成状态 and texts (columns of _NARRATIVE) for its task."""
    status = None
    width = len(row)
    if status_column is not None and status_column < width:
        try:
            status = parse_status(row[status_column])
        except ValueProblem as exc:
            result.add(ERROR, str(exc), sheet, cell_ref(r, status_column))
    texts = [
        None if c is None or c >= width or row[c] == "" or row[c] is None else text_or_none(row[c])
        for c in text_columns
    ]
    item = narratives.get(task.task_id)
    if item is None:
        if status is None and texts == [None, None, None]:
            return  # nothing said about the task (yet)
        item = narratives[task.task_id] = TaskNarrative(task.task_id, None, None, None, None)
    item.status = item.status or status
    item.progress = item.progress or texts[0]
    item.issues = item.issues or texts[1]
    item.next_steps = item.next_steps or texts[2]


def _read_figure(
    result: FileResult, task: TaskLines, metric: MetricLine, row: list[Any],
    cols: dict[str, int], figures: tuple[tuple[str, int], ...], sheet: str, r: int, method: str,
    score: float, period: Period, previous: dict[tuple[str, str, int], float],
) -> MetricFigure | None:  # fmt: skip
    """本月完成 and 累计完成 (`figures`: the sheet's columns of them) of one metric row."""
    position = metric.position
    month = cumulative = None
    ok = True
    width = len(row)
    for key, c in figures:
        raw = row[c] if c < width else ""
        if type(raw) is float and isfinite(raw):  # a number typed in: most cells
            value: float | None = raw
        else:
            try:
                value = parse_number(raw, metric.measure)
            except ValueProblem as exc:
                result.add(ERROR, str(exc), sheet, cell_ref(r, c))
                ok = False
                continue
        if value is not None and value < 0 and metric.kind != "growth":
            result.add(ERROR, f"“{shown(raw)}”是负数，完成数不能为负", sheet, cell_ref(r, c))
            ok = False
        if key == "month":
            month = value
        else:
            cumulative = value
    if not ok or (month is None and cumulative is None):
        return None
    prior = previous.get((result.unit or "", task.task_id, position))
    if metric.kind == "cumulative":
        if cumulative is None and month is not None:
            base = prior if prior is not None else (0.0 if period.month == 1 else None)
            if base is not None:
                cumulative = base + month
                result.add(
                    WARNING,
                    f"{_label(task, metric)}未填累计完成，按上月累计加本月完成计为 {cumulative:g}",
                    sheet,
                    cell_ref(r, cols.get("month", 0)),
                )
        if month is not None and cumulative is not None and month > cumulative + 1e-9:
            result.add(
                ERROR,
                f"{_label(task, metric)}本月完成（{month:g}）大于累计完成（{cumulative:g}）",
                sheet,
                cell_ref(r, cols["month"]),
            )
        if cumulative is not None and prior is not None and cumulative < prior - 1e-9:
            result.add(
                WARNING, f"{_label(task, metric)}累计完成（{cumulative:g}）低于上月累计（{prior:g}），请核实是否为更正",
                sheet, cell_ref(r, cols.get("cumulative", 0)),
            )  # fmt: skip
    largest = max(abs(month or 0.0), abs(cumulative or 0.0))
    if largest > MAX_RATE and (metric.kind == "growth" or (metric.measure or "") in _RATE_MEASURES):
        for key, value in (("month", month), ("cumulative", cumulative)):
            if value is not None and abs(value) > MAX_RATE and key in cols:
                result.add(
                    ERROR, f"{_label(task, metric)}填报 {value:g}%，超出合理范围（±{MAX_RATE:g}%），请核实单位和数值",
                    sheet, cell_ref(r, cols[key]),
                )  # fmt: skip
    target = metric.target or 0
    if metric.kind != "growth" and 0 < target * TOO_LARGE_FACTOR < largest:
        for key, value in (("month", month), ("cumulative", cumulative)):
            if value is not None and value > TOO_LARGE_FACTOR * target and key in cols:
                result.add(
                    ERROR, f"{_label(task, metric)}填报 {value:g}，超过年度目标（{target:g}{metric.measure or ''}）的 {TOO_LARGE_FACTOR} 倍，请核实单位和数值",
                    sheet, cell_ref(r, cols[key]),
                )  # fmt: skip
    return MetricFigure(task.task_id, position, month, cumulative, sheet, r + 1, method, score)


# ------------------------------------------------------------------ per file


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
            book = read_workbook(found.path.name, Path(found.archive_path).read_bytes())
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
    parse_rows(result, book, index, found_period, ctx.previous_cumulative(found_period))
    return result


# ------------------------------------------------------------------ batch


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files to ingest from files and folders, in the order they arrived (then by name)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += [
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(("~$", "."))
            ]  # fmt: skip
        elif path.exists():
            found.append(path)
        else:
            raise UserError(f"找不到文件或目录 {path}")
    unique = list(dict.fromkeys(p.resolve() for p in found))

    def arrival(p: Path) -> tuple[float, float, str]:
        st = p.stat()
        return st.st_ctime, st.st_mtime, str(p)

    return sorted(unique, key=arrival)


Arrival = datetime | Callable[[Path], datetime] | None


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    *,
    register: UnitRegister,
    workspace: str,
    archive_dir: Path,
    unit: str | None = None,
    period: Period | None = None,
    batch_files: int = BATCH_FILES,
    inbox: Path | None = None,
    timezone: str = clock.DEFAULT_TIMEZONE,
    received_at: Arrival = None,
) -> list[FileResult]:
    """Ingest files and folders; one broken file is one rejection, the others go on.

    A file's time of receipt is when it arrived in its folder (ducha.clock.arrived), or
    `received_at` (a time, or one per file) for files the office received another way. Files
    under `inbox` are moved out of it once their batch is committed (see take_out)."""
    if unit is not None and register.resolve_unit(unit) is None:
        raise UserError(f"--unit 指定的单位“{unit}”不在单位名册中")
    files = collect_files(paths)
    arrivals = {p: _arrival(p, received_at, timezone) for p in files}
    files.sort(key=arrivals.__getitem__)  # stable: files that arrived together keep their order
    ctx = Context(workspace, register, con=con)
    ctx.load_accepted()
    results: list[FileResult] = []
    batch: list[FileResult] = []
    changed: set[tuple[str | None, str | None]] = set()  # (unit, period) stored by this run
    for result in _checked(files, ctx, archive_dir, unit, period, changed):
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
    return clock.arrived(path.stat(), timezone)


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


# ------------------------------------------------------------------ emptying the inbox

RECEIVED_DIR = "received"  # data/received/YYYY-MM-DD/: files taken in (accepted or duplicate)
REJECTED_DIR = "rejected"  # data/rejected/YYYY-MM-DD/: files refused, kept for the office


def plan_take_out(batch: list[FileResult], inbox: Path, day: date) -> None:
    """Where each of the batch's files under `inbox` will go once the batch is committed: beside
    the inbox, under received/ or rejected/ and the day, keeping its folders and name (a name
    taken already gets （2）, （3）…). Decided before the batch is stored, so that a rejected
    file's receipt can say where the file is kept."""
    root = inbox.resolve()
    taken: set[Path] = set()
    for result in batch:
        try:
            inside = result.path.relative_to(root)
        except ValueError:  # named on the command line from elsewhere: the sender's own copy
            continue
        folder = REJECTED_DIR if not result.ok else RECEIVED_DIR
        target = root.parent / folder / day.isoformat() / inside
        n = 1
        while target in taken or target.exists():
            n += 1
            target = target.with_name(f"{Path(inside.name).stem}（{n}）{inside.suffix}")
        taken.add(target)
        result.moved_to = target
        result.kept_as = target.relative_to(root.parent).as_posix()


def take_out(batch: list[FileResult], inbox: Path) -> None:
    """Move the batch's files out of the inbox, as planned: they are archived and their
    outcome is committed, so a later run neither reads them again nor answers a rejected
    draft every day. A move that fails leaves the file where it is (the next run finds it a
    duplicate, or a rejection already answered) and the run goes on."""
    root = inbox.resolve()
    for result in batch:
        if result.moved_to is None:
            continue
        try:
            result.moved_to.parent.mkdir(parents=True, exist_ok=True)
            os.replace(result.path, result.moved_to)
        except OSError:
            result.moved_to, result.kept_as = None, ""
            continue
        folder = result.path.parent
        while folder != root and folder.is_relative_to(root):  # folders left empty
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def _checked(
    files: list[Path], ctx: Context, archive_dir: Path, unit: str | None,
    period: Period | None, changed: set[tuple[str | None, str | None]],
) -> Iterator[FileResult]:  # fmt: skip
    """Every file checked, in order: here, or for a large batch in worker processes (see
    _check_in_workers); the results are the same."""
    workers = worker_count(len(files))
    if not workers:
        for path in files:
            found = receive(path, archive_dir, ctx.accepted)  # accepted before: not parsed
            yield check_file(found, ctx, unit=unit, period=period)
        return
    for path, checked in _check_in_workers(files, ctx, archive_dir, unit, period, workers):
        if checked is not None and checked.sha256 in ctx.accepted and checked.status != "duplicate":
            checked = None  # the same bytes were accepted earlier in this run
        elif checked is not None and checked.period and checked.unit:
            before = Period.parse(checked.period).previous()
            if before is not None and (checked.unit, str(before)) in changed:
                checked = None  # last month's figures changed since the worker's copy
        if checked is None:  # checked again here, from the archived copy
            checked = check_file(receive(path, archive_dir), ctx, unit=unit, period=period)
        yield checked


# Worker processes: each gets a frozen copy of the context once, then chunks of files.
CHUNK = 8
SERIAL_CHUNKS = 8  # checked here while the workers start (about 0.5 s)
_WORKER: dict[str, Any] = {}


def _init_worker(
    ctx: Context, archive_dir: Path, unit: str | None, period: Period | None, parent: int
) -> None:
    _WORKER.update(
        ctx=ctx, known=frozenset(ctx.accepted), archive_dir=archive_dir, unit=unit, period=period
    )
    gc.freeze()  # the context lives as long as the worker: collections need not walk it
    threading.Thread(target=_exit_with, args=(parent,), name="ducha-parent", daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker once the process that started it is gone: killed, it shuts nothing
    down, and a worker waiting for work would wait for ever."""
    stat = Path(f"/proc/{parent}/stat")
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
            gone = stat.read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")  # killed, unreaped
        except ProcessLookupError:
            gone = True
        except OSError:  # no /proc: the signal test alone
            gone = False
        if gone:
            os._exit(1)


def _check_chunk(paths: list[Path]) -> list[FileResult | None]:
    """A chunk of files checked in a worker; None: the caller checks that file itself."""
    done: list[FileResult | None] = []
    for path in paths:
        found = receive(path, _WORKER["archive_dir"], _WORKER["known"])
        try:
            result = check_file(
                found, _WORKER["ctx"], unit=_WORKER["unit"], period=_WORKER["period"]
            )
        except NeedsMain:
            done.append(None)
            continue
        result.worker = os.getpid()
        done.append(result)
    return done


def _check_ahead(
    path: Path, ctx: Context, archive_dir: Path, unit: str | None, period: Period | None
) -> FileResult:
    """A file of a chunk taken from the workers, checked here before its turn (its `worker`
    is this process): like a worker's result, it is checked again in its turn if the run
    has since changed what it depends on."""
    result = check_file(receive(path, archive_dir, ctx.accepted), ctx, unit=unit, period=period)
    result.worker = os.getpid()
    return result


def _check_in_workers(
    files: list[Path], ctx: Context, archive_dir: Path, unit: str | None,
    period: Period | None, workers: int,
) -> Iterator[tuple[Path, FileResult | None]]:  # fmt: skip
    """Files checked by worker processes, yielded in order (None: check it here). Workers
    take about half a second to start (they import what checking needs): they are started
    on a thread while this process checks the first files itself. After that, whenever the
    next chunk is not back yet, this process takes the last chunk no worker has started
    and checks it itself (as a worker would, with its own context): it stores the batches
    too, and its idle time is spent on the files no one will reach soon."""
    context = multiprocessing.get_context("forkserver")  # never fork DuckDB's threads
    context.set_forkserver_preload(["ducha.submissions.ingest"])
    multiprocessing.forkserver.ensure_running()  # it imports ducha.submissions.ingest while the context loads
    frozen = ctx.frozen_copy()
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    own = min(len(chunks), SERIAL_CHUNKS)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker,
        initargs=(frozen, archive_dir, unit, period, os.getpid()),
    )  # fmt: skip
    submitted: list[Future[list[FileResult | None]]] = []

    def submit_all() -> None:
        for chunk in chunks[own:]:
            submitted.append(pool.submit(_check_chunk, chunk))

    starter = threading.Thread(target=submit_all, name="ducha-ingest-workers", daemon=True)
    starter.start()
    try:
        for chunk in chunks[:own]:
            for path in chunk:
                yield path, None
        starter.join()
        if len(submitted) < len(chunks) - own:  # the pool failed to start
            raise RuntimeError("无法启动读取进展表的工作进程")
        stolen: dict[int, list[FileResult | None]] = {}
        tail = len(submitted) - 1  # the last chunk that may still be waiting for a worker
        for k, (chunk, future) in enumerate(zip(chunks[own:], submitted, strict=True)):
            if k in stolen:
                yield from zip(chunk, stolen.pop(k), strict=True)
                continue
            # Only chunks beyond those the workers may hold already; a chunk that can no
            # longer be cancelled has started, and so have all before it.
            while not future.done() and tail > k + workers and submitted[tail].cancel():
                stolen[tail] = [_check_ahead(path, ctx, archive_dir, unit, period)
                                for path in chunks[own + tail]]  # fmt: skip
                tail -= 1
            if not future.done():
                tail = -1
            yield from zip(chunk, future.result(), strict=True)
    finally:
        starter.join()
        for future in submitted:
            future.cancel()
        pool.shutdown(wait=True)


def store_batch(con: duckdb.DuckDBPyConnection, batch: list[FileResult]) -> None:
    """Write a checked batch in one transaction: accepted files with their figures, rejected
    files with their receipts only. Decides duplicate / superseded against the database."""
    from ducha.submissions.receipts import render_receipt

    if not batch:
        return
    shas = sorted({r.sha256 for r in batch if r.sha256})
    known: dict[str, str] = {}
    if shas:
        for sha, status in con.sql(
            "SELECT sha256, CASE WHEN bool_or(status = 'accepted') THEN 'accepted' ELSE 'rejected' END "
            "FROM submissions WHERE sha256 IN (SELECT unnest($shas)) GROUP BY sha256",
            params={"shas": shas},
        ).fetchall():
            known[sha] = status
    with transaction(con):
        latest = {
            (u, p): sid
            for sid, u, p in con.sql(
                "SELECT submission_id, unit, period FROM latest_submissions"
            ).fetchall()
        }
        seen: dict[str, str] = {}
        stored: list[FileResult] = []  # the results that get a submission row, in order
        for result in batch:
            earlier = known.get(result.sha256) or seen.get(result.sha256)
            if result.status == "duplicate" or (result.ok and earlier == "accepted"):
                result.status = "duplicate"
            elif not result.ok:
                result.status = "rejected"
                if earlier != "rejected" and result.sha256:  # else its receipt is on file
                    seen[result.sha256] = "rejected"
                    stored.append(result)
            else:
                result.status = "accepted"
                seen[result.sha256] = "accepted"
                stored.append(result)
        ids = _next_ids(con, len(stored))
        replaced: list[int | None] = []
        replacements: list[list[int]] = []  # [new, old]: applied once both rows exist
        for submission_id, result in zip(ids, stored, strict=True):
            earlier_id = None
            if result.ok:
                key = (result.unit, result.period)
                earlier_id = latest.get(key)
                latest[key] = submission_id
                if earlier_id is not None:
                    result.status = "superseded"
                    replacements.append([submission_id, earlier_id])
            replaced.append(earlier_id)
        for result in batch:
            result.receipt = render_receipt(result)
        if stored:
            _insert(con, "submissions", _submission_table(ids, stored, replaced))
            problems = _problem_table(ids, stored)
            if problems.height:
                _insert(con, "submission_problems", problems)
        if replacements:
            con.executemany(
                "UPDATE submissions SET superseded_by = ? WHERE submission_id = ?", replacements
            )
        accepted = [(i, r) for i, r in zip(ids, stored, strict=True) if r.ok]
        metrics = _metric_table(accepted)
        if metrics.height:
            _insert(con, "progress_metrics", metrics)
        tasks = _task_table(accepted)
        if tasks.height:
            _insert(con, "progress_tasks", tasks)


def _insert(con: duckdb.DuckDBPyConnection, name: str, rows: pl.DataFrame) -> None:
    con.register("batch_rows", rows)
    try:
        con.execute(f"INSERT INTO {name} SELECT * FROM batch_rows")
    finally:
        con.unregister("batch_rows")


def _next_ids(con: duckdb.DuckDBPyConnection, count: int) -> list[int]:
    """`count` new submission ids, in one query."""
    if not count:
        return []
    return sorted(
        int(i)
        for (i,) in con.sql(
            "SELECT nextval('submission_id_seq') FROM range($n)", params={"n": count}
        ).fetchall()
    )


# Column types of the rows written (polars builds the columns from Python lists without
# importing pandas, which pyarrow's pa.array does on first use: 0.3 s of a small run).
# Column name -> "S" text, "I" integer, "F" number, "T" timestamp.
_SUBMISSION_SCHEMA = {
    "submission_id": "I", "sha256": "S", "file_name": "S", "archive_path": "S", "unit": "S",
    "period": "S", "status": "S", "supersedes": "I", "superseded_by": "I", "received_at": "T",
    "ingested_at": "T", "rows": "I", "reporter": "S", "receipt": "S",
}  # fmt: skip
_PROBLEM_SCHEMA = {
    "submission_id": "I", "seq": "I", "sheet": "S", "cell": "S", "severity": "S", "message": "S",
}  # fmt: skip
_METRIC_SCHEMA = {
    "submission_id": "I", "unit": "S", "period": "S", "task_id": "S", "position": "I",
    "month_value": "F", "cumulative_value": "F", "sheet": "S", "row_no": "I",
    "match_method": "S", "match_score": "F",
}  # fmt: skip
_TASK_SCHEMA = {
    "submission_id": "I", "unit": "S", "period": "S", "task_id": "S", "status": "S",
    "progress": "S", "issues": "S", "next_steps": "S",
}  # fmt: skip


def _submission_table(
    ids: list[int], stored: list[FileResult], replaced: list[int | None]
) -> pl.DataFrame:
    now = clock.now()
    columns = {
        "submission_id": ids,
        "sha256": [r.sha256 for r in stored],
        "file_name": [r.path.name for r in stored],
        "archive_path": [r.archive_path for r in stored],
        "unit": [r.unit for r in stored],
        "period": [r.period for r in stored],
        "status": ["accepted" if r.ok else "rejected" for r in stored],
        "supersedes": replaced,
        "superseded_by": [None] * len(ids),
        "received_at": [r.received_at for r in stored],
        "ingested_at": [now] * len(ids),
        "rows": [r.rows if r.ok else 0 for r in stored],
        "reporter": [r.reporter for r in stored],
        "receipt": [r.receipt for r in stored],
    }
    return _table(_SUBMISSION_SCHEMA, [], columns)


def _problem_table(ids: list[int], stored: list[FileResult]) -> pl.DataFrame:
    owners = [(i, r.problems) for i, r in zip(ids, stored, strict=True)]
    columns = {
        "submission_id": [i for i, problems in owners for _ in problems],
        "seq": [seq for _, problems in owners for seq in range(1, len(problems) + 1)],
    }
    return _table(_PROBLEM_SCHEMA, [p for _, problems in owners for p in problems], columns)


def _metric_table(accepted: list[tuple[int, FileResult]]) -> pl.DataFrame:
    return _table(_METRIC_SCHEMA, *_owned(accepted, lambda r: r.metrics))


def _task_table(accepted: list[tuple[int, FileResult]]) -> pl.DataFrame:
    return _table(_TASK_SCHEMA, *_owned(accepted, lambda r: r.tasks))


def _owned(
    accepted: list[tuple[int, FileResult]], items_of: Callable[[FileResult], list[Any]]
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The items of every accepted file, and their submission id, unit and period columns."""
    items: list[Any] = []
    columns: dict[str, list[Any]] = {"submission_id": [], "unit": [], "period": []}
    for submission_id, result in accepted:
        found = items_of(result)
        items += found
        columns["submission_id"] += [submission_id] * len(found)
        columns["unit"] += [result.unit] * len(found)
        columns["period"] += [result.period] * len(found)
    return items, columns


def _table(schema: dict[str, str], items: list[Any], columns: dict[str, list[Any]]) -> pl.DataFrame:
    """Rows in the schema's column order: each column from `columns`, else the attribute of
    that name of each of `items`."""
    import polars as pl

    types = {"S": pl.String, "I": pl.Int32, "F": pl.Float64, "T": pl.Datetime("us")}
    return pl.DataFrame(
        {
            name: columns[name] if name in columns else list(map(attrgetter(name), items))
            for name in schema
        },
        schema={name: types[kind] for name, kind in schema.items()},
    )
