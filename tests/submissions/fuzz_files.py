"""Deterministic generators of monthly progress files for the ingest fuzz and crash tests.

Files are written with real tools: the templates by ducha.submissions.templates.write_templates,
filled in with openpyxl as a person would, rebuilt with xlsxwriter where a break needs it
(formulas with or without cached values, merged cells, 100,000 rows), CSV with the csv module,
and zip archives with zipfile. Each generated file comes with a `Case`: what the ingester must
do with it and, when that is predictable, the exact rows it must store.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import random
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import xlsxwriter
from python_calamine import CalamineWorkbook

from ducha.periods import Period
from ducha.submissions.assignments import MetricLine, TaskLines, unit_tasks
from ducha.submissions.templates import (
    COL,
    GUIDE_SHEET,
    HEADER_ROW,
    MAIN_SHEET,
    META_SHEET,
    STATUSES,
    template_name,
    write_templates,
)
from tests.helpers import REVIEW_2026, ROOT, SEED_TABLE, Workspace

PERIOD = Period(2026, 3)
WORKSPACE = "wujin"  # config/workspace.yaml `code`
STATUS_CODES = {
    "已完成": "done",
    "序时推进": "on_schedule",
    "滞后": "behind",
    "未启动": "not_started",
}
ACCEPT, REJECT, ANY = "accept", "reject", "any"

MetricRow = tuple[str, int, float | None, float | None]  # task_id, position, month, cumulative
TaskRow = tuple[str, str | None, str | None, str | None, str | None]  # task_id, status, texts…


def prepare_workspace(ws: Workspace) -> None:
    """The sample 2026 target table with its reviewed metrics, as a supervisor would set up."""
    ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    ws.ok("targets", "confirm", str(REVIEW_2026))


def prepared_database(root: Path) -> tuple[Path, Templates]:
    """A prepared database under `root` (closed, checkpointed) and the real templates."""
    shutil.copytree(ROOT / "config", root / "config")
    ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    prepare_workspace(ws)
    return ws.db, Templates(ws.db, root / "templates")


def workspace_from(db: Path, root: Path) -> Workspace:
    """A fresh workspace under `root` holding a copy of the prepared database `db`."""
    shutil.copytree(ROOT / "config", root / "config")
    ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    ws.db.parent.mkdir(parents=True)
    shutil.copy(db, ws.db)
    return ws


@dataclass(frozen=True)
class Line:
    """One row of a template's main sheet: a task's metric (position 0 = no metric)."""

    row: int  # 0-based
    task: TaskLines
    metric: MetricLine
    first: bool  # the task's first row: merged task cells hold their value here


@dataclass
class Fill:
    """What a person typed into a template, and the rows the ingester must store for it."""

    unit: str
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)  # (row, col) 0-based
    metrics: set[MetricRow] = field(default_factory=set)
    tasks: set[TaskRow] = field(default_factory=set)


@dataclass
class Case:
    """A generated file and what ingesting it must do.

    expect: accept (with exactly `metrics`/`tasks`), reject (with an error; `message`, when
    given, is part of one of the error messages), or any (both are legitimate; when `metrics`
    is given an acceptance must store exactly those rows).
    """

    path: Path
    kind: str
    expect: str
    unit: str | None = None
    metrics: frozenset[MetricRow] | None = None
    tasks: frozenset[TaskRow] | None = None
    message: str | None = None


def _number(value: float) -> float:
    return round(value, 2)


def figures(metric: MetricLine, rng: random.Random) -> tuple[float | None, float | None]:
    """Plausible 本月完成 / 累计完成 for a metric (within its checks: month ≤ cumulative,
    under 10× the target, negative only for growth rates)."""
    target = float(metric.target or 10)
    if metric.kind == "growth":
        return None, _number(rng.uniform(-3, 12))
    if metric.kind == "level":
        return None, _number(target * rng.uniform(0.3, 1.0))
    month = _number(target * rng.uniform(0.01, 0.08))
    cumulative = _number(month + target * rng.uniform(0.05, 0.3))
    if rng.random() < 0.15:
        month = None
    return month, cumulative


class Templates:
    """The real templates for PERIOD, their row layout, and ways to fill them in."""

    def __init__(self, db: Path, out_dir: Path) -> None:
        con = duckdb.connect(str(db), read_only=True)
        try:
            self.by_unit: dict[str, list[TaskLines]] = unit_tasks(con, PERIOD)
            write_templates(con, out_dir, workspace=WORKSPACE, period=PERIOD)
        finally:
            con.close()
        self.dir = out_dir
        self._pickled: dict[str, bytes] = {}
        self._grids: dict[str, dict[str, tuple[list[list[Any]], list]]] = {}

    @property
    def units(self) -> list[str]:
        return sorted(self.by_unit)

    def path(self, unit: str) -> Path:
        return self.dir / template_name(unit, PERIOD)

    def lines(self, unit: str) -> list[Line]:
        out, r = [], HEADER_ROW + 1
        for task in self.by_unit[unit]:
            for k, metric in enumerate(task.metrics):
                out.append(Line(r, task, metric, k == 0))
                r += 1
        return out

    def metric_lines(self, unit: str, kinds: Iterable[str] | None = None) -> list[Line]:
        wanted = set(kinds) if kinds is not None else None
        return [
            ln
            for ln in self.lines(unit)
            if ln.metric.position and (wanted is None or ln.metric.kind in wanted)
        ]

    def fill(self, unit: str, rng: random.Random, tag: str = "") -> Fill:
        """Fill every input a careful person would: figures, status and the narrative."""
        fill = Fill(unit)
        for line in self.lines(unit):
            task, metric = line.task, line.metric
            if metric.position:
                month, cumulative = figures(metric, rng)
                if month is not None:
                    fill.cells[(line.row, COL["本月完成"])] = month
                if cumulative is not None:
                    fill.cells[(line.row, COL["累计完成"])] = cumulative
                fill.metrics.add((task.task_id, metric.position, month, cumulative))
            if not line.first:
                continue
            has_metric = any(m.position for m in task.metrics)
            status = rng.choice(STATUSES) if not has_metric or rng.random() < 0.5 else None
            progress = (
                f"{tag}已完成第{rng.randint(1, 9)}阶段工作，形象进度{rng.randint(5, 95)}%"
                if rng.random() < 0.8
                else None
            )
            issues = rng.choice(["要素保障压力较大", "资金到位偏慢", None, None])
            next_steps = rng.choice(["加快推进，确保按期完成", "加强调度", None])
            for name, value in (
                ("完成状态", status),
                ("进展情况", progress),
                ("存在问题", issues),
                ("下步打算", next_steps),
            ):
                if value is not None:
                    fill.cells[(line.row, COL[name])] = value
            if any((status, progress, issues, next_steps)):
                fill.tasks.add(
                    (task.task_id, STATUS_CODES.get(status or ""), progress, issues, next_steps)
                )
        return fill

    # ---------------------------------------------------------------- openpyxl

    def workbook(self, unit: str) -> openpyxl.Workbook:
        """A fresh openpyxl copy of the unit's real template (loaded once, then unpickled)."""
        if unit not in self._pickled:
            self._pickled[unit] = pickle.dumps(openpyxl.load_workbook(self.path(unit)))
        return pickle.loads(self._pickled[unit])

    def write_filled(
        self,
        fill: Fill,
        path: Path,
        edit: Callable[[openpyxl.Workbook], None] | None = None,
        unit: str | None = None,
    ) -> Path:
        """Type the fill into the unit's template with openpyxl, apply `edit`, save."""
        book = self.workbook(unit or fill.unit)
        sheet = book[MAIN_SHEET]
        for (r, c), value in fill.cells.items():
            sheet.cell(r + 1, c + 1).value = value
        if edit is not None:
            edit(book)
        book.save(path)
        return path

    # ----------------------------------------------------- grids (calamine read)

    def grids(self, unit: str) -> dict[str, tuple[list[list[Any]], list]]:
        """Every sheet of the real template as (values, merged ranges)."""
        if unit not in self._grids:
            book = CalamineWorkbook.from_path(str(self.path(unit)))
            found = {}
            for name in book.sheet_names:
                sheet = book.get_sheet_by_name(name)
                rows = [list(r) for r in sheet.to_python(skip_empty_area=False)]
                found[name] = (rows, list(sheet.merged_cell_ranges or []))
            self._grids[unit] = found
        return {k: ([list(r) for r in v[0]], list(v[1])) for k, v in self._grids[unit].items()}

    def filled_grid(self, fill: Fill) -> tuple[list[list[Any]], list]:
        rows, merges = self.grids(fill.unit)[MAIN_SHEET]
        for (r, c), value in fill.cells.items():
            rows[r][c] = value
        return rows, merges


