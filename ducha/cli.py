"""The `ducha` command line: parse the options, call the operation (ducha.operations), print
what ducha.presentation makes of the result. Messages for people are Chinese; a user's mistake
is one line on stderr and exit code 2."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ducha import presentation
from ducha.cli_base import (
    Format,
    FormatOption,
    PeriodOption,
    YearOption,
    _config,
    _date,
    _echo,
    _echo_json,
    _warn,
    _year,
    app,
    channels_app,
    targets_app,
    units_app,
)
from ducha.errors import UserError
from ducha.periods import Period

if TYPE_CHECKING:
    from ducha.config import Config

try:  # typer ≥ 0.29 vendors click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

# ------------------------------------------------------------------ the year's register


@units_app.command("show")
def units_show(ctx: typer.Context, format: FormatOption = Format.text) -> None:
    """列出单位名册（镇、开发区、街道、部门、国有企业、分管领导）及集合词。"""
    register = _config(ctx).units
    if format is Format.json:
        _echo_json({"units": [u.to_dict() for u in register.units], "groups": register.groups})
        return
    _echo(presentation.units_lines(register))


@targets_app.command("import")
def targets_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="分解表文件：.docx、.xlsx 或 .txt")],
    year: YearOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="只预览表头对应、任务数和指标，不写入数据库")
    ] = False,
    format: FormatOption = Format.text,
) -> None:
    """导入目标任务分解表，抽取各任务的指标建议。"""
    from ducha.operations import import_targets, preview_targets

    year_no = _year(year)
    if dry_run:
        preview = preview_targets(_config(ctx), file, year_no)
        if format is Format.json:
            _echo_json(preview.to_dict())
        else:
            _echo(presentation.preview_lines(preview))
        return
    result = import_targets(_config(ctx), file, year_no)
    if format is Format.json:
        _echo_json(result.to_dict())
        return
    _echo(presentation.import_lines(result, year_no))


@targets_app.command("show")
def targets_show(
    ctx: typer.Context,
    year: YearOption,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="只显示这些任务编号（可重复）")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """显示目标任务库：任务、分管领导、牵头单位、责任单位和指标。"""
    from ducha.operations import show_targets

    views = show_targets(_config(ctx), _year(year), task)
    if format is Format.json:
        _echo_json([v.task for v in views])
        return
    _echo(presentation.targets_lines(views))


@targets_app.command("extract")
def targets_extract(format: FormatOption = Format.text) -> None:
    """从标准输入逐行读取任务文本，输出每行抽取出的指标建议。"""
    from ducha.operations import extract

    lines = [line.rstrip("\r\n") for line in sys.stdin]
    results = extract(lines)
    if format is Format.json:
        _echo_json(results)
        return
    _echo(presentation.extract_lines(lines, results))


@targets_app.command("review")
def targets_review(
    ctx: typer.Context,
    year: YearOption,
    out: Annotated[Path, typer.Option("--out", help="输出文件：.yaml 或 .xlsx")],
) -> None:
    """导出指标确认文件（建议值和已确认值），供人工核对。"""
    from ducha.operations import export_review

    year_no = _year(year)
    count = export_review(_config(ctx), year_no, out)
    typer.echo(f"已写出 {year_no} 年 {count} 项任务的指标确认文件：{out}")


@targets_app.command("confirm")
def targets_confirm(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="核对后的指标确认文件：.yaml 或 .xlsx")],
    format: FormatOption = Format.text,
) -> None:
    """载入核对后的指标确认文件，已确认的指标以此为准。"""
    from ducha.operations import confirm_review

    result = confirm_review(_config(ctx), file)
    if format is Format.json:
        _echo_json(result.__dict__)
        return
    _echo(presentation.confirm_lines(result))


# ------------------------------------------------------------------ the month


@app.command("templates")
def templates_cmd(
    ctx: typer.Context,
    period: PeriodOption,
    unit: Annotated[
        list[str] | None, typer.Option("--unit", help="只生成这些单位的（可重复）")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="输出目录（默认 data/templates/YYYY-MM）")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """生成各报送单位本月的进展表模板（.xlsx）。"""
    from ducha.operations import send_templates

    month = Period.parse(period)
    paths = send_templates(_config(ctx), month, unit, out)
    if format is Format.json:
        _echo_json([str(p) for p in paths])
        return
    typer.echo(f"已生成 {month.zh} 进展表模板 {len(paths)} 份：{paths[0].parent if paths else '—'}")


@app.command("ingest")
def ingest_cmd(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="文件或目录（默认 data/inbox/）")
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="文件中没有写明时使用的报送期")
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", help="文件中没有写明时使用的填报单位")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="逐个列出所有文件（默认只列出有问题的）")
    ] = False,
    received_at: Annotated[
        str | None,
        typer.Option(
            "--received-at",
            help="文件实际收到的时间，如 2026-04-08T16:30（经邮件等途径收到、事后补录时填写；"
            "默认为文件放入目录的时间）",
        ),
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """接收各单位报送的进展表（.xlsx/.xls/.csv），逐个核验，整份入库或整份退回；收件目录中的文件处理后移出。"""
    from ducha.operations import ingest_files

    month = Period.parse(period) if period else None
    cfg = _config(ctx)
    when = None
    if received_at:
        try:
            when = dt.datetime.fromisoformat(received_at.strip().replace(" ", "T"))
        except ValueError:
            raise UserError(f"收到时间“{received_at}”格式不正确，应为 2026-04-08T16:30") from None
        if when.tzinfo is not None:  # kept in the workspace's time, as every time ducha keeps
            from ducha.clock import zone

            when = when.astimezone(zone(cfg.schedule.timezone)).replace(tzinfo=None)
    results = ingest_files(cfg, paths, period=month, unit=unit, received_at=when)
    if format is Format.json:
        _echo_json([r.to_dict() for r in results])
        return
    where = "、".join(str(p) for p in paths) if paths else "收件目录 data/inbox/"
    _echo(presentation.ingest_lines(results, verbose, where))


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context, period: PeriodOption, format: FormatOption = Format.text
) -> None:
    """研判本期进展：各指标、任务、单位的状态，连续滞后月数，单位排名。"""
    from ducha.operations import evaluate

    month = Period.parse(period)
    result = evaluate(_config(ctx), month, warn=_warn)
    if format is Format.json:
        _echo_json(result.to_json())
        return
    _echo(presentation.evaluate_lines(result, month))


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    period: PeriodOption,
    out: Annotated[
        Path | None, typer.Option("--out", help="输出目录（默认 data/reports/）")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """生成本期通报：离线可打开的 HTML（内嵌图表）、同样内容的 .xlsx，装有 Chromium 时另有 A4 的 PDF。"""
    from ducha.operations import report

    month = Period.parse(period)
    html, xlsx = report(_config(ctx), month, out)
    pdf = html.with_suffix(".pdf")
    if format is Format.json:
        _echo_json(
            {"html": str(html), "xlsx": str(xlsx), "pdf": str(pdf) if pdf.exists() else None}
        )
        return
    _echo([f"已生成{month.zh}通报：{html}", f"表格：{xlsx}",
           f"PDF：{pdf}" if pdf.exists() else "PDF：未生成（本机未安装 Chromium：apt-get install chromium）"])  # fmt: skip


@channels_app.command("check")
def channels_check(ctx: typer.Context, format: FormatOption = Format.text) -> None:
    """检查渠道配置（地址格式、引用的环境变量、收件单位），不发送任何通知。"""
    from ducha.operations import check_channels

    cfg = _config(ctx)
    rows = check_channels(cfg)
    if format is Format.json:
        _echo_json(rows)
    else:
        _echo(presentation.channels_lines(rows, len(cfg.channels.recipients)))
    problem = presentation.channels_problem(rows)
    if problem:
        raise UserError(problem)


@app.command("notify")
def notify_cmd(
    ctx: typer.Context,
    period: PeriodOption,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="只处理这些种类（中文或英文，可重复）：催报 reminder / 逾期催报 overdue / 回执 receipt / "
            "催办 chase / 督办 supervise / 专报 brief / 通报 bulletin",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="只列出应发的通知，不写库、不发送")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="按哪一天判断（默认今天），如 2026-04-08")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """生成应发的通知写入发件箱（幂等），发送待发和失败待重试的通知，每次尝试都记账。"""
    from ducha.operations import notify
    from ducha.vocabulary import kind_names

    month = Period.parse(period)
    kinds = kind_names(kind) if kind else None
    result = notify(
        _config(ctx), month, kinds=kinds, dry_run=dry_run, as_of=_date(as_of), warn=_warn
    )
    if format is Format.json:
        _echo_json(result.to_dict())
        return
    _echo(presentation.notify_lines(result, month))


@app.command("backup")
def backup_cmd(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="备份目录（默认 data/backups/）")
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option("--keep", help="保留最近几份（默认 workspace.yaml 的 backup_keep，否则 30）"),
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """备份数据库：等正在写入的步骤结束后复制一份完整、一致的副本，只保留最近几份。"""
    from ducha.operations import backup

    made = backup(_config(ctx), out, keep)
    if format is Format.json:
        _echo_json({"path": str(made.path), "tables": made.tables, "rows": made.rows,
                    "bytes": made.size, "removed": [str(p) for p in made.removed]})  # fmt: skip
        return
    _echo(presentation.backup_lines(made))


# ------------------------------------------------------------------ orchestration


def _registered(ctx: typer.Context, cfg: Config) -> str:
    """The code of the command line's workspace, made known to the flows (which take a configured
    workspace's code): its folder is put first in DUCHA_WORKSPACES for this process."""
    ws = cfg.workspace
    root = ws.config_dir.resolve().parent
    if ws.db_path.resolve() != (root / "data" / "ducha.duckdb").resolve():
        raise UserError("ducha run 使用工作区目录下的 data/ducha.duckdb，请不要同时指定其他 --db")
    listed = [p for p in os.environ.get("DUCHA_WORKSPACES", "").split(os.pathsep) if p.strip()]
    os.environ["DUCHA_WORKSPACES"] = os.pathsep.join([str(root), *listed])
    return cfg.code


