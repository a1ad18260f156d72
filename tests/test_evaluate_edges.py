"""Edges of the keyed joins in ducha.evaluation.rules.prepare (hand-made inputs, no database)."""

from __future__ import annotations

import pytest

from ducha.evaluation.judgements import evaluate
from tests.test_evaluate_rules import SETTINGS, cumulative_task, make_inputs, metric


def test_a_metric_nobody_is_assigned_to_does_not_take_another_metrics_key() -> None:
    # T1 has three metrics and no units assigned; T2 one metric with a lead unit and a town.
    # n_positions comes from the assignments and figures only (2 here), so T1's metric 3 gets
    # the key of T2's metric 1 (0 * 2 + 3 == 1 * 2 + 1): T1/3 takes T2's figure and T2's unit
    # rows are doubled.
    t1 = [
        {"task_id": "T1", "position": p, "label": "x", "kind": "cumulative", "target": 100.0}
        for p in (1, 2, 3)
    ]
    inputs = make_inputs(
        3, [*t1, cumulative_task(1200, task="T2")],
        [("牵头局", "lead", "T2", 1, None), ("甲镇", "responsible", "T2", 1, None)],
        figures=[("牵头局", "T2", 1, 300, "2026-03"), ("甲镇", "T2", 1, 50, "2026-03")],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    assert metric(result, "T1", 3)["actual"] is None
    assert metric(result, "T1", 3)["status"] == "missing"
    assert result.unit_metrics.height == 2  # 牵头局 and 甲镇 on T2/1, once each


def test_two_latest_figures_for_one_metric_stop_the_evaluation() -> None:
    """The figures read hold one latest row per unit and metric (ingest guarantees it, the
    tables have no key since migration 006): two would double the sums, so evaluation stops."""
    inputs = make_inputs(
        3, [cumulative_task(1200, task="T2")],
        [("牵头局", "lead", "T2", 1, None), ("甲镇", "responsible", "T2", 1, None)],
        figures=[("甲镇", "T2", 1, 50, "2026-03"), ("甲镇", "T2", 1, 60, "2026-03")],
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="多个最新数据"):
        evaluate(inputs, SETTINGS)
