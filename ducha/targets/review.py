"""The reviewed metrics file: proposals out, confirmed metrics in.

People confirm or correct the extracted metrics in a YAML or .xlsx file; once
loaded, it is the source of truth and re-importing the table never overwrites
it. Both formats hold the same rows: one task, its metrics, optional per-unit
allocations and a schedule (percent of the target due by the end of a month).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ducha.db import sql, transaction
from ducha.errors import UserError, first_problems
from ducha.targets.register import content_hash
from ducha.units import UnitRegister
from ducha.vocabulary import BOUND_ZH, METRIC_KIND_ZH
from ducha.workspace import read_yaml

YES, NO = "是", "否"
XLSX_COLUMNS = (
    "任务编号",
    "目标名称",
    "工作内容",
    "指标序号",
    "指标名称",
    "目标值",
    "单位",
    "类型",
    "界限",
    "确认",
    "分解到单位",
    "序时安排",
)


@dataclass
class ReviewedMetric:
    label: str
    value: float
    unit: str
    kind: str
    bound: str
    allocations: dict[str, float] = field(default_factory=dict)
    schedule: dict[int, float] = field(default_factory=dict)  # month -> share 0..1


@dataclass
class ReviewedTask:
    task_id: str
    content: str | None
    confirmed: bool
    metrics: list[ReviewedMetric]


# ---------------------------------------------------------------- export


def current_review(con: duckdb.DuckDBPyConnection, year: int) -> list[dict[str, Any]]:
    """The register's tasks with their metrics (confirmed or proposed) as plain dicts."""
    tasks = con.sql(sql("targets/review_tasks"), params={"year": year}).fetchall()
    metrics = con.sql(sql("targets/review_metrics"), params={"year": year}).fetchall()
    by_task: dict[str, list[dict[str, Any]]] = {}
    for task_id, _pos, label, value, measure, kind, bound, allocations, schedule in metrics:
        item: dict[str, Any] = {
            "label": label,
            "value": _plain_number(value),
            "unit": measure,  # the review file keeps its key (metrics.measure)
            "kind": kind,
            "bound": bound,
        }
        if allocations:
            item["allocations"] = {u: _plain_number(v) for u, v in allocations}
        if schedule:
            item["schedule"] = {int(m): _plain_number(round(s * 100, 6)) for m, s in schedule}
        by_task.setdefault(task_id, []).append(item)
    return [
        {
            "id": task_id,
            "goal": goal,
            "content": content,
            "confirmed": bool(reviewed),
            "metrics": by_task.get(task_id, []),
        }
        for task_id, goal, content, reviewed in tasks
    ]


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def export_review(con: duckdb.DuckDBPyConnection, year: int, path: Path) -> int:
    tasks = current_review(con, year)
    if not tasks:
        raise UserError(f"{year} 年还没有导入目标任务，无法生成确认文件")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        header = (
            f"# {year} 年目标任务指标确认文件。逐项核对工作内容中的指标，改正后把 confirmed 设为 true。\n"
            "# kind: cumulative 累计 / growth 增速 / level 水平；bound: at_least 不低于 / about 左右 / at_most 不高于\n"
            "# 可选：allocations 分解到单位 {单位: 数值}；schedule 序时安排 {月份: 应完成目标的百分比}\n"
            "# 没有指标的任务（里程碑任务）metrics 为 []。\n"
        )
        body = yaml.safe_dump(
            {"year": year, "tasks": tasks}, allow_unicode=True, sort_keys=False, width=1000
        )
        path.write_text(header + body, encoding="utf-8")
    elif suffix == ".xlsx":
        _write_xlsx(path, year, tasks)
    else:
        raise UserError(f"{path.name}：确认文件应为 .yaml 或 .xlsx")
    return len(tasks)


