"""Monthly progress templates: one .xlsx per reporting unit.

Each template holds the unit's own tasks (locked), an input row per metric
(本月完成, 累计完成) and per task (完成状态, 进展情况, 存在问题, 下步打算), data
validation on the input cells, an instructions sheet, and a hidden sheet that
says whose file it is, so a renamed file still identifies itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ducha.db import sql
from ducha.periods import Period

if TYPE_CHECKING:  # worker processes that check files read UnitTasks without DuckDB
    import duckdb

META_SHEET = "ducha"
MAIN_SHEET = "进展表"
GUIDE_SHEET = "填报说明"
TEMPLATE_VERSION = 1
STATUSES = ("已完成", "序时推进", "滞后", "未启动")
HEADER = (
    "任务编号",
    "序号",
    "目标名称",
    "工作内容",
    "牵头单位",
    "本单位职责",
    "指标序号",
    "指标",
    "年度目标",
    "计量单位",
    "本单位分解目标",
    "上月累计",
    "本月完成",
    "累计完成",
    "完成状态",
    "进展情况",
    "存在问题",
    "下步打算",
)
COL = {name: i for i, name in enumerate(HEADER)}
TASK_COLUMNS = ("任务编号", "序号", "目标名称", "工作内容", "牵头单位", "本单位职责")
TASK_INPUTS = ("完成状态", "进展情况", "存在问题", "下步打算")
HEADER_ROW = 2  # 0-based: title, unit/period line, header
ROLE_ZH = {"lead": "牵头", "responsible": "责任"}


@dataclass
class MetricLine:
    position: int  # 0 = a task with no metric (milestone)
    label: str | None
    target: float | None
    measure: str | None
    kind: str | None
    allocation: float | None
    previous: float | None = None


@dataclass
class TaskLines:
    task_id: str
    seq: int
    goal: str
    content: str
    lead_units: list[str]
    role: str
    metrics: list[MetricLine] = field(default_factory=list)


def unit_tasks(con: duckdb.DuckDBPyConnection, period: Period) -> UnitTasks:
    """Every reporting unit's tasks and metrics for the period's year, in table order."""
    params = {"year": period.year}
    assignments = con.sql(sql("reporting_assignments"), params=params).to_arrow_table()
    lines = con.sql(sql("reporting_task_lines"), params=params).to_arrow_table()
    previous: dict[tuple[str, str, int], float] = {}
    before = period.previous()
    if before is not None:
        for unit, task_id, position, value in con.sql(
            sql("previous_cumulative"), params={"period": str(before)}
        ).fetchall():
            previous[(unit, task_id, position)] = value
    return UnitTasks(assignments, lines, previous)


class UnitTasks(Mapping[str, list[TaskLines]]):
    """unit -> its TaskLines, built per unit on first use from two Arrow tables: who reports
    what (reporting_assignments: unit, role, task, metric, allocation; ordered by unit) and
    the tasks' texts and targets (reporting_task_lines, once per task). Units with the same
    role and figures in a task share its TaskLines, and units with the same tasks share the
    list (a thousand towns responsible for the same tasks hold one copy): read them, never
    change them."""

    def __init__(
        self, assignments: pa.Table, lines: pa.Table, previous: dict[tuple[str, str, int], float]
    ) -> None:
        self._assignments = assignments
        self._lines = lines
        self._previous = previous
        self._rows: dict[str, tuple[int, int]] = {}  # unit -> (first row, row count)
        runs = pc.run_end_encode(assignments.column("unit").combine_chunks())
        start = 0
        for unit, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            self._rows[unit] = (start, end - start)
            start = end
        # What differs between units, as Python lists.
        self._roles, self._task_ids, self._positions, self._allocations = (
            assignments.column(name).to_pylist()
            for name in ("role", "task_id", "position", "allocation")
        )
        self._texts: dict[str, list[dict[str, Any]]] = {}  # task id -> its lines, one per metric
        for line in lines.to_pylist():
            self._texts.setdefault(line["task_id"], []).append(line)
        self._built: dict[str, list[TaskLines]] = {}
        self._shared: dict[tuple[Any, ...], TaskLines] = {}
        self._lists: dict[tuple[int, ...], list[TaskLines]] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled small (for worker processes): roles and task ids dictionary-encoded, the
        tasks' texts once, nothing built yet."""
        table = self._assignments
        for name in ("role", "task_id"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table.column(i).dictionary_encode())
        return (_unpickled_unit_tasks, (table, self._lines, self._previous))

    def __getitem__(self, unit: str) -> list[TaskLines]:
        tasks = self._built.get(unit)
        if tasks is None:
            tasks = self._built[unit] = self._build(unit, *self._rows[unit])
        return tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _build(self, unit: str, start: int, count: int) -> list[TaskLines]:
        end = start + count
        roles, task_ids = self._roles[start:end], self._task_ids[start:end]
        positions, allocations = self._positions[start:end], self._allocations[start:end]
        previous = [
            self._previous.get((unit, t, p)) for t, p in zip(task_ids, positions, strict=True)
        ]
        tasks: list[TaskLines] = []
        first = 0
        while first < count:  # a task's rows (one per metric) follow each other
            stop = first + 1
            while stop < count and task_ids[stop] == task_ids[first]:
                stop += 1
            key = (
                task_ids[first], roles[first], tuple(allocations[first:stop]),
                tuple(previous[first:stop]),
            )  # fmt: skip
            task = self._shared.get(key)
            if task is None:
                task = self._shared[key] = _task_lines(
                    self._texts[task_ids[first]], roles[first], allocations[first:stop],
                    previous[first:stop],
                )  # fmt: skip
            tasks.append(task)
            first = stop
        return self._lists.setdefault(tuple(map(id, tasks)), tasks)


