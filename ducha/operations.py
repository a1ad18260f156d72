"""Every operation the command line and the Prefect flows call, in the order of a year and a month.

Each takes the run's Config (ducha.config: the workspace's folders and its checked settings,
read once) and returns a result; presenting it is ducha.presentation's job. Each opens the
workspace's database only for as long as it needs it (or takes a cursor on it while the monthly
flow holds it for all of its steps, ducha.db.held); a second writer waits for the first
(ducha.db.connect) and stops with a clear message if it waits too long.

    the year      import_targets → show_targets / extract → export_review → confirm_review
    the month     send_templates → ingest_files → evaluate → report → notify → backup
    every day     due_today → daily_plan (what the daily flow does today)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ducha.config import Config
from ducha.db import opened, require_database
from ducha.errors import UserError, os_reason
from ducha.periods import Period

if TYPE_CHECKING:
    from ducha.evaluation.judgements import Evaluation
    from ducha.targets.register import ImportResult
    from ducha.targets.review import ReviewResult

Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


# ------------------------------------------------------------------ the year's register


def import_targets(cfg: Config, file: Path, year: int) -> ImportResult:
    """Read a decomposition table (.docx, .xlsx, .txt), resolve every name through the unit
    register, and import it as the year's tasks with metric proposals. Nothing is written
    when a row cannot be resolved."""
    from ducha.targets.register import import_tasks, resolve_rows
    from ducha.targets.tables import read_table

    tasks = resolve_rows(read_table(file).rows, cfg.units, file.name, year)  # nothing written yet
    with opened(cfg.workspace.db_path) as con:
        return import_tasks(
            con, tasks, year=year, source=file, register=cfg.units, related=cfg.related_units(year),
            threshold=cfg.settings.task_match_threshold,
        )  # fmt: skip


@dataclass(frozen=True)
class ImportPreview:
    """What `targets import --dry-run` shows: the header as mapped and the tasks as they would be
    imported, with their proposed metrics. Nothing is written, the database is not opened."""

    file: str
    header: dict[str, str]  # column (seq, goal, content …) → the header text in the table
    tasks: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        metrics = sum(len(t["metrics"]) for t in self.tasks)
        return {"file": self.file, "header": self.header, "tasks": len(self.tasks),
                "metrics": metrics, "rows": self.tasks}  # fmt: skip


def preview_targets(cfg: Config, file: Path, year: int) -> ImportPreview:
    """Read and resolve the table as `import_targets` does, and stop before writing anything."""
    from ducha.targets.metrics import extract_metrics
    from ducha.targets.register import resolve_rows
    from ducha.targets.tables import read_table

    table = read_table(file)
    tasks = resolve_rows(table.rows, cfg.units, file.name, year)
    rows = [
        {"seq": t.seq, "where": t.where, "goal": t.goal, "content": t.content,
         "leaders": t.leaders, "lead_units": t.lead_units,
         "responsible_units": t.responsible_units or t.lead_units,
         "deadline": t.deadline.isoformat() if t.deadline else None,
         "metrics": [m.to_dict() for m in extract_metrics(t.content)]}
        for t in tasks
    ]  # fmt: skip
    return ImportPreview(file.name, table.header, rows)


@dataclass(frozen=True)
class TargetView:
    """A task of the register as `targets show` presents it."""

    task: dict[str, Any]  # id, goal, content, leaders, lead_units, responsible_units, metrics
    related_pending: bool
    needs_review: bool


def show_targets(cfg: Config, year: int, only: Sequence[str] | None = None) -> list[TargetView]:
    """The year's active register in table order, or only the tasks asked for."""
    from ducha.db import sql

    with opened(cfg.workspace.db_path, read_only=True) as con:
        rows = con.sql(sql("targets/register_with_metrics"), params={"year": year}).fetchall()
    views = [
        TargetView(
            {"id": r[0], "goal": r[1], "content": r[2], "leaders": list(r[3]), "lead_units": list(r[4]),
             "responsible_units": list(r[5]), "metrics": [_metric_json(m) for m in r[6]],
             "deadline": r[9].isoformat() if r[9] else None},
            bool(r[7]), bool(r[8]),
        )
        for r in rows
    ]  # fmt: skip
    if not views:
        raise UserError(f"数据库中没有 {year} 年的目标任务，请先导入分解表")
    if only:
        unknown = sorted(set(only) - {v.task["id"] for v in views})
        if unknown:
            raise UserError(f"{year} 年没有任务 {'、'.join(unknown)}")
        views = [v for v in views if v.task["id"] in set(only)]
    return views


