"""Realistic sample submissions for the sample workspace (demo and tests).

For each month, every reporting unit's template is filled with plausible
figures: each unit moves towards its share of the target at its own pace
(some lag), lead units report growth and level figures for the district, and
milestone tasks get a declared status and a short narrative. Some units send
what real offices send instead of the clean template: a sheet re-typed by
hand (title rows, a merged two-level header, moved and renamed columns, no
task ids, numbers written as text with units, full-width digits, "/" for
empty, a 填报人 line), a GBK CSV, a renamed file, a rejected file followed by
its correction, and one unit that does not report in the last month.
Everything is seeded: the same inputs give byte-identical figures.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ducha.periods import Period
from ducha.submissions.assignments import TaskLines, unit_tasks
from ducha.submissions.templates import COL, HEADER_ROW, MAIN_SHEET, template_name, write_template

STATUS_CHOICES = ("序时推进",) * 12 + ("已完成",) * 2 + ("未启动",)
PROGRESS_TEXT = (
    "已制定年度实施方案，明确责任分工和时间节点，各项工作按计划推进。",
    "召开专题推进会，逐项梳理任务清单，重点项目按序时推进。",
    "已完成前期调研和方案论证，正在组织实施。",
    "建立周调度机制，协调解决推进中的具体问题。",
)
ISSUES_TEXT = (
    "",
    "",
    "项目要素保障压力较大。",
    "部分项目前期手续办理进度偏慢。",
    "资金筹措存在一定困难。",
)
NEXT_TEXT = (
    "加大协调力度，确保按期完成。",
    "强化跟踪督办，加快推进进度。",
    "对照序时目标，倒排工期、挂图作战。",
)


@dataclass(frozen=True)
class Plan:
    """Who sends what: the odd cases of the sample months (unit names of the Wujin workspace)."""

    retyped: tuple[str, ...] = ("牛塘镇", "礼嘉镇")
    csv_gbk: tuple[str, ...] = ("南夏墅街道",)
    renamed: tuple[str, ...] = ("洛阳镇",)
    rejected_then_fixed: tuple[str, ...] = ("湟里镇",)
    corrected_later: tuple[str, ...] = ("前黄镇",)
    silent_last_month: tuple[str, ...] = ("嘉泽镇",)
    last_month: int = 3


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def pace(unit: str) -> float:
    """A unit's steady pace against the schedule: most near 1, a few well behind."""
    r = _rng("pace", unit).random()
    return 0.45 + r * 0.2 if r < 0.15 else 0.85 + r * 0.4


