"""The values of a mapped row: numbers (as typed, with units, in 万, full-width), statuses,
narratives, and the checks on them (cumulative below month, beyond the target tenfold, rates
beyond ±1000 %, error and formula cells).
"""

from __future__ import annotations

from math import isfinite

from ducha.submissions.assignments import MetricLine, TaskLines
from ducha.submissions.limits import MAX_NARRATIVE_CHARS, cell_ref
from ducha.submissions.results import (
    ERROR,
    WARNING,
    Before,
    FileResult,
    MetricFigure,
    Row,
    TaskNarrative,
)
from ducha.submissions.spreadsheet import Sheet
from ducha.submissions.values import (
    ValueProblem,
    parse_number,
    parse_status,
    shown,
    text_or_none,
)
from ducha.vocabulary import DECLARED_ZH

TOO_LARGE_FACTOR = 10
MAX_RATE = 1000.0  # a growth rate or a percentage beyond ±1000 % is a typing or unit error
_RATE_MEASURES = ("%", "％", "个百分点", "百分点")


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
_NARRATIVE_ZH = ("进展情况", "存在问题", "下步打算")


def _read_narrative(
    row: Row,
    narratives: dict[str, TaskNarrative],
    task: TaskLines,
    status_column: int | None,
    text_columns: tuple[int | None, ...],
) -> None:
    """The row's 完成状态 and texts (columns of _NARRATIVE) for its task."""
    status = None
    cells = row.cells
    width = len(cells)
    if status_column is not None and status_column < width:
        try:
            status = parse_status(cells[status_column])
        except ValueProblem as exc:
            row.problem(ERROR, str(exc), status_column)
        else:
            written = cells[status_column]
            said = narratives.get(task.task_id)
            if (
                status is not None
                and written != DECLARED_ZH[status]  # a word of their own, said once a task
                and (said is None or said.status is None)  # (a merged cell repeats it)
            ):
                row.problem(
                    WARNING,
                    f"完成状态“{shown(written)}”按“{DECLARED_ZH[status]}”录入",
                    status_column,
                )
    texts = [
        None
        if c is None or c >= width or cells[c] == "" or cells[c] is None
        else text_or_none(cells[c])
        for c in text_columns
    ]
    for i, text in enumerate(texts):
        if text is not None and len(text) > MAX_NARRATIVE_CHARS:
            texts[i] = text[:MAX_NARRATIVE_CHARS]
            row.problem(
                WARNING,
                f"“{_NARRATIVE_ZH[i]}”有 {len(text)} 字，超过 {MAX_NARRATIVE_CHARS} 字的上限，"
                f"只录入前 {MAX_NARRATIVE_CHARS} 字；请精简后在下次报送时填写",
                text_columns[i] or 0,
            )
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
    row: Row,
    task: TaskLines,
    metric: MetricLine,
    figures: tuple[tuple[str, int], ...],
    matched: tuple[str, float],
    before: Before,
) -> MetricFigure | None:
    """本月完成 and 累计完成 (`figures`: the sheet's columns of them) of one metric row."""
    position = metric.position
    month = cumulative = None
    ok = True
    cells, cols, result = row.cells, row.columns, row.result
    width = len(cells)
    for key, c in figures:
        raw = cells[c] if c < width else ""
        if type(raw) is float and isfinite(raw):  # a number typed in: most cells
            value: float | None = raw
        else:
            try:
                value = parse_number(raw, metric.measure)
            except ValueProblem as exc:
                row.problem(ERROR, str(exc), c)
                ok = False
                continue
        if value is not None and value < 0 and metric.kind != "growth":
            row.problem(ERROR, f"“{shown(raw)}”是负数，完成数不能为负", c)
            ok = False
        if key == "month":
            month = value
        else:
            cumulative = value
    if not ok or (month is None and cumulative is None):
        return None
    prior = before.cumulative.get((result.unit or "", task.task_id, position))
    if metric.kind == "cumulative":
        if cumulative is None and month is not None:
            base = prior if prior is not None else (0.0 if before.period.month == 1 else None)
            if base is not None:
                cumulative = base + month
                row.problem(
                    WARNING,
                    f"{_label(task, metric)}未填累计完成，按上月累计加本月完成计为 {cumulative:g}",
                    cols.get("month", 0),
                )
        if month is not None and cumulative is not None and month > cumulative + 1e-9:
            row.problem(
                ERROR,
                f"{_label(task, metric)}本月完成（{month:g}）大于累计完成（{cumulative:g}）",
                cols["month"],
            )
        if cumulative is not None and prior is not None and cumulative < prior - 1e-9:
            row.problem(
                WARNING, f"{_label(task, metric)}累计完成（{cumulative:g}）低于上月累计（{prior:g}），请核实是否为更正",
                cols.get("cumulative", 0),
            )  # fmt: skip
    largest = max(abs(month or 0.0), abs(cumulative or 0.0))
    if largest > MAX_RATE and (metric.kind == "growth" or (metric.measure or "") in _RATE_MEASURES):
        for key, value in (("month", month), ("cumulative", cumulative)):
            if value is not None and abs(value) > MAX_RATE and key in cols:
                row.problem(
                    ERROR, f"{_label(task, metric)}填报 {value:g}%，超出合理范围（±{MAX_RATE:g}%），请核实单位和数值",
                    cols[key],
                )  # fmt: skip
    target = metric.target or 0
    if metric.kind != "growth" and 0 < target * TOO_LARGE_FACTOR < largest:
        for key, value in (("month", month), ("cumulative", cumulative)):
            if value is not None and value > TOO_LARGE_FACTOR * target and key in cols:
                row.problem(
                    ERROR, f"{_label(task, metric)}填报 {value:g}，超过年度目标（{target:g}{metric.measure or ''}）的 {TOO_LARGE_FACTOR} 倍，请核实单位和数值",
                    cols[key],
                )  # fmt: skip
    method, score = matched
    return MetricFigure(
        task.task_id, position, month, cumulative, row.sheet, row.r + 1, method, score
    )