def _no_user_error_traceback(record: object) -> bool:
    """A logging filter: Prefect logs a failed run with its traceback; for a UserError the
    message says everything (the CLI prints it once more as its one line)."""
    exc_info = getattr(record, "exc_info", None)
    if exc_info and isinstance(exc_info[1], UserError):
        record.exc_info = record.exc_text = None  # type: ignore[attr-defined]
    return True


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    period: PeriodOption,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只列出应发通知，不发送")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="按哪一天判断，如 2026-04-09")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """立即运行本月督查流程（接收 → 研判 → 通报 → 通知）。未配置 Prefect 服务器时使用临时 API。"""
    import logging

    from ducha.db import require_database

    month = Period.parse(period)
    day = _date(as_of)
    cfg = _config(ctx)  # before Prefect starts: a mistake costs no server start
    require_database(cfg.workspace.db_path)
    cfg.calendar(_warn)
    workspace = _registered(ctx, cfg)
    # Only ducha's own lines: Prefect's informational lines (the temporary server starting and
    # stopping, each task finishing) stay out of the terminal; warnings and errors stay in.
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    # the temporary API server migrates a new SQLite database first: on a loaded machine that
    # takes longer than Prefect's 20 s (seen in CI), and the run would fail before it began
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.monthly import monthly_supervision

    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in loggers:  # a user's mistake: its line, no traceback
        logger.addFilter(_no_user_error_traceback)
    try:
        result = monthly_supervision(period=period, dry_run=dry_run, workspace=workspace, as_of=day)
    finally:
        for logger in loggers:
            logger.removeFilter(_no_user_error_traceback)
    if format is Format.json:
        _echo_json(result)
        return
    _echo(presentation.run_lines(result, month))


@app.command("server")
def server_cmd(port: Annotated[int, typer.Option("--port", help="端口")] = 4200) -> None:
    """在 127.0.0.1 上启动本机 Prefect 服务器（界面和调度），前台运行。"""
    import shutil

    prefect = shutil.which("prefect") or str(Path(sys.executable).with_name("prefect"))
    os.execv(prefect, [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)])


@app.command("serve")
def serve_cmd() -> None:
    """运行 prefect.yaml 中的部署（每日 9:00 定时和手动运行），使定时任务按时触发；需先运行 ducha server。"""
    if not os.environ.get("PREFECT_API_URL"):
        raise UserError(
            "请先用 ducha server 启动 Prefect 服务器，并设置 PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    from ducha.orchestration.deployments import serve_deployments

    serve_deployments()


@app.command("upcoming")
def upcoming_cmd(
    limit: Annotated[int, typer.Option("--limit", help="最多列出几次")] = 10,
    format: FormatOption = Format.text,
) -> None:
    """列出 Prefect 服务器上即将自动运行的流程（检查定时任务是否已排上），需设置 PREFECT_API_URL。"""
    if not os.environ.get("PREFECT_API_URL"):
        raise UserError(
            "请设置 PREFECT_API_URL（如 http://127.0.0.1:4200/api），指向运行定时任务的 Prefect 服务器"
        )
    from ducha.orchestration.deployments import upcoming_runs

    try:
        runs = upcoming_runs(limit)
    except Exception as exc:  # the server is not there: say so in one line
        if "connect" in str(exc).lower() or "ConnectError" in type(exc).__name__:
            raise UserError(
                f"无法连接 Prefect 服务器 {os.environ['PREFECT_API_URL']}，请确认 ducha server 正在运行"
            ) from None
        raise
    if format is Format.json:
        _echo_json([{**r, "at": r["at"].isoformat(timespec="minutes")} for r in runs])
        return
    if not runs:
        raise UserError(
            "Prefect 服务器上没有即将运行的定时流程：请确认 ducha serve 正在运行（或已 prefect deploy --all 并启动 worker），且部署未暂停"
        )
    _echo(presentation.upcoming_lines(runs))


# ------------------------------------------------------------------ the units' portal

from ducha.portal import commands as _portal_commands  # noqa: E402, F401  (registers links, portal)

# ------------------------------------------------------------------ entry


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="ducha", standalone_mode=False)
    except UserError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        return exc.exit_code
    except click_exceptions.UsageError as exc:
        typer.echo(
            f"错误：{presentation.usage_message(exc.format_message())}（用 --help 查看用法）",
            err=True,
        )
        return 2
    except typer.Abort:
        typer.echo("已取消", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    return 0


def run() -> None:
    """Console-script entry point. Prefect's usage reports are off in every ducha process (and
    the Prefect server `ducha server` starts): offices run on intranets, and a report that cannot
    be sent prints a traceback."""
    import os

    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
