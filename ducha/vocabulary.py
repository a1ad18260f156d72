"""Words that mean one thing everywhere: the steps of a month and the kinds of notices.

Each member's name is its stable identifier (in the database, the ledger, config files and
scripts); its value is the Chinese word a supervisor reads and may type. Both are accepted
wherever one is (`ducha notify --kind 催报` = `--kind reminder`; a Prefect parameter chosen
from the Chinese list or sent by name).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator

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

    reminder = "催报"
    overdue = "逾期催报"
    receipt = "回执"
    chase = "催办"
    supervise = "督办"
    brief = "专报"
    bulletin = "通报"

    @classmethod
    def what(cls) -> str:
        return "通知种类"


# As parameter types: pydantic (and so Prefect) accepts the English name or the Chinese word;
# the JSON schema, and so the Prefect UI, offers the Chinese words.
StepChoice = Annotated[Step, BeforeValidator(Step.lenient)]
KindChoice = Annotated[NoticeKind, BeforeValidator(NoticeKind.lenient)]

KINDS: tuple[str, ...] = tuple(k.name for k in NoticeKind)
KIND_ZH: dict[str, str] = {k.name: k.value for k in NoticeKind}
# Kinds judged from the month's evaluation (the others need none).
EVALUATED_KINDS = ("chase", "supervise", "brief", "bulletin")


def kind_names(kinds: Any) -> tuple[str, ...] | None:
    """English names of kinds given as names, Chinese words or members (None: all)."""
    if kinds is None:
        return None
    return tuple(NoticeKind.parse(k).name for k in kinds)
