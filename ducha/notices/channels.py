"""Channels: who receives notices where (config/channels.yaml), secrets, and sending.

Secrets are referenced in URLs as ${ENV_NAME} or ${secret:block-name} (a Prefect
Secret block) and resolved only when sending; every resolved value is masked in
anything ducha prints, stores or raises.

DingTalk, WeCom and Feishu group bots answer HTTP 200 even when they refuse a
message (the error is in the body's errcode / code), and apprise counts that as
delivered. ducha therefore has its own schemes for them, which read the reply:
dtalk(s)://, wxbot(s)://, fsbot(s)://. Standard apprise URLs (dingtalk://,
wecombot://, feishu://) are rewritten to these. ducha posts to these bots itself
(the URL parsed and the body converted exactly as apprise would hand them to a
custom plugin), over one shared HTTP client; every other scheme goes through
apprise, where ducha's schemes are registered too. apprise's plugin table is
loaded only when something needs it (loading it costs ~0.3 s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3

from ducha.errors import UserError
from ducha.vocabulary import KINDS, NoticeKind
from ducha.workspace import read_yaml

if TYPE_CHECKING:
    from types import ModuleType

FORMATS = ("text", "markdown", "html")
_REF = re.compile(r"\$\{([^}]+)\}")
# Size limits of a message body in bytes (UTF-8), per scheme.
BYTE_LIMITS = {
    "wxbot": 2048,
    "wxbots": 2048,
    "dtalk": 18000,
    "dtalks": 18000,
    "fsbot": 28000,
    "fsbots": 28000,
}
TIMEOUT = 10.0
# Bots sent to at once: a district's month (~160 messages to ~60 bots) goes out in about ten
# rounds of claim → send → record; a crash mid-round can repeat at most this many messages.
DEFAULT_CONCURRENCY = 32
_JSON = {"Content-Type": "application/json"}


# ------------------------------------------------------------------ secrets


class Secrets:
    """Resolves ${…} references and remembers every value it handed out, to mask it."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            ref = match.group(1).strip()
            if ref.startswith("secret:"):
                value = _prefect_secret(ref.removeprefix("secret:"))
            else:
                value = os.environ.get(ref)
                if value is None:
                    raise UserError(f"环境变量 {ref} 未设置（渠道地址中引用了它）")
            self.remember(value)
            return value

        return _REF.sub(one, text)

    def remember(self, value: str) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)
                self._values.add(urllib.parse.quote(value, safe=""))
                self._values.add(urllib.parse.quote_plus(value))

    def mask(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, "****")
        return text


def _prefect_secret(name: str) -> str:
    try:
        from prefect.blocks.system import Secret

        return str(Secret.load(name).get())
    except Exception as exc:  # no server, no block: say which, never the value
        raise UserError(f"读取 Prefect Secret 块“{name}”失败：{type(exc).__name__}") from None


def references(text: str) -> list[str]:
    return [m.group(1).strip() for m in _REF.finditer(text)]


# ------------------------------------------------------------------ config


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


# ------------------------------------------------------------------ URLs


