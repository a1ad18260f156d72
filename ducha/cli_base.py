"""What every ducha command shares: the Typer app and its sub-apps, the common options, reading
the workspace's configuration, printing. ducha.cli and the portal's commands define their
commands on this app."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ducha.errors import UserError

if TYPE_CHECKING:
    from ducha.config import Config

app = typer.Typer(
    help="督查：政府工作报告目标任务的月度督查流水线。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
units_app = typer.Typer(help="单位名册。", no_args_is_help=True)
targets_app = typer.Typer(help="目标任务分解表（目标任务库）。", no_args_is_help=True)
channels_app = typer.Typer(help="通知渠道。", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(targets_app, name="targets")
app.add_typer(channels_app, name="channels")


class Format(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="输出格式：text 或 json")]
PeriodOption = Annotated[str, typer.Option("--period", help="报送期，如 2026-03")]
YearOption = Annotated[str, typer.Option("--year", help="年份，如 2026")]


def _workspace(ctx: typer.Context):
    from ducha.workspace import Workspace

    obj = ctx.find_root().obj or {}
    return Workspace.from_options(obj.get("db"), obj.get("config"))


def _config(ctx: typer.Context) -> Config:
    """The workspace's configuration, read and checked once for this command."""
    from ducha.config import load_config

    return load_config(_workspace(ctx))


def _warn(message: str) -> None:
    typer.echo(f"提示：{message}", err=True)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()) if text else None
    except ValueError:
        raise UserError(f"日期“{text}”格式不正确，应为 2026-04-08") from None


def _year(text: str) -> int:
    from ducha.targets.register import parse_year

    return parse_year(text)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _echo(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", help="数据库文件（默认 data/ducha.duckdb，环境变量 DUCHA_DB）"),
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="配置目录（默认 config/，环境变量 DUCHA_CONFIG）")
    ] = None,
) -> None:
    ctx.obj = {"db": db, "config": config}