# ------------------------------------------------------------------ xlsxwriter


def plain(value: Any) -> Any:
    """Calamine floats that are whole numbers back to ints (序号 1.0 -> 1)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_xlsx(
    path: Path,
    sheets: list[tuple[str, list[list[Any]], list]],
    *,
    hidden: Iterable[str] = (META_SHEET,),
    formulas: dict[tuple[str, int, int], tuple[str, Any]] | None = None,
    constant_memory: bool = False,
    extra_rows: Callable[[Any, int], None] | None = None,
) -> Path:
    """Write sheets given as (name, grid, merged ranges) with xlsxwriter.

    formulas: (sheet, row, col) -> (formula, cached value; None = xlsxwriter's default 0).
    extra_rows(worksheet, next_row) may append rows to the first sheet (constant memory).
    """
    formulas = formulas or {}
    book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    book.set_properties({"title": f"{PERIOD.zh}目标任务进展情况表", "author": "填报人"})
    head = book.add_format({"bold": True, "border": 1, "text_wrap": True})
    cell = book.add_format({"border": 1, "text_wrap": True, "valign": "vcenter"})
    for index, (name, grid, merges) in enumerate(sheets):
        sheet = book.add_worksheet(name)
        covered: set[tuple[int, int]] = set()
        starts: dict[tuple[int, int], tuple[int, int]] = {}
        for (r0, c0), (r1, c1) in merges:
            starts[(r0, c0)] = (r1, c1)
            covered |= {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)} - {(r0, c0)}
        for r, row in enumerate(grid):
            fmt = head if r == HEADER_ROW else cell
            for c, value in enumerate(row):
                if (r, c) in covered:
                    continue
                if (name, r, c) in formulas:
                    formula, cached = formulas[(name, r, c)]
                    if cached is None:
                        sheet.write_formula(r, c, formula, fmt)
                    else:
                        sheet.write_formula(r, c, formula, fmt, cached)
                elif (r, c) in starts:
                    r1, c1 = starts[(r, c)]
                    sheet.merge_range(r, c, r1, c1, plain(value), fmt)
                elif value not in ("", None):
                    sheet.write(r, c, plain(value), fmt)
        if index == 0 and extra_rows is not None:
            extra_rows(sheet, len(grid))
        if name in set(hidden):
            sheet.hide()
    book.close()
    return path


def template_sheets(
    templates: Templates, unit: str, main: tuple[list[list[Any]], list]
) -> list[tuple[str, list[list[Any]], list]]:
    """The template's three sheets with `main` as the main sheet."""
    grids = templates.grids(unit)
    return [
        (MAIN_SHEET, *main),
        (GUIDE_SHEET, *grids[GUIDE_SHEET]),
        (META_SHEET, *grids[META_SHEET]),
    ]


# ------------------------------------------------------------------------ CSV


def csv_bytes(rows: list[list[Any]], encoding: str, *, delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else plain(v) for v in row])
    return out.getvalue().encode(encoding)


