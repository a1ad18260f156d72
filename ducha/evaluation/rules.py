"""The rules of DESIGN §5 as polars expressions: statuses and their order, the time-proportional
share (序时) with per-metric schedules, the bound a metric is judged by (a target of 0 is a
ceiling), judging a figure against its target, declared statuses, the worst of several.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ducha.evaluation.inputs import EvaluationSettings, Inputs
from ducha.periods import Period
from ducha.vocabulary import STATUS_ORDER, Role

STATUS = pl.Enum(STATUS_ORDER)  # statuses are computed as this Enum, written out as strings
ROLE = pl.Enum(tuple(r.name for r in Role))


def status_lit(name: str | None) -> pl.Expr:
    return pl.lit(name, dtype=STATUS)


@dataclass(frozen=True)
class Keys:
    """Integer keys for the joins. unit and task_id become Enums whose categories are sorted, so
    ordering by their codes orders by name; key() is one integer per (unit, task, position) in
    that order, metric() one per (task, position), unit_task() one per (unit, task)."""

    unit: pl.Enum
    task: pl.Enum
    n_tasks: int
    n_positions: int

    def unit_task(self) -> pl.Expr:
        unit, task = (pl.col(c).to_physical().cast(pl.Int64) for c in ("unit", "task_id"))
        return unit * self.n_tasks + task

    def key(self) -> pl.Expr:
        return self.unit_task() * self.n_positions + pl.col("position")

    def metric(self) -> pl.Expr:
        task = pl.col("task_id").to_physical().cast(pl.Int64)
        return task * self.n_positions + pl.col("position")

    def encode(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """unit / task_id columns cast to the Enums; rows naming other units or tasks are dropped
        (nothing is assigned to them)."""
        enums = {"unit": self.unit, "task_id": self.task}
        cast = (pl.col(c).cast(enums[c], strict=False) for c in columns)
        return frame.with_columns(cast).drop_nulls(list(columns))


@dataclass
class Prepared:
    """The inputs keyed once for all the rules."""

    keys: Keys
    rows: pl.DataFrame  # the assignments with their figures: + value, carried, key, metric
    shares: pl.DataFrame  # the metrics with the share of the target due, + metric


def prepare(inputs: Inputs, schedule_reading: str = "linear") -> Prepared:
    """Key the inputs and join the assignments with the figures (the one large join)."""
    assignments = inputs.assignments
    tasks = pl.concat(
        [assignments["task_id"].unique(), inputs.metrics["task_id"], inputs.tasks["task_id"]]
    )
    # every metric's position counts, also of tasks nobody is assigned to: else two metrics
    # could share a key (task * n_positions + position)
    top = max(
        assignments["position"].max() or 0,
        inputs.figures["position"].max() or 0,
        inputs.metrics["position"].max() or 0,
    )
    keys = Keys(
        unit=pl.Enum(assignments["unit"].unique().drop_nulls().sort()),
        task=pl.Enum(tasks.unique().drop_nulls().sort()),
        n_tasks=tasks.n_unique(),
        n_positions=int(top) + 1,
    )
    # both sides sorted by key: polars merges them instead of hashing, and the rows come out in
    # the order of the results (unit, task, position)
    figures = (
        keys.encode(inputs.figures, "unit", "task_id")
        .filter(pl.col("position") >= 0)
        .select(keys.key().alias("key"), "value", "last_period")
        .filter(pl.col("key").is_not_null())  # a unit or task not in the assignments
        .sort("key")
    )
    if figures["key"].is_duplicated().any():
        # one latest file per unit and month, one row per metric of a file (ingest): anything
        # else would silently double rows in the sums below
        raise RuntimeError("研判数据有误：同一单位同一指标出现多个最新数据，请检查进展数据")
    rows = (
        keys.encode(assignments, "unit", "task_id")
        .with_columns(
            pl.col("role").cast(ROLE), keys.key().alias("key"), keys.metric().alias("metric")
        )
        .sort("key")
        .join(figures, on="key", how="left", maintain_order="left")
        .with_columns(
            (pl.col("last_period") < str(inputs.period)).fill_null(False).alias("carried")
        )
        .drop("last_period")
    )
    shares = keys.encode(
        schedule_share(inputs.metrics, inputs.schedule, inputs.period.month, schedule_reading),
        "task_id",
    ).with_columns(keys.metric().alias("metric"), judged_bound().alias("bound"))
    return Prepared(keys, rows, shares.with_columns(pl.col("kind", "bound").cast(pl.Categorical)))


def judged_bound() -> pl.Expr:
    """The bound a metric is judged by (needs kind, bound, target). A target of 0 for a count or
    a level (零事故, 动态清零) is at most 0 whatever bound was confirmed: "at least 0" or "about
    0" asks nothing, and 0 is only ever written as a ceiling. A rate of 0 keeps its bound (增长
    0%以上: no decline)."""
    zero = (pl.col("target") == 0) & (pl.col("kind") != "growth")
    return pl.when(zero).then(pl.lit("at_most")).otherwise(pl.col("bound").cast(pl.String))


def due() -> pl.Expr:
    """序时: what is due by now (needs kind, bound, share, target). A cumulative metric owes its
    share of the target; a rate, a level and any at-most bound hold all year, so what is due
    is the target itself (for a ceiling: the ceiling, whatever the month)."""
    spread = (pl.col("kind") == "cumulative") & (pl.col("bound") != "at_most")
    return pl.when(spread).then(pl.col("target") * pl.col("share")).otherwise(pl.col("target"))


def finite(expr: pl.Expr) -> pl.Expr:
    """The value, or null where it is infinite or NaN: nothing odd is ever stored."""
    return pl.when(expr.is_finite()).then(expr)


def schedule_share(
    metrics: pl.DataFrame, schedule: pl.DataFrame, month: int, reading: str = "linear"
) -> pl.DataFrame:
    """Share of the target due by the end of `month`: month/12, or the metric's own schedule.
    A schedule is read linearly from (month 0, 0) through its milestones, and on to (12, 100%)
    after the last one (an annual target is due by December): it never gives 0 just because
    the first milestone is later. `reading="step"`: the latest milestone not after `month`
    (0 before the first)."""
    points = schedule.select("task_id", "position", "month", "share")
    if reading == "linear":
        starts = points.select("task_id", "position").unique()
        ends = (
            points.group_by("task_id", "position")
            .agg(pl.col("month").max().alias("last"))
            .filter(pl.col("last") < 12)
            .select("task_id", "position", pl.lit(12, pl.Int32).alias("month"),
                    pl.lit(1.0).alias("share"))
        )  # fmt: skip
        points = pl.concat(
            [
                starts.with_columns(pl.lit(0, pl.Int32).alias("month"), pl.lit(0.0).alias("share")),
                points.with_columns(pl.col("month").cast(pl.Int32)),
                ends,
            ],
            how="vertical_relaxed",
        )
        before = (
            points.filter(pl.col("month") <= month)
            .sort("month")
            .group_by("task_id", "position")
            .agg(pl.col("month").last().alias("m0"), pl.col("share").last().alias("s0"))
        )
        after = (
            points.filter(pl.col("month") > month)
            .sort("month")
            .group_by("task_id", "position")
            .agg(pl.col("month").first().alias("m1"), pl.col("share").first().alias("s1"))
        )
        own = before.join(after, on=["task_id", "position"], how="left").select(
            "task_id",
            "position",
            pl.when(pl.col("m1").is_null())
            .then(pl.col("s0"))
            .otherwise(
                pl.col("s0")
                + (pl.col("s1") - pl.col("s0"))
                * (month - pl.col("m0"))
                / (pl.col("m1") - pl.col("m0"))
            )
            .alias("scheduled"),
        )
    else:
        own = (
            points.filter(pl.col("month") <= month)
            .group_by("task_id", "position")
            .agg(pl.col("share").sort_by("month").last().alias("scheduled"))
        )
    listed = (
        schedule.select("task_id", "position")
        .unique()
        .with_columns(pl.lit(True).alias("has_schedule"))
    )
    return (
        metrics.join(listed, on=["task_id", "position"], how="left")
        .join(own, on=["task_id", "position"], how="left")
        .with_columns(
            pl.when(pl.col("has_schedule"))
            .then(pl.col("scheduled").fill_null(0.0))
            .otherwise(pl.lit(month / 12))
            .alias("share")
        )
        .drop("has_schedule", "scheduled")
    )


def judge(settings: EvaluationSettings) -> pl.Expr:
    """Status of a figure against its target: needs kind, bound, target, actual, expected.

    At-most targets (以内, 不超过, 控制在; a target of 0, see judged_bound), of every kind: on
    track while the figure stays within the bound, critical once it is over it. The bound
    holds all year, so no time-proportional share applies (a count of accidents is not "due"
    month by month: 4 of an annual 5 in March is within the bound, 6 is a breach whatever the
    month), and the bound is not "done" before the year is over: within it, the metric is on
    track. Nothing is divided by the target, so a target of 0 (零事故) is judged like any other:
    0 is on track, 1 is critical."""
    tol = pl.when(pl.col("bound") == "about").then(settings.about_tolerance).otherwise(0.0)
    red = settings.red_threshold
    target, actual, expected = pl.col("target"), pl.col("actual"), pl.col("expected")
    cumulative = (
        pl.when(actual >= target * (1 - tol))
        .then(status_lit("done"))
        .when(actual >= expected * (1 - tol))
        .then(status_lit("on_track"))
        .when((expected - actual) <= red * target)
        .then(status_lit("lagging"))
        .otherwise(status_lit("critical"))
    )
    growth = (
        pl.when(actual >= target * (1 - tol))
        .then(status_lit("on_track"))
        .when(actual >= 0)
        .then(status_lit("lagging"))
        .otherwise(status_lit("critical"))
    )
    level = (
        pl.when(actual >= target * (1 - tol))
        .then(status_lit("on_track"))
        .when((target - actual) <= red * target)
        .then(status_lit("lagging"))
        .otherwise(status_lit("critical"))
    )
    return (
        pl.when(actual.is_null())
        .then(status_lit("missing"))
        .when((pl.col("bound") == "at_most") & (actual <= target))
        .then(status_lit("on_track"))
        .when(pl.col("bound") == "at_most")
        .then(status_lit("critical"))
        .when(pl.col("kind") == "cumulative")
        .then(cumulative)
        .when(pl.col("kind") == "growth")
        .then(growth)
        .otherwise(level)
    )


def declared_status(settings: EvaluationSettings, month: int) -> pl.Expr:
    """A milestone task's status from what the unit declared; past the task's deadline (the
    `overdue` column, see `overdue`) anything but 已完成 is lagging, and critical a month later."""
    status = pl.col("declared")
    overdue = pl.col("overdue").fill_null(0)
    as_declared = (
        pl.when(status == "on_schedule")
        .then(status_lit("on_track"))
        .when(status == "behind")
        .then(status_lit("lagging"))
        .when(status == "not_started")
        .then(status_lit("critical" if month >= settings.not_started_critical_month else "lagging"))
        .otherwise(status_lit("missing"))
    )
    return (
        pl.when(status == "done")
        .then(status_lit("done"))
        .when(overdue >= 2)
        .then(status_lit("critical"))
        .when((overdue == 1) & (as_declared != "critical"))
        .then(status_lit("lagging"))
        .otherwise(as_declared)
    )


def overdue(tasks: pl.DataFrame, period: Period) -> pl.DataFrame:
    """task_id, overdue: 0 before a task's deadline (or without one), 1 in the month the deadline
    falls in or has passed by the end of the period, 2 from the month after it."""
    month_no = period.year * 12 + period.month
    deadline = pl.col("deadline")
    late_by = month_no - (
        deadline.dt.year().cast(pl.Int32) * 12 + deadline.dt.month().cast(pl.Int32)
    )
    return tasks.select(
        "task_id",
        pl.when(deadline.is_null() | (late_by < 0))
        .then(0)
        .when(late_by == 0)
        .then(1)
        .otherwise(2)
        .cast(pl.Int8)
        .alias("overdue"),
    )


def worst(column: str = "status") -> pl.Expr:
    """The most severe status of a group (missing counts only when nothing else is known)."""
    status = pl.col(column)  # the Enum orders statuses by severity
    return status.filter(status != "missing").max().fill_null(status_lit("missing"))
