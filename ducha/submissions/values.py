"""Reading what people type in number and status cells."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

EMPTY = {
    "",
    "/",
    "／",
    "—",
    "——",
    "-",
    "--",
    "－",
    "无",
    "暂无",
    "暂无数据",
    "待统计",
    "暂未统计",
    "其它类",  # 进度评价 of a task judged by no schedule
    "其他类",
    "空",
    "n/a",
    "na",
    "none",
    "null",
    "…",
    "——/——",
}
# Longer text (after stripping) is never an empty mark: NFKC only makes text longer, save for
# combining sequences, which no mark has.
_EMPTY_MAX_LENGTH = max(map(len, EMPTY))
STATUS_WORDS = {
    "已完成": "done",
    "完成": "done",
    "全部完成": "done",
    "序时推进": "on_schedule",
    "按序时推进": "on_schedule",
    "正常推进": "on_schedule",
    "有序推进": "on_schedule",
    "推进中": "on_schedule",
    "滞后": "behind",
    "滞后序时": "behind",
    "进度滞后": "behind",
    "未启动": "not_started",
    "未开始": "not_started",
    "尚未启动": "not_started",
    # the words offices use in their own progress tables
    "提前完成": "done",
    "超进度": "on_schedule",
    "超序时": "on_schedule",
    "超序时进度": "on_schedule",
    "达进度": "on_schedule",
    "达序时": "on_schedule",
    "达到序时进度": "on_schedule",
    "符合序时进度": "on_schedule",
    "欠进度": "behind",
    "慢序时": "behind",
    "慢于序时": "behind",
    "低于序时": "behind",
    "未达序时": "behind",
    "推进缓慢": "behind",
    "按序时": "on_schedule",
    "达序推进": "on_schedule",
    "按计划推进": "on_schedule",
    "未达到序时进度": "behind",
    "未达到序时": "behind",
    "未达序时进度": "behind",
}
_NUMBER = re.compile(r"^([+-]?)(\d+(?:\.\d+)?|\.\d+)(万|亿)?(.*)$")
_UNIT_WORDS = (
    "个百分点", "万元", "亿元", "万人", "人次", "平方米", "公里", "个", "家", "人", "名", "亩", "场",
    "台", "户", "套", "间", "条", "所", "项", "宗", "辆", "座", "处", "件", "次", "吨", "元", "%", "％",
)  # fmt: skip


def _quoted(text: str) -> str:
    """Cell text for a message: “…”, long text cut short."""
    return f"“{text[:30]}…”" if len(text) > 30 else f"“{text}”"


class ValueProblem(ValueError):
    """A cell that does not hold a usable value; the message quotes what was written."""


def normalise_text(value: Any) -> str:
    """Full-width to half-width, no surrounding space."""
    text = str(value)
    if text.isascii():  # NFKC leaves ASCII as it is
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


def shown(value: Any) -> str:
    """A cell value as the sender typed it (7.0 read from Excel is shown as 7)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        text = value.strip()
        return not text or (
            len(text) <= 2 * _EMPTY_MAX_LENGTH and normalise_text(text).lower() in EMPTY
        )
    return False


_PERCENT_MEASURES = ("%", "％", "个百分点", "百分点", "‰")


def parse_number(value: Any, measure: str | None = None) -> float | None:
    """35 / "35个" / "1,200" / "1.2万" / "３５" / "5.2%" -> a float; empty marks -> None.

    "万" multiplies unless the metric itself is counted in 万/亿 (money such as 亿元
    keeps its unit). Anything else raises ValueProblem quoting the cell.
    """
    if isinstance(value, bool):
        raise ValueProblem(f"“{value}”不是有效数字")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueProblem("不是有效数字")
        return float(value)
    if is_empty(value):
        return None
    if not isinstance(value, str):
        raise ValueProblem(f"“{value}”不是有效数字")
    original = str(value).strip()
    text = normalise_text(value).replace(",", "").replace("，", "").replace(" ", "")
    m = _NUMBER.match(text)
    if not m:
        raise ValueProblem(f"{_quoted(original)}不是有效数字")
    sign, digits, multiplier, rest = m.groups()
    number = float(digits) * (-1 if sign == "-" else 1)
    rest = rest.strip()
    if rest and rest not in _UNIT_WORDS and rest != (measure or ""):
        raise ValueProblem(f"{_quoted(original)}不是有效数字")
    if rest in ("%", "％") and measure and measure not in _PERCENT_MEASURES:
        # a share of the target typed where a count is asked for (16.7% stored as 16.7 个)
        raise ValueProblem(
            f"{_quoted(original)}是百分比，本指标以“{measure}”计，请填写完成的数量，不填进度百分比"
        )
    if multiplier:
        counted_in = (measure or "")[:1]
        if counted_in in ("万", "亿"):
            if multiplier != counted_in:
                factor = 10_000 if multiplier == "亿" else 1 / 10_000
                number *= factor
        else:
            number *= 10_000 if multiplier == "万" else 100_000_000
    if not math.isfinite(number):  # hundreds of digits overflow to infinity
        raise ValueProblem(f"{_quoted(original)}数值过大，不是有效数字")
    return number


def parse_status(value: Any) -> str | None:
    if isinstance(value, str) and value in STATUS_WORDS:  # as picked from the drop-down
        return STATUS_WORDS[value]
    if is_empty(value):
        return None
    key = normalise_text(value).replace(" ", "")
    status = STATUS_WORDS.get(key)
    if status is None:
        raise ValueProblem(
            f"完成状态“{str(value).strip()}”无效，应为 已完成 / 序时推进 / 滞后 / 未启动"
        )
    return status


def text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text or (len(text) <= 2 * _EMPTY_MAX_LENGTH and normalise_text(text).lower() in EMPTY):
        return None  # is_empty(value), without stripping twice
    return text
