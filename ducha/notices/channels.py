"""Who is reached how: each recipient's channels (apprise URLs with a format and the kinds they
take), rate limits, retries, concurrency, and the checks `ducha channels check` runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, AliasPath, ConfigDict, Field
from pydantic.dataclasses import dataclass as section

from ducha.errors import UserError
from ducha.notices.secrets import _REF, Secrets
from ducha.notices.transports import _apprise, _meta, _own, bot_identity, checked_url
from ducha.parameters import KindChoice
from ducha.sections import FILE_SECTION, Int, Number
from ducha.vocabulary import KINDS, NoticeKind

FORMATS = ("text", "markdown", "html")
# Size limits of a message body in bytes (UTF-8), per scheme.
BYTE_LIMITS = {
    "wxbot": 2048,
    "wxbots": 2048,
    "dtalk": 18000,
    "dtalks": 18000,
    "fsbot": 28000,
    "fsbots": 28000,
}
# Bots sent to at once: a district's month (~160 messages to ~60 bots) goes out in about ten
# rounds of claim → send → record; a crash mid-round can repeat at most this many messages.
DEFAULT_CONCURRENCY = 32


@dataclass(frozen=True)
class Channel:
    recipient: str
    name: str
    url: str  # as configured: references, not secrets
    format: str
    kinds: tuple[str, ...] = KINDS

    @property
    def scheme(self) -> str:
        return checked_url(self.url).split("://", 1)[0].lower()

    @property
    def byte_limit(self) -> int | None:
        return BYTE_LIMITS.get(self.scheme)

    @property
    def bot_key(self) -> str:
        """Channels that share a bot share its rate limit (see bot_identity)."""
        return hashlib.sha256(bot_identity(self.url).encode()).hexdigest()[:12]


@section(frozen=True, config=FILE_SECTION)
class RateLimit:
    count: Int = Field(20, ge=1, description="同一个机器人在一个时间窗内最多发送的条数（钉钉、企业微信约 20 条/分钟）",
                       json_schema_extra={"should": "正整数"})  # fmt: skip
    # at most a day: a longer window is a typo, and an infinite one stopped every later notify
    # (the window's start, now minus its length, is before year 1)
    seconds: Number = Field(60.0, gt=0, le=86400, description="频率限制的时间窗（秒）",
                            json_schema_extra={"should": "不超过 86400（一天）的正数"})  # fmt: skip


@section(frozen=True, config=FILE_SECTION)
class ChannelEntry:
    """One channel of a recipient, as channels.yaml writes it."""

    url: str = Field(
        min_length=1,
        description="apprise 地址；密钥写 ${环境变量名} 或 ${secret:Prefect Secret 块名}",
    )
    name: str | None = Field(
        None, description="渠道名称（同一收件人的渠道不能重名；不写为“收件人#序号”）"
    )
    format: Literal["text", "markdown", "html"] = Field("text", description="消息格式")
    kinds: list[KindChoice] | None = Field(
        None, description="只接收这些种类的通知（中文或英文；催报含逾期催报；不写为全部）"
    )


def _retry(name: str, default: float, what: str, should: str, **bounds: float) -> Any:
    """A setting written inside retry: {…} in the file."""
    return Field(default, validation_alias=AliasChoices(name, AliasPath("retry", name)), description=what,
                 json_schema_extra={"should": should}, **bounds)  # fmt: skip


@section(frozen=True, config=ConfigDict(extra="forbid", populate_by_name=True))
class ChannelConfig:
    """channels.yaml: who is reached how, and how fast."""

    sender: str = Field("区人民政府督查室", min_length=1, description="通知的落款")
    reply_workdays: Int = Field(5, ge=1, le=30, description="催办、督办要求在发出后第几个工作日内书面反馈",
                                json_schema_extra={"should": "1 到 30 之间的整数"})  # fmt: skip
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="频率限制")
    max_attempts: Int = _retry(
        "max_attempts", 6, "每条通知最多尝试的次数（失败后按退避时间重试）", "正整数", ge=1
    )
    backoff_seconds: Number = _retry(
        "backoff_seconds", 60.0, "第一次重试前等待的秒数，之后每次加倍",
        "0 到 86400（一天）之间的数", ge=0, le=86400,
    )  # fmt: skip
    concurrency: Int = Field(DEFAULT_CONCURRENCY, ge=1, le=256, json_schema_extra={"should": "1 到 256 之间的整数"},
                             description="同时发送的机器人数（每个机器人同一时刻只发一条；邮件每个服务器一次一条）")  # fmt: skip
    recipients: dict[str, list[ChannelEntry | Channel]] = Field(
        default_factory=dict,
        description="各单位、领导的渠道：单位名 → [{name, url, format, kinds}…]",
    )

    def __post_init__(self) -> None:
        """Each entry as the Channel it is: named, its recipient known, its kinds as names."""
        channels: dict[str, list[Channel]] = {}
        for recipient, entries in self.recipients.items():
            for i, entry in enumerate(entries, start=1):
                if isinstance(entry, ChannelEntry):
                    entry = Channel(recipient, entry.name or f"{recipient}#{i}", entry.url, entry.format,
                                    _kinds(entry.kinds))  # fmt: skip
                channels.setdefault(recipient, []).append(entry)
        object.__setattr__(self, "recipients", channels)

    def channels_for(self, recipient: str, kind: str) -> list[Channel]:
        return [c for c in self.recipients.get(recipient, []) if kind in c.kinds]


def _kinds(listed: list[NoticeKind] | None) -> tuple[str, ...]:
    """The kinds a channel takes (none listed: all). 催报 (reminder) includes 逾期催报 (overdue),
    which came later."""
    if not listed:
        return KINDS
    names = {k.name for k in listed}
    if "reminder" in names:
        names.add("overdue")
    return tuple(k for k in KINDS if k in names)


def check_channels(config: ChannelConfig, known: set[str], path: Path) -> None:
    """What a schema cannot see: recipients that are in the register, names not repeated, and
    no secret written into an address (it belongs in the environment)."""
    problems: list[str] = []
    for recipient, channels in config.recipients.items():
        if recipient not in known:
            problems.append(f"“{recipient}”不在单位名册中")
        seen: set[str] = set()
        for i, channel in enumerate(channels, start=1):
            where = f"“{recipient}”的第 {i} 个渠道"
            if _looks_like_literal_secret(channel.url):
                problems.append(f"{where}的地址中似乎直接写了密钥，请改用 ${{环境变量名}} 引用")
            if channel.name in seen:
                problems.append(f"{where}的名称“{channel.name}”与该单位的另一个渠道重复")
            seen.add(channel.name)
    if problems:
        raise UserError(f"{path}：" + "；".join(problems[:5]))


def _looks_like_literal_secret(url: str) -> bool:
    plain = _REF.sub("", url)
    return bool(re.search(r"[A-Za-z0-9_\-]{24,}", plain)) or bool(
        re.search(r"://[^/@\s]*:[^/@\s$]+@", plain)
    )


def validate_url(url: str, secrets: Secrets) -> str | None:
    """None when apprise accepts the URL (secrets resolved), else the reason (masked)."""
    checked = checked_url(url)
    try:
        resolved = secrets.resolve(checked, path_slashes=_own(checked) is not None)
    except UserError as exc:
        return secrets.mask(exc.message)
    if _own(resolved) is not None:
        return None if _meta(resolved) is not None else "apprise 无法识别这个地址"
    if _apprise().Apprise.instantiate(resolved) is None:
        return "apprise 无法识别这个地址"
    return None
