"""Units' approved requests in the judgement (DESIGN §5): an approved 申请延期 is the task's new
deadline and its 序时 runs to the new date; an approved 申请销号 makes the task done; both from
the month the unit asked in. Hand-computed, then through the database with `ducha evaluate`."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import duckdb
import polars as pl
import pytest

from ducha.evaluation.decisions import DECISIONS, extended_deadlines, extended_schedules
from ducha.evaluation.judgements import evaluate
from tests.evaluation.test_rules import (
    SETTINGS,
    cumulative_task,
    make_inputs,
    metric,
    two_towns,
    unit_row,
)
from tests.helpers import Workspace


def decided(*rows: tuple[str, date | None, bool]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=DECISIONS, orient="row")


def with_decisions(inputs, decisions: pl.DataFrame):  # noqa: ANN001, ANN201 - test helper
    return dataclasses.replace(
        inputs,
        schedule=extended_schedules(inputs.metrics, inputs.schedule, decisions, 2026),
        tasks=extended_deadlines(inputs.tasks, decisions),
        decisions=decisions,
    )


def test_an_extension_stretches_the_straight_line_to_the_new_date() -> None:
    # 1200 due by December: 300 in March. Extended to 31 March 2027 (month 15): 1200 × 3/15 = 240
    inputs = make_inputs(
        3, [cumulative_task(1200)], [("牵头局", "lead", "T1", 1, None)],
        figures=[("牵头局", "T1", 1, 250, "2026-03")],
    )  # fmt: skip
    before = metric(evaluate(inputs, SETTINGS))
    assert (before["expected"], before["status"]) == (300, "lagging")
    after = metric(evaluate(with_decisions(inputs, decided(("T1", date(2027, 3, 31), False))),
                            SETTINGS))  # fmt: skip
    assert (after["expected"], after["status"]) == (240, "on_track")
    # another task's request changes nothing here
    other = metric(evaluate(with_decisions(inputs, decided(("T2", date(2027, 3, 31), False))),
                            SETTINGS))  # fmt: skip
    assert other["expected"] == 300


def test_an_extension_stretches_a_metrics_own_schedule() -> None:
    # 50 % by June, all by December; extended to 30 June 2027 (month 18): the milestones move to
    # months 9 and 18, so March wants 0.5 × 3/9 of 900 = 150 (was 0.5 × 3/6 = 225)
    schedule = [("T1", 1, 6, 0.5), ("T1", 1, 12, 1.0)]
    inputs = make_inputs(
        3, [cumulative_task(900)], [("牵头局", "lead", "T1", 1, None)],
        figures=[("牵头局", "T1", 1, 160, "2026-03")], schedule=schedule,
    )  # fmt: skip
    assert metric(evaluate(inputs, SETTINGS))["expected"] == 225
    extended = with_decisions(inputs, decided(("T1", date(2027, 6, 30), False)))
    got = metric(evaluate(extended, SETTINGS))
    assert got["expected"] == pytest.approx(150) and got["status"] == "on_track"


def test_an_extension_is_a_milestone_tasks_new_deadline() -> None:
    # due by the end of February and not done: critical in April; extended to 30 June: judged by
    # what the unit declared again (在推进 → on track)
    inputs = make_inputs(
        4, [], [("牵头局", "lead", "T1", 0, None)], declared=[("牵头局", "T1", "on_schedule")],
        deadlines={"T1": date(2026, 2, 28)},
    )  # fmt: skip
    assert unit_row(evaluate(inputs, SETTINGS), "牵头局", position=0)["status"] == "critical"
    extended = with_decisions(inputs, decided(("T1", date(2026, 6, 30), False)))
    assert unit_row(evaluate(extended, SETTINGS), "牵头局", position=0)["status"] == "on_track"


def test_a_signed_off_task_is_done_and_names_nobody() -> None:
    # 1200 among two towns; 乙镇 did not report and 甲镇 is far behind: critical, both named
    inputs = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        figures=[("甲镇", "T1", 1, 10, "2026-03")],
        submitted={"牵头局": datetime(2026, 4, 3), "甲镇": datetime(2026, 4, 3)},
        previous_tasks=[("T1", 2)], previous_metrics=[("T1", 1, 2)],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    task = result.tasks.row(0, named=True)
    assert task["status"] == "critical" and task["missing_units"] == ["乙镇"]
    signed = evaluate(with_decisions(inputs, decided(("T1", None, True))), SETTINGS)
    task = signed.tasks.row(0, named=True)
    assert (task["status"], task["streak"], task["lagging_units"], task["missing_units"]) == (
        "done", 0, [], [])  # fmt: skip
    assert metric(signed)["status"] == "done" and metric(signed)["streak"] == 0
    assert {r["status"] for r in signed.unit_metrics.iter_rows(named=True)} == {"done"}
    # done counts as on track in the ranking: 甲镇's one judged item
    assert signed.units.filter(pl.col("unit") == "甲镇")["on_track_share"].item() == 1.0


# ------------------------------------------------------------------ through the database


def _request(con: duckdb.DuckDBPyConnection, task_id: str, kind: str, status: str,
             period: str = "2026-03", new_date: date | None = None) -> None:  # fmt: skip
    con.execute(
        "INSERT INTO requests (unit, period, task_id, kind, new_date, reason, requested_at, "
        "status, decided_at, decided_by, decision_reason) VALUES ('住建局', ?, ?, ?, ?, '理由', "
        "?, ?, ?, '督查员', '意见')",
        [period, task_id, kind, new_date, datetime(2026, 4, 5), status,
         None if status == "pending" else datetime(2026, 4, 6)],
    )  # fmt: skip


def test_evaluate_reads_the_approved_requests_only_from_their_month(
    sample_months: Workspace,
) -> None:
    ws = sample_months
    ws.ok("evaluate", "--period", "2026-03")
    con = duckdb.connect(str(ws.db))
    lagging = con.sql(
        "SELECT m.task_id, m.target, m.expected FROM eval_metrics m WHERE m.period = '2026-03' "
        "AND m.kind = 'cumulative' AND m.status IN ('lagging', 'critical') AND m.task_id IN "
        "(SELECT task_id FROM eval_metrics GROUP BY task_id, period HAVING count(*) = 1) "
        "AND m.task_id NOT IN (SELECT task_id FROM metric_schedule) ORDER BY m.task_id"
    ).fetchall()
    (extended, target, expected), (signed, *_), (rejected, *_), (later, *_) = lagging[:4]
    assert expected == pytest.approx(target * 3 / 12)
    _request(con, extended, "extension", "approved", new_date=date(2027, 3, 31))
    _request(con, signed, "signoff", "approved")
    _request(con, rejected, "signoff", "rejected")
    _request(con, later, "signoff", "approved", period="2026-04")  # counts from April
    _request(con, later, "extension", "pending", new_date=date(2027, 6, 30))
    con.close()
    ws.ok("evaluate", "--period", "2026-03")
    con = duckdb.connect(str(ws.db), read_only=True)
    rows = dict(
        (t, (e, s)) for t, e, s in con.sql(
            "SELECT task_id, expected, status FROM eval_metrics WHERE period = '2026-03'"
        ).fetchall()
    )  # fmt: skip
    tasks = dict(con.sql("SELECT task_id, status FROM eval_tasks WHERE period = '2026-03'")
                 .fetchall())  # fmt: skip
    assert rows[extended][0] == pytest.approx(target * 3 / 15)  # 序时 to March 2027
    assert rows[signed][1] == "done" and tasks[signed] == "done"
    assert tasks[rejected] in ("lagging", "critical") and tasks[later] in ("lagging", "critical")
    unit_statuses = {s for (s,) in con.sql(
        "SELECT DISTINCT status FROM eval_unit_metrics WHERE period = '2026-03' AND task_id = ?",
        params=[signed]).fetchall()}  # fmt: skip
    assert unit_statuses == {"done"}