def _metric_json(m: dict[str, Any]) -> dict[str, Any]:
    value = m["value"]
    return {
        "label": m["label"],
        "value": int(value) if float(value).is_integer() else value,
        "unit": m["measure"],  # the JSON keeps its key (metrics.measure, once metrics.unit)
        "kind": m["kind"],
        "bound": m["bound"],
        "confirmed": m["confirmed"],
    }


def extract(lines: Iterable[str]) -> list[list[dict[str, Any]]]:
    """The metric proposals of each line of task text."""
    from ducha.targets.metrics import extract_metrics

    return [[m.to_dict() for m in extract_metrics(line)] for line in lines]


def export_review(cfg: Config, year: int, out: Path) -> int:
    """Write the review file (.yaml or .xlsx) of the year's metrics; returns the tasks in it."""
    from ducha.targets import review

    with opened(cfg.workspace.db_path, read_only=True) as con:
        return review.export_review(con, year, out)


def confirm_review(cfg: Config, file: Path) -> ReviewResult:
    """Load a reviewed file: its confirmed metrics (allocations, schedules) become the truth."""
    from ducha.targets.review import load_review

    require_database(cfg.workspace.db_path)
    with opened(cfg.workspace.db_path) as con:
        return load_review(con, file, cfg.units)


# ------------------------------------------------------------------ the month


def send_templates(
    cfg: Config, period: Period, units: Sequence[str] | None = None, out: Path | None = None
) -> list[Path]:
    """Write each reporting unit's template for the period (data/templates/YYYY-MM/)."""
    from ducha.submissions.templates import write_templates

    names = []
    for name in units or []:
        resolved = cfg.units.resolve_unit(name)
        if resolved is None:
            raise UserError(f"单位“{name}”不在单位名册中")
        names.append(resolved)
    ws = cfg.workspace
    with opened(ws.db_path, read_only=True) as con:
        return write_templates(
            con, out or ws.data_dir / "templates" / str(period), workspace=cfg.code, period=period,
            units=names or None, unit_share=cfg.evaluation.unit_share,
        )  # fmt: skip


def ingest_files(
    cfg: Config,
    paths: Sequence[Path] | None = None,
    *,
    period: Period | None = None,
    unit: str | None = None,
    received_at: dt.datetime | None = None,
) -> list[Any]:
    """Ingest files or folders (default: the workspace's inbox). Files in the inbox are moved
    out of it once taken in (data/received/, data/rejected/)."""
    from ducha.submissions.ingest import ingest

    ws = cfg.workspace
    require_database(ws.db_path)
    if not paths:  # a new workspace: the inbox is where the units' files are to be put
        try:
            ws.inbox.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"无法创建收件目录 {ws.inbox}：{os_reason(exc)}") from exc
    with opened(ws.db_path) as con:
        return ingest(
            con, list(paths or [ws.inbox]), register=cfg.units, workspace=cfg.code, archive_dir=ws.archive_dir,
            unit=unit, period=period, inbox=ws.inbox, timezone=cfg.schedule.timezone, received_at=received_at,
        )  # fmt: skip


