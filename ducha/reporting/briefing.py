"""The month's briefing: everything it shows, read from the period's judgements in the database (no
number retyped), and written as HTML and .xlsx.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb

from ducha.db import sql
from ducha.errors import UserError
from ducha.periods import Period
from ducha.vocabulary import BEHIND, TERRITORIAL

# The numbers of a metric and a unit that are stored as DOUBLE: what the briefing shows of them.
# the two ranking tables (DESIGN §5): title, whether it holds the territorial units
RANKING_TABLES = (("镇、开发区、街道", True), ("部门、国有企业", False))
NUMBERS = ("target", "actual", "expected", "completion", "gap", "on_track_share")


def shown(value: Any) -> Any:
    """A stored number as the briefing shows it: None (—) where it is infinite or NaN. The
    evaluation stores none, but a database judged by an earlier version holds inf where a target
    was 0, and one odd value must not cost the month its briefing."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Masthead:
    """What makes the briefing a document to issue (公文): its number (文号), to whom it goes
    (主送), who issues it (落款) and on which day (the evaluation day of the schedule)."""

    number: str
    to: str
    issuer: str
    issued: date


@dataclass
class Briefing:
    workspace: str
    period: Period
    generated: datetime
    deadline: date
    tasks: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    units: list[dict[str, Any]]  # ranked first (rank within its table), then the unranked
    trend: list[tuple[str, dict[str, int]]]
    issues: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    min_ranked: int = (
        3  # judged items a unit needed to be ranked (the evaluation's rank_min_judged)
    )
    decisions: list[dict[str, Any]] = field(default_factory=list)  # requests decided this month

    @property
    def task_counts(self) -> Counter[str]:
        return Counter(t["status"] for t in self.tasks)

    @property
    def metric_counts(self) -> Counter[str]:
        return Counter(m["status"] for m in self.metrics)

    @property
    def submission_counts(self) -> Counter[str]:
        return Counter(u["submission"] for u in self.units)

    def ranking_tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """The two ranking tables of DESIGN §5, each (title, its units: ranked by rank, then
        those with too few judged items, unranked): towns, zones and streets; departments and
        companies. A table with no unit is left out."""
        tables = [
            (title, [u for u in self.units if (u["kind"] in TERRITORIAL) == territorial])
            for title, territorial in RANKING_TABLES
        ]
        return [(title, units) for title, units in tables if units]

    def lagging(self) -> list[dict[str, Any]]:
        """Lagging and critical tasks, worst first, each with its metrics and stated problems."""
        metrics = defaultdict(list)
        for m in self.metrics:
            metrics[m["task_id"]].append(m)
        rows = [
            {
                **t,
                "metrics": metrics.get(t["task_id"], []),
                "issues": self.issues.get(t["task_id"], []),
            }
            for t in self.tasks
            if t["status"] in BEHIND
        ]
        return sorted(rows, key=lambda t: (t["status"] != "critical", -t["streak"], t["seq"]))

    def by(self, key: str) -> list[tuple[str, dict[str, int]]]:
        """Tasks by status grouped by goal / lead unit / leader (a task counts for each of its)."""
        groups: dict[str, Counter[str]] = {}
        for t in self.tasks:
            names = t[key] if isinstance(t[key], list) else [t[key]]
            for name in names or ["（未列明）"]:
                groups.setdefault(name, Counter())[t["status"]] += 1
        return [(name, dict(c)) for name, c in groups.items()]


def load_briefing(con: duckdb.DuckDBPyConnection, period: Period, workspace: str) -> Briefing:
    run = con.sql(
        "SELECT deadline, settings FROM eval_runs WHERE period = $p", params={"p": str(period)}
    ).fetchall()
    if not run:
        raise UserError(f"{period.zh}尚未研判，请先运行 ducha evaluate --period {period}")
    p = {"period": str(period)}
    tasks = [
        dict(zip(("task_id", "seq", "goal", "content", "leaders", "lead_units", "status", "streak",
                  "lagging_units", "missing_units", "evidence"), r, strict=True))
        for r in con.sql(sql("reporting/task_judgements"), params=p).fetchall()
    ]  # fmt: skip
    metrics = [
        dict(zip(("task_id", "position", "label", "kind", "bound", "measure", "target", "actual", "expected",
                  "completion", "gap", "source", "carried", "status", "streak"), r, strict=True))
        for r in con.sql(sql("reporting/metric_judgements"), params=p).fetchall()
    ]  # fmt: skip
    units = [
        dict(zip(("rank", "unit", "kind", "submission", "received_at", "judged", "on_track", "on_track_share"),
                 r, strict=True))
        for r in con.sql(sql("reporting/unit_ranking"), params=p).fetchall()
    ]  # fmt: skip
    for row in metrics + units:  # shown as —, never as inf or nan (nor a failed .xlsx)
        for key in NUMBERS:
            if key in row:
                row[key] = shown(row[key])
    trend: dict[str, dict[str, int]] = {}
    for month, status, n in con.sql(
        sql("reporting/status_trend"),
        params={"first": str(Period(period.year, 1)), "period": str(period)},
    ).fetchall():
        trend.setdefault(month, {})[status] = n
    issues: dict[str, list[tuple[str, str]]] = {}
    for task_id, unit, text in con.sql(sql("reporting/stated_issues"), params=p).fetchall():
        issues.setdefault(task_id, []).append((unit, text))
    decisions = [
        dict(zip(("request_id", "unit", "task_id", "content", "kind", "new_date", "reason", "status",
                  "decided_at", "decision_reason"), r, strict=True))
        for r in con.sql(sql("reporting/decided_requests"), params=p).fetchall()
    ]  # fmt: skip
    return Briefing(
        workspace=workspace, period=period, generated=datetime.now(), deadline=run[0][0], tasks=tasks,
        metrics=metrics, units=units, trend=sorted(trend.items()), issues=issues,
        min_ranked=_used(run[0][1], "rank_min_judged", 3), decisions=decisions,
    )  # fmt: skip


def _used(settings: str, key: str, default: int) -> int:
    """A threshold the period was evaluated with (eval_runs.settings; an evaluation stored before
    the threshold existed: its default)."""
    import json

    try:
        value = json.loads(settings).get(key, default)
    except (ValueError, AttributeError):
        return default
    return value if isinstance(value, int) else default
