"""Judging progress against the annual targets (DESIGN §5), in polars.

Inputs come from DuckDB (the register, the latest accepted figures, declared
statuses, arrival times); the rules are vectorised polars expressions in small
functions; the results are stored per period, so streaks and trends come from
the database. Statuses: done, on_track, lagging, critical, missing.

Figures: the period's own, and only for the assigned rows it lacks or left blank,
the latest earlier one of the year (eval_latest_figures), always from the files,
never from earlier judgements (a late or corrected file for an earlier month counts).
The rules join on Enum / integer keys (prepare): one merge join of the assignments
with the figures, small joins for everything per metric, per unit or per task.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ducha.db import sql, transaction
from ducha.errors import UserError
from ducha.periods import Period
from ducha.workdays import Schedule, WorkCalendar
from ducha.workspace import read_yaml

STATUS_ORDER = ("done", "on_track", "missing", "lagging", "critical")
BAD = ("lagging", "critical")
SUBMISSION_ORDER = ("on_time", "late", "missing")
STATUS = pl.Enum(STATUS_ORDER)  # statuses are computed as this Enum, written out as strings
ROLE = pl.Enum(("lead", "responsible"))


def status_lit(name: str | None) -> pl.Expr:
    return pl.lit(name, dtype=STATUS)


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


# ------------------------------------------------------------------ loading


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


# ------------------------------------------------------------------ keys


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


def prepare(inputs: Inputs) -> Prepared:
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
        schedule_share(inputs.metrics, inputs.schedule, inputs.period.month), "task_id"
    ).with_columns(keys.metric().alias("metric"), pl.col("kind", "bound").cast(pl.Categorical))
    return Prepared(keys, rows, shares)


# ------------------------------------------------------------------ rules


def schedule_share(metrics: pl.DataFrame, schedule: pl.DataFrame, month: int) -> pl.DataFrame:
    """Share of the target due by the end of `month`: the metric's own schedule (the latest
    listed month not after `month`, 0 before the first) or month/12."""
    own = (
        schedule.filter(pl.col("month") <= month)
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


def judge(settings: Settings) -> pl.Expr:
    """Status of a figure against its target: needs kind, bound, target, actual, expected."""
    tol = pl.when(pl.col("bound") == "about").then(settings.about_tolerance).otherwise(0.0)
    red = settings.red_threshold
    target, actual, expected = pl.col("target"), pl.col("actual"), pl.col("expected")
    at_most = pl.col("bound") == "at_most"
    cumulative = (
        pl.when(at_most & (actual > target * (1 + tol)))
        .then(status_lit("critical"))
        .when(at_most)
        .then(status_lit("on_track"))
        .when(actual >= target * (1 - tol))
        .then(status_lit("done"))
        .when(actual >= expected * (1 - tol))
        .then(status_lit("on_track"))
        .when((expected - actual) <= red * target)
        .then(status_lit("lagging"))
        .otherwise(status_lit("critical"))
    )
    growth = (
        pl.when(at_most & (actual <= target * (1 + tol)))
        .then(status_lit("on_track"))
        .when(at_most)
        .then(status_lit("lagging"))
        .when(actual >= target * (1 - tol))
        .then(status_lit("on_track"))
        .when(actual >= 0)
        .then(status_lit("lagging"))
        .otherwise(status_lit("critical"))
    )
    level = (
        pl.when(at_most & (actual <= target * (1 + tol)))
        .then(status_lit("on_track"))
        .when(at_most & ((actual - target) <= red * target))
        .then(status_lit("lagging"))
        .when(at_most)
        .then(status_lit("critical"))
        .when(actual >= target * (1 - tol))
        .then(status_lit("on_track"))
        .when((target - actual) <= red * target)
        .then(status_lit("lagging"))
        .otherwise(status_lit("critical"))
    )
    return (
        pl.when(actual.is_null())
        .then(status_lit("missing"))
        .when(pl.col("kind") == "cumulative")
        .then(cumulative)
        .when(pl.col("kind") == "growth")
        .then(growth)
        .otherwise(level)
    )


def declared_status(settings: Settings, month: int) -> pl.Expr:
    """A milestone task's status from what the unit declared."""
    status = pl.col("declared")
    return (
        pl.when(status == "done")
        .then(status_lit("done"))
        .when(status == "on_schedule")
        .then(status_lit("on_track"))
        .when(status == "behind")
        .then(status_lit("lagging"))
        .when(status == "not_started")
        .then(status_lit("critical" if month >= settings.not_started_critical_month else "lagging"))
        .otherwise(status_lit("missing"))
    )


def worst(column: str = "status") -> pl.Expr:
    """The most severe status of a group (missing counts only when nothing else is known)."""
    status = pl.col(column)  # the Enum orders statuses by severity
    return status.filter(status != "missing").max().fill_null(status_lit("missing"))


