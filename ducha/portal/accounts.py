"""The dashboard's accounts and sessions.

Accounts live in the database (`users`, migration 013), kept by `ducha users`; passwords only as
argon2 hashes (argon2-cffi). A session is a random id in an HttpOnly, SameSite=Strict cookie,
held in the web server's memory: it ends after `session_idle_minutes` without a request, after
`session_hours` in all, at logout, and when the server restarts (everyone logs in again).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ducha.errors import UserError

ROLES = {"supervisor": "督查室", "leader": "领导"}
MIN_PASSWORD = 10  # characters
MAX_PASSWORD = 200
NAME_PATTERN = r"^[^\s/\\\x00-\x1f\x7f]{1,40}$"


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()  # the library's current defaults (RFC 9106 low-memory profile)


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def password_matches(password_hash: str, password: str) -> bool:
    """Whether `password` is the account's; False for any malformed hash as well."""
    from argon2.exceptions import Argon2Error, InvalidHashError

    try:
        return bool(_hasher().verify(password_hash, password))
    except (Argon2Error, InvalidHashError):
        return False


# a hash to verify against when the name is unknown: a wrong name costs as long as a wrong password
_DUMMY: list[str] = []


def dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def check_new_password(password: str) -> str:
    """The password as given, or a UserError saying what it lacks."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"密码不能超过 {MAX_PASSWORD} 个字符")
    if password.strip() != password:
        raise UserError("密码首尾不能有空白字符")
    return password


def add_user(
    con: Any, name: str, role: str, password: str, leader: str | None, now: datetime
) -> None:
    """A new account (a UserError if the name is taken, the role unknown, the password too
    short, or a leader's name appears in no task)."""
    import re

    if not re.fullmatch(NAME_PATTERN, name):
        raise UserError("账号名须为 1–40 个字符，不含空白、斜杠或控制字符")
    if role not in ROLES:
        raise UserError(f"角色只能是 {' 或 '.join(ROLES)}（{'、'.join(ROLES.values())}）")
    if role == "leader":
        leader = leader or name
        known = con.sql(
            "SELECT count(*) FROM tasks WHERE active AND list_contains(leaders, $l)",
            params={"l": leader},
        ).fetchall()[0][0]
        if not known:
            raise UserError(f"分解表中没有由“{leader}”分管的任务：请用 --leader 写明领导姓名")
    elif leader:
        raise UserError("--leader 只用于领导账号（--role leader）")
    check_new_password(password)
    if con.sql("SELECT count(*) FROM users WHERE name = $n", params={"n": name}).fetchall()[0][0]:
        raise UserError(f"账号“{name}”已存在")
    con.execute(
        "INSERT INTO users (name, role, leader, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        [name, role, leader, hash_password(password), now],
    )


def set_disabled(con: Any, name: str, disabled: bool) -> None:
    found = con.sql("SELECT count(*) FROM users WHERE name = $n", params={"n": name}).fetchall()
    if not found[0][0]:
        raise UserError(f"没有账号“{name}”")
    con.execute("UPDATE users SET disabled = ? WHERE name = ?", [disabled, name])


@dataclass
class Session:
    user: str
    role: str
    leader: str | None
    started: float
    seen: float
    form: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # its forms' token
    checked: float = field(default_factory=time.monotonic)  # when the account was last read


class Sessions:
    """Sessions in memory: id → Session, ended by idle time, age or logout."""

    def __init__(
        self, idle_seconds: float, max_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle, self.max, self.clock = idle_seconds, max_seconds, clock
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, user: str, role: str, leader: str | None) -> str:
        now = self.clock()
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired(now)
            self._by_id[sid] = Session(user, role, leader, now, now)
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session of that id, its idle time renewed (None: none, or it expired)."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.started > self.max:
                del self._by_id[sid]
                return None
            session.seen = now
            return session

    def end(self, sid: str | None) -> Session | None:
        with self._lock:
            return self._by_id.pop(sid, None) if sid else None

    def _drop_expired(self, now: float) -> None:
        for sid, s in list(self._by_id.items()):
            if now - s.seen > self.idle or now - s.started > self.max:
                del self._by_id[sid]
