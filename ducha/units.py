"""The units register: reporting units, departments, companies and leaders.

Names in the decomposition table and in spreadsheets are resolved here, and
group phrases such as 各镇、开发区、街道 expand through the configured groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ducha.errors import UserError
from ducha.vocabulary import UnitKind

_REMARK = re.compile(r"[（(][^（()）]*[）)]")  # （盖章）, (邹区镇)
# a government before a unit's name: 常州市武进区, 武进区, 县, 区
_PREFIX = re.compile(r"^(?:[^\s市区县（(]{0,6}[省市])?[^\s市区县（(]{0,6}[区县市]")

KINDS = tuple(k.name for k in UnitKind)

RELATED_UNITS = "相关单位"
_SPACE = re.compile(r"\s+")
_GROUP_PHRASE = re.compile(r"^(各|相关)(.+)$")
_GROUP_WORD_PREFIX = re.compile(r"^(各|相关)")
_GOVERNMENT_SUFFIX = re.compile(r"(?<=.)(人民政府|政府|办事处|管委会|管理委员会)$")


# ★牵头单位, 财政局。, 管委会等, 团市委配合落实 (the verb of a list of units glued to its last one)
_MARKS = re.compile(
    r"^[★☆*＊※●]+|[。.．；;，,、]+$|(?<=.)等$|(?<=..)(配合落实|牵头落实|负责落实|共同落实)$"
)


def normalise_name(name: str) -> str:
    """Drop all white space (王  斐 → 王斐), a lead mark before the name (★), the punctuation
    and 等 after it, and unify brackets to full width."""
    name = _MARKS.sub("", _SPACE.sub("", name))
    return name.replace("(", "（").replace(")", "）")


@dataclass(frozen=True)
class Unit:
    name: str
    kind: str
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "aliases": list(self.aliases)}


@dataclass
class UnitRegister:
    units: list[Unit]
    groups: dict[str, list[str]] = field(default_factory=dict)
    _index: dict[str, Unit] = field(default_factory=dict, repr=False)

    source: str = "config/units.yaml"

    def __post_init__(self) -> None:
        for unit in self.units:
            for key in (unit.name, *unit.aliases):
                norm = normalise_name(key)
                other = self._index.get(norm)
                if other is not None and other.name != unit.name:
                    raise UserError(
                        f"单位名册 {self.source} 中“{key}”同时指向“{other.name}”和“{unit.name}”"
                    )
                self._index[norm] = unit

    @classmethod
    def from_data(cls, data: Any, path: Path) -> UnitRegister:
        """The register as units.yaml (`data`, read from `path`) declares it, checked."""
        if not isinstance(data, dict) or not isinstance(data.get("units"), list):
            raise UserError(f"单位名册 {path} 应包含 units 列表")
        units: list[Unit] = []
        for i, item in enumerate(data["units"], start=1):
            if not isinstance(item, dict) or not item.get("name"):
                raise UserError(f"单位名册 {path} 第 {i} 个单位缺少 name")
            kind = item.get("kind")
            if kind not in KINDS:
                raise UserError(
                    f"单位名册 {path} 中“{item['name']}”的类别“{kind}”无效，应为 {'/'.join(KINDS)}"
                )
            aliases = tuple(normalise_name(str(a)) for a in item.get("aliases") or [])
            units.append(Unit(normalise_name(str(item["name"])), kind, aliases))
        register = cls(units, source=str(path))
        groups = data.get("groups") or {}
        if not isinstance(groups, dict):
            raise UserError(f"单位名册 {path} 中 groups 应为“集合词: {{kinds/units}}”")
        for word, spec in groups.items():
            members = register._group_members(path, str(word), spec)
            register.groups[normalise_name(str(word))] = members
        return register

    def _group_members(self, path: Path, word: str, spec: object) -> list[str]:
        if not isinstance(spec, dict):
            raise UserError(f"单位名册 {path} 中集合词“{word}”应写 kinds 或 units")
        members: list[str] = []
        for kind in spec.get("kinds") or []:
            if kind not in KINDS:
                raise UserError(f"单位名册 {path} 中集合词“{word}”的类别“{kind}”无效")
            members += [u.name for u in self.units if u.kind == kind]
        for name in spec.get("units") or []:
            unit = self.find(str(name))
            if unit is None:
                raise UserError(f"单位名册 {path} 中集合词“{word}”的成员“{name}”不在名册中")
            members.append(unit.name)
        return list(dict.fromkeys(members))

    def find(self, name: str) -> Unit | None:
        return self._index.get(normalise_name(name))

    def of_kind(self, *kinds: str) -> list[Unit]:
        return [u for u in self.units if u.kind in kinds]

    def resolve_leader(self, name: str) -> str | None:
        unit = self.find(name)
        return unit.name if unit is not None and unit.kind == "leader" else None

    def resolve_unit(self, name: str) -> str | None:
        """A unit by its name or alias, else as people write it when that is no name itself: with
        a remark in brackets (湖塘镇（盖章）, 高新区（邹区镇）), with the government's prefix
        (常州市武进区民政局, 县水务局, 区发改委), or both."""
        for written in dict.fromkeys((name, _REMARK.sub("", name))):
            bare = _GOVERNMENT_SUFFIX.sub("", written)  # 某镇人民政府, 某街道办事处, 某区管委会
            for candidate in dict.fromkeys(
                (written, _PREFIX.sub("", written, count=1), bare, _PREFIX.sub("", bare, count=1))
            ):
                unit = self.find(candidate) if candidate else None
                if unit is not None:
                    return unit.name if unit.kind != "leader" else None
        return None

    def resolve_names(self, names: list[str]) -> list[tuple[str, list[str] | None]]:
        """Each name of a cell (split_names) with the units it stands for, None when unknown. A
        group phrase split at its 、 is joined again, as far as the register knows it
        (各乡、镇人民政府、人民大垸 → 各乡、镇人民政府 and 人民大垸)."""
        out: list[tuple[str, list[str] | None]] = []
        i = 0
        while i < len(names):
            found = None
            if is_group_phrase(names[i]) or normalise_name(names[i]) in self.groups:
                for j in range(len(names), i, -1):
                    phrase = "、".join(names[i:j])
                    expanded = self.expand_phrase(phrase)
                    if expanded is not None:
                        found, i = (phrase, expanded), j
                        break
            if found is None:
                unit = self.resolve_unit(names[i])
                found, i = (names[i], [unit] if unit else None), i + 1
            out.append(found)
        return out

    def expand_phrase(self, phrase: str) -> list[str] | None:
        """Expand a group phrase into unit names: a phrase configured as written (区安委会各成员单位),
        or 各 / 相关 before group words (各镇、开发区、街道, 各乡、镇人民政府, 各街办（新区）, a word's
        remark dropped when the word itself is not configured).

        Returns None when the phrase is not a group phrase (or names an unknown group word).
        """
        norm = normalise_name(phrase)
        if norm in self.groups:
            return list(self.groups[norm])
        match = _GROUP_PHRASE.match(norm)
        if not match:
            return None
        rest = match.group(2)
        if rest in self.groups:
            return list(self.groups[rest])
        members: list[str] = []
        for word in re.split(r"[、，,和及/]", rest):
            word = _GROUP_WORD_PREFIX.sub("", word)
            key = next(
                (k for k in (word, _REMARK.sub("", word), _GOVERNMENT_SUFFIX.sub("", word))
                 if k in self.groups),
                None,
            )  # fmt: skip
            if key is None:
                return None
            members += self.groups[key]
        return list(dict.fromkeys(members))


def is_group_phrase(name: str) -> bool:
    """Whether a name starts a group phrase (各镇, 相关街道); 相关单位 is a list of its own."""
    name = normalise_name(name)
    return name != RELATED_UNITS and _GROUP_PHRASE.match(name) is not None


def split_names(text: str) -> list[str]:
    """Split a table cell of names (one a line, or separated by 、，,;) into names. A group phrase
    such as 各镇、开发区、街道 comes out in parts: the register joins them (`join_phrases`)."""
    names: list[str] = []
    for line in re.split(r"[\n\r；;]+", text):
        line = line.strip()
        if not line:
            continue
        if names and _REMARK.fullmatch(line):  # a remark on a line of its own: the name's above
            names[-1] += line
            continue
        names += [p for p in re.split(r"[、，,]+", line) if p.strip()]
    return [normalise_name(n) for n in names]