def district_metrics(inputs: Inputs, settings: Settings, prepared: Prepared) -> pl.DataFrame:
    """Each metric for the district: the lead unit's own figure, else the sum of the units."""
    rows = prepared.rows
    has_figure = pl.col("value").is_not_null()
    # the lead units in the order the table lists them: the first one with a figure speaks for the district
    lead_order = prepared.keys.encode(
        inputs.metrics.select("task_id", "position", "lead_units")
        .with_columns(pl.int_ranges(pl.col("lead_units").list.len()).alias("lead_order"))
        .explode("lead_units", "lead_order")
        .rename({"lead_units": "unit"}),
        "unit", "task_id",
    )  # fmt: skip
    lead = (
        rows.filter((pl.col("role") == "lead") & has_figure)
        .join(lead_order, on=["unit", "task_id", "position"], how="inner")
        .sort("lead_order")
        .group_by("metric")
        .agg(
            pl.col("value").first().alias("lead_value"),
            pl.col("carried").first().alias("lead_carried"),
        )
    )
    units = (
        rows.filter((pl.col("role") == "responsible") & has_figure)
        .group_by("metric")
        .agg(
            pl.col("value").sum().alias("units_value"),
            pl.col("carried").any().alias("units_carried"),
        )
    )
    frame = prepared.shares.join(lead, on="metric", how="left").join(units, on="metric", how="left")
    cumulative = pl.col("kind") == "cumulative"
    frame = frame.with_columns(
        pl.when(pl.col("lead_value").is_not_null())
        .then(pl.col("lead_value"))
        .when(cumulative)
        .then(pl.col("units_value"))
        .alias("actual"),
        pl.when(pl.col("lead_value").is_not_null())
        .then(pl.lit("lead"))
        .when(cumulative & pl.col("units_value").is_not_null())
        .then(pl.lit("units"))
        .alias("source"),
        pl.when(pl.col("lead_value").is_not_null())
        .then(pl.col("lead_carried"))
        .when(cumulative)
        .then(pl.col("units_carried"))
        .fill_null(False)
        .alias("carried"),
        pl.when(cumulative)
        .then(pl.col("target") * pl.col("share"))
        .otherwise(pl.col("target"))
        .alias("expected"),
    )
    frame = frame.with_columns(
        judge(settings).alias("status"),
        (pl.col("actual") / pl.col("target")).alias("completion"),
        pl.when(cumulative)
        .then((pl.col("actual") - pl.col("expected")) / pl.col("target") * 100)
        .otherwise(pl.col("actual") - pl.col("target"))
        .alias("gap"),
        pl.col("task_id").cast(pl.String),
    )
    frame = frame.join(
        inputs.previous_metrics.rename({"streak": "previous_streak"}),
        on=["task_id", "position"],
        how="left",
    ).with_columns(
        pl.when(pl.col("status").is_in(BAD))
        .then(pl.col("previous_streak").fill_null(0) + 1)
        .otherwise(0)
        .cast(pl.Int32)
        .alias("streak")
    )
    return frame.with_columns(pl.col("kind", "bound").cast(pl.String)).select(
        "task_id", "position", "label", "kind", "bound", "measure", "target", "actual", "expected",
        "completion", "gap", "source", "carried", "status", "streak",
    ).sort("task_id", "position")  # fmt: skip


