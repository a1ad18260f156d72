"""The `ducha` command line. Messages for people are Chinese; user errors exit 2."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ducha.periods import Period

try:  # typer ≥ 0.29 vendors click; older releases use click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from ducha.errors import UserError

app = typer.Typer(
    help="督查：政府工作报告目标任务的月度督查流水线。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
units_app = typer.Typer(help="单位名册。", no_args_is_help=True)
targets_app = typer.Typer(help="目标任务分解表（目标任务库）。", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(targets_app, name="targets")


class Format(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="输出格式：text 或 json")]


def _workspace(ctx: typer.Context):
    from ducha.workspace import Workspace

    obj = ctx.find_root().obj or {}
    return Workspace.from_options(obj.get("db"), obj.get("config"))


def _warn(message: str) -> None:
    typer.echo(f"提示：{message}", err=True)


def _date(text: str | None):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text.strip()) if text else None
    except ValueError:
        raise UserError(f"日期“{text}”格式不正确，应为 2026-04-08") from None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


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


# ------------------------------------------------------------------ units


@units_app.command("show")
def units_show(ctx: typer.Context, format: FormatOption = Format.text) -> None:
    """列出单位名册（镇、开发区、街道、部门、国有企业、分管领导）及集合词。"""
    from ducha.units import KIND_NAMES, UnitRegister

    register = UnitRegister.load(_workspace(ctx).config_dir)
    if format is Format.json:
        _echo_json({"units": [u.to_dict() for u in register.units], "groups": register.groups})
        return
    for kind, title in KIND_NAMES.items():
        members = register.of_kind(kind)
        typer.echo(f"{title}（{len(members)}）：")
        for unit in members:
            alias = f"（又称 {'、'.join(unit.aliases)}）" if unit.aliases else ""
            typer.echo(f"  {unit.name}{alias}")
    typer.echo("集合词：")
    for word, members in register.groups.items():
        typer.echo(f"  {word}：{'、'.join(members)}")


# ---------------------------------------------------------------- targets


@targets_app.command("import")
def targets_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="分解表文件：.docx、.xlsx 或 .txt")],
    year: Annotated[str, typer.Option("--year", help="年份，如 2026")],
    format: FormatOption = Format.text,
) -> None:
    """导入目标任务分解表，抽取各任务的指标建议。"""
    from ducha.db import opened
    from ducha.targets.register import import_tasks, parse_year, resolve_rows
    from ducha.targets.tables import read_table
    from ducha.units import UnitRegister

    ws = _workspace(ctx)
    year_no = parse_year(year)
    register = UnitRegister.load(ws.config_dir)
    related = ws.related_units(year_no)
    threshold = float(ws.settings().get("task_match_threshold", 80))
    tasks = resolve_rows(read_table(file), register, file.name)  # nothing written yet
    with opened(ws.db_path) as con:
        result = import_tasks(
            con,
            tasks,
            year=year_no,
            source=file,
            register=register,
            related=related,
            threshold=threshold,
        )
    if format is Format.json:
        _echo_json(result.to_dict())
        return
    c = result.changes
    typer.echo(
        f"已导入 {year_no} 年目标任务 {result.tasks} 项（新增 {len(c['added'])}、"
        f"修改 {len(c['changed'])}、删除 {len(c['removed'])}、未变 {len(c['unchanged'])}）。"
    )
    typer.echo(
        f"指标 {result.metrics} 个（已确认 {result.confirmed}，待确认 {result.metrics - result.confirmed}），"
        f"无量化指标的里程碑任务 {result.milestones} 项。"
    )
    for label, ids in (("修改", c["changed"]), ("删除", c["removed"])):
        if ids:
            typer.echo(f"{label}的任务：{'、'.join(ids)}")
    if result.needs_review:
        typer.echo(f"内容已改动、指标需重新确认的任务：{'、'.join(result.needs_review)}")
    if result.related_pending:
        typer.echo(
            f"“相关单位”尚未明确、暂由牵头单位报送的任务 {len(result.related_pending)} 项"
            f"（在 config/related_units.yaml 中明确）：{'、'.join(result.related_pending)}"
        )


@targets_app.command("show")
def targets_show(
    ctx: typer.Context,
    year: Annotated[str, typer.Option("--year", help="年份，如 2026")],
    task: Annotated[
        list[str] | None, typer.Option("--task", help="只显示这些任务编号（可重复）")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """显示目标任务库：任务、分管领导、牵头单位、责任单位和指标。"""
    from ducha.db import opened, sql
    from ducha.targets.register import parse_year

    ws = _workspace(ctx)
    year_no = parse_year(year)
    with opened(ws.db_path, read_only=True) as con:
        rows = con.sql(sql("targets_show"), params={"year": year_no}).fetchall()
    tasks = [
        {
            "id": r[0],
            "goal": r[1],
            "content": r[2],
            "leaders": list(r[3]),
            "lead_units": list(r[4]),
            "responsible_units": list(r[5]),
            "metrics": [_metric_json(m) for m in r[6]],
        }
        for r in rows
    ]
    if not tasks:
        raise UserError(f"数据库中没有 {year_no} 年的目标任务，请先导入分解表")
    if task:
        unknown = sorted(set(task) - {t["id"] for t in tasks})
        if unknown:
            raise UserError(f"{year_no} 年没有任务 {'、'.join(unknown)}")
        keep = [i for i, t in enumerate(tasks) if t["id"] in set(task)]
        tasks, rows = [tasks[i] for i in keep], [rows[i] for i in keep]
    if format is Format.json:
        _echo_json(tasks)
        return
    from ducha.targets.review import BOUNDS_ZH, KINDS_ZH

    for task, r in zip(tasks, rows, strict=True):
        flags = ("（相关单位待明确）" if r[7] else "") + (
            "（内容已改动，指标待重新确认）" if r[8] else ""
        )
        typer.echo(f"{task['id']} 【{task['goal']}】{task['content']}{flags}")
        typer.echo(
            f"    分管领导：{'、'.join(task['leaders']) or '—'}；牵头单位：{'、'.join(task['lead_units'])}；"
            f"责任单位：{'、'.join(task['responsible_units'])}"
        )
        if not task["metrics"]:
            typer.echo("    指标：无（里程碑任务）")
        for i, m in enumerate(task["metrics"], start=1):
            state = "已确认" if m["confirmed"] else "待确认"
            typer.echo(
                f"    指标{i}：{m['label']} {BOUNDS_ZH[m['bound']]} {m['value']}{m['unit']}"
                f"（{KINDS_ZH[m['kind']]}，{state}）"
            )


def _metric_json(m: dict[str, Any]) -> dict[str, Any]:
    value = m["value"]
    return {
        "label": m["label"],
        "value": int(value) if float(value).is_integer() else value,
        "unit": m["unit"],
        "kind": m["kind"],
        "bound": m["bound"],
        "confirmed": m["confirmed"],
    }


@targets_app.command("extract")
def targets_extract(format: FormatOption = Format.text) -> None:
    """从标准输入逐行读取任务文本，输出每行抽取出的指标建议。"""
    from ducha.targets.metrics import extract_metrics
    from ducha.targets.review import BOUNDS_ZH, KINDS_ZH

    lines = [line.rstrip("\r\n") for line in sys.stdin]
    results = [[m.to_dict() for m in extract_metrics(line)] for line in lines]
    if format is Format.json:
        _echo_json(results)
        return
    for n, (line, metrics) in enumerate(zip(lines, results, strict=True), start=1):
        shown = "；".join(
            f"{m['label']} {BOUNDS_ZH[m['bound']]} {m['value']}{m['unit']}（{KINDS_ZH[m['kind']]}）"
            for m in metrics
        )
        typer.echo(f"{n}. {shown or '无量化指标'}  ← {line[:40]}")


@targets_app.command("review")
def targets_review(
    ctx: typer.Context,
    year: Annotated[str, typer.Option("--year", help="年份，如 2026")],
    out: Annotated[Path, typer.Option("--out", help="输出文件：.yaml 或 .xlsx")],
) -> None:
    """导出指标确认文件（建议值和已确认值），供人工核对。"""
    from ducha.db import opened
    from ducha.targets.register import parse_year
    from ducha.targets.review import export_review

    ws = _workspace(ctx)
    year_no = parse_year(year)
    with opened(ws.db_path, read_only=True) as con:
        count = export_review(con, year_no, out)
    typer.echo(f"已写出 {year_no} 年 {count} 项任务的指标确认文件：{out}")


@targets_app.command("confirm")
def targets_confirm(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="核对后的指标确认文件：.yaml 或 .xlsx")],
    format: FormatOption = Format.text,
) -> None:
    """载入核对后的指标确认文件，已确认的指标以此为准。"""
    from ducha.db import opened, require_database
    from ducha.targets.review import load_review
    from ducha.units import UnitRegister

    ws = _workspace(ctx)
    register = UnitRegister.load(ws.config_dir)
    require_database(ws.db_path)
    with opened(ws.db_path) as con:
        result = load_review(con, file, register)
    if format is Format.json:
        _echo_json(result.__dict__)
        return
    typer.echo(
        f"已确认 {result.year} 年任务 {result.confirmed_tasks} 项、指标 {result.confirmed_metrics} 个；"
        f"未确认 {result.skipped} 项。"
    )
    if result.needs_review:
        typer.echo(f"内容已改动、指标需重新确认的任务：{'、'.join(result.needs_review)}")


# ---------------------------------------------------------- monthly progress


@app.command("templates")
def templates_cmd(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="报送期，如 2026-03")],
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

    paths = send_templates(_workspace(ctx), Period.parse(period), unit, out)
    if format is Format.json:
        _echo_json([str(p) for p in paths])
        return
    folder = paths[0].parent if paths else "—"
    typer.echo(f"已生成 {Period.parse(period).zh} 进展表模板 {len(paths)} 份：{folder}")


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
    import datetime as dt

    from ducha.operations import ingest_files
    from ducha.presentation import OUTCOMES_SHORT, outcome_counts

    month = Period.parse(period) if period else None
    when = None
    if received_at:
        try:
            when = dt.datetime.fromisoformat(received_at.strip().replace(" ", "T"))
        except ValueError:
            raise UserError(f"收到时间“{received_at}”格式不正确，应为 2026-04-08T16:30") from None
        when = when.replace(tzinfo=None, second=0, microsecond=0) if when.tzinfo is None else when
    results = ingest_files(_workspace(ctx), paths, period=month, unit=unit, received_at=when)
    if format is Format.json:
        _echo_json([r.to_dict() for r in results])
        return
    if not results:
        where = "、".join(str(p) for p in paths) if paths else "收件目录 data/inbox/"
        typer.echo(f"{where} 中没有待接收的 .xlsx、.xls、.csv 文件。")
        return
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if not verbose and r.status in ("accepted", "superseded", "duplicate") and not r.problems:
            continue
        who = f"{r.unit or '未识别单位'} {r.period or ''}".strip()
        rows = r.rows if r.status != "rejected" else 0
        typer.echo(f"{r.path.name}：{OUTCOMES_SHORT[r.status]}（{who}，{rows} 行）")
        for p in r.problems:
            mark = "错误" if p.severity == "error" else "提示"
            typer.echo(f"    {mark} {p.line()}")
        if r.status == "rejected" and r.kept_as:
            typer.echo(f"    原文件已移至数据目录 {r.kept_as}")
    typer.echo(f"共 {len(results)} 个文件：{outcome_counts(counts)}。")
    moved = sum(1 for r in results if r.moved_to is not None)
    if moved:
        typer.echo(
            f"收件目录中的 {moved} 个文件已处理并移出（已接收的在 received/，未接收的在 rejected/）。"
        )


# ---------------------------------------------------------------- evaluation


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="报送期，如 2026-03")],
    format: FormatOption = Format.text,
) -> None:
    """研判本期进展：各指标、任务、单位的状态，连续滞后月数，单位排名。"""
    from collections import Counter

    from ducha.operations import evaluate

    month = Period.parse(period)
    result = evaluate(_workspace(ctx), month, warn=_warn)
    data = result.to_json()
    if format is Format.json:
        _echo_json(data)
        return
    names = {
        "done": "已完成",
        "on_track": "序时推进",
        "lagging": "滞后",
        "critical": "严重滞后",
        "missing": "未报送",
    }
    metric_counts = Counter(m["status"] for m in data["metrics"])
    task_counts = Counter(t["status"] for t in data["tasks"])
    subs = Counter(u["submission"] for u in data["units"])
    typer.echo(f"{month.zh}研判结果（报送截止 {result.deadline:%Y-%m-%d}）：")
    typer.echo(
        "  指标 " + "、".join(f"{names[k]} {metric_counts[k]}" for k in names if metric_counts[k])
    )
    typer.echo(
        "  任务 " + "、".join(f"{names[k]} {task_counts[k]}" for k in names if task_counts[k])
    )
    typer.echo(
        f"  报送单位 {len(data['units'])} 个：按时 {subs['on_time']}、逾期 {subs['late']}、未报送 {subs['missing']}"
    )
    for m in data["metrics"]:
        if m["status"] in ("lagging", "critical"):
            typer.echo(
                f"  {names[m['status']]} {m['task_id']} {m['label']}：完成 {m['actual']}{m['unit']}，"
                f"序时 {m['expected']}{m['unit']}，目标 {m['target']}{m['unit']}，连续 {m['streak']} 个月"
            )


@app.command("report")
def report_cmd(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="报送期，如 2026-03")],
    out: Annotated[
        Path | None, typer.Option("--out", help="输出目录（默认 data/reports/）")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """生成本期通报：离线可打开的 HTML（内嵌图表）和同样内容的 .xlsx。"""
    from ducha.operations import report

    month = Period.parse(period)
    html, xlsx = report(_workspace(ctx), month, out)
    if format is Format.json:
        _echo_json({"html": str(html), "xlsx": str(xlsx)})
        return
    typer.echo(f"已生成{month.zh}通报：{html}")
    typer.echo(f"表格：{xlsx}")


# ------------------------------------------------------------------ notices

channels_app = typer.Typer(help="通知渠道。", no_args_is_help=True)
app.add_typer(channels_app, name="channels")


def _known_recipients(config_dir: Path) -> set[str]:
    from ducha.units import UnitRegister

    return {u.name for u in UnitRegister.load(config_dir).units}


@channels_app.command("check")
def channels_check(ctx: typer.Context, format: FormatOption = Format.text) -> None:
    """检查渠道配置（地址格式、引用的环境变量、收件单位），不发送任何通知。"""
    from ducha.notices.channels import ChannelConfig, validate_url
    from ducha.notices.secrets import Secrets, masked_url, references

    ws = _workspace(ctx)
    config = ChannelConfig.load(ws.config_dir, _known_recipients(ws.config_dir))
    secrets = Secrets()
    rows = []
    for recipient, channels in config.recipients.items():
        for c in channels:
            problem = validate_url(c.url, secrets)
            rows.append({"recipient": recipient, "channel": c.name, "url": masked_url(c.url), "format": c.format,
                         "secrets": references(c.url), "ok": problem is None, "problem": problem})  # fmt: skip
    if format is Format.json:
        _echo_json(rows)
    else:
        typer.echo(
            f"已配置渠道 {len(rows)} 个（{len(config.recipients)} 个单位或领导）；未配置渠道的通知写入文件。"
        )
        for r in rows:
            state = "正常" if r["ok"] else f"有误：{r['problem']}"
            typer.echo(f"  {r['recipient']} / {r['channel']}（{r['format']}）{r['url']}：{state}")
    bad = [r for r in rows if not r["ok"]]
    if bad:
        raise UserError(
            f"{len(bad)} 个渠道配置有误："
            + "；".join(f"{r['channel']}：{r['problem']}" for r in bad[:3])
        )


@app.command("notify")
def notify_cmd(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="报送期，如 2026-03")],
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
    from ducha.vocabulary import KIND_ZH, KINDS, kind_names

    month = Period.parse(period)
    kinds = kind_names(kind) if kind else None
    day = _date(as_of)
    result = notify(_workspace(ctx), month, kinds=kinds, dry_run=dry_run, as_of=day, warn=_warn)
    if format is Format.json:
        _echo_json(result.to_dict())
        return
    counts = "、".join(
        f"{KIND_ZH[k]} {result.per_kind[k]}" for k in KINDS if result.per_kind.get(k)
    )
    typer.echo(f"{month.zh}应发通知 {result.planned} 条：{counts or '无'}")
    for reason in result.skipped:
        typer.echo(f"  提示：{reason}")
    if dry_run:
        for item in result.notices:
            typer.echo(
                f"  {KIND_ZH[item['kind']]} → {item['recipient']}（{item['channel']}）{item['title']}"
            )
        return
    typer.echo(f"  新写入发件箱 {result.new} 条，此前已有 {result.known} 条（不重复发送）")
    typer.echo(
        f"  本次发送成功 {result.sent} 条，失败 {result.failed} 条（将按退避时间重试），"
        f"因频率限制或排在未发出的消息之后顺延 {result.deferred} 条"
    )
    files = [i for i in result.notices if i["status"] == "unconfigured"]
    if files:
        typer.echo(f"  未配置渠道 {len(files)} 条，已写入 {Path(files[0]['file']).parent}")
    for item in result.notices:
        if item["status"] == "failed":
            typer.echo(
                f"  失败：{KIND_ZH[item['kind']]} → {item['recipient']}（{item['channel']}）：{item['error']}"
            )


# ------------------------------------------------------------------ backups


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

    made = backup(_workspace(ctx), out, keep)
    if format is Format.json:
        _echo_json({"path": str(made.path), "tables": made.tables, "rows": made.rows,
                    "bytes": made.size, "removed": [str(p) for p in made.removed]})  # fmt: skip
        return
    typer.echo(
        f"已备份数据库：{made.path}（{made.tables} 张表，{made.rows} 行，{made.size / 1e6:.1f} MB）"
    )
    if made.removed:
        typer.echo(f"已删除较早的备份 {len(made.removed)} 份")


# ------------------------------------------------------------- orchestration


def _registered(ctx: typer.Context) -> str:
    """The code of the command line's workspace, made known to the flows (which take a configured
    workspace's code): its folder is put first in DUCHA_WORKSPACES for this process."""
    import os

    ws = _workspace(ctx)
    root = ws.config_dir.resolve().parent
    if ws.db_path.resolve() != (root / "data" / "ducha.duckdb").resolve():
        raise UserError("ducha run 使用工作区目录下的 data/ducha.duckdb，请不要同时指定其他 --db")
    listed = [p for p in os.environ.get("DUCHA_WORKSPACES", "").split(os.pathsep) if p.strip()]
    os.environ["DUCHA_WORKSPACES"] = os.pathsep.join([str(root), *listed])
    return ws.code()


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
    period: Annotated[str, typer.Option("--period", help="报送期，如 2026-03")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只列出应发通知，不发送")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="按哪一天判断，如 2026-04-09")
    ] = None,
    format: FormatOption = Format.text,
) -> None:
    """立即运行本月督查流程（接收 → 研判 → 通报 → 通知）。未配置 Prefect 服务器时使用临时 API。"""
    import logging
    import os

    from ducha.db import require_database
    from ducha.operations import check_config

    Period.parse(period)
    day = _date(as_of)
    ws = _workspace(ctx)
    require_database(ws.db_path)
    check_config(ws, warn=_warn)  # before Prefect starts: a mistake costs no server start
    workspace = _registered(ctx)
    # Only ducha's own lines: Prefect's informational lines (the temporary server starting and
    # stopping, each task finishing) stay out of the terminal; warnings and errors stay in.
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    from ducha.presentation import outcome_counts
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
    n = result["notices"]
    typer.echo(
        f"{Period.parse(period).zh}督查流程已完成：接收报表 {outcome_counts(result['ingested'])}；"
        f"通报 {result['briefing']}"
    )
    typer.echo(
        f"通知：应发 {n['planned']} 条，新写入 {n['new']} 条，发送成功 {n['sent']} 条，失败 {n['failed']} 条"
    )


