"""The figure a unit is judged against (DESIGN §5: only a figure printed in its own template or
portal page). One rule in two forms side by side: `unit_target` for one metric line (what the
template and the portal page print), `unit_target_expr` for the evaluation's frames; a test
holds them equal on every combination.

A lead unit answers for the district: the annual target. So does any unit on a rate or a level
(a unit that reports one is judged against the district's target, printed as 年度目标). On a
cumulative metric a responsible unit is judged against its allocation (本单位分解目标), else,
with `unit_share: equal`, an equal share of the target among the task's responsible units; with
`unit_share: none`, against nothing (not judged on its own)."""

from __future__ import annotations

import polars as pl


def unit_target(
    kind: str | None, target: float | None, allocation: float | None, role: str,
    n_responsible: int, unit_share: str,
) -> float | None:  # fmt: skip
    """The target one unit is judged against on one metric (None: not judged on its own)."""
    if kind != "cumulative" or role == "lead":
        return target
    if allocation is not None:
        return allocation
    if unit_share == "equal" and n_responsible > 0 and target is not None:
        return target / n_responsible
    return None


def unit_target_expr(unit_share: str) -> pl.Expr:
    """unit_target over columns kind, target, allocation, role, n_responsible."""
    cumulative = (pl.col("kind") == "cumulative").fill_null(False)  # a task without a metric
    return (
        pl.when(~cumulative | (pl.col("role") == "lead"))
        .then(pl.col("target"))
        .when(pl.col("allocation").is_not_null())
        .then(pl.col("allocation"))
        .when(pl.lit(unit_share == "equal") & (pl.col("n_responsible") > 0))
        .then(pl.col("target") / pl.col("n_responsible"))
    )
