"""The monthly steps as plain functions: the CLI and the Prefect flows both call these.

Each step opens the workspace's database only for as long as it needs it (or takes
a cursor on it while the monthly flow holds it for all of its steps, ducha.db.held);
a second writer waits for the first (ducha.db.connect) and stops with a clear
message if it waits too long.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ducha.db import require_database
from ducha.errors import UserError, os_reason
from ducha.periods import Period
from ducha.workspace import Workspace

Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


def workspace_name(ws: Workspace) -> str:
    return str(ws.settings().get("name") or ws.code())


def check_config(ws: Workspace, warn: Warn = _ignore) -> None:
    """Read every file in config/ as the steps will: a mistake stops a run before any step has
    written anything (raises UserError naming the file)."""
    from ducha.evaluation.inputs import Settings
    from ducha.notices.channels import ChannelConfig
    from ducha.units import UnitRegister
    from ducha.workdays import Schedule, WorkCalendar

    ws.code()
    backup_keep(ws)
    known = {u.name for u in UnitRegister.load(ws.config_dir).units}
    ChannelConfig.load(ws.config_dir, known)
    Settings.load(ws.config_dir)
    WorkCalendar.load(ws.config_dir, warn=warn)
    Schedule.load(ws.config_dir)


def send_templates(
    ws: Workspace, period: Period, units: Sequence[str] | None = None, out: Path | None = None
) -> list[Path]:
    """Write each reporting unit's template for the period (data/templates/YYYY-MM/)."""
    from ducha.db import opened
    from ducha.submissions.templates import write_templates
    from ducha.units import UnitRegister

    register = UnitRegister.load(ws.config_dir)
    names = []
    for name in units or []:
        resolved = register.resolve_unit(name)
        if resolved is None:
            raise UserError(f"单位“{name}”不在单位名册中")
        names.append(resolved)
    with opened(ws.db_path, read_only=True) as con:
        return write_templates(
            con,
            out or ws.data_dir / "templates" / str(period),
            workspace=ws.code(),
            period=period,
            units=names or None,
        )


def ingest_files(
    ws: Workspace,
    paths: Sequence[Path] | None = None,
    *,
    period: Period | None = None,
    unit: str | None = None,
    received_at: dt.datetime | None = None,
) -> list[Any]:
    """Ingest files or folders (default: the workspace's inbox). Files in the inbox are moved
    out of it once taken in (data/received/, data/rejected/)."""
    from ducha.db import opened
    from ducha.submissions.ingest import ingest
    from ducha.units import UnitRegister
    from ducha.workdays import Schedule

    register = UnitRegister.load(ws.config_dir)
    timezone = Schedule.load(ws.config_dir).timezone
    inbox = ws.data_dir / "inbox"
    sources = list(paths or [inbox])
    require_database(ws.db_path)
    if not paths:  # a new workspace: the inbox is where the units' files are to be put
        try:
            inbox.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"无法创建收件目录 {inbox}：{os_reason(exc)}") from exc
    with opened(ws.db_path) as con:
        return ingest(
            con, sources, register=register, workspace=ws.code(), archive_dir=ws.data_dir / "archive",
            unit=unit, period=period, inbox=inbox, timezone=timezone, received_at=received_at,
        )  # fmt: skip


def evaluate(ws: Workspace, period: Period, warn: Warn = _ignore) -> Any:
    """Judge the period and store the results (earlier months first if never judged)."""
    from ducha.db import opened
    from ducha.evaluation.inputs import Settings
    from ducha.evaluation.store import evaluate_period
    from ducha.workdays import Schedule, WorkCalendar

    settings = Settings.load(ws.config_dir)
    calendar = WorkCalendar.load(ws.config_dir, warn=warn)
    require_database(ws.db_path)
    with opened(ws.db_path) as con:
        result = evaluate_period(
            con, period, settings=settings, calendar=calendar, schedule=Schedule.load(ws.config_dir)
        )
    units = result.units
    if units.height and units.filter(units["submission"] != "missing").is_empty():
        warn(
            f"{period.zh}没有收到任何单位的报表（报送截止 {result.deadline:%Y-%m-%d}），"
            f"全部 {units.height} 个报送单位记为未报送；如报送期有误，请改正后重新研判"
        )
    return result


