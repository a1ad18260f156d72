"""Units' approved requests in the judgement (DESIGN §5): an approved 申请延期 is the task's new
deadline, and its metrics' 序时 runs to the new date instead of December; an approved 申请销号
makes the task done. Both count from the month the unit asked in (the request's period).
"""

from __future__ import annotations

import polars as pl

DECISIONS = {"task_id": pl.String, "new_date": pl.Date, "signed_off": pl.Boolean}


def no_decisions() -> pl.DataFrame:
    return pl.DataFrame(schema=DECISIONS)


def extended_deadlines(tasks: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """The tasks with an approved extension's date as their deadline."""
    new = decisions.filter(pl.col("new_date").is_not_null()).select("task_id", "new_date")
    return (
        tasks.join(new, on="task_id", how="left")
        .with_columns(pl.coalesce("new_date", "deadline").alias("deadline"))
        .drop("new_date")
    )


def extended_schedules(
    metrics: pl.DataFrame, schedule: pl.DataFrame, decisions: pl.DataFrame, year: int
) -> pl.DataFrame:
    """The metric schedules with each extended task's stretched to its new date: a milestone's
    month is scaled by M / 12 (M = months from the start of the year to the new date's month,
    beyond 12 when it falls in a later year); a metric without a schedule gets one milestone,
    100 % at month M, so its 序时 is the straight line from (0, 0) to (M, 100 %)."""
    months = decisions.filter(pl.col("new_date").is_not_null()).select(
        "task_id",
        ((pl.col("new_date").dt.year() - year) * 12 + pl.col("new_date").dt.month())
        .clip(lower_bound=1)
        .cast(pl.Int32)
        .alias("until"),
    )
    if months.is_empty():
        return schedule
    kept = schedule.join(months, on="task_id", how="anti")
    stretched = (
        schedule.join(months, on="task_id")
        .with_columns(
            (pl.col("month") * pl.col("until") / 12).round().clip(lower_bound=1).cast(pl.Int32)
            .alias("month")
        )
        .group_by("task_id", "position", "month")
        .agg(pl.col("share").max())
    )  # fmt: skip
    scheduled = schedule.select("task_id", "position").unique()
    added = (
        metrics.select("task_id", "position")
        .join(months, on="task_id")
        .join(scheduled, on=["task_id", "position"], how="anti")
        .select("task_id", "position", pl.col("until").alias("month"), pl.lit(1.0).alias("share"))
    )
    columns = schedule.columns
    return pl.concat(
        [kept.select(columns), stretched.select(columns), added.select(columns)],
        how="vertical_relaxed",
    ).sort("task_id", "position", "month")


def signed_off(decisions: pl.DataFrame) -> list[str]:
    """The tasks an approved 销号 made done."""
    return decisions.filter(pl.col("signed_off"))["task_id"].to_list()
