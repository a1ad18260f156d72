"""Where a sheet's table is: the header row (titles above it, merged two-level headers, renamed and
moved columns) and which column holds what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ducha.submissions.spreadsheet import (
    Sheet,
)
from ducha.submissions.values import (
    normalise_text,
)

# Canonical columns and the header spellings people use (after normalisation).
COLUMNS: dict[str, tuple[str, ...]] = {
    "task_id": ("任务编号", "任务id", "编号"),
    "seq": ("序号",),
    "content": (
        "工作内容", "任务内容", "工作任务", "重点任务", "目标任务", "事项", "工作事项", "项目名称",
        "重点民生实事项目名称", "量化指标任务", "子项目", "民生实事", "实事项目", "项目", "重点工作",
        "具体工作内容", "主要任务", "工作标准", "重点工作任务", "项目内容", "主要目标任务",
        "民生实事项目", "重点民生实事项目", "目标任务名称",
    ),
    "metric_no": ("指标序号",),
    "metric": ("指标", "指标名称", "量化指标", "考核指标", "二级指标"),
    "month": ("本月完成", "当月完成", "本月完成数", "当月完成数", "本月完成值", "本月", "当月", "本月完成情况"),
    "cumulative": (
        "累计完成", "累计完成数", "累计", "累计完成值", "截至本月累计", "年度累计", "全年累计完成",
        "1-本月累计", "本年累计", "累计完成情况",
    ),
    "status": (
        "完成状态", "进展状态", "状态", "推进状态", "进度评价", "序时情况", "序时进度情况",
        "是否达到序时进度", "是否达序",
    ),
    "progress": (
        "进展情况", "工作进展", "进展", "推进情况", "工作推进情况", "完成情况", "落实情况",
        "工作落实情况",
    ),
    "issues": ("存在问题", "存在的问题", "问题", "困难问题"),
    "next_steps": ("下步打算", "下一步打算", "下步工作", "下一步工作", "下步计划"),
}  # fmt: skip
_LOOKUP = {spelling: key for key, spellings in COLUMNS.items() for spelling in spellings}
IDENTIFYING_COLUMNS = ("task_id", "seq", "content", "metric")
# Of several columns that name the task, the rightmost holds its text (民生实事 | 项目, 目标任务 |
# 具体工作内容); 目标任务 only when there is no other, since in progress tables it often holds the
# target's figure (民生实事 | 目标任务 | 计量单位).
_CONTENT_LAST_RESORT = "目标任务"
REPORTING_COLUMNS = ("month", "cumulative", "first_quarter", "status", "progress")
BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_SPACES = re.compile(r"\s+")
_MAX_HEADER = 40  # characters: longer text without brackets is never a header
# 1-3月, 1—3月份完成, 1-3月实际完成情况, 截至3月底完成, 已完成数: the figure up to the period
_CUMULATIVE_RANGE = re.compile(
    r"^(?:(?:1|一)[-—–~至到]\d{1,2}月份?|截至\d{1,2}月(?:底|末|\d{1,2}日)?|已)"
    r"(?:实际)?(?:累计)?(?:完成)?(?:情况|数|值|量)?$"
)


_FIRST_QUARTER = re.compile(r"^(?:第?一|1)季度(?:实际)?(?:累计)?完成(?:情况|数|值|量)?$")
_PROGRESS_RANGE = re.compile(r"^(?:1|一)[-—–~至到]\d{1,2}月份?(?:工作)?(?:落实|推进)情况$")


def header_key(value: Any) -> str | None:
    if type(value) is not str or (
        len(value) > _MAX_HEADER and "(" not in value and "（" not in value
    ):
        return None  # a header names its column in a few words (a remark goes in brackets)
    return _header_text_key(value)


@lru_cache(maxsize=16_384)  # the same headers and task texts come in every file
def _header_text_key(value: str) -> str | None:
    text = _SPACES.sub("", BRACKETS.sub("", normalise_text(value))).rstrip(":：*＊")
    if not text:
        return None
    if text in _LOOKUP:
        return _LOOKUP[text]
    if _CUMULATIVE_RANGE.match(text):
        return "cumulative"
    if _FIRST_QUARTER.match(text):
        return "first_quarter"  # 1-3月: the cumulative figure of a March report, of no other
    if _PROGRESS_RANGE.match(text):
        return "progress"
    return None


@dataclass
class Layout:
    header_rows: tuple[int, ...]
    columns: dict[str, int]

    @property
    def first_data_row(self) -> int:
        return max(self.header_rows) + 1


# progress given only as a share of the target (当前进度 28%): no figure to judge by
_PERCENT_ONLY = re.compile(
    r"^(?:当前|目前|总体|形象)?进度(?:[%％]|百分比)?$|^完成(?:进度|率|比例)[%％]?$"
)


def percent_only_header(sheet: Sheet) -> str | None:
    """The header of a column of progress percentages, in a table that names its tasks but has
    no column of figures (本月完成, 累计完成): such a report cannot be judged and is refused."""
    for row in sheet.rows[:30]:
        keys = {header_key(v) for v in row} - {None}
        if not keys & set(IDENTIFYING_COLUMNS) or keys & {"month", "cumulative"}:
            continue
        for value in row:
            text = _SPACES.sub("", normalise_text(value)) if isinstance(value, str) else ""
            if text and _PERCENT_ONLY.match(text):
                return str(value).strip()
    return None


def _better_content(row: list[Any], first: int, second: int) -> int:
    """The column that holds the task's text, of two whose headers both could (first < second)."""
    if _SPACES.sub("", normalise_text(row[second])) == _CONTENT_LAST_RESORT:
        return first
    return second


def _composed_key(parent: list[Any], child: list[Any], c: int) -> str | None:
    """A two-level header read as one: 一季度 over 计划 | 完成 is 一季度计划 | 一季度完成."""
    if c >= len(parent) or c >= len(child):
        return None
    top, below = parent[c], child[c]
    if not (isinstance(top, str) and isinstance(below, str) and top.strip() and below.strip()):
        return None
    return header_key(top.strip() + below.strip())


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
                continue  # as header_key
            key = header_key(value)
            if key == "content" and "content" in keys:
                keys["content"] = _better_content(row, keys["content"], c)
            elif key and key not in keys:
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
        parent, child = sorted((best_row, r))
        for c, value in enumerate(sheet.rows[r]):
            key = header_key(value) or _composed_key(sheet.rows[parent], sheet.rows[child], c)
            if key and key not in columns and c not in columns.values():
                extra[key] = c
        if extra:
            columns.update(extra)
            used.append(r)
    identifies = set(IDENTIFYING_COLUMNS) & columns.keys()
    reports = set(REPORTING_COLUMNS) & columns.keys()
    if not identifies or not reports:
        return None
    return Layout(tuple(sorted(used)), columns)