@app.command("server")
def server_cmd(
    port: Annotated[int, typer.Option("--port", help="端口")] = 4200,
) -> None:
    """在 127.0.0.1 上启动本机 Prefect 服务器（界面和调度），前台运行。"""
    import os
    import shutil

    prefect = shutil.which("prefect") or str(Path(sys.executable).with_name("prefect"))
    os.execv(prefect, [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)])


@app.command("serve")
def serve_cmd() -> None:
    """运行 prefect.yaml 中的部署（每日 9:00 定时和手动运行），使定时任务按时触发；需先运行 ducha server。"""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        raise UserError(
            "请先用 ducha server 启动 Prefect 服务器，并设置 PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    from flows.deployments import serve_deployments

    serve_deployments()


@app.command("upcoming")
def upcoming_cmd(
    limit: Annotated[int, typer.Option("--limit", help="最多列出几次")] = 10,
    format: FormatOption = Format.text,
) -> None:
    """列出 Prefect 服务器上即将自动运行的流程（检查定时任务是否已排上），需设置 PREFECT_API_URL。"""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        raise UserError(
            "请设置 PREFECT_API_URL（如 http://127.0.0.1:4200/api），指向运行定时任务的 Prefect 服务器"
        )
    from flows.deployments import upcoming_runs

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
    weekdays = "一二三四五六日"
    typer.echo("即将自动运行的流程（北京时间）：")
    for r in runs:
        at = r["at"]
        typer.echo(
            f"  {at:%Y-%m-%d %H:%M}（周{weekdays[at.weekday()]}）{r['deployment']}，工作区 {r['workspace']}"
        )


# ------------------------------------------------------------------ entry


# click's usage errors, whole templates in Chinese: what the user typed is kept as typed
_CLICK_PATTERNS = [
    (r"Got unexpected extra arguments? ?(?:\(s\))? \((?P<args>.*)\)", "多余的参数：{args}"),
    (r"No such option: (?P<opt>\S+) \(Possible options: (?P<alts>.*)\)", "没有这个选项：{opt}（可用的选项：{alts}）"),
    (r"No such option: (?P<opt>\S+) Did you mean (?P<alt>\S+)\?", "没有这个选项：{opt}（是否应为 {alt}？）"),
    (r"No such option: (?P<opt>\S+)", "没有这个选项：{opt}"),
    (r"No such command '(?P<cmd>.*)'\. Did you mean '(?P<alt>.*)'\?", "没有这个命令 '{cmd}'（是否应为 '{alt}'？）"),
    (r"No such command '(?P<cmd>.*)'\.", "没有这个命令 '{cmd}'"),
    (r"Missing option '(?P<opt>.*)'\.", "缺少选项 '{opt}'"),
    (r"Missing argument '(?P<arg>.*)'\.", "缺少参数 '{arg}'"),
    (r"Option '(?P<opt>.+?)' requires an argument\.", "选项 '{opt}' 后面需要一个值"),
    (r"Invalid value for '(?P<opt>.+?)': (?:Value error, )?(?P<value>'.*'|\".*\") is not one of (?P<choices>.+?)\.",
     "选项 '{opt}' 的值 {value} 无效，应为 {choices} 之一"),
    (r"Invalid value for '(?P<opt>.+?)': Input should be a valid integer.*", "选项 '{opt}' 的值应为整数"),
    (r"Invalid value for '(?P<opt>.+?)': Input should be a valid number.*", "选项 '{opt}' 的值应为数字"),
    (r"Invalid value for '(?P<opt>.+?)': (?P<why>.*)", "选项 '{opt}' 的值无效：{why}"),
]  # fmt: skip


def _usage_message(exc: click_exceptions.UsageError) -> str:
    import re

    text = exc.format_message()
    for pattern, chinese in _CLICK_PATTERNS:
        found = re.fullmatch(pattern, text, flags=re.DOTALL)
        if found:
            parts = found.groupdict()
            if "choices" in parts:
                parts["choices"] = parts["choices"].replace("', '", "'、'")
            return chinese.format(**parts)
    return text


def main(argv: list[str] | None = None) -> int:
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="ducha", standalone_mode=False)
    except UserError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        return exc.exit_code
    except click_exceptions.UsageError as exc:
        typer.echo(f"错误：{_usage_message(exc)}（用 --help 查看用法）", err=True)
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
