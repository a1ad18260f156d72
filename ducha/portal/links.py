"""Each reporting unit's personal link for a period: unguessable, signed, expiring, revocable.

A link is `<base>/u/<token>`. The token holds the workspace, the unit, the period, when it expires
(the end of the collection window plus a grace) and the unit's link generation, signed with
HMAC-SHA256. Revoking a unit's links raises its generation (data/portal/links.json): every link
issued before stops working. The key comes from DUCHA_PORTAL_KEY, else a Prefect Secret block
named `ducha-portal-key` where Prefect is configured, else a key generated on first use and
kept in data/portal/key with mode 0600. Tokens and the key never reach a log or a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ducha.errors import UserError
from ducha.periods import Period

KEY_ENV = "DUCHA_PORTAL_KEY"
SECRET_BLOCK = "ducha-portal-key"
_MIN_KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def portal_dir(data_dir: Path) -> Path:
    return data_dir / "portal"


def signing_key(data_dir: Path) -> bytes:
    """The signing key: the environment, a Prefect Secret block, or data/portal/key (made once,
    mode 0600, never overwritten)."""
    given = os.environ.get(KEY_ENV, "").strip()
    if given:
        if len(given.encode()) < _MIN_KEY_BYTES:
            raise UserError(f"环境变量 {KEY_ENV} 太短：至少 {_MIN_KEY_BYTES} 个字符")
        return given.encode()
    from_block = _prefect_secret()
    if from_block:
        return from_block.encode()
    path = portal_dir(data_dir) / "key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    if path.is_symlink() or not path.is_file():
        raise UserError(f"{path} 不是普通文件，拒绝用作链接签名密钥")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_text(encoding="ascii").strip().encode()


def _prefect_secret() -> str | None:
    """The Prefect Secret block's value where a Prefect server is configured and holds one; else
    None (the key file is used)."""
    from ducha.notices.secrets import prefect_api_url

    if not prefect_api_url():
        return None
    try:
        from prefect.blocks.system import Secret

        value = str(Secret.load(SECRET_BLOCK).get())
    except Exception:  # no such block, or the server is away: fall back to the file
        return None
    if len(value.encode()) < _MIN_KEY_BYTES:
        raise UserError(f"Prefect Secret 块“{SECRET_BLOCK}”太短：至少 {_MIN_KEY_BYTES} 个字符")
    return value


@dataclass(frozen=True)
class Link:
    workspace: str
    unit: str
    period: Period
    expires: int  # epoch seconds
    generation: int

    def payload(self) -> bytes:
        return json.dumps(
            [self.workspace, self.unit, str(self.period), self.expires, self.generation],
            ensure_ascii=False, separators=(",", ":"),
        ).encode()  # fmt: skip


class Links:
    """Signing and checking the links of one workspace."""

    def __init__(self, key: bytes, workspace: str, data_dir: Path) -> None:
        self._key = key
        self.workspace = workspace
        self._generations_path = portal_dir(data_dir) / "links.json"
        self._read: tuple[tuple[int, int, int], dict[str, int]] | None = None

    def _mac(self, payload: bytes, purpose: bytes = b"link") -> bytes:
        return hmac.new(self._key, purpose + b"\0" + payload, hashlib.sha256).digest()

    def generations(self) -> dict[str, int]:
        """Each unit's link generation (links.json), read again only when the file changed:
        every request checks its link against it, and `ducha links --revoke` (another
        process) writes it."""
        try:
            info = self._generations_path.stat()
        except FileNotFoundError:
            return {}
        seen = (info.st_mtime_ns, info.st_size, info.st_ino)
        if self._read is not None and self._read[0] == seen:
            return self._read[1]
        try:
            data = json.loads(self._generations_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        found = {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
        self._read = (seen, found)
        return found

    def revoke(self, unit: str) -> int:
        """Every link of the unit issued so far stops working; returns the new generation."""
        generations = dict(self.generations())  # (not the copy kept for the checks)
        generations[unit] = generations.get(unit, 0) + 1
        self._generations_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._generations_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(generations, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self._generations_path)
        return generations[unit]

    def token(self, unit: str, period: Period, expires: datetime) -> str:
        link = Link(
            self.workspace, unit, period, int(expires.timestamp()), self.generations().get(unit, 0)
        )
        payload = link.payload()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def check(self, token: str, now: datetime) -> Link | None:
        """The link a token stands for, or None when it is tampered with, expired, revoked or
        of another workspace (the caller shows no unit data then)."""
        if len(token) > 600 or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if _b64(payload) != body or _b64(given) != mac:
            return None  # only the one spelling ducha issued (base64's spare bits differ)
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        try:
            workspace, unit, period, expires, generation = json.loads(payload)
            link = Link(str(workspace), str(unit), Period.parse(str(period)), int(expires),
                        int(generation))  # fmt: skip
        except (ValueError, TypeError, UserError):
            return None
        if link.workspace != self.workspace or link.expires < now.timestamp():
            return None
        if link.generation != self.generations().get(link.unit, 0):
            return None
        return link

    def form_token(self, token: str) -> str:
        """The CSRF token of a link's forms: bound to the link, unknown without the key."""
        return _b64(self._mac(token.encode(), b"form"))

    def check_form_token(self, token: str, given: str) -> bool:
        return hmac.compare_digest(self.form_token(token).encode(), (given or "").encode())