def unit_metrics(
    inputs: Inputs, settings: Settings, prepared: Prepared, district: pl.DataFrame
) -> pl.DataFrame:
    """Each reporting unit on each of its tasks: its own figure against its own share.
    unit and task_id stay Enums here (see Prepared); rows are ordered by unit, task, position."""
    rows = prepared.rows
    submitted = prepared.keys.encode(inputs.submissions.select("unit"), "unit")["unit"]
    n_responsible = (
        rows.filter(pl.col("role") == "responsible")
        .group_by("task_id")
        .agg(pl.col("unit").n_unique().alias("n_responsible"))
    )
    per_metric = (
        prepared.shares.select("metric", "task_id", "position", "kind", "bound", "target", "share")
        .join(
            prepared.keys.encode(
                district.select(
                    "task_id",
                    "position",
                    pl.col("status").alias("district_status"),
                    pl.col("actual").alias("district_actual"),
                    pl.col("expected").alias("district_expected"),
                ),
                "task_id",
            ),
            on=["task_id", "position"],
            how="left",
        )  # fmt: skip
        .join(n_responsible, on="task_id", how="left")
        .drop("task_id", "position")
    )
    declared = prepared.keys.encode(
        inputs.declared.select("unit", "task_id", "status"), "unit", "task_id"
    )
    declared = declared.select(
        prepared.keys.unit_task().alias("unit_task"), pl.col("status").alias("declared")
    )
    rows = (
        rows.join(per_metric, on="metric", how="left")
        .with_columns(prepared.keys.unit_task().alias("unit_task"))
        .join(declared, on="unit_task", how="left")
        .with_columns(
            pl.col("unit").is_in(submitted.implode()).alias("submitted"),
            pl.col("n_responsible").fill_null(0),
        )
    )
    milestone = pl.col("position") == 0
    lead_role = pl.col("role") == "lead"
    cumulative = pl.col("kind") == "cumulative"
    others_report = pl.col("n_responsible") > 0
    # lead units answer for the district figure (the first listed reports it)
    on_district = lead_role
    equal = settings.unit_share == "equal"
    own_target = (
        pl.when(~cumulative | on_district)
        .then(pl.col("target"))
        .when(pl.col("allocation").is_not_null())
        .then(pl.col("allocation"))
        .when(lead_role & ~others_report)
        .then(pl.col("target"))
        .when(pl.lit(equal) & (pl.col("n_responsible") > 0))
        .then(pl.col("target") / pl.col("n_responsible"))
    )
    rows = rows.with_columns(
        own_target.alias("target"),
        pl.col("value").alias("actual"),
    ).with_columns(
        pl.when(cumulative)
        .then(pl.col("target") * pl.col("share"))
        .otherwise(pl.col("target"))
        .alias("expected")
    )
    judged = judge(settings)
    status = (
        pl.when(~pl.col("submitted"))
        .then(status_lit("missing"))
        .when(milestone)
        .then(declared_status(settings, inputs.period.month))
        .when(on_district)
        .then(pl.col("district_status"))
        .when(pl.col("target").is_null())
        .then(status_lit(None))  # no own target: not judged
        .when(~cumulative & ~lead_role & pl.col("actual").is_null())
        .then(status_lit(None))  # rates: the lead unit's figure is the district's
        .otherwise(judged)
    )
    rows = rows.with_columns(status.alias("status")).with_columns(
        pl.when(on_district)
        .then(pl.col("district_actual"))
        .otherwise(pl.col("actual"))
        .alias("actual"),
        pl.when(on_district)
        .then(pl.col("district_expected"))
        .otherwise(pl.col("expected"))
        .alias("expected"),
    )
    return rows.filter(pl.col("status").is_not_null()).select(
        "unit",
        "task_id",
        "position",
        "role",
        "target",
        "actual",
        "expected",
        "carried",
        "status",
    )


def task_results(
    inputs: Inputs, prepared: Prepared, district: pl.DataFrame, units: pl.DataFrame
) -> pl.DataFrame:
    """A task is as bad as its worst metric (milestone tasks: its worst unit)."""
    as_names = pl.col("task_id").cast(pl.String)
    from_metrics = district.group_by("task_id").agg(worst().alias("status"))
    from_units = (
        units.filter(pl.col("position") == 0)
        .group_by("task_id")
        .agg(worst().alias("milestone_status"))
        .with_columns(as_names)
    )
    tasks = prepared.rows.select(pl.col("task_id").unique().cast(pl.String))
    status = (
        tasks.join(from_metrics, on="task_id", how="left")
        .join(from_units, on="task_id", how="left")
        .with_columns(
            pl.coalesce("status", "milestone_status", status_lit("missing")).alias("status")
        )
        .drop("milestone_status")
    )
    names = pl.List(pl.String)
    lagging = (
        units.filter(pl.col("status").is_in(BAD) & (pl.col("role") == "responsible"))
        .group_by("task_id")
        .agg(pl.col("unit").unique().sort().alias("lagging_units"))
        .with_columns(as_names, pl.col("lagging_units").cast(names))
    )
    missing = (
        units.filter(pl.col("status") == "missing")
        .group_by("task_id")
        .agg(pl.col("unit").unique().sort().alias("missing_units"))
        .with_columns(as_names, pl.col("missing_units").cast(names))
    )
    leads = inputs.tasks.select("task_id", "lead_units")
    return (
        status.join(leads, on="task_id", how="left")
        .join(lagging, on="task_id", how="left")
        .join(missing, on="task_id", how="left")
        .join(inputs.previous_tasks.rename({"streak": "previous_streak"}), on="task_id", how="left")
        .with_columns(
            pl.col("lead_units").fill_null(pl.lit([], dtype=names)),
            pl.col("lagging_units").fill_null(pl.lit([], dtype=names)),
            pl.col("missing_units").fill_null(pl.lit([], dtype=names)),
            pl.when(pl.col("status").is_in(BAD))
            .then(pl.col("previous_streak").fill_null(0) + 1)
            .otherwise(0)
            .cast(pl.Int32)
            .alias("streak"),
        )
        .select("task_id", "status", "streak", "lead_units", "lagging_units", "missing_units")
        .sort("task_id")
    )


