"""Propose metrics (指标) from a task's 工作内容 text (DESIGN.md §3, Metrics).

A metric is a number with a unit that states a target: "新增城镇就业2.2万人以上" ->
22000 人, cumulative, at least. The output is a *proposal*; people confirm it.

The rules, in order:

* A quantity is a number followed by a unit: an Arabic number (2.2, 180), or a
  Chinese numeral (三, 十五) only right after an action verb ("新建三个"), with an
  optional 万/亿 multiplier for counts ("2.2万人" -> 22000 人). Money keeps the unit
  as written (4000亿元 -> 4000 亿元).
* Numbers that are names give nothing: inside quotes (“九五”, “15分钟医保服务圈”), after
  a letter (PM2.5), after 第 (第二高中), with no unit after them (2026年, 312国道, 三年行动).
* A quantity inside "在…基础上" is a baseline, and one right after 了 is already done.
* A money amount followed by a word ("超百亿元或10亿美元项目3个以上", "超500万元村")
  qualifies the thing counted and is part of its label, not a metric of its own.
* Bound: 左右/约/近 -> about; 以内/以下/不超过/控制在 -> at most; anything else
  (以上, 超, 不少于, 力争, a plain number) -> at least.
* Kind: a % after 增长/增速/增幅/下降 is growth; any other % is level; per-capita
  amounts (人均) are level; a count described as a total or a state (稳定在, 保持,
  规模, 累计, 总数, 突破, or a "到2030年" horizon without 新增) is level; everything
  else is cumulative. In a list ("分别增长16.5%、14.4%") later items share the first
  item's label and kind.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Literal

import cn2an

Kind = Literal["cumulative", "growth", "level"]
Bound = Literal["at_least", "about", "at_most"]


@dataclass(frozen=True)
class Metric:
    label: str
    value: float
    unit: str
    kind: Kind
    bound: Bound

    def to_dict(self) -> dict:
        d = asdict(self)
        if float(self.value).is_integer():
            d["value"] = int(self.value)
        return d


MONEY_UNITS = ("亿美元", "万美元", "美元", "亿元", "万元", "元")
COUNT_UNITS = tuple(
    sorted(
        (
            "个百分点", "人次", "项次", "场次", "家次", "户次", "车次", "架次", "平方米", "平方公里",
            "立方米", "公顷", "公里", "千米", "千瓦", "标箱", "个", "家", "人", "名", "亩", "场", "台",
            "户", "套", "间", "条", "所", "项", "宗", "辆", "座", "处", "件", "次", "吨", "斤", "穴",
            "只", "张", "床", "例", "倍", "块", "棵", "株", "头", "册", "盏", "部", "支", "篇",
        ),
        key=len,
        reverse=True,  # the longest first: 场次 before 场, 人次 before 人
    )
)  # fmt: skip
ACTION_VERBS = (
    "新建", "新增", "建成", "建设", "完成", "实施", "启动", "创成", "创建", "争创", "培育",
    "招引", "引进", "打造", "改造", "开展", "举办", "组织", "推出", "落地", "认定",
)  # fmt: skip
MULTIPLIERS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
# a level per measure: 30微克/立方米
COMPOUND_UNITS = ("微克/立方米", "毫克/立方米", "毫克/升", "千克/亩", "公斤/亩")
BASELINE_FROM = re.compile(r"(?:从|由)[^,，、;；。:：到至]{0,6}$")  # 从60%提高到70%, 由全市12个区县

_alt = "|".join
QUANTITY = re.compile(
    rf"(?P<num>(?<![\dA-Za-z.])\d+(?:\.\d+)?|[零一二两三四五六七八九十百千]+)"
    rf"(?:(?P<money>{_alt(MONEY_UNITS)})|(?P<mult>[万亿])?(?P<more>多|余)?"
    rf"(?P<unit>{_alt(COMPOUND_UNITS)}|{_alt(COUNT_UNITS)}|%)(?P<per>/(?:万人|千人|百人|人|户|平方公里))?)"
    r"(?:\([^)]{1,3}\))?"  # 套(间)
    r"(?P<suffix>以上|以内|以下|左右)?"
)
SEPARATORS = re.compile(r"[,，、;；。:：!?！？]")
QUOTED = re.compile(r"“[^”]*”|《[^》]*》")
BASELINE = re.compile(r"在[^,，、;；。]*?基础上")
ABOUT_PREFIX = re.compile(r"(约|近|大约)$")
AT_MOST_PREFIX = re.compile(r"(不超过|不高于|控制在|低于)$")
GROWTH_CUE = re.compile(r"增长|增速|增幅|下降|降低|减少|(?:提高|提升)(?![到至])")
LEVEL_CUE = re.compile(r"稳定在|保持|规模|累计|总数|突破|(?:种植|播种)面积")
QUALIFIED = re.compile(r"[\u4e00-\u9fff]")  # money followed by a noun
HORIZON = re.compile(r"到\d{4}年")
ADDING = re.compile(r"新增|新建|招引|引进|培育|认定")
LABEL_LEAD = re.compile(r"^(?:实施|完成|组织|推出|确保|力争|争取|推进|推动|启动建设)")
_CJK_OR_DIGIT = r"[\u4e00-\u9fff\d.%]"
_GLUE = re.compile(rf"(?<={_CJK_OR_DIGIT})\s+(?={_CJK_OR_DIGIT})")
LABEL_TAIL = re.compile(r"(?:超过|超|达到|达|突破|不少于|不低于|约|近|大约|不超过|控制在|共)$")


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= pos < end for start, end in spans)


def _clause_start(text: str, pos: int) -> int:
    seps = [m.end() for m in SEPARATORS.finditer(text, 0, pos)]
    return seps[-1] if seps else 0


def _number(token: str) -> Decimal | None:
    if token[0].isdigit():
        return Decimal(token)
    if token in ("百", "千"):  # 百余家, 千余人
        return Decimal(100 if token == "百" else 1000)
    try:
        return Decimal(str(cn2an.cn2an(token, "smart")))
    except ValueError:
        return None


def _bound(before: str, suffix: str | None) -> Bound:
    if suffix == "左右" or ABOUT_PREFIX.search(before):
        return "about"
    if suffix in ("以内", "以下") or AT_MOST_PREFIX.search(before):
        return "at_most"
    return "at_least"


def _kind(unit: str, is_money: bool, before: str, text_before: str) -> Kind:
    if unit in ("%", "个百分点", "倍"):
        return "growth" if GROWTH_CUE.search(before) else "level"
    if is_money:
        return "level" if "人均" in before else "cumulative"
    if LEVEL_CUE.search(before):
        return "level"
    if HORIZON.search(text_before) and not ADDING.search(before):
        return "level"
    return "cumulative"


def _label(before: str, after: str) -> str:
    label = LABEL_TAIL.sub("", LABEL_LEAD.sub("", before))
    if not label or label in ACTION_VERBS:  # noun after the number: "启动15个城中村改造项目"
        counted = next((q for q in QUANTITY.finditer(after) if not q["money"]), None)
        label = after[: counted.start()] if counted else after
    label = re.sub(r"(?:和|及|与|以及)$", "", re.sub(r"[“”\"']|分别", "", label).strip())
    return label or before


def extract_metrics(content: str) -> list[Metric]:
    """Proposed metrics of one task text, in order of appearance."""
    # text copied from a PDF has spaces and line breaks between any two characters: removed
    # between Chinese characters, digits and units ("认定高企 1200 家以上" is 认定高企1200家以上)
    text = _GLUE.sub("", unicodedata.normalize("NFKC", content))
    skip = _spans(QUOTED, text) + _spans(BASELINE, text)
    metrics: list[Metric] = []
    last_end = 0
    subject = ""  # what a 从…到… clause is about
    for m in QUANTITY.finditer(text):
        start = m.start()
        token = m["num"]
        if _inside(start, skip) or text[start - 1 : start] in ("第", "了"):
            continue
        baseline = BASELINE_FROM.search(text, _clause_start(text, start), start)
        if baseline:  # 从60%提高到70%: the new value is the target, the old one what it is about
            subject, last_end = text[_clause_start(text, start) : baseline.start()], m.end()
            continue
        if not token[0].isdigit() and not text[:start].endswith(ACTION_VERBS):
            continue
        number = _number(token)
        if number is None:
            continue
        after_sep = SEPARATORS.search(text, m.end())
        rest = text[m.end() : after_sep.start() if after_sep else len(text)]
        if m["per"] or m["unit"] in COMPOUND_UNITS:  # 2所/万人, 30微克/立方米: a ratio that holds
            unit = m["unit"] + (m["per"] or "")
            value = number
            before = text[max(_clause_start(text, start), last_end) : start]
            label = _label(before, rest) or subject
            metrics.append(Metric(label, float(value), unit, "level", _bound(before, m["suffix"])))
            last_end = m.end()
            continue
        if m["money"]:
            if QUALIFIED.match(rest):  # "超1亿元项目…", "10亿美元项目…": part of a label
                continue
            unit, value = m["money"], number
        else:
            unit = m["unit"]
            value = number * MULTIPLIERS[m["mult"]] if m["mult"] else number
        clause_start = _clause_start(text, start)
        before = text[max(clause_start, last_end) : start]
        # "33个城中村188个地块": text glued to the previous quantity names that one's noun
        label = _label("" if last_end > clause_start else before, rest)
        if subject and re.fullmatch(r"(?:提高|提升|增加|增长|降低|下降|减少)?[到至]?", before):
            label, before = subject, subject + before  # 森林覆盖率从60%提高到70%
        kind = _kind(unit, bool(m["money"]), before, text[:start])
        previous = metrics[-1] if metrics else None
        if previous and previous.unit == unit and text[last_end:start] == "、":
            label, kind = previous.label, previous.kind  # "分别增长16.5%、14.4%"
        metrics.append(Metric(label, float(value), unit, kind, _bound(before, m["suffix"])))
        last_end = m.end()
    return metrics
