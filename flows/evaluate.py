"""Judging progress against the annual targets (DESIGN §5), in polars.

Inputs come from DuckDB (the register, the latest accepted figures, declared
statuses, arrival times); the rules are vectorised polars expressions in small
functions; the results are stored per period, so streaks and trends come from
the database. Statuses: done, on_track, lagging, critical, missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows.db import sql, transaction
from flows.errors import UserError
from flows.periods import Period
from flows.workdays import Schedule, WorkCalendar
from flows.workspace import read_yaml

STATUS_ORDER = ("done", "on_track", "missing", "lagging", "critical")
BAD = ("lagging", "critical")
SUBMISSION_ORDER = ("on_time", "late", "missing")


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
    metrics: (
        pl.DataFrame
    )  # task_id, position, label, kind, bound, measure, target, lead_units, responsible_units
    schedule: pl.DataFrame  # task_id, position, month, share
    assignments: pl.DataFrame  # unit, role, task_id, position, allocation
    figures: pl.DataFrame  # unit, task_id, position, value, last_period
    declared: pl.DataFrame  # unit, task_id, status, progress, issues
    submissions: pl.DataFrame  # unit, received_at
    units: pl.DataFrame  # unit, kind
    tasks: pl.DataFrame  # task_id, lead_units (as listed in the table)
    previous_metrics: pl.DataFrame  # task_id, position, streak (period - 1)
    previous_tasks: pl.DataFrame  # task_id, streak (period - 1)
    deadline: date


# ------------------------------------------------------------------ loading


def load_inputs(con: duckdb.DuckDBPyConnection, period: Period, deadline: date) -> Inputs:
    year = {"year": period.year}
    first = str(Period(period.year, 1))
    metrics = con.sql(sql("eval_metrics_register"), params=year).pl()
    if (
        metrics.is_empty()
        and not con.sql(
            "SELECT count(*) FROM tasks WHERE year = $year AND active", params=year
        ).fetchall()[0][0]
    ):
        raise UserError(f"数据库中没有 {period.year} 年的目标任务，请先导入分解表")
    assignments = con.sql(sql("eval_assignments"), params=year).pl()
    before = period.previous()
    prev_key = {"period": str(before) if before else ""}
    return Inputs(
        period=period,
        metrics=metrics,
        schedule=con.sql(sql("eval_schedule"), params=year).pl(),
        assignments=assignments,
        figures=con.sql(
            sql("eval_latest_figures"), params={"first": first, "period": str(period)}
        ).pl(),
        declared=con.sql(sql("eval_declared_status"), params={"period": str(period)}).pl(),
        submissions=con.sql(sql("eval_submissions"), params={"period": str(period)}).pl(),
        units=con.sql("SELECT name AS unit, kind FROM units").pl(),
        tasks=con.sql(
            "SELECT task_id, lead_units FROM tasks WHERE year = $year AND active", params=year
        ).pl(),
        previous_metrics=con.sql(
            "SELECT task_id, position, streak FROM eval_metrics WHERE period = $period",
            params=prev_key,
        ).pl(),
        previous_tasks=con.sql(
            "SELECT task_id, streak FROM eval_tasks WHERE period = $period", params=prev_key
        ).pl(),
        deadline=deadline,
    )


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
        .then(pl.lit("critical"))
        .when(at_most)
        .then(pl.lit("on_track"))
        .when(actual >= target * (1 - tol))
        .then(pl.lit("done"))
        .when(actual >= expected * (1 - tol))
        .then(pl.lit("on_track"))
        .when((expected - actual) <= red * target)
        .then(pl.lit("lagging"))
        .otherwise(pl.lit("critical"))
    )
    growth = (
        pl.when(at_most & (actual <= target * (1 + tol)))
        .then(pl.lit("on_track"))
        .when(at_most)
        .then(pl.lit("lagging"))
        .when(actual >= target * (1 - tol))
        .then(pl.lit("on_track"))
        .when(actual >= 0)
        .then(pl.lit("lagging"))
        .otherwise(pl.lit("critical"))
    )
    level = (
        pl.when(at_most & (actual <= target * (1 + tol)))
        .then(pl.lit("on_track"))
        .when(at_most & ((actual - target) <= red * target))
        .then(pl.lit("lagging"))
        .when(at_most)
        .then(pl.lit("critical"))
        .when(actual >= target * (1 - tol))
        .then(pl.lit("on_track"))
        .when((target - actual) <= red * target)
        .then(pl.lit("lagging"))
        .otherwise(pl.lit("critical"))
    )
    return (
        pl.when(actual.is_null())
        .then(pl.lit("missing"))
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
        .then(pl.lit("done"))
        .when(status == "on_schedule")
        .then(pl.lit("on_track"))
        .when(status == "behind")
        .then(pl.lit("lagging"))
        .when(status == "not_started")
        .then(pl.lit("critical" if month >= settings.not_started_critical_month else "lagging"))
        .otherwise(pl.lit("missing"))
    )


def worst(column: str = "status") -> pl.Expr:
    """The most severe status of a group (missing counts only when nothing else is known)."""
    rank = pl.col(column).replace_strict(
        {s: i for i, s in enumerate(STATUS_ORDER)}, return_dtype=pl.Int8
    )
    known = pl.when(pl.col(column) != "missing").then(rank)
    return (
        pl.when(known.max().is_null())
        .then(pl.lit("missing"))
        .otherwise(pl.lit(list(STATUS_ORDER)).list.get(known.max()))
    )


def district_metrics(inputs: Inputs, settings: Settings) -> pl.DataFrame:
    """Each metric for the district: the lead unit's own figure, else the sum of the units."""
    period = str(inputs.period)
    figures = inputs.figures.with_columns((pl.col("last_period") < period).alias("carried"))
    # the lead units in the order the table lists them: the first one with a figure speaks for the district
    lead_order = (
        inputs.metrics.select("task_id", "position", "lead_units")
        .with_columns(pl.int_ranges(pl.col("lead_units").list.len()).alias("lead_order"))
        .explode("lead_units", "lead_order")
        .rename({"lead_units": "unit"})
    )
    lead = (
        figures.join(lead_order, on=["unit", "task_id", "position"], how="inner")
        .sort("lead_order")
        .group_by("task_id", "position")
        .agg(
            pl.col("value").first().alias("lead_value"),
            pl.col("carried").first().alias("lead_carried"),
        )
    )
    responsible = inputs.assignments.filter(pl.col("role") == "responsible").select(
        "unit", "task_id", "position"
    )
    with_roles = figures.join(
        responsible, on=["unit", "task_id", "position"], how="inner"
    ).with_columns(pl.lit("responsible").alias("role"))
    units = (
        with_roles.filter(pl.col("role") == "responsible")
        .group_by("task_id", "position")
        .agg(
            pl.col("value").sum().alias("units_value"),
            pl.col("carried").any().alias("units_carried"),
        )
    )
    frame = (
        schedule_share(inputs.metrics, inputs.schedule, inputs.period.month)
        .join(lead, on=["task_id", "position"], how="left")
        .join(units, on=["task_id", "position"], how="left")
    )
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
    return frame.select(
        "task_id", "position", "label", "kind", "bound", "measure", "target", "actual", "expected",
        "completion", "gap", "source", "carried", "status", "streak",
    ).sort("task_id", "position")  # fmt: skip


