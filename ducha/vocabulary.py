"""The words of ducha, each declared once with its Chinese label: what the CLI, the templates,
the flows and the SQL parameters all use.

Each member's name is its stable identifier (in the database, the ledger, config files and
scripts); its value is the Chinese word a person reads and may type. Both are accepted wherever
one is (`ducha notify --kind 催报` = `--kind reminder`; a Prefect parameter chosen from the
Chinese list or sent by name). The dicts below (STATUS_ZH, …) are the same words as name → label
maps, for templates and tables.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from ducha.errors import UserError


class _Named(StrEnum):
    """A member is found by its English name or its Chinese word."""

    @classmethod
    def parse(cls, text: Any) -> Self:
        if isinstance(text, cls):
            return text
        word = str(text).strip()
        if word in cls.__members__:
            return cls[word]
        for member in cls:
            if member.value == word:
                return member
        raise UserError(f"{cls.what()}“{word}”无效，应为 {cls.choices()}")

    @classmethod
    def choices(cls) -> str:
        return "、".join(f"{m.value}（{m.name}）" for m in cls)

    @classmethod
    def lenient(cls, value: Any) -> Any:
        """For pydantic: the member for a name or word, anything else as it is (pydantic then
        says what the choices are)."""
        try:
            return cls.parse(value)
        except UserError:
            return value

    @classmethod
    def what(cls) -> str:
        return "取值"


class Step(_Named):
    """A step that can be run on its own (CLI `ducha <step>`, deployment `ducha-step/step`)."""

    templates = "发模板"
    reminder = "催报"
    ingest = "接收报表"
    evaluate = "研判"
    report = "生成通报"
    notify = "发送通知"
    backup = "备份"

    @classmethod
    def what(cls) -> str:
        return "步骤"


class NoticeKind(_Named):
    """A kind of notice (DESIGN §6), in the order a month produces them."""

    invite = "填报通知"
    reminder = "催报"
    overdue = "逾期催报"
    receipt = "回执"
    decision = "申请答复"
    chase = "催办"
    supervise = "督办"
    brief = "专报"
    bulletin = "通报"

    @classmethod
    def what(cls) -> str:
        return "通知种类"


KINDS: tuple[str, ...] = tuple(k.name for k in NoticeKind)
KIND_ZH: dict[str, str] = {k.name: k.value for k in NoticeKind}
# Kinds judged from the month's evaluation (the others need none).
EVALUATED_KINDS = ("chase", "supervise", "brief", "bulletin")


def kind_names(kinds: Any) -> tuple[str, ...] | None:
    """English names of kinds given as names, Chinese words or members (None: all)."""
    if kinds is None:
        return None
    return tuple(NoticeKind.parse(k).name for k in kinds)


class Status(_Named):
    """A metric's or task's judgement for a period (DESIGN §5), best first."""

    done = "已完成"
    on_track = "序时推进"
    lagging = "滞后"
    critical = "严重滞后"
    missing = "未报送"

    @classmethod
    def what(cls) -> str:
        return "状态"


class DeclaredStatus(_Named):
    """What a unit declares for a task in its report (完成状态)."""

    done = "已完成"
    on_schedule = "序时推进"
    behind = "滞后"
    not_started = "未启动"

    @classmethod
    def what(cls) -> str:
        return "完成状态"


class Timeliness(_Named):
    """How a unit's report for a period came: on time, late, or not at all."""

    on_time = "按时报送"
    late = "逾期报送"
    missing = "未报送"

    @classmethod
    def what(cls) -> str:
        return "报送情况"


class MetricKind(_Named):
    """What a metric measures (DESIGN §3)."""

    cumulative = "累计"
    growth = "增速"
    level = "水平"

    @classmethod
    def what(cls) -> str:
        return "指标类型"


class Bound(_Named):
    """How a target binds: 以上 (at least), 左右 (about), 以内 (at most)."""

    at_least = "不低于"
    about = "左右"
    at_most = "不高于"

    @classmethod
    def what(cls) -> str:
        return "界限"


class UnitKind(_Named):
    """The kinds of the units register."""

    town = "镇"
    zone = "开发区（园区）"
    street = "街道"
    district = "辖市区"
    dept = "部门"
    company = "国有企业"
    leader = "区政府分管领导"

    @classmethod
    def what(cls) -> str:
        return "单位类别"


class Role(_Named):
    """A unit's part in a task: it leads it (牵头) or is responsible for it (责任)."""

    lead = "牵头"
    responsible = "责任"

    @classmethod
    def what(cls) -> str:
        return "职责"


class Outcome(_Named):
    """What became of a received file."""

    accepted = "已接收"
    superseded = "已接收并替代此前文件"
    duplicate = "重复（未重复入库）"
    rejected = "未接收"

    @classmethod
    def what(cls) -> str:
        return "接收结果"


class RequestKind(_Named):
    """What a unit may ask for through its link (DESIGN §9)."""

    extension = "申请延期"
    signoff = "申请销号"

    @classmethod
    def what(cls) -> str:
        return "申请事项"


class RequestStatus(_Named):
    """Where a request stands."""

    pending = "待审核"
    approved = "已同意"
    rejected = "未同意"

    @classmethod
    def what(cls) -> str:
        return "申请状态"


def labels(words: type[_Named]) -> dict[str, str]:
    """name → Chinese label of a set of words."""
    return {w.name: w.value for w in words}


STATUS_ZH = labels(Status)
DECLARED_ZH = labels(DeclaredStatus)
SUBMISSION_ZH = labels(Timeliness)
METRIC_KIND_ZH = labels(MetricKind)
BOUND_ZH = labels(Bound)
UNIT_KIND_ZH = labels(UnitKind)
ROLE_ZH = labels(Role)
REQUEST_KIND_ZH = labels(RequestKind)
REQUEST_STATUS_ZH = labels(RequestStatus)
# Orders the judgements rely on: the worst status wins, the timely report ranks first.
STATUS_ORDER = ("done", "on_track", "missing", "lagging", "critical")
BEHIND = ("lagging", "critical")
TIMELINESS_ORDER = tuple(w.name for w in Timeliness)
# Unit kinds that report progress as territorial units (镇 / 开发区 / 街道; a city's 辖市区).
TERRITORIAL = ("town", "zone", "street", "district")
