"""What the clerk (ducha.portal.clerk) answers the web server's questions with: every unit's page
data of a period, a unit's template, and the dashboard's views (ducha.portal.overview). Each
answer is read in the clerk's process, with the database it holds.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ducha.config import Config
from ducha.periods import Period

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ducha.submissions.assignments import TaskLines
    from ducha.submissions.checking import Context


def answer(cfg: Config, con: Any, question: tuple[Any, ...], context: Context | None = None) -> Any:
    """("pages", period): every unit's page of the period (its tasks from `context`, the
    checks' context, where given); ("template", unit, period): the path of the unit's
    template; the dashboard's ("month", period), ("task", period, task id), ("unit", period,
    unit), ("notices", period), ("requests", period), ("account", name), ("evidence", id),
    ("decide", request id, approve, reason, account, time): ducha.portal.overview."""
    from ducha.portal import overview

    kind, *args = question
    if kind == "pages":
        period = Period.parse(args[0])
        tasks = None if context is None else context.year_tasks(period.year)
        return unit_pages(cfg, con, period, tasks)
    if kind == "template":
        return str(template(cfg, con, args[0], Period.parse(args[1])))
    if kind == "account":
        return overview.account(con, args[0])
    if kind == "evidence":
        return overview.evidence_file(con, int(args[0]))
    if kind == "decide":  # (request id, approve, reason, account, ISO time)
        return overview.decide(con, args[0], args[1], args[2], args[3],
                               datetime.fromisoformat(args[4]))  # fmt: skip
    if kind in ("month", "notices", "requests"):
        return getattr(overview, kind)(con, Period.parse(args[0]))
    if kind in ("task", "unit"):
        return getattr(overview, kind)(con, Period.parse(args[0]), args[1])
    raise ValueError(f"unknown question {kind!r}")


def unit_pages(
    cfg: Config, con: Any, period: Period, tasks: Mapping[str, list[TaskLines]] | None = None
) -> dict[str, dict[str, Any]]:
    """What each unit's page shows: its tasks and metrics for the period's year (`tasks`, or
    read now), the deadline, its evidence and requests."""
    from ducha.db import sql
    from ducha.submissions.assignments import unit_tasks

    deadline = cfg.schedule.deadline(period.year, period.month, cfg.calendar())
    evidence: dict[str, list[dict[str, Any]]] = {}
    for unit, task_id, name, size, received in con.execute(
        "SELECT unit, task_id, file_name, bytes, received_at FROM evidence WHERE period = ? "
        "ORDER BY evidence_id", [str(period)],
    ).fetchall():  # fmt: skip
        evidence.setdefault(unit, []).append(
            {"task": task_id, "file": name, "kb": max(1, size // 1024), "received": received}
        )
    requests: dict[str, list[dict[str, Any]]] = {}
    names = ("id", "unit", "period", "task", "kind", "new_date", "reason", "requested_at",
             "status", "decided_at", "decision_reason")  # fmt: skip
    for row in con.execute(sql("dashboard/unit_requests"),
                           {"first": str(Period(period.year, 1)), "period": str(period)}).fetchall():  # fmt: skip
        found = dict(zip(names, row, strict=True))
        requests.setdefault(found["unit"], []).append(found)
    shared: dict[int, list[dict[str, Any]]] = {}  # units with the same tasks share one list
    pages = {}
    if tasks is None:  # (a year's: the month's figures are not shown)
        tasks = unit_tasks(con, Period(period.year, 1))
    for unit, own in tasks.items():
        listed = shared.get(id(own))
        if listed is None:
            listed = shared[id(own)] = [
                {
                    "id": t.task_id,
                    "content": t.content,
                    "metrics": [
                        {
                            "label": m.label,
                            "target": m.target,
                            "measure": m.measure,
                            "position": m.position,
                            # what the unit is judged against, where not the annual target
                            "own": t.own_target(m, cfg.evaluation.unit_share),
                        }
                        for m in t.metrics
                        if m.position
                    ],
                }  # fmt: skip
                for t in own
            ]
        pages[unit] = {"deadline": deadline, "evidence": evidence.get(unit, []), "tasks": listed,
                       "requests": requests.get(unit, [])}  # fmt: skip
    return pages


def template(cfg: Config, con: Any, unit: str, period: Period) -> Path:
    """The unit's template for the period, written once into data/portal/templates/."""
    from ducha.submissions.templates import template_name, write_templates

    folder = cfg.workspace.data_dir / "portal" / "templates" / str(period)
    path = folder / template_name(unit, period)
    if not path.exists():
        write_templates(con, folder, workspace=cfg.code, period=period, units=[unit],
                        unit_share=cfg.evaluation.unit_share)  # fmt: skip
    return path
