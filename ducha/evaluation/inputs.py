"""What judging a period reads, as polars frames: the year's metrics and tasks, who reports what,
the units' latest figures (carried forward where a month is missing), declared statuses,
schedules and allocations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import duckdb
import polars as pl
from pydantic import Field
from pydantic.dataclasses import dataclass as section

from ducha.db import sql
from ducha.errors import UserError
from ducha.evaluation.decisions import extended_deadlines, extended_schedules, no_decisions
from ducha.periods import Period
from ducha.sections import FILE_SECTION, Int, Number


@section(frozen=True, config=FILE_SECTION)
class EvaluationSettings:
    """evaluation.yaml: the judging thresholds (DESIGN §5)."""

    red_threshold: Number = Field(
        0.20, gt=0, lt=1, json_schema_extra={"should": "0 到 1 之间的小数（如 0.2）"},
        description="严重滞后线：累计类落后序时超过年度目标的这一比例（默认 20 个百分点）、水平类低于目标这一比例以上为严重滞后",
    )  # fmt: skip
    about_tolerance: Number = Field(
        0.10, ge=0, lt=1, json_schema_extra={"should": "0 到 1 之间的小数（如 0.1）"},
        description="“左右/约”的容差：达到目标（或序时目标）的（1 − 此值）即视为达到",
    )  # fmt: skip
    unit_share: Literal["equal", "none"] = Field(
        "equal",
        description="没有分解数的累计指标：equal 按责任单位平均分配考核各单位；none 不单独考核单位",
    )
    schedule_reading: Literal["linear", "step"] = Field(
        "linear",
        description="按节点进度的指标的序时：linear 从 0 月（0）经各节点线性插值（最后节点之后到 12 月达 100%）；step 取不晚于本月的最近节点",
    )
    rank_min_judged: Int = Field(
        3, ge=1, le=100, json_schema_extra={"should": "1 到 100 之间的整数"},
        description="参加排名的单位至少要有几项考核内容（指标和里程碑任务）；不足的列出但不排名",
    )  # fmt: skip
    not_started_critical_month: Int = Field(
        7, ge=1, le=12, json_schema_extra={"should": "1 到 12 之间的月份数字"},
        description="里程碑任务到此月仍“未启动”记为严重滞后（之前记为滞后）",
    )  # fmt: skip


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
    tasks: pl.DataFrame  # task_id, lead_units (as listed in the table), deadline (完成时限)
    previous_metrics: pl.DataFrame  # task_id, position, streak (period - 1)
    previous_tasks: pl.DataFrame  # task_id, streak (period - 1)
    deadline: date
    # approved requests in force (ducha.evaluation.decisions): task_id, new_date, signed_off;
    # already applied to `tasks` (deadlines) and `schedule`; `signed_off` is read by the rules
    decisions: pl.DataFrame = field(default_factory=no_decisions)


def load_inputs(con: duckdb.DuckDBPyConnection, period: Period, deadline: date) -> Inputs:
    year = {"year": period.year}
    tasks = con.sql(sql("evaluation/tasks"), params=year).pl()
    if tasks.is_empty():
        raise UserError(f"数据库中没有 {period.year} 年的目标任务，请先导入分解表")
    metrics = con.sql(sql("evaluation/metrics"), params=year).pl()
    allocations = con.sql(sql("evaluation/allocations"), params=year).pl()
    assignments = assign_units(tasks, metrics, allocations)
    before = period.previous()
    prev_key = {"period": str(before) if before else ""}
    decisions = con.sql(
        sql("evaluation/approved_requests"),
        params={"first": str(Period(period.year, 1)), "period": str(period)},
    ).pl()
    schedule = con.sql(sql("evaluation/schedules"), params=year).pl()
    return Inputs(
        period=period,
        metrics=metrics,
        schedule=extended_schedules(metrics, schedule, decisions, period.year),
        assignments=assignments,
        figures=latest_figures(con, period, assignments),
        declared=con.sql(sql("evaluation/declared_statuses"), params={"period": str(period)}).pl(),
        submissions=con.sql(sql("evaluation/first_received"), params={"period": str(period)}).pl(),
        units=con.sql("SELECT name AS unit, kind FROM units").pl(),
        tasks=extended_deadlines(tasks.select("task_id", "lead_units", "deadline"), decisions),
        previous_metrics=con.sql(
            "SELECT task_id, position, streak FROM eval_metrics WHERE period = $period",
            params=prev_key,
        ).pl(),
        previous_tasks=con.sql(
            "SELECT task_id, streak FROM eval_tasks WHERE period = $period", params=prev_key
        ).pl(),
        deadline=deadline,
        decisions=decisions,
    )


def assign_units(
    tasks: pl.DataFrame, metrics: pl.DataFrame, allocations: pl.DataFrame
) -> pl.DataFrame:
    """Who reports what: one row per (unit, role, task, metric position; 0 = a task without
    metrics) with the unit's allocation. Lead units in the table's order; a unit listed both as
    lead and responsible reports as lead; a unit listed twice counts once.

    The (unit, role, task) pairs are the rows of the `assignments` view (the one definition,
    sql/migrations/007_shared_views.sql, read by templates, ingest and notices), built here
    from the tasks' unit lists instead: on the hot path of bench/evaluate.py (280k pairs)
    reading the view costs ~40 ms (its DISTINCT and the conversion to polars) against ~5 ms
    for the lists exploded in polars, 6-15 % of the whole evaluation. Change both together."""
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
        return con.sql(sql("evaluation/latest_figures"), params=params).pl()
    finally:
        con.unregister("eval_assigned")
