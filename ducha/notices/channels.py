"""Who is reached how: each recipient's channels (apprise URLs with a format and the kinds they take), rate limits, retries, concurrency, and the checks `ducha channels check` runs."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ducha.errors import UserError
from ducha.vocabulary import KINDS, NoticeKind
from ducha.workspace import read_yaml

if TYPE_CHECKING:
    pass
from ducha.notices.secrets import _REF, Secrets
from ducha.notices.transports import _apprise, _meta, _own, bot_identity, checked_url

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


@dataclass(frozen=True)
class RateLimit:
    count: int = 20
    seconds: float = 60.0


@dataclass
class ChannelConfig:
    sender: str = "区人民政府督查室"
    reply_workdays: int = 5
    rate_limit: RateLimit = field(default_factory=RateLimit)
    max_attempts: int = 6
    backoff_seconds: float = 60.0
    concurrency: int = DEFAULT_CONCURRENCY  # bots sent to at once (one message in flight per bot)
    recipients: dict[str, list[Channel]] = field(default_factory=dict)

    @classmethod
    def load(cls, config_dir: Path, known: set[str] | None = None) -> ChannelConfig:
        path = config_dir / "channels.yaml"
        if not path.exists():
            return cls()
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise UserError(f"{path}：应为键值表")
        problems: list[str] = []
        config = cls(
            sender=str(data.get("sender") or cls.sender),
            reply_workdays=int(data.get("reply_workdays") or 5),
        )
        rate = data.get("rate_limit") or {}
        retry = data.get("retry") or {}
        try:
            config.rate_limit = RateLimit(
                int(rate.get("count", 20)), float(rate.get("seconds", 60))
            )
            config.max_attempts = int(retry.get("max_attempts", 6))
            config.backoff_seconds = float(retry.get("backoff_seconds", 60))
        except (TypeError, ValueError, AttributeError):
            problems.append(
                "rate_limit 应写 {count: 条数, seconds: 秒数}，retry 应写 {max_attempts, backoff_seconds}"
            )
        concurrency = data.get("concurrency")
        concurrency = DEFAULT_CONCURRENCY if concurrency is None else concurrency
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            problems.append(f"concurrency 应为正整数（同时发送的机器人数），而不是“{concurrency}”")
        else:
            config.concurrency = concurrency
        recipients = data.get("recipients") or {}
        if not isinstance(recipients, dict):
            raise UserError(f"{path}：recipients 应为“单位: [渠道…]”")
        for recipient, channels in recipients.items():
            name = str(recipient)
            if known is not None and name not in known:
                problems.append(f"“{name}”不在单位名册中")
            if not isinstance(channels, list):
                problems.append(f"“{name}”的渠道应为列表")
                continue
            for i, raw in enumerate(channels, start=1):
                where = f"“{name}”的第 {i} 个渠道"
                if not isinstance(raw, dict) or not raw.get("url"):
                    problems.append(f"{where}缺少 url")
                    continue
                fmt = str(raw.get("format", "text"))
                if fmt not in FORMATS:
                    problems.append(f"{where}的 format“{fmt}”无效，应为 {'/'.join(FORMATS)}")
                kinds, bad = _kinds(raw.get("kinds"))
                if bad:
                    problems.append(
                        f"{where}的 kinds 中“{'、'.join(bad)}”无效，应为 {NoticeKind.choices()}"
                    )
                url = str(raw["url"])
                if _looks_like_literal_secret(url):
                    problems.append(f"{where}的地址中似乎直接写了密钥，请改用 ${{环境变量名}} 引用")
                channel = Channel(name, str(raw.get("name") or f"{name}#{i}"), url, fmt, kinds)
                if any(c.name == channel.name for c in config.recipients.get(name, [])):
                    problems.append(f"{where}的名称“{channel.name}”与该单位的另一个渠道重复")
                config.recipients.setdefault(name, []).append(channel)
        if problems:
            raise UserError(f"{path}：" + "；".join(problems[:5]))
        return config

    def channels_for(self, recipient: str, kind: str) -> list[Channel]:
        return [c for c in self.recipients.get(recipient, []) if kind in c.kinds]


def _kinds(listed: Any) -> tuple[tuple[str, ...], list[str]]:
    """The kinds a channel takes (English names or Chinese words; none listed: all), and the
    words that are no kind. 催报 (reminder) includes 逾期催报 (overdue), which came later."""
    if not listed:
        return KINDS, []
    items = listed if isinstance(listed, list) else [listed]
    names, bad = [], []
    for item in items:
        try:
            names.append(NoticeKind.parse(item).name)
        except UserError:
            bad.append(str(item))
    if "reminder" in names and "overdue" not in names:
        names.append("overdue")
    return tuple(k for k in KINDS if k in names), bad


def _looks_like_literal_secret(url: str) -> bool:
    plain = _REF.sub("", url)
    return bool(re.search(r"[A-Za-z0-9_\-]{24,}", plain)) or bool(
        re.search(r"://[^/@\s]*:[^/@\s$]+@", plain)
    )


def validate_url(url: str, secrets: Secrets) -> str | None:
    """None when apprise accepts the URL (secrets resolved), else the reason (masked)."""
    try:
        resolved = secrets.resolve(checked_url(url))
    except UserError as exc:
        return exc.message
    if _own(resolved) is not None:
        return None if _meta(resolved) is not None else "apprise 无法识别这个地址"
    if _apprise().Apprise.instantiate(resolved) is None:
        return "apprise 无法识别这个地址"
    return None
