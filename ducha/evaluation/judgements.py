"""A period judged: each metric for the district and for each unit, each task (its worst metric,
lagging and missing units, streak), each unit (on time, late, missing; share on track; rank).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl

from ducha.evaluation.decisions import signed_off
from ducha.evaluation.inputs import EvaluationSettings, Inputs
from ducha.evaluation.rules import (
    Prepared,
    declared_status,
    due,
    finite,
    judge,
    overdue,
    prepare,
    status_lit,
    worst,
)
from ducha.evaluation.shares import unit_target_expr
from ducha.periods import Period
from ducha.vocabulary import BEHIND, TERRITORIAL, TIMELINESS_ORDER


def district_metrics(
    inputs: Inputs, settings: EvaluationSettings, prepared: Prepared
) -> pl.DataFrame:
    """Each metric for the district: the first-listed lead unit's own figure, else the sum of
    the units' latest figures. A lead's figure carried from an earlier month never beats
    figures the units sent this month (DESIGN §5)."""
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
        .sort("carried", "lead_order")  # a lead's figure of this month first
        .group_by("metric")
        .agg(
            pl.col("value").first().alias("lead_value"),
            pl.col("carried").first().alias("lead_carried"),
            pl.col("unit").first().cast(pl.String).alias("lead_unit"),
        )
    )
    units = (
        rows.filter((pl.col("role") == "responsible") & has_figure)
        .group_by("metric")
        .agg(
            pl.col("value").sum().alias("units_value"),
            pl.col("carried").any().alias("units_carried"),
            (~pl.col("carried")).any().alias("units_fresh"),
        )
    )
    frame = prepared.shares.join(lead, on="metric", how="left").join(units, on="metric", how="left")
    cumulative = pl.col("kind") == "cumulative"
    fresher_units = cumulative & pl.col("units_fresh").fill_null(False)
    use_lead = pl.col("lead_value").is_not_null() & ~(pl.col("lead_carried") & fresher_units)
    frame = frame.with_columns(
        pl.when(use_lead)
        .then(pl.col("lead_value"))
        .when(cumulative)
        .then(pl.col("units_value"))
        .alias("actual"),
        pl.when(use_lead).then(pl.col("lead_unit")).alias("speaker"),  # whose figure it is
        pl.when(use_lead)
        .then(pl.lit("lead"))
        .when(cumulative & pl.col("units_value").is_not_null())
        .then(pl.lit("units"))
        .alias("source"),
        pl.when(use_lead)
        .then(pl.col("lead_carried"))
        .when(cumulative)
        .then(pl.col("units_carried"))
        .fill_null(False)
        .alias("carried"),
        due().alias("expected"),
    )
    done = pl.col("task_id").cast(pl.String).is_in(signed_off(inputs.decisions))  # 销号
    frame = frame.with_columns(
        pl.when(done).then(status_lit("done")).otherwise(judge(settings)).alias("status"),
        completion().alias("completion"),
        gap().alias("gap"),
        pl.col("task_id").cast(pl.String),
    )
    frame = frame.join(
        inputs.previous_metrics.rename({"streak": "previous_streak"}),
        on=["task_id", "position"],
        how="left",
    ).with_columns(
        pl.when(pl.col("status").is_in(BEHIND))
        .then(pl.col("previous_streak").fill_null(0) + 1)
        .otherwise(0)
        .cast(pl.Int32)
        .alias("streak")
    )
    return frame.with_columns(pl.col("kind", "bound").cast(pl.String)).select(
        "task_id", "position", "label", "kind", "bound", "measure", "target", "actual", "expected",
        "completion", "gap", "source", "carried", "status", "streak", "speaker",
    ).sort("task_id", "position")  # fmt: skip


def completion() -> pl.Expr:
    """actual / target: the share of an at-least or about target reached. None for an at-most
    bound (a ceiling is not "completed"; its status says whether it holds) and for a target
    of 0: never infinite, never NaN."""
    target = pl.col("target")
    return finite(
        pl.when((pl.col("bound") != "at_most") & (target > 0)).then(pl.col("actual") / target)
    )


def gap() -> pl.Expr:
    """How far the figure is from what is due, negative when it is behind. Cumulative: in
    percentage points of the target ((actual - expected) / target × 100; an at-most bound:
    (target - actual) / target × 100, negative once it is exceeded; None for a target of 0).
    Rates and levels: in their own measure (actual - target; at most: target - actual)."""
    target, actual = pl.col("target"), pl.col("actual")
    at_most = pl.col("bound") == "at_most"
    ahead = pl.when(at_most).then(target - actual).otherwise(actual - pl.col("expected"))
    return finite(
        pl.when(pl.col("kind") != "cumulative")
        .then(pl.when(at_most).then(target - actual).otherwise(actual - target))
        .when(target > 0)
        .then(ahead / target * 100)
    )


def unit_metrics(
    inputs: Inputs, settings: EvaluationSettings, prepared: Prepared, district: pl.DataFrame
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
                    "speaker",
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
        .join(
            prepared.keys.encode(overdue(inputs.tasks, inputs.period), "task_id"),
            on="task_id",
            how="left",
        )
        .with_columns(
            pl.col("unit").is_in(submitted.implode()).alias("submitted"),
            pl.col("n_responsible").fill_null(0),
        )
    )
    milestone = pl.col("position") == 0
    lead_role = pl.col("role") == "lead"
    cumulative = pl.col("kind") == "cumulative"
    # lead units answer for the district figure (the first listed reports it)
    on_district = lead_role
    rows = rows.with_columns(
        # what the unit's template and portal page print (ducha.evaluation.shares)
        unit_target_expr(settings.unit_share).alias("target"),
        pl.col("value").alias("actual"),
    ).with_columns(due().alias("expected"))
    judged = judge(settings)
    # what a unit is not judged on, whether it reported or not (a unit that did not report is
    # judged only on what it would have reported: DESIGN §5)
    not_judged = ~milestone & ~on_district & (
        pl.col("target").is_null()  # no own target
        | (~cumulative & pl.col("actual").is_null())  # rates: the lead unit's figure is the district's
    )  # fmt: skip
    status = (
        pl.when(not_judged)
        .then(status_lit(None))
        .when(~pl.col("submitted"))
        .then(status_lit("missing"))
        .when(milestone)
        .then(declared_status(settings, inputs.period.month))
        .when(on_district)
        .then(pl.col("district_status"))
        .otherwise(judged)
    )
    done = pl.col("task_id").cast(pl.String).is_in(signed_off(inputs.decisions))  # 销号
    status = pl.when(status.is_not_null() & done).then(status_lit("done")).otherwise(status)
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
    # what names a unit as behind (DESIGN §5, lagging_units): its own figure or declared status;
    # a lead unit's row of a metric is the district's status, its own only when the district's
    # figure is the one it reported (another lead's figure is shown for reference)
    own = ~on_district | milestone | (pl.col("unit").cast(pl.String) == pl.col("speaker"))
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
        own.alias("own"),
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
        units.filter(pl.col("status").is_in(BEHIND) & pl.col("own"))
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
            pl.when(pl.col("status").is_in(BEHIND))
            .then(pl.col("previous_streak").fill_null(0) + 1)
            .otherwise(0)
            .cast(pl.Int32)
            .alias("streak"),
        )
        .select("task_id", "status", "streak", "lead_units", "lagging_units", "missing_units")
        .sort("task_id")
    )


def unit_results(
    inputs: Inputs, prepared: Prepared, units: pl.DataFrame, min_judged: int = 3
) -> pl.DataFrame:
    """Submission on time / late / missing, share of judged items on track or done, and rank.

    DESIGN §5: like is ranked with like, in two tables (towns, zones and streets; departments
    and companies); score = the share of the unit's judged items (metrics and milestone tasks)
    on track or done, ties broken by on-time submission; equal scores share a rank (1, 1, 3);
    a unit with fewer than `min_judged` judged items is listed but not ranked (rank None)."""
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
            .replace_strict({s: i for i, s in enumerate(TIMELINESS_ORDER)}, return_dtype=pl.Int8)
            .alias("submission_order"),
        )
        .sort(["on_track_share", "submission_order", "unit"], descending=[True, False, False])
    )
    key = pl.struct((-pl.col("on_track_share")).round(9), "submission_order")
    ranked = pl.col("judged") >= min_judged
    table = pl.col("kind").is_in(TERRITORIAL)
    frame = frame.with_columns(
        pl.when(ranked).then(key.rank("min").over(table, ranked)).cast(pl.Int32).alias("rank")
    )
    return frame.select(
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


def evaluate(inputs: Inputs, settings: EvaluationSettings) -> Evaluation:
    prepared = prepare(inputs, settings.schedule_reading)
    district = district_metrics(inputs, settings, prepared)
    units = unit_metrics(inputs, settings, prepared, district)
    tasks = task_results(inputs, prepared, district, units)
    ranking = unit_results(inputs, prepared, units, settings.rank_min_judged)
    as_text = pl.col("unit", "task_id", "role", "status").cast(pl.String)
    return Evaluation(
        inputs.period,
        district.drop("speaker").with_columns(pl.col("status").cast(pl.String)),
        units.drop("own").with_columns(as_text),
        tasks.with_columns(pl.col("status").cast(pl.String)),
        ranking,
        inputs.deadline,
    )