def _unpickled_unit_tasks(
    assignments: pa.Table, lines: pa.Table, previous: dict[tuple[str, str, int], float]
) -> UnitTasks:
    """Roles and task ids decoded back to plain strings on arrival: reading a dictionary-encoded
    column into Python is ten times slower, and a worker reads every row once."""
    for i, column in enumerate(assignments.schema):
        if pa.types.is_dictionary(column.type):
            plain = pc.cast(assignments.column(i), column.type.value_type)
            assignments = assignments.set_column(i, column.name, plain)
    return UnitTasks(assignments, lines, previous)


def _task_lines(
    lines: list[dict[str, Any]], role: str, allocations: list[float | None],
    previous: list[float | None],
) -> TaskLines:  # fmt: skip
    """One task's TaskLines: its lines (one per metric) with the unit's role, allocations and
    last month's figures."""
    head = lines[0]
    task = TaskLines(
        head["task_id"], head["seq"], head["goal"], head["content"], list(head["lead_units"]),
        role,
    )  # fmt: skip
    for line, allocation, before in zip(lines, allocations, previous, strict=True):
        task.metrics.append(
            MetricLine(
                line["position"], line["label"], line["target"], line["measure"], line["kind"],
                allocation, before,
            )
        )  # fmt: skip
    return task


def template_name(unit: str, period: Period) -> str:
    return f"{unit}-{period.zh}进展表.xlsx"


def write_template(
    path: Path, *, workspace: str, unit: str, period: Period, tasks: Sequence[TaskLines]
) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    book.set_properties(
        {
            "title": f"{period.zh}目标任务进展情况表",
            "subject": f"{unit} {period}",
            "author": "ducha",
            "keywords": f"ducha;{workspace};{unit};{period}",
        }
    )
    _main_sheet(book, workspace, unit, period, tasks)
    _guide_sheet(book, unit, period)
    meta = book.add_worksheet(META_SHEET)
    for r, (key, value) in enumerate(
        (
            ("ducha-template", str(TEMPLATE_VERSION)),
            ("工作区", workspace),
            ("填报单位", unit),
            ("报送期", str(period)),
        )
    ):
        meta.write_string(r, 0, key)
        meta.write_string(r, 1, value)
    meta.protect()
    meta.hide()
    book.close()
    return path