def unit_metrics(inputs: Inputs, settings: Settings, district: pl.DataFrame) -> pl.DataFrame:
    """Each reporting unit on each of its tasks: its own figure against its own share."""
    period = str(inputs.period)
    submitted = inputs.submissions.select("unit").with_columns(pl.lit(True).alias("submitted"))
    n_responsible = (
        inputs.assignments.filter(pl.col("role") == "responsible")
        .select("task_id", "unit")
        .unique()
        .group_by("task_id")
        .agg(pl.len().alias("n_responsible"))
    )
    rows = (
        inputs.assignments.join(
            inputs.metrics.select("task_id", "position", "kind", "bound", "target"),
            on=["task_id", "position"],
            how="left",
        )
        .join(n_responsible, on="task_id", how="left")
        .join(inputs.figures, on=["unit", "task_id", "position"], how="left")
        .join(submitted, on="unit", how="left")
        .join(
            inputs.declared.select("unit", "task_id", pl.col("status").alias("declared")),
            on=["unit", "task_id"],
            how="left",
        )
        .join(
            district.select(
                "task_id",
                "position",
                pl.col("status").alias("district_status"),
                pl.col("actual").alias("district_actual"),
                pl.col("expected").alias("district_expected"),
            ),
            on=["task_id", "position"],
            how="left",
        )  # fmt: skip
        .join(
            schedule_share(inputs.metrics, inputs.schedule, inputs.period.month).select(
                "task_id", "position", "share"
            ),
            on=["task_id", "position"],
            how="left",
        )
        .with_columns(
            pl.col("submitted").fill_null(False),
            pl.col("n_responsible").fill_null(0),
            (pl.col("last_period") < period).fill_null(False).alias("carried"),
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
        .then(pl.lit("missing"))
        .when(milestone)
        .then(declared_status(settings, inputs.period.month))
        .when(on_district)
        .then(pl.col("district_status"))
        .when(pl.col("target").is_null())
        .then(pl.lit(None, dtype=pl.String))  # no own target: not judged
        .when(~cumulative & ~lead_role & pl.col("actual").is_null())
        .then(pl.lit(None, dtype=pl.String))  # rates: the lead unit's figure is the district's
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
    return (
        rows.filter(pl.col("status").is_not_null())
        .select(
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
        .sort("unit", "task_id", "position")
    )


def task_results(inputs: Inputs, district: pl.DataFrame, units: pl.DataFrame) -> pl.DataFrame:
    """A task is as bad as its worst metric (milestone tasks: its worst unit)."""
    from_metrics = district.group_by("task_id").agg(worst().alias("status"))
    from_units = (
        units.filter(pl.col("position") == 0).group_by("task_id").agg(worst().alias("status"))
    )
    tasks = inputs.assignments.select("task_id").unique()
    status = (
        tasks.join(from_metrics, on="task_id", how="left")
        .join(from_units.rename({"status": "milestone_status"}), on="task_id", how="left")
        .with_columns(pl.coalesce("status", "milestone_status", pl.lit("missing")).alias("status"))
        .drop("milestone_status")
    )
    lagging = (
        units.filter(pl.col("status").is_in(BAD) & (pl.col("role") == "responsible"))
        .group_by("task_id")
        .agg(pl.col("unit").unique().sort().alias("lagging_units"))
    )
    missing = (
        units.filter(pl.col("status") == "missing")
        .group_by("task_id")
        .agg(pl.col("unit").unique().sort().alias("missing_units"))
    )
    leads = inputs.tasks.select("task_id", "lead_units")
    return (
        status.join(leads, on="task_id", how="left")
        .join(lagging, on="task_id", how="left")
        .join(missing, on="task_id", how="left")
        .join(inputs.previous_tasks.rename({"streak": "previous_streak"}), on="task_id", how="left")
        .with_columns(
            pl.col("lead_units").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("lagging_units").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("missing_units").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.when(pl.col("status").is_in(BAD))
            .then(pl.col("previous_streak").fill_null(0) + 1)
            .otherwise(0)
            .cast(pl.Int32)
            .alias("streak"),
        )
        .select("task_id", "status", "streak", "lead_units", "lagging_units", "missing_units")
        .sort("task_id")
    )


def unit_results(inputs: Inputs, units: pl.DataFrame) -> pl.DataFrame:
    """Submission on time / late / missing, share of judged metrics on track, and rank."""
    deadline_end = datetime.combine(inputs.deadline, datetime.max.time())
    reporting = inputs.assignments.select("unit").unique().join(inputs.units, on="unit", how="left")
    scores = units.group_by("unit").agg(
        pl.len().alias("judged"),
        pl.col("status").is_in(("on_track", "done")).sum().alias("on_track"),
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
    district = district_metrics(inputs, settings)
    units = unit_metrics(inputs, settings, district)
    tasks = task_results(inputs, district, units)
    ranking = unit_results(inputs, units)
    return Evaluation(inputs.period, district, units, tasks, ranking, inputs.deadline)


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
