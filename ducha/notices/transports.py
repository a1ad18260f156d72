"""Sending one message: DingTalk, WeCom and Feishu group bots posted directly (their errcode
checked: apprise counts any HTTP 200 as sent), anything else through apprise; one pool per proxy
and CA setting; bots identified whatever way their URL is written, so that they share one rate
limit.
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
from typing import TYPE_CHECKING, Any

import urllib3

from ducha.errors import UserError

if TYPE_CHECKING:
    from types import ModuleType
from ducha.notices.secrets import Secrets

TIMEOUT = 10.0
_JSON = {"Content-Type": "application/json"}


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


_ENCODED_SLASH = re.compile(r"%(?:2f|5c)", re.IGNORECASE)


def _meta(url: str) -> dict[str, Any] | None:
    """What apprise hands a custom plugin as `meta` for this URL (host, port, fullpath, qsd).

    A plain URL is split here, exactly as apprise's parser would (tests compare the two);
    anything else goes through apprise's parser (importing apprise costs ~0.1 s)."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None:
        from apprise.utils.parse import URL_PATH_SAFE_CHARS, parse_url

        meta = parse_url(url, verify_host=False, simple=True)
        path = url.partition("://")[2].partition("?")[0].partition("/")[2]
        if meta is not None and _ENCODED_SLASH.search(path):
            # apprise decodes the whole path before quoting it again, so an encoded "/" inside
            # a segment (a token holding "/", ducha.notices.secrets) would split it in two:
            # the segments are kept apart here, each as apprise would quote it
            safe = URL_PATH_SAFE_CHARS.replace("/", "")
            segments = [
                urllib.parse.quote(urllib.parse.unquote(s), safe=safe) for s in path.split("/")
            ]
            meta["fullpath"] = "/" + "/".join(segments)
        return meta
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


def resolve(channel_url: str, secrets: Secrets) -> tuple[str | None, str | None]:
    """(the URL to send to, with its secrets, or None; the masked reason when it cannot be had)."""
    checked = checked_url(channel_url)
    try:
        return secrets.resolve(checked, path_slashes=_own(checked) is not None), None
    except UserError as exc:
        return None, secrets.mask(exc.message)


def send_resolved(
    url: str, title: str, body: str, body_format: str, secrets: Secrets,
    attachment: str | None = None,
) -> tuple[bool, str | None]:  # fmt: skip
    """Deliver one message to a resolved URL: ducha's bots directly, anything else through
    apprise (with `attachment` where the file is still there); (delivered, masked error).
    Safe to call from several threads."""
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
            attach = attachment if attachment and os.path.isfile(attachment) else None
            ok = sender.notify(
                title=title,
                body=body,
                body_format=apprise.NotifyFormat(body_format),
                attach=attach,
            )
    except Exception as exc:  # a plugin bug must not stop the batch
        return False, secrets.mask(f"发送出错：{type(exc).__name__}: {exc}")
    if ok:
        return True, None
    return False, secrets.mask(last_error() or "对方未接受（apprise 返回失败）")


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
