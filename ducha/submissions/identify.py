"""Whose report a file is and for which month: from the template's hidden sheet, the title lines,
the file name and the command line's options, which must all agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ducha.errors import UserError
from ducha.periods import Period
from ducha.submissions.results import ERROR, FileResult
from ducha.submissions.spreadsheet import Workbook
from ducha.submissions.templates import META_SHEET
from ducha.submissions.values import normalise_text
from ducha.units import UnitRegister, normalise_name

if TYPE_CHECKING:  # the worker processes that check files import neither (0.4 s of their start)
    from ducha.submissions.checking import Context

TASK_ID = re.compile(r"^(\d{4})-(\d{3})$")
# A date a form was filled, sent or printed on is a date, never the period reported
_DATE_LINE = re.compile(
    r"(?:填报|报送|上报|制表|填表|打印|统计)(?:日期|时间)\s*[:：]?\s*[\d０-９\s年月日./\-]*"
)
_MONTH = r"(\d{1,2}|十[一二]?|[一二三四五六七八九])"
# 2026年3月, 2026年1-3月 / 1—3月 (cumulative: the period is the last month), and the year and
# the month apart (2026年政府工作报告目标任务3月份推进情况表); never a day's date (2026年4月3日)
_PERIOD_TEXT = re.compile(
    rf"(20\d{{2}})\s*年(?:(?!20\d{{2}})[^\d]){{0,40}}?(?:{_MONTH}\s*[-—–~～至到]\s*)?"
    rf"{_MONTH}\s*月(?:份)?(?!\s*\d{{1,2}}\s*[日号])"
)
# 2026年一季度 / 2026年第1季度: the quarter's last month (a quarter's report is cumulative)
_QUARTER_TEXT = re.compile(r"(20\d{2})\s*年(?:(?!20\d{2})[^\d]){0,40}?第?\s*([一二三四1-4])\s*季度")
_CHINESE_MONTHS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)} | {
    "十": 10, "十一": 11, "十二": 12,
}  # fmt: skip
_PERIOD_NAME = re.compile(
    r"(20\d{2})\s*(?:年|[-_.])\s*(\d{1,2})(?:\s*月)?(?!\d)|(20\d{2})(\d{2})(?!\d)"
)
_UNIT_LINE = re.compile(r"填报单位\s*[:：]\s*([^\s:：　]+)")


def _meta(book: Workbook) -> dict[str, str]:
    for sheet in book.sheets:
        if sheet.name == META_SHEET and sheet.rows and str(sheet.rows[0][0]) == "ducha-template":
            return {str(r[0]).strip(): normalise_text(r[1]) for r in sheet.rows if len(r) > 1}
    return {}


def _title_signals(book: Workbook) -> tuple[list[tuple[str, str]], Period | None]:
    """Every sheet's 填报单位 line (sheet, name as written) and the first 某年某月 in the top
    rows of the sheets, in order. Once a period is found only unit lines are looked for (later
    sheets hold instructions, long texts that are slow to normalise)."""
    units: list[tuple[str, str]] = []
    period = None
    for sheet in book.sheets:
        if sheet.name == META_SHEET:
            continue
        for row in sheet.rows[:6]:
            for value in row:
                if not isinstance(value, str):
                    continue
                unit_line = "填报单位" in value
                if not unit_line and (period is not None or "年" not in value):
                    continue  # neither a unit line nor a period still looked for
                text = normalise_text(value)
                if unit_line and (m := _UNIT_LINE.search(text)):
                    units.append((sheet.name, m.group(1)))
                if period is None:
                    period = period_in_text(text)
    return units, period


def _period_or_none(year: str, month: str) -> Period | None:
    number = _CHINESE_MONTHS.get(month) or int(month)
    if 1 <= number <= 12:
        return Period(int(year), number)
    return None


def period_in_text(text: str) -> Period | None:
    """The period a title or a file name states (某年某月, 某年1-某月, the year and the month
    apart, 某年一季度 as its last month), never a date the form was filled or sent on."""
    text = _DATE_LINE.sub(" ", text)
    m = _PERIOD_TEXT.search(text)
    if m is None:
        q = _QUARTER_TEXT.search(text)
        return (
            Period(int(q.group(1)), 3 * int(_CHINESE_MONTHS.get(q.group(2)) or q.group(2)))
            if q
            else None
        )
    first, last = m.group(2), m.group(3)
    if first is not None and (_CHINESE_MONTHS.get(first) or int(first)) != 1:
        return None  # 4-6月: a quarter's months, not the cumulative months of a period
    return _period_or_none(m.group(1), last)


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
    period = period_in_text(text)
    if period is None and (m := _PERIOD_NAME.search(text)):
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
    title_units, title_period = _title_signals(book)
    if title_units:
        units.append(("表头“填报单位”", title_units[0][1]))
        _one_unit_per_file(result, register, title_units, [sheet.name for sheet in book.sheets])
    if title_period:
        periods.append(("表头", title_period))
    name_units, name_period = _name_signals(Path(result.name).stem, ctx.unit_names)
    if len(name_units) > 1:
        result.add(ERROR, f"文件名中出现多个单位（{'、'.join(name_units)}），无法确定填报单位")
    elif name_units:
        units.append(("文件名", name_units[0]))
    if name_period:
        periods.append(("文件名", name_period))
    if unit_option:
        units.append((ctx.given[0], unit_option))
    if period_option:
        periods.append((ctx.given[1], period_option))

    resolved: list[tuple[str, str]] = []
    for source, raw in units:
        # 政府办（金融） is a name; 湖塘镇（盖章） is a name and a remark
        name = register.resolve_unit(raw)
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
        result.add(
            ERROR,
            "无法确定报送期：文件中和文件名中都没有写明年份和月份（如“2026年3月”“2026年1-3月”），"
            "请在标题或文件名中写明，或用 --period 指定",
        )
    return unit, period


def _one_unit_per_file(
    result: FileResult, register: UnitRegister, lines: list[tuple[str, str]], order: list[str]
) -> None:
    """Sheets naming different units are reports of different units: refused, never stored as
    the first one's (a town's sheet pasted into another's file)."""
    named = [(sheet, register.resolve_unit(raw)) for sheet, raw in lines]
    named = [(sheet, unit) for sheet, unit in named if unit is not None]
    for sheet, unit in named[1:]:
        if unit != named[0][1]:
            result.add(
                ERROR,
                f"第{order.index(named[0][0]) + 1}个工作表“{named[0][0]}”的填报单位是{named[0][1]}，"
                f"第{order.index(sheet) + 1}个工作表“{sheet}”的是{unit}："
                "一个文件只能报送一个单位，请分成两个文件分别报送",
                sheet,
            )
            return