# ------------------------------------------------------------------------ zip


BOMB_MEMBER = "xl/media/image1.bin"


def zip_bomb(base: bytes, *, inflated: int = 110 * 1024 * 1024) -> bytes:
    """`base` (an .xlsx) plus one member inflating to `inflated` bytes of zeros (~110 KB)."""
    out = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w") as dst:
        info = zipfile.ZipInfo(BOMB_MEMBER, date_time=(2026, 4, 1, 9, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(info, "w") as member:
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def lying_sizes(bomb: bytes) -> bytes:
    """The bomb member claims 1 KB uncompressed in both its headers."""
    data = bytearray(bomb)
    _set_sizes(data, BOMB_MEMBER, uncompressed=1024)
    return bytes(data)


def _set_sizes(data: bytearray, name: str, *, uncompressed: int) -> None:
    """Overwrite a member's uncompressed size in its local and central directory headers."""
    encoded = name.encode()
    for signature, size_at, name_len_at, header in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            n = struct.unpack_from("<H", data, at + name_len_at)[0]
            if bytes(data[at + header : at + header + n]) == encoded:
                struct.pack_into("<I", data, at + size_at, uncompressed)
                if signature == b"PK\x03\x04":  # streamed: sizes follow in a data descriptor
                    flags = struct.unpack_from("<H", data, at + 6)[0]
                    struct.pack_into("<H", data, at + 6, flags & ~0x8)
            at += 4


def corrupt(data: bytes, rng: random.Random) -> bytes:
    """Overwrite 1–8 bytes: anywhere, or in the zip's central directory."""
    out = bytearray(data)
    directory = data.rfind(b"PK\x01\x02", 0, len(data))
    first_entry = data.find(b"PK\x01\x02")
    for _ in range(rng.randint(1, 8)):
        if first_entry > 0 and rng.random() < 0.5:
            at = rng.randrange(first_entry, max(directory, first_entry + 1) + 46)
        else:
            at = rng.randrange(len(out))
        at = min(at, len(out) - 1)
        out[at] = (out[at] + rng.randint(1, 255)) % 256
    return bytes(out)


def set_mtimes(paths: list[Path], start: float = 1_775_000_000.0, step: float = 60.0) -> None:
    """Distinct modification times in the given order (the ingester's order)."""
    for i, path in enumerate(paths):
        os.utime(path, (start + i * step, start + i * step))
