"""Each row of a report to its task and metric: by task id, by the table's sequence number, by the
task's text (exact, then fuzzy with its score kept); notes rows, repeated headers and
continuation rows recognised.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from ducha.submissions.assignments import MetricLine, TaskLines
from ducha.submissions.checks import (
    _NARRATIVE,
    _check_cells,
    _read_figure,
    _read_narrative,
    _row_ref,
)
from ducha.submissions.identify import TASK_ID
from ducha.submissions.layout import (
    IDENTIFYING_COLUMNS,
    REPORTING_COLUMNS,
    Layout,
    find_layout,
    header_key,
    percent_only_header,
)
from ducha.submissions.limits import cell_ref
from ducha.submissions.results import ERROR, WARNING, Before, FileResult, Row, TaskNarrative
from ducha.submissions.spreadsheet import Sheet, Workbook
from ducha.submissions.templates import META_SHEET
from ducha.submissions.values import (
    ValueProblem,
    is_empty,
    normalise_text,
    parse_number,
    shown,
)
from ducha.units import normalise_name

FUZZY_CUTOFF = 85.0
# A notes row starts with one of these words and then a colon; words that never start a task's
# text may be followed by a space too. "注：…" is a note, "注重生态保护，…" a task's text.
_NOTE = re.compile(
    r"^(?:(?:填报人|填表人|联系人|联系电话|审核人|审核|单位负责人|主要负责人签字|主要负责人|负责人|"
    r"分管领导签字|制表人)"
    r"(?:\s|[:：]|$)|(?:注|说明|备注|电话|制表|填报日期|报送日期|制表日期|日期)\s*[:：])"
)
_REPORTER_NOTE = ("填报人", "填表人", "联系人", "联系电话", "电话")
# a section row: 一、提振消费市场 / （一）… / ★一、… with nothing reported on it
_SECTION = re.compile(
    r"^[★☆*＊]?(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十]+[)）])"
)


def _task_text(value: Any) -> str:
    """A task text or metric label as compared: NFKC, no white space, full-width brackets."""
    return _task_text_key(str(value))


@lru_cache(maxsize=16_384)
def _task_text_key(text: str) -> str:
    return normalise_name(normalise_text(text))


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
        if c < width and header_key(row[c]):
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
    row: Row, index: UnitIndex, year: int, previous: TaskLines | None
) -> tuple[TaskLines | None, str, float]:
    """The row's task: by task id, else by 序号 (table order), else by the task text
    (exact, then fuzzy). Method "" = nothing identifies the row; "failed" = a problem was
    added to the receipt."""
    raw_id = normalise_text(row.cell("task_id"))
    if raw_id:
        task = index.tasks.get(raw_id)
        if task is not None:
            return task, "task_id", 100.0
        m = TASK_ID.match(raw_id)
        where = row.columns["task_id"]
        if not m or int(m.group(1)) != year:
            row.problem(ERROR, f"任务编号“{raw_id}”无效，应为 {year}-001 这样的格式", where)
        else:
            row.problem(ERROR, f"任务编号 {raw_id} 不是本单位在 {year} 年承担的任务", where)
        return None, "failed", 0.0
    raw_seq = row.cell("seq")
    raw_text = row.cell("content")
    by_seq = _seq_task(raw_seq, index) if not is_empty(raw_seq) else None
    if is_empty(raw_text):
        by_label = _metric_task(row.cell("metric"), index)
        if by_label is not None and (by_seq is None or by_seq is not by_label):
            return (
                by_label,
                "metric",
                100.0,
            )  # named by its indicator (指标名称), 序号 the table's own
        if by_seq is not None:
            return by_seq, "seq", 100.0
        if not is_empty(raw_seq):
            row.problem(ERROR, f"序号“{shown(raw_seq)}”对应不到本单位的任务", row.columns["seq"])
            return None, "failed", 0.0
        names_metric = not is_empty(row.cell("metric_no")) or not is_empty(row.cell("metric"))
        if previous is not None and names_metric:  # a metric row under a merged task cell
            return previous, "continued", 100.0
        return None, "", 0.0
    key = _task_text(raw_text)
    where = row.columns["content"]
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
        row.problem(
            WARNING, f"按工作内容近似对应到任务 {task.task_id}（相似度 {best[1]:.0f}）{note}", where
        )
        return task, "fuzzy", float(best[1])
    quoted = str(raw_text).strip()
    quoted = quoted[:20] + ("…" if len(quoted) > 20 else "")
    row.problem(ERROR, f"工作内容“{quoted}”对应不到本单位的任务", where)
    return None, "failed", 0.0


def _metric_task(raw_label: Any, index: UnitIndex) -> TaskLines | None:
    """The task whose metric is named exactly so (one task only): rows named by 指标名称."""
    if is_empty(raw_label):
        return None
    key = _task_text(raw_label)
    found = {t for (t, _), m in index.metrics.items() if m.label and _task_text(m.label) == key}
    return index.tasks[found.pop()] if len(found) == 1 else None


def is_section_row(row: list[Any], columns: dict[str, int]) -> bool:
    """一、提振消费市场 in the task's column, nothing reported beside it."""
    text = _cell(row, columns, "content") or _cell(row, columns, "metric")
    if not isinstance(text, str) or not _SECTION.match(text.strip()):
        return False
    reported = (_cell(row, columns, k) for k in REPORTING_COLUMNS)
    return all(is_empty(v) or v == text for v in reported)  # (merged across the row)