def checked_url(url: str) -> str:
    """Rewrite standard apprise bot URLs to ducha's reply-checking schemes."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "dingtalk":
        secret, _, token = rest.rpartition("@")
        token = token.strip("/").split("/")[0].split("?")[0]
        query = {"access_token": token}
        if secret:
            query["secret"] = secret
        return "dtalks://oapi.dingtalk.com/robot/send?" + urllib.parse.urlencode(query, safe="${}:")
    if scheme == "wecombot":
        key = rest.strip("/").split("/")[0].split("?")[0]
        return f"wxbots://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}"
    if scheme == "feishu":
        token = rest.strip("/").split("/")[0].split("?")[0]
        return f"fsbots://open.feishu.cn/open-apis/bot/v2/hook/{token}"
    return url


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


# ------------------------------------------------------------------ bots


_last_error = threading.local()


def last_error() -> str | None:
    return getattr(_last_error, "text", None)


def _set_error(text: str | None) -> None:
    _last_error.text = text


def _endpoint(meta: dict[str, Any], secure: bool) -> str:
    host = meta.get("host") or ""
    port = f":{meta['port']}" if meta.get("port") else ""
    path = meta.get("fullpath") or "/"
    return f"{'https' if secure else 'http'}://{host}{port}{path}"


_pools: dict[tuple[str | None, str | None, str | None], urllib3.PoolManager] = {}
_pool_lock = threading.Lock()


def _http(url: str) -> urllib3.PoolManager:
    """The connection pool for a bot URL, shared by the sending threads (it keeps connections to
    a vendor's host open between messages). urllib3 (already there for apprise's requests) costs
    about half the CPU per post of httpx, and is told here what httpx and requests read from the
    environment: the proxy (HTTP_PROXY / HTTPS_PROXY / ALL_PROXY, except NO_PROXY hosts) and the
    certificates to trust (SSL_CERT_FILE / SSL_CERT_DIR / REQUESTS_CA_BUNDLE, e.g. a private
    政务钉钉 with the government's own CA), else certifi's."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and urllib.request.proxy_bypass(parts.netloc):
        proxy = None
    ca_file = os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
    ca_dir = os.environ.get("SSL_CERT_DIR")
    key = (proxy, ca_file, ca_dir)
    with _pool_lock:
        pool = _pools.get(key)
        if pool is None:
            if not ca_file and not ca_dir:
                import certifi

                ca_file = certifi.where()
            options: dict[str, Any] = {"maxsize": 64, "ca_certs": ca_file, "ca_cert_dir": ca_dir}
            if proxy:
                pool = urllib3.ProxyManager(proxy, **options)
            else:
                pool = urllib3.PoolManager(**options)
            _pools[key] = pool
        return pool


def _json_bytes(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON, compact, Chinese as it is (what the vendors' examples send)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _post(url: str, payload: dict[str, Any], params: dict[str, str], ok_field: str) -> bool:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    try:
        reply = _http(url).request(
            "POST", url, body=_json_bytes(payload), headers=_JSON, timeout=TIMEOUT,
            retries=False,  # a message is sent once per attempt: the ledger decides retries
        )  # fmt: skip
    except urllib3.exceptions.HTTPError as exc:
        _set_error(f"连接失败：{type(exc).__name__}")
        return False
    if reply.status != 200:
        _set_error(f"HTTP {reply.status}")
        return False
    try:
        body = json.loads(reply.data)
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:
        _set_error("回复不是 JSON")
        return False
    code = body.get(ok_field, body.get("StatusCode"))
    if code not in (0, "0"):
        message = body.get("errmsg") or body.get("msg") or body.get("StatusMessage") or ""
        _set_error(f"{ok_field}={code} {message}".strip())
        return False
    _set_error(None)
    return True


def _dingtalk(
    body: str, title: str, meta: dict[str, Any], body_format: str | None, secure: bool
) -> bool:
    qsd = dict(meta.get("qsd") or {})
    params = {"access_token": qsd.get("access_token", "")}
    if qsd.get("secret"):  # 加签
        stamp = str(int(time.time() * 1000))
        digest = hmac.new(
            qsd["secret"].encode(), f"{stamp}\n{qsd['secret']}".encode(), hashlib.sha256
        ).digest()
        params.update(timestamp=stamp, sign=base64.b64encode(digest).decode())
    if body_format == "markdown":
        payload = {"msgtype": "markdown", "markdown": {"title": title or "通知", "text": body}}
    else:
        payload = {"msgtype": "text", "text": {"content": f"{title}\n{body}" if title else body}}
    return _post(_endpoint(meta, secure), payload, params, "errcode")


def _wecom(
    body: str, title: str, meta: dict[str, Any], body_format: str | None, secure: bool
) -> bool:
    qsd = dict(meta.get("qsd") or {})
    if title:
        body = f"**{title}**\n{body}" if body_format == "markdown" else f"{title}\n{body}"
    text = body
    if body_format == "markdown":
        payload = {"msgtype": "markdown", "markdown": {"content": text}}
    else:
        payload = {"msgtype": "text", "text": {"content": text}}
    return _post(_endpoint(meta, secure), payload, {"key": qsd.get("key", "")}, "errcode")


def _feishu(
    body: str, title: str, meta: dict[str, Any], body_format: str | None, secure: bool
) -> bool:
    payload = {"msg_type": "text", "content": {"text": f"{title}\n{body}" if title else body}}
    return _post(_endpoint(meta, secure), payload, {}, "code")


HANDLERS = {"dtalk": _dingtalk, "wxbot": _wecom, "fsbot": _feishu}
_apprise_ready = False
_apprise_lock = threading.Lock()


def _apprise() -> ModuleType:
    """apprise, with ducha's bot schemes registered (once; this loads apprise's plugin table)."""
    global _apprise_ready
    import apprise

    with _apprise_lock:
        if not _apprise_ready:
            from apprise.decorators import notify as apprise_notify

            for scheme, handler in HANDLERS.items():
                for secure in (False, True):

                    def wrapper(
                        body, title, notify_type, meta, *args, _h=handler, _s=secure, **kwargs
                    ):  # noqa: ANN001
                        fmt = kwargs.get("body_format")
                        fmt = getattr(fmt, "value", fmt)  # apprise passes a NotifyFormat enum
                        return _h(body, title, meta, str(fmt) if fmt else None, _s)

                    apprise_notify(on=scheme + ("s" if secure else ""), name=f"ducha {scheme}")(
                        wrapper
                    )
            _apprise_ready = True
    return apprise


def _own(url: str) -> tuple[Any, bool] | None:
    """(handler, secure) when the URL is one of ducha's bot schemes."""
    scheme = url.partition("://")[0].lower()
    if scheme in HANDLERS:
        return HANDLERS[scheme], False
    if scheme.endswith("s") and scheme[:-1] in HANDLERS:
        return HANDLERS[scheme[:-1]], True
    return None


def bot_identity(channel_url: str) -> str:
    """One string per group bot however its URL is written: apprise's spelling and ducha's
    (dingtalk://T/ and dtalks://oapi.dingtalk.com/robot/send?access_token=T), query order,
    with or without the signing secret. Other channels: the URL as configured."""
    checked = checked_url(channel_url)
    if _own(checked) is None:
        return channel_url
    try:
        parts = urllib.parse.urlsplit(checked)
        query = sorted(
            (k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if k != "secret"
        )  # fmt: skip
        host = (parts.hostname or "").lower()
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return channel_url
    return f"{parts.scheme.lower()}://{host}{port}{parts.path}?{urllib.parse.urlencode(query)}"


def lane(channel_url: str) -> str:
    """Messages in one lane are sent one at a time. Each group bot (ducha's schemes) is a lane
    of its own: the vendors serve many bots from one host. Any other channel shares a lane
    with those on the same server (an SMTP server, a webhook host), which then never sees more
    than one ducha connection at once. Mail goes through the `smtp=` server when the URL names
    one (apprise's rule), else the address's host; mailto and mailtos to one server share it."""
    checked = checked_url(channel_url)
    if _own(checked) is not None:
        return bot_identity(channel_url)
    try:
        parts = urllib.parse.urlsplit(checked)
        host = parts.hostname
        scheme = parts.scheme.lower()
        if scheme in ("mailto", "mailtos"):
            smtp = dict(urllib.parse.parse_qsl(parts.query)).get("smtp")
            return f"mail://{(smtp or host or '').lower()}" if smtp or host else channel_url
    except ValueError:
        host, scheme = None, ""
    return f"{scheme}://{host}" if host else channel_url


# A bot URL with nothing to unquote or tidy: scheme://host[:port]/path?key=value&…
_PLAIN_URL = re.compile(
    r"[a-z]+://(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>(?:/[A-Za-z0-9._~-]+)*)(?:\?(?P<query>[A-Za-z0-9._~=&-]+))?"
)


def _meta(url: str) -> dict[str, Any] | None:
    """What apprise hands a custom plugin as `meta` for this URL (host, port, fullpath, qsd).

    A plain URL is split here, exactly as apprise's parser would (tests compare the two);
    anything else goes through apprise's parser (importing apprise costs ~0.1 s)."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None:
        from apprise.utils.parse import parse_url

        return parse_url(url, verify_host=False, simple=True)
    meta: dict[str, Any] = {"host": plain["host"]}
    if plain["port"]:
        meta["port"] = int(plain["port"])
    if plain["path"]:
        meta["fullpath"] = plain["path"]
    if plain["query"]:
        meta["qsd"] = {}
        for pair in plain["query"].split("&"):
            key, _, value = pair.partition("=")
            meta["qsd"][key.lower()] = value
    return meta


def _as_text(body: str, body_format: str) -> str:
    """apprise converts the body to a custom plugin's format, text: only HTML changes."""
    if body_format != "html":
        return body
    from apprise.common import NotifyFormat
    from apprise.conversion import convert_between

    return convert_between(NotifyFormat.HTML, NotifyFormat.TEXT, body)


# ------------------------------------------------------------------ sending


class RateLimiter:
    """At most `count` messages per `seconds` to one bot (sliding window)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._sent: dict[str, deque[float]] = {}

    def wait_time(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        window = self._sent.setdefault(key, deque())
        while window and now - window[0] >= self.limit.seconds:
            window.popleft()
        if len(window) < self.limit.count:
            return 0.0
        return self.limit.seconds - (now - window[0])

    def record(self, key: str, now: float | None = None) -> None:
        self._sent.setdefault(key, deque()).append(time.time() if now is None else now)


def resolve(channel_url: str, secrets: Secrets) -> tuple[str | None, str | None]:
    """(the URL to send to, with its secrets, or None; the masked reason when it cannot be had)."""
    try:
        return secrets.resolve(checked_url(channel_url)), None
    except UserError as exc:
        return None, secrets.mask(exc.message)


def send(
    channel_url: str, title: str, body: str, body_format: str, secrets: Secrets
) -> tuple[bool, str | None]:
    """Deliver one message; (delivered, masked error)."""
    url, error = resolve(channel_url, secrets)
    if url is None:
        return False, error
    return send_resolved(url, title, body, body_format, secrets)


def send_resolved(
    url: str, title: str, body: str, body_format: str, secrets: Secrets
) -> tuple[bool, str | None]:
    """Deliver one message to a resolved URL: ducha's bots directly, anything else through
    apprise; (delivered, masked error). Safe to call from several threads."""
    _set_error(None)
    own = _own(url)
    try:
        if own is not None:
            meta = _meta(url)
            if meta is None:
                return False, "apprise 无法识别这个地址"
            handler, secure = own
            text = _as_text(body, body_format).rstrip()  # apprise tidies both before a plugin
            ok = bool(text) and handler(text, title.strip(), meta, body_format, secure)
        else:
            apprise = _apprise()
            sender = apprise.Apprise()
            if not sender.add(url):
                return False, "apprise 无法识别这个地址"
            ok = sender.notify(
                title=title, body=body, body_format=apprise.NotifyFormat(body_format)
            )
    except Exception as exc:  # a plugin bug must not stop the batch
        return False, secrets.mask(f"发送出错：{type(exc).__name__}: {exc}")
    if ok:
        return True, None
    return False, secrets.mask(last_error() or "对方未接受（apprise 返回失败）")


def masked_url(url: str) -> str:
    """A configured URL for display: references stay references, passwords hidden."""
    return re.sub(r"(://[^/@:]*:)[^@/]+@", r"\1****@", url)


def split_by_bytes(body: str, limit: int, reserve: int = 24) -> list[str]:
    """Split at line boundaries so each part fits `limit` UTF-8 bytes (with room for a
    "（1/3）" marker); a single over-long line is cut between characters."""
    budget = limit - reserve
    if len(body.encode()) <= limit:
        return [body]
    parts: list[str] = []
    current = ""
    for line in body.splitlines(keepends=True):
        while len(line.encode()) > budget:
            cut = budget
            while len(line[:cut].encode()) > budget:
                cut -= 1
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode()) > budget:
            parts.append(current)
            current = line
        else:
            current += line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()]


def json_dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)