def report(ws: Workspace, period: Period, out: Path | None = None) -> tuple[Path, Path]:
    """Write the briefing (HTML and .xlsx) for an evaluated period."""
    from ducha.db import opened
    from ducha.reporting.briefing import load_briefing
    from ducha.reporting.files import write_briefing

    with opened(ws.db_path, read_only=True) as con:
        briefing = load_briefing(con, period, workspace_name(ws))
    return write_briefing(briefing, out or ws.data_dir / "reports")


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
    ws: Workspace,
    period: Period,
    *,
    kinds: Sequence[str] | None = None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    warn: Warn = _ignore,
) -> NotifyResult:
    """Render the due notices into the outbox (idempotent) and deliver what is due."""
    from collections import Counter

    from ducha.db import opened
    from ducha.notices.channels import ChannelConfig
    from ducha.notices.outbox import deliver, enqueue, messages_for
    from ducha.notices.planning import plan_notices
    from ducha.notices.secrets import Secrets
    from ducha.units import UnitRegister
    from ducha.vocabulary import KINDS
    from ducha.workdays import Schedule, WorkCalendar

    require_database(ws.db_path)
    known_names = {u.name for u in UnitRegister.load(ws.config_dir).units}
    channels = ChannelConfig.load(ws.config_dir, known_names)
    calendar = WorkCalendar.load(ws.config_dir, warn=warn)
    with opened(ws.db_path, read_only=dry_run) as con:
        plan = plan_notices(
            con, period, kinds=tuple(kinds or KINDS), workspace=workspace_name(ws), channels=channels,
            calendar=calendar, schedule=Schedule.load(ws.config_dir), as_of=as_of or dt.date.today(),
        )  # fmt: skip
        messages = [m for n in plan.notices for m in messages_for(n, str(period), channels)]
        per_kind = dict(Counter(m.notice.kind for m in messages))
        if dry_run:
            listing = [
                {"kind": m.notice.kind, "recipient": m.notice.recipient, "channel": m.channel, "title": m.title,
                 "part": m.part, "parts": m.parts}
                for m in messages
            ]  # fmt: skip
            return NotifyResult(str(period), True, len(messages), per_kind, plan.skipped, listing)
        queued = enqueue(con, messages, str(period), ws.data_dir / "outbox")
        delivery = deliver(con, channels, Secrets())
        listing = [
            {
                "kind": k,
                "recipient": r,
                "channel": c,
                "title": t,
                "status": s,
                "file": f,
                "error": e,
            }
            for k, r, c, t, s, f, e in con.sql(
                "SELECT kind, recipient, channel, title, status, file_path, last_error FROM outbox "
                "WHERE period = $p AND list_contains($kinds, kind) ORDER BY notice_id",
                params={"p": str(period), "kinds": list(kinds or KINDS)},
            ).fetchall()
        ]
    return NotifyResult(
        str(period), False, len(messages), per_kind, plan.skipped, listing, new=queued["new"], known=queued["known"],
        sent=delivery.sent, failed=delivery.failed, deferred=delivery.deferred, gave_up=delivery.gave_up,
    )  # fmt: skip


def backup_keep(ws: Workspace) -> int:
    """How many backups to keep: backup_keep in workspace.yaml, else 30."""
    from ducha.backup import DEFAULT_KEEP

    keep = ws.settings().get("backup_keep", DEFAULT_KEEP)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise UserError(
            f"配置文件 {ws.config_dir / 'workspace.yaml'} 中 backup_keep 应为正整数（保留的备份份数），"
            f"而不是“{keep}”"
        )
    return keep


def backup(ws: Workspace, out: Path | None = None, keep: int | None = None) -> Any:
    """Copy the database into data/backups/ (or `out`), keeping the newest `keep` copies
    (default: backup_keep in workspace.yaml, else 30)."""
    from ducha.backup import backup_database

    keep = backup_keep(ws) if keep is None else keep
    return backup_database(ws.db_path, out or ws.data_dir / "backups", keep=keep)


# ------------------------------------------------------------------ the daily decision


def reporting_period(today: dt.date) -> Period:
    """In month M the units report on month M-1."""
    return Period(today.year - 1, 12) if today.month == 1 else Period(today.year, today.month - 1)


def local_today(ws: Workspace) -> dt.date:
    """Today in the workspace's timezone (config/schedule.yaml), whatever the server's."""
    from ducha import clock
    from ducha.workdays import Schedule

    return clock.today(Schedule.load(ws.config_dir).timezone)


def due_today(ws: Workspace, today: dt.date, warn: Warn = _ignore) -> tuple[Period, list[str]]:
    """Which steps are due today, by Chinese working days (config/schedule.yaml)."""
    from ducha.workdays import Schedule, WorkCalendar

    calendar = WorkCalendar.load(ws.config_dir, warn=warn)
    return reporting_period(today), Schedule.load(ws.config_dir).due(today, calendar)


@dataclass(frozen=True)
class DailyPlan:
    """What the daily run does beyond receiving files and answering them with receipts."""

    templates: bool = False
    monthly: bool = False  # evaluate, report and every notice due (the monthly flow)
    kinds: tuple[str, ...] = ("receipt",)  # notices sent when the monthly flow does not run
    labels: tuple[str, ...] = ()


def daily_plan(due: Sequence[str]) -> DailyPlan:
    """The day's work from the steps due (Schedule.due)."""
    kinds = ["receipt"]
    labels = []
    if "templates" in due:
        labels.append("发模板")
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


def task_titles(ws: Workspace, year: int) -> dict[str, tuple[str, str]]:
    """task id → (goal, content) of the year's active tasks."""
    from ducha.db import opened, sql

    with opened(ws.db_path, read_only=True) as con:
        return {
            r[0]: (r[1] or "", r[2] or "")
            for r in con.sql(sql("task_titles"), params={"year": year}).fetchall()
        }