def _write_xlsx(path: Path, year: int, tasks: list[dict[str, Any]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("指标确认")
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet.write_row(0, 0, XLSX_COLUMNS, head)
    r = 1
    for task in tasks:
        metrics = task["metrics"] or [None]
        for position, metric in enumerate(metrics, start=1):
            sheet.write_string(r, 0, task["id"])
            sheet.write_string(r, 1, task["goal"], wrap)
            sheet.write_string(r, 2, task["content"], wrap)
            sheet.write_string(r, 9, YES if task["confirmed"] else NO)
            if metric is not None:
                sheet.write_number(r, 3, position)
                sheet.write_string(r, 4, metric["label"])
                sheet.write_number(r, 5, metric["value"])
                sheet.write_string(r, 6, metric["unit"])
                sheet.write_string(r, 7, METRIC_KIND_ZH[metric["kind"]])
                sheet.write_string(r, 8, BOUND_ZH[metric["bound"]])
                allocations = metric.get("allocations") or {}
                schedule = metric.get("schedule") or {}
                sheet.write_string(r, 10, "；".join(f"{u}:{v}" for u, v in allocations.items()))
                sheet.write_string(r, 11, "；".join(f"{m}月:{s}%" for m, s in schedule.items()))
            r += 1
    last = max(r - 1, 1)
    sheet.data_validation(
        1, 7, last, 7, {"validate": "list", "source": list(METRIC_KIND_ZH.values())}
    )
    sheet.data_validation(1, 8, last, 8, {"validate": "list", "source": list(BOUND_ZH.values())})
    sheet.data_validation(1, 9, last, 9, {"validate": "list", "source": [YES, NO]})
    sheet.data_validation(1, 5, last, 5, {"validate": "decimal", "criteria": ">=", "value": 0})
    for col, width in enumerate((11, 14, 60, 8, 22, 10, 8, 8, 8, 6, 30, 30)):
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 3)
    notes = book.add_worksheet("填写说明")
    for i, line in enumerate(
        [
            f"{year} 年目标任务指标确认表",
            "1. 每行一个指标；没有指标的任务（里程碑任务）只有一行，指标各列留空。",
            "2. 逐项核对“指标名称、目标值、单位、类型、界限”，有误直接改正；多出的指标整行删除，漏掉的指标插入一行并填写任务编号。",
            "3. 核对无误后把该任务各行的“确认”改为“是”。",
            "4. 类型：累计（数量、金额全年累加）/ 增速（同比增长率）/ 水平（比率、规模须保持）。界限：不低于 / 左右 / 不高于。",
            "5. 分解到单位（可选）：如“湖塘镇:20；牛塘镇:15”。序时安排（可选）：如“3月:20%；6月:50%；12月:100%”。",
        ]
    ):
        notes.write_string(i, 0, line)
    notes.set_column(0, 0, 110)
    book.close()


# ---------------------------------------------------------------- load


def _number(value: Any, where: str, problems: list[str]) -> float | None:
    try:
        number = float(str(value).replace(",", "").strip())
    except (TypeError, ValueError):
        problems.append(f"{where}：“{value}”不是有效数字")
        return None
    if math.isnan(number) or math.isinf(number) or number < 0:
        problems.append(f"{where}：“{value}”不是有效的非负数")
        return None
    return number


def _metric(raw: dict[str, Any], where: str, problems: list[str]) -> ReviewedMetric | None:
    kind = str(raw.get("kind", "")).strip()
    kind = {v: k for k, v in METRIC_KIND_ZH.items()}.get(kind, kind)
    bound = str(raw.get("bound", "")).strip()
    bound = {v: k for k, v in BOUND_ZH.items()}.get(bound, bound)
    ok = True
    if kind not in METRIC_KIND_ZH:
        problems.append(f"{where}：类型“{raw.get('kind')}”无效，应为 累计/增速/水平")
        ok = False
    if bound not in BOUND_ZH:
        problems.append(f"{where}：界限“{raw.get('bound')}”无效，应为 不低于/左右/不高于")
        ok = False
    label = str(raw.get("label") or "").strip()
    unit = str(raw.get("unit") or "").strip()
    if not label:
        problems.append(f"{where}：缺少指标名称")
        ok = False
    if not unit:
        problems.append(f"{where}：缺少单位")
        ok = False
    value = _number(raw.get("value"), f"{where} 目标值", problems)
    allocations: dict[str, float] = {}
    for unit_name, amount in (raw.get("allocations") or {}).items():
        number = _number(amount, f"{where} 分解到“{unit_name}”", problems)
        if number is not None:
            allocations[str(unit_name)] = number
    schedule: dict[int, float] = {}
    for month, percent in (raw.get("schedule") or {}).items():
        m = str(month).strip().removesuffix("月")
        number = _number(str(percent).rstrip("%"), f"{where} 序时安排", problems)
        if not m.isdigit() or not 1 <= int(m) <= 12:
            problems.append(f"{where}：序时安排的月份“{month}”应为 1-12")
        elif number is not None:
            if number > 100:
                problems.append(f"{where}：序时安排 {month} 月为 {percent}%，超过 100%")
            schedule[int(m)] = number / 100
    shares = [schedule[m] for m in sorted(schedule)]
    if any(b < a for a, b in zip(shares, shares[1:], strict=False)):
        problems.append(f"{where}：序时安排的百分比应逐月不减")
    if (allocations or schedule) and kind != "cumulative":
        problems.append(f"{where}：只有累计类指标可以分解到单位或设序时安排")
    if not ok or value is None:
        return None
    return ReviewedMetric(label, value, unit, kind, bound, allocations, schedule)


def _parse_yaml(path: Path) -> tuple[int | None, list[ReviewedTask], list[str]]:
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise UserError(f"{path.name}：确认文件应包含 year 和 tasks 列表")
    problems: list[str] = []
    tasks: list[ReviewedTask] = []
    for i, item in enumerate(data["tasks"], start=1):
        if not isinstance(item, dict) or not item.get("id"):
            problems.append(f"{path.name} 第 {i} 个任务：缺少 id")
            continue
        task_id = str(item["id"])
        metrics = []
        raw_metrics = item.get("metrics") or []
        if not isinstance(raw_metrics, list):
            problems.append(f"{path.name} {task_id}：metrics 应为列表")
            continue
        for j, raw in enumerate(raw_metrics, start=1):
            if not isinstance(raw, dict):
                problems.append(f"{path.name} {task_id} 第 {j} 个指标：格式有误")
                continue
            metric = _metric(raw, f"{path.name} {task_id} 第 {j} 个指标", problems)
            if metric is not None:
                metrics.append(metric)
        confirmed = item.get("confirmed")
        if not isinstance(confirmed, bool):
            problems.append(f"{path.name} {task_id}：confirmed 应为 true 或 false")
            continue
        tasks.append(ReviewedTask(task_id, item.get("content"), confirmed, metrics))
    year = data.get("year")
    return (int(year) if str(year).isdigit() else None), tasks, problems


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.replace(";", "；").split("；"):
        if part.strip():
            key, _, value = part.replace("：", ":").partition(":")
            pairs[key.strip()] = value.strip()
    return pairs


def _parse_xlsx(path: Path) -> tuple[int | None, list[ReviewedTask], list[str]]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:
        raise UserError(f"{path.name}：不是有效的 Excel 文件，无法打开") from exc
    if "指标确认" not in book.sheet_names:
        raise UserError(f"{path.name}：缺少工作表“指标确认”")
    rows = book.get_sheet_by_name("指标确认").to_python(skip_empty_area=False)
    header = [str(c).strip() for c in (rows[0] if rows else [])]
    missing = [c for c in XLSX_COLUMNS if c not in header]
    if missing:
        raise UserError(f"{path.name} 工作表“指标确认”第 1 行：缺少列“{'”“'.join(missing)}”")
    col = {name: header.index(name) for name in XLSX_COLUMNS}
    problems: list[str] = []
    order: list[str] = []
    content: dict[str, str] = {}
    flags: dict[str, set[str]] = {}
    metrics: dict[str, list[ReviewedMetric]] = {}
    for r, row in enumerate(rows[1:], start=2):

        def cell(name: str, row: list[Any] = row) -> str:
            value = row[col[name]] if col[name] < len(row) else ""
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return str(value).strip() if value is not None else ""

        task_id = cell("任务编号")
        if not task_id:
            if any(str(v).strip() for v in row):
                problems.append(f"{path.name} 指标确认!A{r}：缺少任务编号")
            continue
        if task_id not in flags:
            order.append(task_id)
            flags[task_id] = set()
            metrics[task_id] = []
        content.setdefault(task_id, cell("工作内容"))
        flags[task_id].add(cell("确认"))
        if not cell("指标名称") and not cell("目标值"):
            continue
        raw = {
            "label": cell("指标名称"),
            "value": cell("目标值"),
            "unit": cell("单位"),
            "kind": cell("类型"),
            "bound": cell("界限"),
            "allocations": _pairs(cell("分解到单位")),
            "schedule": {k: v for k, v in _pairs(cell("序时安排")).items()},
        }
        metric = _metric(raw, f"{path.name} 指标确认 第 {r} 行", problems)
        if metric is not None:
            metrics[task_id].append(metric)
    tasks = []
    for task_id in order:
        seen = flags[task_id]
        if not seen <= {YES, NO}:
            problems.append(f"{path.name} {task_id}：“确认”列应填“是”或“否”")
        elif len(seen) > 1:
            problems.append(f"{path.name} {task_id}：同一任务各行的“确认”不一致")
        tasks.append(
            ReviewedTask(task_id, content[task_id] or None, seen == {YES}, metrics[task_id])
        )
    year = None
    if order and order[0][:4].isdigit():
        year = int(order[0][:4])
    return year, tasks, problems


@dataclass
class ReviewResult:
    year: int
    confirmed_tasks: int
    confirmed_metrics: int
    skipped: int
    needs_review: list[str]


def load_review(con: duckdb.DuckDBPyConnection, path: Path, register: UnitRegister) -> ReviewResult:
    """Validate the whole file, then write every confirmed task in one transaction."""
    if not path.exists():
        raise UserError(f"找不到文件 {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path.name}：文件是空的")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        year, tasks, problems = _parse_yaml(path)
    elif suffix == ".xlsx":
        year, tasks, problems = _parse_xlsx(path)
    else:
        raise UserError(f"{path.name}：确认文件应为 .yaml 或 .xlsx")
    if year is None:
        raise UserError(f"{path.name}：无法确定年份（year 应为四位数字）")
    known = {
        r[0]: (r[1], r[2], r[3])
        for r in con.sql(
            "SELECT task_id, content_hash, lead_units, responsible_units FROM tasks "
            "WHERE year = $year AND active",
            params={"year": year},
        ).fetchall()
    }
    if not known:
        raise UserError(f"{path.name}：数据库中没有 {year} 年的目标任务，请先导入分解表")
    for task in tasks:
        if task.task_id not in known:
            problems.append(f"{path.name}：任务编号 {task.task_id} 不在 {year} 年的目标任务中")
            continue
        _, lead, responsible = known[task.task_id]
        for j, metric in enumerate(task.metrics, start=1):
            for name in metric.allocations:
                unit = register.resolve_unit(name)
                if unit is None or unit not in set(lead) | set(responsible):
                    problems.append(
                        f"{path.name} {task.task_id} 第 {j} 个指标：分解单位“{name}”不是该任务的责任单位"
                    )
    if problems:
        raise UserError(first_problems(problems) + "。本次未写入任何数据")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    confirmed = [t for t in tasks if t.confirmed]
    with transaction(con):
        for task in confirmed:
            reviewed_hash = content_hash(task.content) if task.content else known[task.task_id][0]
            for table in ("metrics", "metric_allocations", "metric_schedule"):
                con.execute(f"DELETE FROM {table} WHERE task_id = ?", [task.task_id])
            for position, m in enumerate(task.metrics, start=1):
                con.execute(
                    "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, true)",
                    [task.task_id, position, m.label, m.value, m.unit, m.kind, m.bound],
                )
                for name, amount in m.allocations.items():
                    con.execute(
                        "INSERT INTO metric_allocations VALUES (?, ?, ?, ?)",
                        [task.task_id, position, register.resolve_unit(name), amount],
                    )
                for month, share in m.schedule.items():
                    con.execute(
                        "INSERT INTO metric_schedule VALUES (?, ?, ?, ?)",
                        [task.task_id, position, month, share],
                    )
            con.execute(
                "UPDATE tasks SET reviewed_hash = ? WHERE task_id = ?",
                [reviewed_hash, task.task_id],
            )
        con.execute(
            "INSERT INTO reviews VALUES (nextval('review_id_seq'), ?, ?, ?, ?, ?, ?)",
            [
                year,
                path.name,
                digest,
                datetime.now(),
                len(confirmed),
                sum(len(t.metrics) for t in confirmed),
            ],
        )
        needs = con.sql(sql("targets/needing_review"), params={"year": year}).fetchall()[0]
    return ReviewResult(
        year=year,
        confirmed_tasks=len(confirmed),
        confirmed_metrics=sum(len(t.metrics) for t in confirmed),
        skipped=len(tasks) - len(confirmed),
        needs_review=list(needs[0]) if needs else [],
    )
