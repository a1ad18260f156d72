"""What judging a period reads, as polars frames: the year's metrics and tasks, who reports what, the units' latest figures (carried forward where a month is missing), declared statuses, schedules and allocations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from ducha.db import sql
from ducha.errors import UserError
from ducha.periods import Period
from ducha.workspace import read_yaml


@dataclass(frozen=True)
class Settings:
    red_threshold: float = 0.20
    about_tolerance: float = 0.10
    unit_share: str = "equal"  # equal / none
    not_started_critical_month: int = 7

    @classmethod
    def load(cls, config_dir: Path) -> Settings:
        path = config_dir / "evaluation.yaml"
        if not path.exists():
            return cls()
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise UserError(f"{path}：应为键值表")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise UserError(f"{path}：不认识的设置 {'、'.join(sorted(unknown))}")
        settings = cls(**data)
        if not 0 < settings.red_threshold < 1 or not 0 <= settings.about_tolerance < 1:
            raise UserError(
                f"{path}：red_threshold 应在 0 到 1 之间，about_tolerance 应在 0 到 1 之间"
            )
        if settings.unit_share not in ("equal", "none"):
            raise UserError(f"{path}：unit_share 应为 equal 或 none")
        return settings


@dataclass
class Inputs:
    """Everything the rules read, as polars frames."""

    period: Period
    metrics: pl.DataFrame  # task_id, position, label, kind, bound, measure, target, lead_units
    schedule: pl.DataFrame  # task_id, position, month, share
    assignments: pl.DataFrame  # unit, role, task_id, position, allocation
    figures: pl.DataFrame  # unit, task_id, position, value, last_period
    declared: pl.DataFrame  # unit, task_id, status (declared for milestone tasks)
    submissions: pl.DataFrame  # unit, received_at
    units: pl.DataFrame  # unit, kind
    tasks: pl.DataFrame  # task_id, lead_units (as listed in the table)
    previous_metrics: pl.DataFrame  # task_id, position, streak (period - 1)
    previous_tasks: pl.DataFrame  # task_id, streak (period - 1)
    deadline: date


def load_inputs(con: duckdb.DuckDBPyConnection, period: Period, deadline: date) -> Inputs:
    year = {"year": period.year}
    tasks = con.sql(sql("eval_tasks"), params=year).pl()
    if tasks.is_empty():
        raise UserError(f"数据库中没有 {period.year} 年的目标任务，请先导入分解表")
    metrics = con.sql(sql("eval_metrics_register"), params=year).pl()
    assignments = assign_units(tasks, metrics, con.sql(sql("eval_allocations"), params=year).pl())
    before = period.previous()
    prev_key = {"period": str(before) if before else ""}
    return Inputs(
        period=period,
        metrics=metrics,
        schedule=con.sql(sql("eval_schedule"), params=year).pl(),
        assignments=assignments,
        figures=latest_figures(con, period, assignments),
        declared=con.sql(sql("eval_declared_status"), params={"period": str(period)}).pl(),
        submissions=con.sql(sql("eval_submissions"), params={"period": str(period)}).pl(),
        units=con.sql("SELECT name AS unit, kind FROM units").pl(),
        tasks=tasks.select("task_id", "lead_units"),
        previous_metrics=con.sql(
            "SELECT task_id, position, streak FROM eval_metrics WHERE period = $period",
            params=prev_key,
        ).pl(),
        previous_tasks=con.sql(
            "SELECT task_id, streak FROM eval_tasks WHERE period = $period", params=prev_key
        ).pl(),
        deadline=deadline,
    )


def assign_units(
    tasks: pl.DataFrame, metrics: pl.DataFrame, allocations: pl.DataFrame
) -> pl.DataFrame:
    """Who reports what: one row per (unit, role, task, metric position; 0 = a task without
    metrics) with the unit's allocation. Lead units in the table's order; a unit listed both as
    lead and responsible reports as lead; a unit listed twice counts once."""
    lead = tasks.select(
        "task_id", pl.col("lead_units").list.unique(maintain_order=True).alias("unit")
    ).with_columns(pl.lit("lead").alias("role"))
    responsible = tasks.select(
        "task_id",
        pl.col("responsible_units").list.set_difference(pl.col("lead_units")).alias("unit"),
    ).with_columns(pl.lit("responsible").alias("role"))
    pairs = pl.concat([lead, responsible]).explode("unit").drop_nulls("unit")
    positions = metrics.select("task_id", "position")
    return (
        pairs.join(positions, on="task_id", how="left")
        .with_columns(pl.col("position").fill_null(0).cast(pl.Int32))
        .join(
            allocations.select("task_id", "position", "unit", "allocation"),
            on=["task_id", "position", "unit"],
            how="left",
        )
        .select("unit", "role", "task_id", "position", "allocation")
    )


def latest_figures(
    con: duckdb.DuckDBPyConnection, period: Period, assignments: pl.DataFrame
) -> pl.DataFrame:
    """Each unit's latest cumulative figure per metric up to the period (the period's own, or
    carried forward for the assigned metrics it lacks): unit, task_id, position, value, last_period."""
    assigned = assignments.filter(pl.col("position") > 0).select("unit", "task_id", "position")
    con.register("eval_assigned", assigned.to_arrow())
    try:
        params = {"first": str(Period(period.year, 1)), "period": str(period)}
        return con.sql(sql("eval_latest_figures"), params=params).pl()
    finally:
        con.unregister("eval_assigned")