def responsible_count(tasks_by_unit: dict[str, list[TaskLines]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tasks in tasks_by_unit.values():
        for task in tasks:
            if task.role == "responsible":
                counts[task.task_id] = counts.get(task.task_id, 0) + 1
    return counts


def figures(
    unit: str, task: TaskLines, period: Period, n_responsible: int
) -> dict[int, tuple[float | None, float | None]]:
    """(本月完成, 累计完成) per metric position for one unit and month."""
    out: dict[int, tuple[float | None, float | None]] = {}
    for metric in task.metrics:
        if not metric.position or metric.target is None:
            continue
        noise = _rng("noise", unit, task.task_id, metric.position)
        if metric.kind in ("growth", "level"):
            if task.role != "lead":
                continue  # the district figure comes from the lead unit
            drift = noise.uniform(-0.08, 0.06) * (metric.target or 1)
            value = round(metric.target + drift + 0.1 * period.month, 1)
            if metric.kind == "growth" and pace(unit) < 0.7:
                value = round(-abs(value) / 3, 1)
            out[metric.position] = (None, value)
            continue
        if task.role == "lead" and n_responsible:
            continue  # the district figure is the sum of the responsible units
        share = metric.allocation or metric.target / max(n_responsible, 1)
        speed = pace(unit) * noise.uniform(0.9, 1.1)

        integral = metric.measure not in ("亿元", "万元", "%")
        offset = noise.random()  # randomised rounding: small targets still add up across units

        raw = [share * month / 12 * speed for month in (period.month, period.month - 1)]
        now, before = (float(int(v + offset)) if integral else round(v, 2) for v in raw)
        out[metric.position] = (round(now - before, 2), now)
    return out


def narrative(unit: str, task: TaskLines, period: Period) -> tuple[str, str, str, str]:
    r = _rng("narrative", unit, task.task_id, period)
    behind = r.random() < (0.35 if pace(unit) < 0.7 else 0.03)
    status = "滞后" if behind else r.choice(STATUS_CHOICES)
    if status == "未启动" and period.month > 2:
        status = "序时推进"
    return status, r.choice(PROGRESS_TEXT), r.choice(ISSUES_TEXT), r.choice(NEXT_TEXT)


def fill_template(
    path: Path, unit: str, period: Period, tasks: list[TaskLines], counts: dict[str, int]
) -> None:
    """Type the figures into the unit's template the way a person would, with openpyxl."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book[MAIN_SHEET]
    row = HEADER_ROW + 2  # 1-based first data row
    for task in tasks:
        values = figures(unit, task, period, counts.get(task.task_id, 0))
        status, progress, issues, next_steps = narrative(unit, task, period)
        first = row
        for metric in task.metrics:
            month_value, cumulative = values.get(metric.position, (None, None))
            if month_value is not None:
                sheet.cell(row, COL["本月完成"] + 1).value = month_value
            if cumulative is not None:
                sheet.cell(row, COL["累计完成"] + 1).value = cumulative
            row += 1
        if len(task.metrics) == 1 and not task.metrics[0].position:
            sheet.cell(first, COL["完成状态"] + 1).value = status
        sheet.cell(first, COL["进展情况"] + 1).value = progress
        if issues:
            sheet.cell(first, COL["存在问题"] + 1).value = issues
        sheet.cell(first, COL["下步打算"] + 1).value = next_steps
    sheet.cell(row + 1, 2).value = "张文"
    sheet.cell(row + 1, 5).value = "0519-8631" + f"{_rng('tel', unit).randint(1000, 9999)}"
    book.save(path)


def _as_text(value: float | None, measure: str | None, r: random.Random) -> object:
    """How people type a number: sometimes with its unit, commas, 万, or full-width digits."""
    if value is None:
        return r.choice(("/", "—", "", "无"))
    style = r.random()
    text = f"{value:g}"
    if style < 0.15 and measure and measure not in ("%",):
        return f"{text}{measure}"
    if style < 0.25 and value >= 1000 and float(value).is_integer():
        return f"{int(value):,}"
    if style < 0.32 and value >= 10000 and value % 1000 == 0:
        return f"{value / 10000:g}万"
    if style < 0.4:
        return text.translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
    return value


def write_retyped(
    path: Path, unit: str, period: Period, tasks: list[TaskLines], counts: dict[str, int]
) -> None:
    """An office's own sheet: title rows, merged header, columns moved and renamed, no task ids."""
    import openpyxl
    from openpyxl.styles import Alignment

    r = _rng("retyped", unit, period)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append([f"{unit}{period.zh}《政府工作报告》目标任务推进情况"])
    sheet.merge_cells("A1:J1")
    sheet.append(
        [
            f"填报单位：{unit}（盖章）",
            None,
            None,
            None,
            None,
            "填报日期：" + f"{period.year}年{period.month + 1 if period.month < 12 else 12}月3日",
        ]
    )
    sheet.append(
        [
            "序号",
            "工作内容",
            "指标",
            "完成情况",
            None,
            "推进状态",
            "进展情况",
            "存在问题",
            "下一步打算",
            "备注",
        ]
    )
    sheet.append([None, None, None, "当月完成", "累计完成数", None, None, None, None, None])
    for col in ("A", "B", "C", "F", "G", "H", "I", "J"):
        sheet.merge_cells(f"{col}3:{col}4")
    sheet.merge_cells("D3:E3")
    for task in tasks:
        values = figures(unit, task, period, counts.get(task.task_id, 0))
        status, progress, issues, next_steps = narrative(unit, task, period)
        first = sheet.max_row + 1
        for i, metric in enumerate(task.metrics):
            month_value, cumulative = values.get(metric.position, (None, None))
            sheet.append(
                [
                    task.seq if i == 0 else None,
                    task.content if i == 0 else None,
                    metric.label or "—",
                    _as_text(month_value, metric.measure, r) if metric.position else None,
                    _as_text(cumulative, metric.measure, r) if metric.position else None,
                    status if i == 0 else None,
                    progress if i == 0 else None,
                    (issues or "无") if i == 0 else None,
                    next_steps if i == 0 else None,
                    None,
                ]
            )
        last = sheet.max_row
        if last > first:
            for col in ("A", "B", "F", "G", "H", "I"):
                sheet.merge_cells(f"{col}{first}:{col}{last}")
    sheet.append([])
    sheet.append(
        [
            f"填报人：李明    联系电话：1381234{_rng('tel', unit).randint(1000, 9999)}    审核人：王强"
        ]
    )
    for row in sheet.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="center")
    book.save(path)


def write_csv_gbk(
    path: Path, unit: str, period: Period, tasks: list[TaskLines], counts: dict[str, int]
) -> None:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow([f"填报单位：{unit}", f"报送期：{period.zh}"])
    out.writerow(
        [
            "任务编号",
            "工作内容",
            "指标序号",
            "本月完成",
            "累计完成",
            "完成状态",
            "进展情况",
            "存在问题",
            "下步打算",
        ]
    )
    for task in tasks:
        values = figures(unit, task, period, counts.get(task.task_id, 0))
        status, progress, issues, next_steps = narrative(unit, task, period)
        for metric in task.metrics:
            month_value, cumulative = values.get(metric.position, (None, None))
            out.writerow(
                [
                    task.task_id,
                    task.content,
                    metric.position or "",
                    "" if month_value is None else f"{month_value:g}",
                    "" if cumulative is None else f"{cumulative:g}",
                    "" if metric.position else status,
                    progress,
                    issues,
                    next_steps,
                ]
            )
    path.write_bytes(buffer.getvalue().encode("gbk"))


def generate_month(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    out_dir: Path,
    *,
    workspace: str,
    plan: Plan = Plan(),
) -> list[Path]:
    """Write every unit's submission for the month into out_dir; returns the files written."""
    by_unit = unit_tasks(con, period)
    counts = responsible_count(by_unit)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for unit, tasks in sorted(by_unit.items()):
        if period.month == plan.last_month and unit in plan.silent_last_month:
            continue
        if unit in plan.retyped:
            path = out_dir / f"{unit}-{period.zh}进展.xlsx"
            write_retyped(path, unit, period, tasks, counts)
        elif unit in plan.csv_gbk:
            path = out_dir / f"{unit}{period.zh}进展情况.csv"
            write_csv_gbk(path, unit, period, tasks, counts)
        else:
            name = template_name(unit, period)
            if unit in plan.renamed:
                name = f"{period.month}月报表（最终版）.xlsx"
            path = out_dir / name
            write_template(path, workspace=workspace, unit=unit, period=period, tasks=tasks)
            fill_template(path, unit, period, tasks, counts)
            if unit in plan.rejected_then_fixed and period.month == plan.last_month:
                broken = out_dir / f"{unit}-{period.zh}进展（初稿）.xlsx"
                _break_a_number(path, broken)
                written.append(broken)
            if unit in plan.corrected_later and period.month == plan.last_month:
                written.append(path)
                path = out_dir / f"{unit}-{period.zh}进展（更正）.xlsx"
                _correct(written[-1], path)
        written.append(path)
    return written


def _break_a_number(source: Path, target: Path) -> None:
    import openpyxl

    book = openpyxl.load_workbook(source)
    sheet = book[MAIN_SHEET]
    for row in range(HEADER_ROW + 2, sheet.max_row + 1):
        cell = sheet.cell(row, COL["累计完成"] + 1)
        if isinstance(cell.value, int | float):
            cell.value = "约三十"
            break
    book.save(target)


def _correct(source: Path, target: Path) -> None:
    import openpyxl

    book = openpyxl.load_workbook(source)
    sheet = book[MAIN_SHEET]
    for row in range(HEADER_ROW + 2, sheet.max_row + 1):
        cell = sheet.cell(row, COL["累计完成"] + 1)
        if isinstance(cell.value, int | float):
            cell.value = cell.value + 1
            month = sheet.cell(row, COL["本月完成"] + 1)
            if isinstance(month.value, int | float):
                month.value = month.value + 1
            break
    book.save(target)
