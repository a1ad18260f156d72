"""What to say when a table names units or leaders the register does not know.

Each name once, with the rows it appears in and the closest names in the register, then a YAML
snippet to paste into config/units.yaml: the name as an alias of the closest unit when it looks
like another spelling of it, else a new unit of the kind its ending suggests. A remark such as
"（邹区镇）" is never offered as a unit or an alias: it belongs to the name before it, so the
cell itself needs correcting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from ducha.units import UnitRegister

ROLE_NAMES = {"leader": "分管领导", "lead": "牵头单位", "responsible": "责任单位"}
_ONLY_REMARK = re.compile(r"^[（(][^）)]*[）)]$")
_KIND_BY_ENDING = (
    (re.compile(r"(镇|乡)$"), "town"),
    (re.compile(r"街道(办事处)?$"), "street"),
    (re.compile(r"(开发区|园区|高新区|示范区|产业园|园)$"), "zone"),
    (re.compile(r"(集团|公司)$"), "company"),
)
_ALIAS_SCORE = 66  # rapidfuzz WRatio: one character of three apart may be another spelling
_SHOWN_SCORE = 55
_SHOWN_ROWS = 5


@dataclass
class UnknownName:
    name: str
    role: str  # leader / lead / responsible
    rows: list[str] = field(default_factory=list)


def _kind_of(name: str, role: str) -> str:
    if role == "leader":
        return "leader"
    return next((kind for pattern, kind in _KIND_BY_ENDING if pattern.search(name)), "dept")


def _closest(name: str, register: UnitRegister, role: str) -> list[tuple[str, float]]:
    """The register's units (or leaders) whose name or alias is closest, best first."""
    choices: dict[str, str] = {}  # spelling → canonical name
    for unit in register.units:
        if (unit.kind == "leader") != (role == "leader"):
            continue
        for spelling in (unit.name, *unit.aliases):
            choices.setdefault(spelling, unit.name)
    best: dict[str, float] = {}
    for spelling, score, _ in process.extract(name, list(choices), scorer=fuzz.WRatio, limit=8):
        canonical = choices[spelling]
        if score >= _SHOWN_SCORE and score > best.get(canonical, -1):
            best[canonical] = score
    return sorted(best.items(), key=lambda item: -item[1])[:3]


def _yaml_quote(text: str) -> str:
    return text if re.fullmatch(r"[\w（）()·]+", text) else '"' + text.replace('"', '\\"') + '"'


def _rows(rows: list[str]) -> str:
    shown = "、".join(dict.fromkeys(rows[:_SHOWN_ROWS]))
    return shown + (f" 等 {len(rows)} 处" if len(rows) > _SHOWN_ROWS else "")


def unknown_names_message(source: str, unknown: list[UnknownName], register: UnitRegister) -> str:
    """The whole message: each unknown name once, then one snippet for units.yaml."""
    lines = [
        f"{source}：以下 {len(unknown)} 个名称不在单位名册（{register.source}）中，本次未写入任何数据："
    ]
    snippet: list[str] = []
    for item in unknown:
        role = ROLE_NAMES[item.role]
        where = _rows(item.rows)
        if _ONLY_REMARK.match(item.name):
            lines.append(
                f"· “{item.name}”（{role}，{where}）是括注而不是单位名称，"
                "应与上一行的单位写在同一行，请改正表格后重新导入"
            )
            continue
        closest = _closest(item.name, register, item.role)
        near = "、".join(f"“{n}”" for n, _ in closest) if closest else "无"
        lines.append(f"· “{item.name}”（{role}，{where}）；名册中最接近的：{near}")
        unit = register.find(closest[0][0]) if closest and closest[0][1] >= _ALIAS_SCORE else None
        new = f"- {{name: {_yaml_quote(item.name)}, kind: {_kind_of(item.name, item.role)}}}"
        if unit is not None:
            aliases = ", ".join(_yaml_quote(a) for a in (*unit.aliases, item.name))
            snippet += [
                f"  - {{name: {_yaml_quote(unit.name)}, kind: {unit.kind}, aliases: [{aliases}]}}"
                f"  # 若“{item.name}”即“{unit.name}”：替换名册中原有的这一行",
                f"  # 若“{item.name}”与“{unit.name}”不是同一个，改用：{new}",
            ]
        else:
            snippet.append(f"  {new}  # 新单位：请核对类别")
    if snippet:
        lines.append(
            f"请核对后把下列内容加入 {register.source} 的 units 列表（别称加入原单位的 aliases），再重新导入："
        )
        lines += snippet
    return "\n".join(lines)