def evaluate(cfg: Config, period: Period, warn: Warn = _ignore) -> Evaluation:
    """Judge the period and store the results (earlier months first if never judged)."""
    from ducha.evaluation.store import evaluate_period

    require_database(cfg.workspace.db_path)
    with opened(cfg.workspace.db_path) as con:
        result = evaluate_period(
            con, period, settings=cfg.evaluation, calendar=cfg.calendar(warn), schedule=cfg.schedule
        )
    units = result.units
    if units.height and units.filter(units["submission"] != "missing").is_empty():
        warn(
            f"{period.zh}没有收到任何单位的报表（报送截止 {result.deadline:%Y-%m-%d}），"
            f"全部 {units.height} 个报送单位记为未报送；如报送期有误，请改正后重新研判"
        )
    return result


def report(cfg: Config, period: Period, out: Path | None = None) -> tuple[Path, Path]:
    """Write the briefing (HTML and .xlsx, and an A4 PDF where Chromium is installed) for an
    evaluated period, as a document to issue: 文号, 主送, 落款 and the evaluation day."""
    from ducha.reporting.briefing import Masthead, load_briefing
    from ducha.reporting.files import write_briefing, write_pdf

    with opened(cfg.workspace.db_path, read_only=True) as con:
        briefing = load_briefing(con, period, cfg.name)
    masthead = Masthead(
        number=cfg.settings.briefing_number.format(year=period.year, month=period.month),
        to=cfg.settings.briefing_to, issuer=cfg.channels.sender,
        issued=cfg.schedule.day("evaluate", period.year, period.month, cfg.calendar()),
    )  # fmt: skip
    html, xlsx = write_briefing(briefing, out or cfg.workspace.data_dir / "reports", masthead)
    write_pdf(html)
    return html, xlsx


@dataclass
class NotifyResult:
    period: str
    dry_run: bool
    planned: int
    per_kind: dict[str, int]
    skipped: list[str]
    notices: list[dict[str, Any]]
    new: int = 0
    known: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    gave_up: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def notify(
    cfg: Config,
    period: Period,
    *,
    kinds: Sequence[str] | None = None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    warn: Warn = _ignore,
) -> NotifyResult:
    """Render the due notices into the outbox (idempotent) and deliver what is due."""
    from collections import Counter

    from ducha.db import sql
    from ducha.notices.outbox import deliver_from, enqueue, messages_for
    from ducha.notices.planning import plan_notices
    from ducha.notices.secrets import Secrets
    from ducha.portal.service import notice_links
    from ducha.reporting.files import briefing_url
    from ducha.vocabulary import KINDS

    ws = cfg.workspace
    require_database(ws.db_path)
    with opened(ws.db_path, read_only=dry_run) as con:
        plan = plan_notices(
            con, period, kinds=tuple(kinds or KINDS), workspace=cfg.name, channels=cfg.channels,
            calendar=cfg.calendar(warn), schedule=cfg.schedule, as_of=as_of or local_today(cfg),
            links=notice_links(cfg, con, period),
            briefing_url=briefing_url(cfg.settings.base_url, period),
            briefing_pdf=_pdf_of(ws.data_dir / "reports", cfg.name, period),
        )  # fmt: skip
        messages = [m for n in plan.notices for m in messages_for(n, str(period), cfg.channels)]
        per_kind = dict(Counter(m.notice.kind for m in messages))
        if dry_run:
            listing = [
                {"kind": m.notice.kind, "recipient": m.notice.recipient, "channel": m.channel, "title": m.title,
                 "part": m.part, "parts": m.parts}
                for m in messages
            ]  # fmt: skip
            return NotifyResult(str(period), True, len(messages), per_kind, plan.skipped, listing)
        queued = enqueue(con, messages, str(period), ws.data_dir / "outbox")
    # the database is let go while a bot's rate-limit window is waited for (deliver_from)
    delivery = deliver_from(ws.db_path, cfg.channels, Secrets())
    names = ("kind", "recipient", "channel", "title", "status", "file", "error")
    with opened(ws.db_path, read_only=True) as con:
        listing = [
            dict(zip(names, row, strict=True))
            for row in con.sql(
                sql("notices/outbox_listing"),
                params={"p": str(period), "kinds": list(kinds or KINDS)},
            ).fetchall()
        ]
    return NotifyResult(
        str(period), False, len(messages), per_kind, plan.skipped, listing, new=queued["new"], known=queued["known"],
        sent=delivery.sent, failed=delivery.failed, deferred=delivery.deferred, gave_up=delivery.gave_up,
    )  # fmt: skip


