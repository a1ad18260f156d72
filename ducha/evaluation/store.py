"""Judging a period end to end: earlier months of the year first when never judged (streaks build
on them), then inputs → judgements → the eval_* tables, the period replaced as a whole.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import duckdb
import polars as pl

from ducha.db import transaction
from ducha.evaluation.inputs import EvaluationSettings, load_inputs
from ducha.evaluation.judgements import Evaluation, evaluate
from ducha.periods import Period
from ducha.workdays import Schedule, WorkCalendar


def store(con: duckdb.DuckDBPyConnection, result: Evaluation, settings: EvaluationSettings) -> None:
    """Replace the period's judgements in one transaction."""
    period = str(result.period)
    frames = {
        "eval_metrics": result.metrics.select(
            pl.lit(period).alias("period"), "task_id", "position", "label", "kind", "bound", "measure", "target",
            "actual", "expected", "completion", "gap", "source", "carried", "status", "streak",
        ),
        "eval_unit_metrics": result.unit_metrics.select(pl.lit(period).alias("period"), pl.all()),
        "eval_tasks": result.tasks.select(pl.lit(period).alias("period"), pl.all()),
        "eval_units": result.units.select(
            pl.lit(period).alias("period"), "unit", "kind", "submission", "received_at", "judged", "on_track",
            "on_track_share", "rank",
        ),
    }  # fmt: skip
    with transaction(con):
        con.execute("DELETE FROM eval_runs WHERE period = ?", [period])
        con.execute(
            "INSERT INTO eval_runs VALUES (?, ?, ?, ?)",
            [period, datetime.now(), result.deadline, json.dumps(asdict(settings))],
        )
        for table, frame in frames.items():
            con.execute(f"DELETE FROM {table} WHERE period = ?", [period])
            arrow = frame.to_arrow()  # noqa: F841 - read by DuckDB below
            con.execute(f"INSERT INTO {table} SELECT * FROM arrow")


def evaluate_period(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    *,
    settings: EvaluationSettings,
    calendar: WorkCalendar,
    schedule: Schedule,
) -> Evaluation:
    """Evaluate a period and store it; earlier months of the year never evaluated are
    evaluated first, so streaks are complete."""
    done = {
        r[0] for r in con.sql(
            "SELECT period FROM eval_runs WHERE period LIKE $year", params={"year": f"{period.year}-%"}
        ).fetchall()
    }  # fmt: skip
    for month in range(1, period.month):
        earlier = Period(period.year, month)
        if str(earlier) not in done:
            _evaluate_one(con, earlier, settings, calendar, schedule)
    return _evaluate_one(con, period, settings, calendar, schedule)


def _evaluate_one(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    settings: EvaluationSettings,
    calendar: WorkCalendar,
    schedule: Schedule,
) -> Evaluation:
    deadline = schedule.deadline(period.year, period.month, calendar)
    result = evaluate(load_inputs(con, period, deadline), settings)
    store(con, result, settings)
    return result
