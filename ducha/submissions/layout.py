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
IDENTIFYING_COLUMNS = ("task_id", "seq", "content")
REPORTING_COLUMNS = ("month", "cumulative", "status", "progress")
BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_SPACES = re.compile(r"\s+")
_MAX_HEADER = 40  # characters: longer text without brackets is never a header
_CUMULATIVE_RANGE = re.compile(r"^1-\d{1,2}月(累计)?(完成)?(数|值)?$")


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
    return None


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
                continue  # as header_key
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
            key = header_key(value)
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