def check_channels(cfg: Config) -> list[dict[str, Any]]:
    """Every configured channel checked as it would be sent to (secrets resolved, address
    understood), nothing sent; secrets masked in what comes back."""
    from ducha.notices.channels import validate_url
    from ducha.notices.secrets import Secrets, masked_url, references

    secrets = Secrets()
    rows = []
    for recipient, channels in cfg.channels.recipients.items():
        for c in channels:
            problem = validate_url(c.url, secrets)
            rows.append({"recipient": recipient, "channel": c.name, "url": masked_url(c.url), "format": c.format,
                         "secrets": references(c.url), "ok": problem is None, "problem": problem})  # fmt: skip
    return rows


def backup(cfg: Config, out: Path | None = None, keep: int | None = None) -> Any:
    """Copy the database into data/backups/ (or `out`), keeping the newest `keep` copies
    (default: backup_keep in workspace.yaml)."""
    from ducha.backup import backup_database

    keep = cfg.settings.backup_keep if keep is None else keep
    return backup_database(
        cfg.workspace.db_path,
        out or cfg.workspace.data_dir / "backups",
        keep=keep,
        code=cfg.code,
    )


# ------------------------------------------------------------------ the daily decision


def _pdf_of(reports: Path, workspace: str, period: Period) -> str | None:
    """The briefing's PDF for the period, where `ducha report` made one."""
    from ducha.reporting.files import briefing_stem

    pdf = reports / f"{briefing_stem(workspace, period)}.pdf"
    return str(pdf.resolve()) if pdf.is_file() else None


def reporting_period(today: dt.date) -> Period:
    """In month M the units report on month M-1."""
    return Period(today.year - 1, 12) if today.month == 1 else Period(today.year, today.month - 1)


def local_today(cfg: Config) -> dt.date:
    """Today in the workspace's timezone (config/schedule.yaml), whatever the server's."""
    from ducha import clock

    return clock.today(cfg.schedule.timezone)


def due_today(cfg: Config, today: dt.date, warn: Warn = _ignore) -> tuple[Period, list[str]]:
    """Which steps are due today, by Chinese working days (config/schedule.yaml)."""
    return reporting_period(today), cfg.schedule.due(today, cfg.calendar(warn))


@dataclass(frozen=True)
class DailyPlan:
    """What the daily run does beyond receiving files and answering them with receipts."""

    templates: bool = False
    monthly: bool = False  # evaluate, report and every notice due (the monthly flow)
    kinds: tuple[str, ...] = ("receipt", "decision")  # sent when the monthly flow does not run
    labels: tuple[str, ...] = ()


def daily_plan(due: Sequence[str]) -> DailyPlan:
    """The day's work from the steps due (Schedule.due)."""
    kinds = ["receipt", "decision"]
    labels = []
    if "templates" in due:
        kinds.append("invite")
        labels.append("发模板和填报通知")
    if "reminder" in due:
        kinds.append("reminder")
        labels.append("催报")
    if "deadline" in due:
        kinds.append("reminder")
        labels.append("截止日催报")
    if "overdue" in due:
        kinds.append("overdue")
        labels.append("逾期催报")
    if "evaluate" in due:
        labels.append("研判、生成通报、发送催办督办专报和通报")
    return DailyPlan(
        "templates" in due, "evaluate" in due, tuple(dict.fromkeys(kinds)), tuple(labels)
    )


def task_titles(cfg: Config, year: int) -> dict[str, tuple[str, str]]:
    """task id → (goal, content) of the year's active tasks."""
    from ducha.db import sql

    with opened(cfg.workspace.db_path, read_only=True) as con:
        return {
            r[0]: (r[1] or "", r[2] or "")
            for r in con.sql(sql("targets/task_titles"), params={"year": year}).fetchall()
        }