def _match_metric(row: Row, task: TaskLines, positions: list[int], used: set[int]) -> int | None:
    if not positions:
        return 0
    raw_no = row.cell("metric_no")
    if type(raw_no) is float and raw_no.is_integer() and int(raw_no) in positions:
        return int(raw_no)  # as the template has it
    if not is_empty(raw_no):
        try:
            number = parse_number(raw_no)
        except ValueProblem:
            number = None
        if number is None or not float(number).is_integer() or int(number) not in positions:
            row.problem(
                ERROR,
                f"指标序号“{shown(raw_no)}”不是任务 {task.task_id} 的指标",
                row.columns["metric_no"],
            )
            return None
        return int(number)
    raw_label = row.cell("metric")
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


def parse_rows(result: FileResult, book: Workbook, index: UnitIndex, before: Before) -> None:
    """Map every data row of every sheet to a task and metric and check its values."""
    seen_metrics: dict[tuple[str, int], tuple[str, int]] = {}  # -> (sheet, row) seen first
    narratives: dict[str, TaskNarrative] = {}
    any_layout = False
    percent_only: str | None = None
    for sheet in book.sheets:
        if sheet.name == META_SHEET or sheet.hidden:
            continue
        layout = find_layout(sheet)
        if layout is None:
            percent_only = percent_only or percent_only_header(sheet)
            continue
        any_layout = True
        cols = dict(layout.columns)
        first_quarter = cols.pop("first_quarter", None)
        if first_quarter is not None and before.period.month == 3 and "cumulative" not in cols:
            cols["cumulative"] = first_quarter  # 一季度完成 is 1-3月 (else: refused as unread)
        identifying = tuple(cols[key] for key in IDENTIFYING_COLUMNS if key in cols)
        texts = tuple(cols.get(key) for key in _NARRATIVE)
        figures = tuple((key, cols[key]) for key in ("month", "cumulative") if key in cols)
        last_task: TaskLines | None = None
        used_positions: dict[str, set[int]] = {}
        known = set(cols.values())
        unread: set[int] = (
            set()
        )  # columns of numbers on metric rows, when no figure column is known
        for r in range(layout.first_data_row, len(sheet.rows)):
            cells = sheet.rows[r]
            if cells.count("") + cells.count(None) == len(cells):
                last_task = None
                continue
            note = _is_note_row(cells)
            if note is not None and not _names_a_task(cells, cols, index):
                if note.startswith(_REPORTER_NOTE):
                    parts = [
                        normalise_text(v)
                        for v in cells
                        if isinstance(v, str | int | float) and str(v).strip()
                    ]
                    result.reporter = " ".join(parts)[:200]
                last_task = None
                continue
            if _repeats_header(cells, identifying) or is_section_row(cells, cols):
                last_task = None
                continue
            row = Row(result, sheet.name, r, cells, cols)
            task, method, score = _match_task(row, index, before.period.year, last_task)
            if task is None:
                reported = any(not is_empty(row.cell(k)) for k in REPORTING_COLUMNS)
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
            position = _match_metric(row, task, index.positions[task.task_id], used)
            if position is None:
                continue
            used.add(position)
            _read_narrative(row, narratives, task, cols.get("status"), texts)
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
            if not figures:
                unread.update(c for c, v in enumerate(cells) if c not in known and _is_number(v))
            figure = _read_figure(row, task, index.metrics[key], figures, (method, score), before)
            if figure is not None:
                result.metrics.append(figure)
        if unread:
            _refuse_unread_figures(result, sheet, layout, sorted(unread))
    result.tasks = list(narratives.values())
    if not any_layout and percent_only:
        result.add(
            ERROR,
            f"表中只有“{percent_only}”（完成进度的百分比），没有完成数，无法对照目标研判，未接收；"
            "请按模板填写“本月完成”“累计完成”（按各指标的计量单位，如 家、个、亿元），"
            "完成进度由系统按目标计算",
        )
    elif not any_layout:
        result.add(
            ERROR,
            "没有找到进展表的表头（应有“任务编号”或“工作内容”，以及“本月完成”“累计完成”等列）",
        )
    elif not result.metrics and not result.tasks and result.ok:
        result.add(ERROR, "表中没有填报任何任务的进展")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        return parse_number(value) is not None
    except ValueProblem:
        return False


# headers of numbers that are not what a unit did: its targets, last month's figure (template)
_NOT_DONE = ("目标", "上月", "分解", "计量", "序号", "编号")


def _refuse_unread_figures(
    result: FileResult, sheet: Sheet, layout: Layout, columns: list[int]
) -> None:
    """Figures on metric rows in columns no header names as 本月完成 or 累计完成 (一季度 | 计划
    | 完成, 目标任务 | 完成情况 …): refused, never stored without them (silent loss)."""
    names = []
    for c in columns:
        title = "".join(
            str(sheet.rows[r][c]).strip()
            for r in layout.header_rows
            if c < len(sheet.rows[r]) and str(sheet.rows[r][c] or "").strip()
        )
        if not any(word in title for word in _NOT_DONE):
            names.append(f"“{title}”" if title else f"第 {c + 1} 列")
    if not names:
        return
    result.add(
        ERROR,
        f"表头中没有“本月完成”“累计完成”列，{'、'.join(names)}中的数字无法确定是本月完成还是累计完成，"
        "未接收；请按模板在“本月完成”“累计完成”列填写",
        sheet.name,
        cell_ref(max(layout.header_rows), columns[0]),
    )
