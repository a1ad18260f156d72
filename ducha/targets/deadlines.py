"""A task's deadline from the 完成时限 / 时间节点 cell as governments write it.

"12月底前", "9月投入使用", "5月底前动工", "2026年10月", "二季度", "上半年", "年底前", "2026年6月30日"
are dates; "长期坚持", "持续推进", "按序时推进" are not. The year is the table's unless the cell
names another. Where a cell names several dates ("6月底前启动，12月底前完成") the task is due at
the last of them: earlier dates are steps on the way.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date

import cn2an

_MONTH = r"(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_DAY = r"(?:3[01]|[12]\d|0?[1-9])"
_DATE = re.compile(
    rf"(?:(?P<year>20\d\d)\s*年\s*)?(?P<month>{_MONTH})\s*月\s*(?:(?P<day>{_DAY})\s*[日号])?(?P<when>上旬|中旬|下旬|初|中|底|末)?"
)
_NUMERIC = re.compile(
    r"(?P<year>20\d\d)[.\-/](?P<month>1[0-2]|0?[1-9])(?:[.\-/](?P<day>3[01]|[12]\d|0?[1-9]))?"
)
_QUARTER = re.compile(r"(?:(?P<year>20\d\d)\s*年\s*)?(?:第\s*)?(?P<q>[一二三四1-4])\s*季度")
_HALF = re.compile(r"(?:(?P<year>20\d\d)\s*年\s*)?(?P<half>上半年|下半年|年中|年底|年末|全年|年内)")
_YEAR_ONLY = re.compile(r"(?P<year>20\d\d)\s*年\s*(?:底|末|内)?(?!\s*\d)")
_QUARTER_END = {1: 3, 2: 6, 3: 9, 4: 12}
_HALF_END = {"上半年": 6, "年中": 6, "下半年": 12, "年底": 12, "年末": 12, "全年": 12, "年内": 12}


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _number(text: str) -> int:
    return int(text) if text.isdigit() else int(cn2an.cn2an(text, "smart"))


def deadline_in_text(text: str, year: int) -> date | None:
    """The date a careful reader takes from a 完成时限 cell, or None when it names no date."""
    text = unicodedata.normalize("NFKC", text or "")
    found: list[date] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], value: date | None) -> None:
        if value is not None and not any(s <= match.start() < e for s, e in taken):
            found.append(value)
            taken.append(match.span())

    for m in _NUMERIC.finditer(text):
        y, mo = int(m["year"]), int(m["month"])
        add(
            m,
            date(y, mo, min(int(m["day"]), calendar.monthrange(y, mo)[1]))
            if m["day"]
            else _month_end(y, mo),
        )
    for m in _DATE.finditer(text):
        y = int(m["year"]) if m["year"] else year
        mo = _number(m["month"])
        if m["day"]:
            d = int(m["day"])
            add(m, date(y, mo, d) if d <= calendar.monthrange(y, mo)[1] else None)
        elif m["when"] in ("上旬", "初"):
            add(m, date(y, mo, 10))
        elif m["when"] in ("中旬", "中"):
            add(m, date(y, mo, 20))
        else:
            add(m, _month_end(y, mo))
    for m in _QUARTER.finditer(text):
        y = int(m["year"]) if m["year"] else year
        add(m, _month_end(y, _QUARTER_END[_number(m["q"])]))
    for m in _HALF.finditer(text):
        y = int(m["year"]) if m["year"] else year
        add(m, _month_end(y, _HALF_END[m["half"]]))
    for m in _YEAR_ONLY.finditer(text):
        add(m, date(int(m["year"]), 12, 31))
    return max(found, default=None)
