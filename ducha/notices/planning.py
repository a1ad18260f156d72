"""Which notices are due for a period, and their text (jinja2, in templates/notices/).

Escalation (DESIGN §5): a task lagging for the first month → 催办 to its lead
units; the second month → 督办 to the lead units with the leaders in charge
copied; critical, or the third month and later → 专报 to the leaders in charge.
Units without a valid file get 催报 (before and at the deadline), every received
file gets its 回执, and everybody gets the monthly 通报. One notice per kind and
recipient lists all of its tasks. Dates in a notice come from the schedule, not
from the clock, so the same facts always render the same text (and the
idempotency key of a notice stays the same when it is rendered again).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ducha import neutral
from ducha.db import sql
from ducha.errors import UserError
from ducha.notices.channels import ChannelConfig
from ducha.periods import Period
from ducha.reporting.briefing import load_briefing
from ducha.vocabulary import EVALUATED_KINDS, KIND_ZH, KINDS
from ducha.workdays import Schedule, WorkCalendar

TITLES = {
    "invite": "关于填报{period}目标任务进展情况的通知",
    "reminder": "关于报送{period}目标任务进展情况的提醒",
    "overdue": "关于逾期未报送{period}目标任务进展情况的催报",
    "receipt": "{period}目标任务进展表回执",
    "decision": "关于{period}申请事项的答复",
    "chase": "关于加快推进滞后目标任务的催办通知（{period}）",
    "supervise": "关于连续滞后目标任务的督办通知（{period}）",
    "brief": "关于{period}目标任务滞后情况的专报",
    "bulletin": "{workspace}{period}《政府工作报告》目标任务推进情况通报",
}


@dataclass
class Notice:
    """One message for one recipient, before it is rendered for a channel."""

    kind: str
    recipient: str
    title: str
    context: dict[str, Any]
    cc: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.recipient


@dataclass
class Plan:
    period: Period
    notices: list[Notice]
    skipped: list[str] = field(default_factory=list)  # why something due could not be addressed


def plan_notices(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    *,
    kinds: tuple[str, ...] = KINDS,
    workspace: str,
    channels: ChannelConfig,
    calendar: WorkCalendar,
    schedule: Schedule,
    as_of: dt.date,
    links: Callable[[str], str | None] | None = None,
    briefing_url: str | None = None,
    briefing_pdf: str | None = None,
) -> Plan:
    """Every notice due for the period as of a date, grouped per kind and recipient. A notice
    to a reporting unit carries the unit's portal link (`links`: unit → link, None for a
    recipient that reports nothing). `briefing_url`: the briefing's copy on the dashboard, which
    the 通报 names instead of its file (bots carry no attachment); `briefing_pdf`: the PDF an
    e-mailed 通报 carries."""
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise UserError(f"通知种类“{'、'.join(bad)}”无效，应为 {'/'.join(KINDS)}")
    deadline = schedule.deadline(period.year, period.month, calendar)
    issued = schedule.day("evaluate", period.year, period.month, calendar)
    reply_by = _add_workdays(issued, channels.reply_workdays, calendar)
    base = {"workspace": workspace, "sender": channels.sender, "period_zh": period.zh, "period": str(period),
            "deadline": deadline, "date": issued, "reply_by": reply_by}  # fmt: skip
    plan = Plan(period, [])
    if "invite" in kinds:
        start = schedule.day("templates", period.year, period.month, calendar)
        if start <= as_of <= deadline:
            _invites(con, period, plan, base, start)
        elif set(kinds) == {"invite"}:
            plan.skipped.append(
                f"{period.zh}的填报通知在 {start:%Y-%m-%d} 至报送截止日 {deadline:%Y-%m-%d} 之间发出"
            )
    if "reminder" in kinds:
        if as_of <= deadline:
            _reminders(con, period, plan, base, schedule, calendar, as_of, deadline)
        elif set(kinds) == {"reminder"}:
            plan.skipped.append(
                f"{period.zh}报送截止日 {deadline:%Y-%m-%d} 已过，催报改为逾期催报（--kind overdue）"
            )
    if "overdue" in kinds and as_of > deadline:
        _overdue(con, period, plan, base, calendar, as_of, deadline)
    if "receipt" in kinds:
        _receipts(con, period, plan, base)
    if "decision" in kinds:
        _decisions(con, period, plan, base)
    wants_eval = [k for k in EVALUATED_KINDS if k in kinds]
    if wants_eval:
        evaluated = con.sql(
            "SELECT count(*) FROM eval_runs WHERE period = $p", params={"p": str(period)}
        )
        if not evaluated.fetchall()[0][0]:
            if set(kinds) <= set(EVALUATED_KINDS):
                raise UserError(f"{period.zh}尚未研判，请先运行 ducha evaluate --period {period}")
            plan.skipped.append(f"{period.zh}尚未研判，催办、督办、专报、通报暂不生成")
        else:
            _escalations(con, period, plan, base, wants_eval)
            if "bulletin" in kinds:
                _bulletins(con, period, plan, base, workspace, briefing_url, briefing_pdf)
    for notice in plan.notices:  # the office's own address: kept as it is in every format
        link = links(notice.recipient) if links is not None else None
        notice.context["link"] = neutral.Trusted(link) if link else None
    return plan


def _title(kind: str, base: dict[str, Any]) -> str:
    return f"【{KIND_ZH[kind]}】" + TITLES[kind].format(
        period=base["period_zh"], workspace=base["workspace"]
    )


def _add_workdays(day: dt.date, n: int, calendar: WorkCalendar) -> dt.date:
    while n > 0:
        day += dt.timedelta(days=1)
        if calendar.is_workday(day):
            n -= 1
    return day


def _invites(con, period: Period, plan: Plan, base: dict, start: dt.date) -> None:
    """填报通知 on the templates day: what each reporting unit reports, by when, and where."""
    for unit, tasks in con.sql(
        sql("notices/reporting_units"), params={"year": period.year}
    ).fetchall():
        context = {**base, "date": start, "tasks": tasks}
        plan.notices.append(Notice("invite", unit, _title("invite", base), context))


def _reminders(con, period: Period, plan: Plan, base: dict, schedule: Schedule, calendar: WorkCalendar,
               as_of: dt.date, deadline: dt.date) -> None:  # fmt: skip
    """催报 up to the deadline: dated the reminder day, or on the deadline itself the last call."""
    final = as_of == deadline
    date = deadline if final else schedule.day("reminder", period.year, period.month, calendar)
    for unit, tasks, opened in con.sql(
        sql("notices/missing_units"), params={"year": period.year, "period": str(period)}
    ).fetchall():
        context = {**base, "date": date, "final": final, "tasks": tasks, "opened": opened}
        plan.notices.append(Notice("reminder", unit, _title("reminder", base), context))


def _overdue(con, period: Period, plan: Plan, base: dict, calendar: WorkCalendar, as_of: dt.date,
             deadline: dt.date) -> None:  # fmt: skip
    """逾期催报 after the deadline, dated the day it is sent: one a day while a unit is missing
    (each day's is a new notice; the same day's, rendered again, is the same notice)."""
    days = sum(
        calendar.is_workday(deadline + dt.timedelta(days=i))
        for i in range(1, (as_of - deadline).days + 1)
    )
    for unit, tasks, opened in con.sql(
        sql("notices/missing_units"), params={"year": period.year, "period": str(period)}
    ).fetchall():
        context = {**base, "date": as_of, "overdue_days": max(days, 1), "tasks": tasks,
                   "opened": opened}  # fmt: skip
        plan.notices.append(Notice("overdue", unit, _title("overdue", base), context))


def _receipts(con, period: Period, plan: Plan, base: dict) -> None:
    for submission_id, unit, file_name, status, receipt in con.sql(
        sql("notices/receipts"), params={"period": str(period)}
    ).fetchall():
        context = {
            **base,
            "receipt": receipt,
            "file_name": file_name,
            "status": status,
            "submission_id": submission_id,
        }
        # a title is one line in every format (a bot's heading, a mail's subject): the sender's
        # file name in it, shortened, with nothing any format acts on (ducha.neutral.markdown)
        title = _title("receipt", base) + f"（{neutral.markdown(neutral.quote(file_name, 60))}）"
        plan.notices.append(Notice("receipt", unit, title, context))


def _decisions(con, period: Period, plan: Plan, base: dict) -> None:
    """Each decided request answered to the unit that asked (申请答复)."""
    names = ("request_id", "unit", "task_id", "content", "kind", "new_date", "reason", "status",
             "decided_at", "decision_reason")  # fmt: skip
    for row in con.sql(
        sql("reporting/decided_requests"), params={"period": str(period)}
    ).fetchall():
        request = dict(zip(names, row, strict=True))
        title = _title("decision", base) + f"（{request['task_id']}，第{request['request_id']}号）"
        plan.notices.append(Notice("decision", request["unit"], title, {**base, **request}))


def _task_details(con, period: Period) -> list[dict[str, Any]]:
    names = ("task_id", "seq", "goal", "content", "leaders", "lead_units", "status", "streak",
             "lagging_units", "missing_units")  # fmt: skip
    tasks = [
        dict(zip(names, r, strict=True))
        for r in con.sql(sql("notices/lagging_tasks"), params={"period": str(period)}).fetchall()
    ]
    metrics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in con.sql(
        sql("reporting/metric_judgements"), params={"period": str(period)}
    ).fetchall():
        m = dict(zip(("task_id", "position", "label", "kind", "bound", "measure", "target", "actual", "expected",
                      "completion", "gap", "source", "carried", "status", "streak"), row, strict=True))  # fmt: skip
        metrics[m["task_id"]].append(m)
    issues: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for task_id, unit, text in con.sql(
        sql("reporting/stated_issues"), params={"period": str(period)}
    ).fetchall():
        issues[task_id].append((unit, text))
    for t in tasks:
        t["metrics"] = [
            m for m in metrics.get(t["task_id"], []) if m["status"] in ("lagging", "critical")
        ]
        behind = set(t["lagging_units"])  # the lagging units' own explanations first
        t["issues"] = sorted(issues.get(t["task_id"], []), key=lambda item: item[0] not in behind)
    return tasks


def _escalations(con, period: Period, plan: Plan, base: dict, kinds: list[str]) -> None:
    tasks = _task_details(con, period)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for t in tasks:
        if t["streak"] == 1 and "chase" in kinds:
            for unit in t["lead_units"]:
                groups[("chase", unit)].append(t)
        if t["streak"] == 2 and "supervise" in kinds:
            for unit in t["lead_units"]:
                groups[("supervise", unit)].append(t)
        if (t["status"] == "critical" or t["streak"] >= 3) and "brief" in kinds:
            if not t["leaders"]:
                plan.skipped.append(f"{t['task_id']} 没有分管领导，专报无法送达")
            for leader in t["leaders"]:
                groups[("brief", leader)].append(t)
    for (kind, recipient), items in sorted(groups.items()):
        cc = (
            sorted({leader for t in items for leader in t["leaders"]})
            if kind == "supervise"
            else []
        )
        context = {**base, "tasks": items}
        plan.notices.append(Notice(kind, recipient, _title(kind, base), context, cc))


def _bulletins(con, period: Period, plan: Plan, base: dict, workspace: str,
               briefing_url: str | None, briefing_pdf: str | None) -> None:  # fmt: skip
    briefing = load_briefing(con, period, workspace)
    lagging = briefing.lagging()
    context = {
        **base,
        "task_counts": dict(briefing.task_counts),
        "metric_counts": dict(briefing.metric_counts),
        "submission_counts": dict(briefing.submission_counts),
        "total_tasks": len(briefing.tasks),
        "total_metrics": len(briefing.metrics),
        "total_units": len(briefing.units),
        "lagging": lagging[:10],
        "more_lagging": max(0, len(lagging) - 10),
        "missing_units": [u["unit"] for u in briefing.units if u["submission"] == "missing"],
        "late_units": [u["unit"] for u in briefing.units if u["submission"] == "late"],
        # the first five ranked of each ranking table (DESIGN §5)
        "rankings": [
            (title, [u for u in units if u["rank"] is not None][:5])
            for title, units in briefing.ranking_tables()
        ],
        "briefing_file": f"{workspace}-{period}-目标任务推进情况通报.html",
        "briefing_url": neutral.Trusted(briefing_url) if briefing_url else None,
        "attachment": briefing_pdf,
    }
    recipients = sorted(
        {u["unit"] for u in briefing.units}
        | {lead for t in briefing.tasks for lead in t["leaders"]}
    )
    for recipient in recipients:
        own = _own_part(briefing, recipient, lagging)
        plan.notices.append(
            Notice("bulletin", recipient, _title("bulletin", base), {**context, "own": own})
        )


def _own_part(briefing: Any, recipient: str, lagging: list[dict[str, Any]]) -> dict[str, Any]:
    """What a bulletin tells its recipient first: a unit its own report, score and rank and the
    tasks it is named behind on (or leads while they lag); a leader the lagging tasks in their
    charge."""
    unit = next((u for u in briefing.units if u["unit"] == recipient), None)
    table = next(
        (title for title, units in briefing.ranking_tables() if any(u is unit for u in units)), ""
    )
    tasks = []
    for t in lagging:
        if unit is None and recipient in t["leaders"]:
            tasks.append((t, "分管"))
        elif recipient in t["lagging_units"]:
            tasks.append((t, "滞后"))
        elif recipient in t["missing_units"]:
            tasks.append((t, "未报送"))
        elif recipient in t["lead_units"]:
            tasks.append((t, "牵头"))
    return {"unit": unit, "table": table, "tasks": tasks, "min_ranked": briefing.min_ranked}