def _main_sheet(
    book, workspace: str, unit: str, period: Period, tasks: Sequence[TaskLines]
) -> None:
    sheet = book.add_worksheet(MAIN_SHEET)
    sheet.activate()
    title = book.add_format({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"})
    line = book.add_format({"font_size": 11, "valign": "vcenter"})
    head = book.add_format(
        {"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True,
         "align": "center", "valign": "vcenter"}
    )  # fmt: skip
    fixed = book.add_format(
        {"border": 1, "text_wrap": True, "valign": "vcenter", "bg_color": "#F2F2F2"}
    )
    fixed_num = book.add_format(
        {"border": 1, "valign": "vcenter", "bg_color": "#F2F2F2", "num_format": "#,##0.##"}
    )
    entry = book.add_format(
        {
            "border": 1,
            "valign": "vcenter",
            "locked": False,
            "bg_color": "#FFF2CC",
            "num_format": "#,##0.##",
        }
    )
    entry_text = book.add_format(
        {"border": 1, "valign": "top", "text_wrap": True, "locked": False, "bg_color": "#FFF2CC"}
    )
    last_col = len(HEADER) - 1
    sheet.merge_range(0, 0, 0, last_col, f"{period.zh}《政府工作报告》目标任务进展情况表", title)
    sheet.merge_range(
        1,
        0,
        1,
        last_col,
        f"填报单位：{unit}　　报送期：{period.zh}　　（黄色单元格为填报内容）",
        line,
    )
    sheet.write_row(HEADER_ROW, 0, HEADER, head)
    r = HEADER_ROW + 1
    for task in tasks:
        first = r
        for metric in task.metrics:
            sheet.write_string(r, COL["任务编号"], task.task_id, fixed)
            sheet.write_number(r, COL["序号"], task.seq, fixed)
            sheet.write_string(r, COL["目标名称"], task.goal, fixed)
            sheet.write_string(r, COL["工作内容"], task.content, fixed)
            sheet.write_string(r, COL["牵头单位"], "、".join(task.lead_units), fixed)
            sheet.write_string(r, COL["本单位职责"], ROLE_ZH[task.role], fixed)
            if metric.position:
                sheet.write_number(r, COL["指标序号"], metric.position, fixed)
                sheet.write_string(r, COL["指标"], metric.label or "", fixed)
                sheet.write_number(r, COL["年度目标"], metric.target or 0, fixed_num)
                measure = metric.measure or ""
                if metric.kind == "growth":
                    measure = "%（同比增长）"
                sheet.write_string(r, COL["计量单位"], measure, fixed)
                _number_or_blank(
                    sheet, r, COL["本单位分解目标"], metric.allocation, fixed_num, fixed
                )
                _number_or_blank(sheet, r, COL["上月累计"], metric.previous, fixed_num, fixed)
                sheet.write_blank(r, COL["本月完成"], None, entry)
                sheet.write_blank(r, COL["累计完成"], None, entry)
            else:
                for name in ("指标序号", "年度目标", "计量单位", "本单位分解目标", "上月累计",
                             "本月完成", "累计完成"):  # fmt: skip
                    sheet.write_blank(r, COL[name], None, fixed)
                sheet.write_string(r, COL["指标"], "（无量化指标，填写完成状态）", fixed)
            for name in TASK_INPUTS:
                sheet.write_blank(r, COL[name], None, entry_text)
            r += 1
        if r - first > 1:  # one task, several metrics: merge the task's cells down
            for name in (*TASK_COLUMNS, *TASK_INPUTS):
                c = COL[name]
                fmt = entry_text if name in TASK_INPUTS else fixed
                value = {
                    "任务编号": task.task_id,
                    "序号": task.seq,
                    "目标名称": task.goal,
                    "工作内容": task.content,
                    "牵头单位": "、".join(task.lead_units),
                    "本单位职责": ROLE_ZH[task.role],
                }.get(name, "")
                sheet.merge_range(first, c, r - 1, c, "", fmt)
                if isinstance(value, int):
                    sheet.write_number(first, c, value, fmt)
                else:
                    sheet.write_string(first, c, value, fmt)
    last = max(r - 1, HEADER_ROW + 1)
    number_rule = {
        "validate": "decimal", "criteria": "between", "minimum": -1e12, "maximum": 1e12,
        "input_title": "填写数值", "input_message": "只填数字，不带单位；增速、比率填百分数，如 5.2",
        "error_title": "不是数字", "error_message": "请填写数字（不带单位），没有可留空",
    }  # fmt: skip
    for name in ("本月完成", "累计完成"):
        sheet.data_validation(HEADER_ROW + 1, COL[name], last, COL[name], number_rule)
    sheet.data_validation(
        HEADER_ROW + 1, COL["完成状态"], last, COL["完成状态"],
        {"validate": "list", "source": list(STATUSES), "error_title": "完成状态",
         "error_message": "请从下拉列表中选择：" + "、".join(STATUSES)},
    )  # fmt: skip
    r += 1
    sheet.write_string(r, 0, "填报人：", line)
    sheet.write_blank(r, 1, None, entry_text)
    sheet.write_string(r, 3, "联系电话：", line)
    sheet.write_blank(r, 4, None, entry_text)
    widths = (11, 6, 14, 48, 14, 8, 6, 24, 10, 10, 10, 10, 10, 10, 10, 30, 24, 24)
    for c, width in enumerate(widths):
        sheet.set_column(c, c, width)
    sheet.set_row(HEADER_ROW, 32)
    sheet.freeze_panes(HEADER_ROW + 1, 4)
    sheet.protect("", {"format_columns": True, "format_rows": True, "autofilter": True})


def _number_or_blank(sheet, r: int, c: int, value: float | None, fmt, blank_fmt) -> None:
    if value is None:
        sheet.write_blank(r, c, None, blank_fmt)
    else:
        sheet.write_number(r, c, value, fmt)


def _guide_sheet(book, unit: str, period: Period) -> None:
    sheet = book.add_worksheet(GUIDE_SHEET)
    lines = [
        f"{period.zh}目标任务进展情况表填报说明（{unit}）",
        "1. 只在黄色单元格中填写，灰色单元格为任务信息，已锁定。",
        "2. 本月完成：本月新完成的数量；累计完成：1月至本月累计完成的数量。只填数字，不带单位；没有可留空。",
        "3. 增速类指标（计量单位为“%（同比增长）”）在“累计完成”填1月至本月的累计同比增速，如 5.2；比率类指标填百分数。",
        "4. 没有量化指标的任务，在“完成状态”下拉列表中选择：已完成 / 序时推进 / 滞后 / 未启动。",
        "5. 进展情况、存在问题、下步打算请简明填写；“本单位职责”为“牵头”的任务请填写全区情况。",
        "6. 请勿增删行列、修改工作表名称；文件可以改名，系统会根据文件中的信息识别填报单位和报送期。",
        "7. 报送后会收到回执；回执列出的问题改正后重新报送，以最后一次报送为准。",
    ]
    for r, text in enumerate(lines):
        sheet.write_string(r, 0, text)
    sheet.set_column(0, 0, 120)


def write_templates(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    workspace: str,
    period: Period,
    units: Sequence[str] | None = None,
) -> list[Path]:
    """Write the templates of the given units (default: every reporting unit)."""
    from ducha.errors import UserError

    by_unit = unit_tasks(con, period)
    if not by_unit:
        raise UserError(f"数据库中没有 {period.year} 年的目标任务，请先导入分解表")
    chosen = list(units) if units else sorted(by_unit)
    missing = [u for u in chosen if u not in by_unit]
    if missing:
        raise UserError(f"{'、'.join(missing)} 在 {period.year} 年没有需要报送的任务")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_template(
            out_dir / template_name(unit, period),
            workspace=workspace,
            unit=unit,
            period=period,
            tasks=by_unit[unit],
        )  # fmt: skip
        for unit in chosen
    ]
