"""`ducha links`, `ducha portal` and `ducha users`, defined on the command line's app (ducha.cli imports them)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from ducha.cli_base import Format, FormatOption, PeriodOption, _config, _echo, _echo_json, app
from ducha.periods import Period
from ducha.portal.accounts import ROLES

BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", help="单位访问门户的地址，如 https://ducha.example.gov.cn"),
]


@app.command("links")
def links_cmd(
    ctx: typer.Context,
    period: PeriodOption,
    unit: Annotated[list[str] | None, typer.Option("--unit", help="只列这些单位（可重复）")] = None,
    base_url: BaseUrlOption = None,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="作废 --unit 所列单位此前发出的全部链接，再列出新链接")
    ] = False,
    format: FormatOption = Format.text,
) -> None:
    """列出各报送单位本期的专用填报链接。"""
    from ducha.portal.service import unit_links

    rows = unit_links(_config(ctx), Period.parse(period), unit or [], base_url, revoke=revoke)
    if format is Format.json:
        _echo_json(rows)
        return
    _echo([f"{r['unit']}\t{r['url']}" for r in rows])


@app.command("portal")
def portal_cmd(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口")] = 8000,
    base_url: BaseUrlOption = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="逐个记录请求（链接的令牌部分写作 /u/…）")
    ] = False,
) -> None:
    """启动各单位的填报门户（与流程共用数据库，不占用数据库）。"""
    from ducha.portal.service import serve

    serve(_config(ctx), host=host, port=port, base_url=base_url, access_log=access_log)


users_app = typer.Typer(help="驾驶舱账号（督查室、领导）。", no_args_is_help=True)
app.add_typer(users_app, name="users")


class Role(StrEnum):
    supervisor = "supervisor"
    leader = "leader"


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="账号名（登录时填写）")],
    role: Annotated[Role, typer.Option("--role", help="supervisor（督查室）或 leader（领导）")],
    leader: Annotated[
        str | None, typer.Option("--leader", help="领导账号：分解表中该领导的姓名（默认同账号名）")
    ] = None,
) -> None:
    """新增驾驶舱账号；密码从标准输入读取（终端上输入两次，不回显）。"""
    from ducha.clock import now
    from ducha.db import opened, require_database, transaction
    from ducha.portal.accounts import add_user

    cfg = _config(ctx)
    require_database(cfg.workspace.db_path)
    password = _password()
    with opened(cfg.workspace.db_path) as con, transaction(con):
        add_user(con, name, role.value, password, leader, now(cfg.schedule.timezone))
    _echo([f"已新增账号“{name}”（{ROLES[role.value]}）"])


@users_app.command("list")
def users_list(ctx: typer.Context, format: FormatOption = Format.text) -> None:
    """列出驾驶舱账号（不含密码）。"""
    from ducha.db import opened, require_database

    cfg = _config(ctx)
    require_database(cfg.workspace.db_path)
    with opened(cfg.workspace.db_path, read_only=True) as con:
        rows = con.sql(
            "SELECT name, role, leader, created_at, disabled FROM users ORDER BY name"
        ).fetchall()
    found = [
        {"name": n, "role": r, "leader": lead, "created_at": str(c), "disabled": d}
        for n, r, lead, c, d in rows
    ]
    if format is Format.json:
        _echo_json(found)
        return
    _echo([
        f"{u['name']}\t{ROLES[u['role']]}\t{u['leader'] or ''}\t{'已停用' if u['disabled'] else ''}"
        for u in found
    ] or ["（尚无账号）"])  # fmt: skip


@users_app.command("disable")
def users_disable(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="账号名")],
    enable: Annotated[bool, typer.Option("--enable", help="重新启用")] = False,
) -> None:
    """停用（或 --enable 重新启用）驾驶舱账号：停用后不能登录，已登录的会话在下次请求时结束。"""
    from ducha.db import opened, require_database, transaction
    from ducha.portal.accounts import set_disabled

    cfg = _config(ctx)
    require_database(cfg.workspace.db_path)
    with opened(cfg.workspace.db_path) as con, transaction(con):
        set_disabled(con, name, not enable)
    _echo([f"账号“{name}”已{'启用' if enable else '停用'}"])


def _password() -> str:
    """The new password: typed twice without echo on a terminal, else the first line of
    standard input."""
    import getpass
    import sys

    from ducha.errors import UserError

    if sys.stdin.isatty():
        first = getpass.getpass("密码：")
        if getpass.getpass("再输入一次：") != first:
            raise UserError("两次输入的密码不一致")
        return first
    line = sys.stdin.readline()
    if not line:
        raise UserError(
            "请从标准输入提供密码，例如：printf '%s\\n' \"$PASSWORD\" | ducha users add …"
        )
    return line.rstrip("\r\n")