def unit_results(inputs: Inputs, prepared: Prepared, units: pl.DataFrame) -> pl.DataFrame:
    """Submission on time / late / missing, share of judged metrics on track, and rank."""
    deadline_end = datetime.combine(inputs.deadline, datetime.max.time())
    reporting = prepared.rows.select(pl.col("unit").unique().cast(pl.String)).join(
        inputs.units, on="unit", how="left"
    )
    scores = (
        units.group_by("unit")
        .agg(
            pl.len().alias("judged"),
            pl.col("status").is_in(("on_track", "done")).sum().alias("on_track"),
        )
        .with_columns(pl.col("unit").cast(pl.String))
    )
    frame = (
        reporting.join(inputs.submissions, on="unit", how="left")
        .join(scores, on="unit", how="left")
        .with_columns(
            pl.when(pl.col("received_at").is_null())
            .then(pl.lit("missing"))
            .when(pl.col("received_at") <= deadline_end)
            .then(pl.lit("on_time"))
            .otherwise(pl.lit("late"))
            .alias("submission"),
            pl.col("judged").fill_null(0).cast(pl.Int32),
            pl.col("on_track").fill_null(0).cast(pl.Int32),
            pl.col("kind").fill_null("dept"),
        )
        .with_columns(
            pl.when(pl.col("judged") > 0)
            .then(pl.col("on_track") / pl.col("judged"))
            .otherwise(0.0)
            .alias("on_track_share"),
            pl.col("submission")
            .replace_strict({s: i for i, s in enumerate(SUBMISSION_ORDER)}, return_dtype=pl.Int8)
            .alias("submission_order"),
        )
        .sort(["on_track_share", "submission_order", "unit"], descending=[True, False, False])
    )
    key = pl.struct((-pl.col("on_track_share")).round(9), "submission_order")
    return frame.with_columns(key.rank("min").cast(pl.Int32).alias("rank")).select(
        "unit", "kind", "submission", "received_at", "judged", "on_track", "on_track_share", "rank"
    )


@dataclass
class Evaluation:
    period: Period
    metrics: pl.DataFrame
    unit_metrics: pl.DataFrame
    tasks: pl.DataFrame
    units: pl.DataFrame
    deadline: date

    def to_json(self) -> dict[str, Any]:
        metrics = [
            {
                "task_id": r["task_id"], "metric": r["position"], "label": r["label"], "kind": r["kind"],
                "unit": r["measure"], "target": _num(r["target"]), "actual": _num(r["actual"]),
                "expected": _num(r["expected"]), "status": r["status"], "streak": r["streak"],
            }
            for r in self.metrics.iter_rows(named=True)
        ]  # fmt: skip
        tasks = [
            {
                "task_id": r["task_id"], "status": r["status"], "lead_units": list(r["lead_units"]),
                "lagging_units": list(r["lagging_units"]), "missing_units": list(r["missing_units"]),
            }
            for r in self.tasks.iter_rows(named=True)
        ]  # fmt: skip
        units = [
            {"unit": r["unit"], "submission": r["submission"], "on_track_share": round(r["on_track_share"], 4),
             "rank": r["rank"]}
            for r in self.units.iter_rows(named=True)
        ]  # fmt: skip
        return {"period": str(self.period), "metrics": metrics, "tasks": tasks, "units": units}


def _num(value: float | None) -> float | int | None:
    if value is None:
        return None
    value = round(float(value), 4)
    return int(value) if value.is_integer() else value


def evaluate(inputs: Inputs, settings: Settings) -> Evaluation:
    prepared = prepare(inputs)
    district = district_metrics(inputs, settings, prepared)
    units = unit_metrics(inputs, settings, prepared, district)
    tasks = task_results(inputs, prepared, district, units)
    ranking = unit_results(inputs, prepared, units)
    as_text = pl.col("unit", "task_id", "role", "status").cast(pl.String)
    return Evaluation(
        inputs.period,
        district.with_columns(pl.col("status").cast(pl.String)),
        units.with_columns(as_text),
        tasks.with_columns(pl.col("status").cast(pl.String)),
        ranking,
        inputs.deadline,
    )


# ------------------------------------------------------------------ storing


def store(con: duckdb.DuckDBPyConnection, result: Evaluation, settings: Settings) -> None:
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
    settings: Settings,
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
    settings: Settings,
    calendar: WorkCalendar,
    schedule: Schedule,
) -> Evaluation:
    deadline = schedule.deadline(period.year, period.month, calendar)
    result = evaluate(load_inputs(con, period, deadline), settings)
    store(con, result, settings)
    return result
