"""`ducha links` and `ducha portal`, defined on the command line's app (ducha.cli imports them)."""

from __future__ import annotations

from typing import Annotated

import typer

from ducha.cli_base import Format, FormatOption, PeriodOption, _config, _echo, _echo_json, app
from ducha.periods import Period

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
) -> None:
    """启动各单位的填报门户（与流程共用数据库，不占用数据库）。"""
    from ducha.portal.service import serve

    serve(_config(ctx), host=host, port=port, base_url=base_url)
