"""The judging rules on hand-made inputs, with hand-computed expectations (no database)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from ducha.evaluation.inputs import EvaluationSettings as Settings
from ducha.evaluation.inputs import Inputs
from ducha.evaluation.judgements import evaluate
from ducha.periods import Period

SETTINGS = Settings(
    red_threshold=0.20, about_tolerance=0.10, unit_share="equal", not_started_critical_month=7
)
ON_TIME = datetime(2026, 4, 3, 9, 0)


def make_inputs(
    month: int,
    metrics: list[dict],
    assignments: list[tuple],  # (unit, role, task_id, position, allocation)
    figures: list[tuple] = (),  # (unit, task_id, position, value, last_period)
    declared: list[tuple] = (),  # (unit, task_id, status)
    submitted: dict[str, datetime] | None = None,
    schedule: list[tuple] = (),  # (task_id, position, month, share)
    previous_metrics: list[tuple] = (),  # (task_id, position, streak)
    previous_tasks: list[tuple] = (),
    deadlines: dict[str, date] | None = None,  # task_id → 完成时限
    kinds: dict[str, str] | None = None,  # unit → kind (default town)
) -> Inputs:
    units = sorted({a[0] for a in assignments})
    leads: dict[str, list[str]] = {}
    for unit, role, task_id, *_ in assignments:  # the table's order of lead units
        if role == "lead" and unit not in leads.setdefault(task_id, []):
            leads[task_id].append(unit)
    base = {"bound": "at_least", "measure": "个", "responsible_units": []}
    task_ids = sorted({a[2] for a in assignments} | {m["task_id"] for m in metrics})
    return Inputs(
        period=Period(2026, month),
        metrics=pl.DataFrame(
            [{**base, "lead_units": leads.get(m["task_id"], []), **m} for m in metrics],
            schema={
                "task_id": pl.String,
                "position": pl.Int32,
                "label": pl.String,
                "kind": pl.String,
                "bound": pl.String,
                "measure": pl.String,
                "target": pl.Float64,
                "lead_units": pl.List(pl.String),
                "responsible_units": pl.List(pl.String),
            },
        ),  # fmt: skip
        schedule=pl.DataFrame(
            list(schedule),
            schema={
                "task_id": pl.String,
                "position": pl.Int32,
                "month": pl.Int32,
                "share": pl.Float64,
            },
            orient="row",
        ),  # fmt: skip
        assignments=pl.DataFrame(
            list(assignments),
            schema={
                "unit": pl.String,
                "role": pl.String,
                "task_id": pl.String,
                "position": pl.Int32,
                "allocation": pl.Float64,
            },
            orient="row",
        ),  # fmt: skip
        figures=pl.DataFrame(
            list(figures),
            schema={
                "unit": pl.String,
                "task_id": pl.String,
                "position": pl.Int32,
                "value": pl.Float64,
                "last_period": pl.String,
            },
            orient="row",
        ),  # fmt: skip
        declared=pl.DataFrame(
            [(u, t, s, None, None) for u, t, s in declared],
            schema={
                "unit": pl.String,
                "task_id": pl.String,
                "status": pl.String,
                "progress": pl.String,
                "issues": pl.String,
            },
            orient="row",
        ),  # fmt: skip
        submissions=pl.DataFrame(
            list((submitted if submitted is not None else dict.fromkeys(units, ON_TIME)).items()),
            schema={"unit": pl.String, "received_at": pl.Datetime("us")},
            orient="row",
        ),  # fmt: skip
        units=pl.DataFrame(
            [(u, (kinds or {}).get(u, "town")) for u in units],
            schema={"unit": pl.String, "kind": pl.String},
            orient="row",
        ),
        tasks=pl.DataFrame(
            [(t, leads.get(t, []), (deadlines or {}).get(t)) for t in task_ids],
            schema={"task_id": pl.String, "lead_units": pl.List(pl.String), "deadline": pl.Date},
            orient="row",
        ),  # fmt: skip
        previous_metrics=pl.DataFrame(
            list(previous_metrics),
            schema={"task_id": pl.String, "position": pl.Int32, "streak": pl.Int32},
            orient="row",
        ),  # fmt: skip
        previous_tasks=pl.DataFrame(
            list(previous_tasks), schema={"task_id": pl.String, "streak": pl.Int32}, orient="row"
        ),
        deadline=date(2026, 4, 8),
    )


def cumulative_task(target: float, bound: str = "at_least", task: str = "T1") -> dict:
    return {"task_id": task, "position": 1, "label": "新增泊位", "kind": "cumulative", "bound": bound,
            "target": target}  # fmt: skip


def two_towns(
    task: str = "T1", alloc: tuple[float | None, float | None] = (None, None)
) -> list[tuple]:
    return [
        ("牵头局", "lead", task, 1, None),
        ("甲镇", "responsible", task, 1, alloc[0]),
        ("乙镇", "responsible", task, 1, alloc[1]),
    ]


def metric(result, task: str = "T1", position: int = 1) -> dict:
    return result.metrics.filter(
        (pl.col("task_id") == task) & (pl.col("position") == position)
    ).row(0, named=True)


def unit_row(result, unit: str, task: str = "T1", position: int = 1) -> dict:
    rows = result.unit_metrics.filter(
        (pl.col("unit") == unit) & (pl.col("task_id") == task) & (pl.col("position") == position)
    )
    return rows.row(0, named=True)


# ---------------------------------------------------------------- cumulative


@pytest.mark.parametrize(
    ("a", "b", "status", "gap"),
    [
        (150, 150, "on_track", 0.0),        # 300 = 1200 × 3/12 exactly
        (150, 149, "lagging", -1 / 12),     # one short: lagging
        (60, 0, "lagging", -20.0),          # 240 = 300 - 0.20 × 1200: still lagging (at the line)
        (59, 0, "critical", -241 / 12),     # 241 short of 300 = 20.08 points of the target: critical
        (700, 0, "on_track", 400 / 12),     # ahead of schedule
    ],
)  # fmt: skip
def test_m_over_12_schedule_and_red_threshold(a: float, b: float, status: str, gap: float) -> None:
    inputs = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        figures=[("甲镇", "T1", 1, a, "2026-03"), ("乙镇", "T1", 1, b, "2026-03")],
    )  # fmt: skip
    m = metric(evaluate(inputs, SETTINGS))
    assert m["expected"] == 300 and m["actual"] == a + b
    assert m["status"] == status
    assert m["gap"] == pytest.approx(gap)
    assert m["source"] == "units" and m["carried"] is False


def test_about_tolerance() -> None:
    # 支流支浜水质提升工程10条左右: at month 6 expected 5; within 10 % of it counts as on track
    for actual, status in ((4.5, "on_track"), (4.4, "lagging"), (9.0, "done"), (8.9, "on_track")):
        inputs = make_inputs(
            6, [cumulative_task(10, "about")], [("牵头局", "lead", "T1", 1, None)],
            figures=[("牵头局", "T1", 1, actual, "2026-06")],
        )  # fmt: skip
        assert metric(evaluate(inputs, SETTINGS))["status"] == status, actual


def test_metric_done_early() -> None:
    inputs = make_inputs(
        5, [cumulative_task(1500)], two_towns(),
        figures=[("甲镇", "T1", 1, 900, "2026-05"), ("乙镇", "T1", 1, 600, "2026-05")],
    )  # fmt: skip
    assert metric(evaluate(inputs, SETTINGS))["status"] == "done"


def test_own_schedule_replaces_m_over_12() -> None:
    """DESIGN §5: a schedule is read linearly from (month 0, 0) through its milestones; it never
    gives 0 because the first milestone is later. A step reading may be chosen in config."""
    # quarterly: 20 % by March, 50 % by June, all by December
    schedule = [("T1", 1, 3, 0.2), ("T1", 1, 6, 0.5), ("T1", 1, 12, 1.0)]

    def expected(month: int, reading: str = "linear") -> float:
        inputs = make_inputs(
            month, [cumulative_task(150)], [("牵头局", "lead", "T1", 1, None)],
            figures=[("牵头局", "T1", 1, 30, f"2026-{month:02d}")], schedule=schedule,
        )  # fmt: skip
        settings = Settings(**{**SETTINGS.__dict__, "schedule_reading": reading})
        return round(metric(evaluate(inputs, settings))["expected"], 6)

    # May: 0.2 + (0.5 - 0.2) × (5 - 3) / (6 - 3) = 0.4 of 150 = 60 (m/12 would want 62.5)
    assert expected(5) == 60
    # February, before the first milestone: 0.2 × 2/3 of 150 = 20, not 0
    assert expected(2) == 20
    assert expected(3) == 30 and expected(12) == 150
    # September: 0.5 + 0.5 × 3/6 = 0.75 of 150
    assert expected(9) == 112.5
    # the step reading: the latest milestone not after the month, 0 before the first
    assert (expected(5, "step"), expected(2, "step"), expected(9, "step")) == (30, 0, 75)


def test_a_schedule_that_stops_before_december_reaches_the_target_in_december() -> None:
    # 30 % by June, 60 % by September, nothing listed for December: the annual target is due
    schedule = [("T1", 1, 6, 0.3), ("T1", 1, 9, 0.6)]
    for month, share in ((3, 0.15), (6, 0.3), (10, 0.6 + 0.4 / 3), (12, 1.0)):
        inputs = make_inputs(
            month, [cumulative_task(300)], [("牵头局", "lead", "T1", 1, None)],
            figures=[("牵头局", "T1", 1, 300, f"2026-{month:02d}")], schedule=schedule,
        )  # fmt: skip
        assert metric(evaluate(inputs, SETTINGS))["expected"] == pytest.approx(300 * share)


def test_lead_units_own_figure_wins_over_the_sum() -> None:
    inputs = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        figures=[("甲镇", "T1", 1, 10, "2026-03"), ("乙镇", "T1", 1, 10, "2026-03"),
                 ("牵头局", "T1", 1, 310, "2026-03")],
    )  # fmt: skip
    m = metric(evaluate(inputs, SETTINGS))
    assert (m["actual"], m["source"], m["status"]) == (310, "lead", "on_track")


# ---------------------------------------------------------------- growth and level


@pytest.mark.parametrize(
    ("bound", "actual", "status"),
    [
        ("about", 5.0, "on_track"), ("about", 4.5, "on_track"), ("about", 4.4, "lagging"),
        ("at_least", 4.9, "lagging"), ("at_least", 12.0, "on_track"), ("about", 0.0, "lagging"),
        ("about", -1.2, "critical"),
    ],
)  # fmt: skip
def test_growth_rates(bound: str, actual: float, status: str) -> None:
    inputs = make_inputs(
        4, [{"task_id": "T1", "position": 1, "label": "工业投资增长", "kind": "growth", "bound": bound,
             "measure": "%", "target": 5.0}],
        [("工信局", "lead", "T1", 1, None), ("甲镇", "responsible", "T1", 1, None)],
        figures=[("工信局", "T1", 1, actual, "2026-04")],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    m = metric(result)
    assert (m["status"], m["expected"]) == (status, 5.0)
    # a town that reports no rate of its own is not judged on it; the lead unit answers for it
    assert result.unit_metrics.filter(pl.col("unit") == "甲镇").is_empty()
    assert unit_row(result, "工信局")["status"] == status


@pytest.mark.parametrize(("actual", "status"), [(100000, "on_track"), (95000, "lagging"), (80000, "lagging"),
                                                 (79999, "critical")])  # fmt: skip
def test_level_metric_latest_value(actual: float, status: str) -> None:
    inputs = make_inputs(
        9, [{"task_id": "T1", "position": 1, "label": "粮食播种面积", "kind": "level", "measure": "亩",
             "target": 100000.0}],
        [("农业农村局", "lead", "T1", 1, None)],
        figures=[("农业农村局", "T1", 1, actual, "2026-09")],
    )  # fmt: skip
    m = metric(evaluate(inputs, SETTINGS))
    assert (m["status"], m["expected"]) == (status, 100000)


# ---------------------------------------------------------------- at-most bounds and zero targets


@pytest.mark.parametrize(
    ("month", "a", "b", "status", "gap"),
    [
        (3, 2, 2, "on_track", 20.0),    # 4 of an annual ceiling of 5 in March: within it
        (3, 3, 2, "on_track", 0.0),     # at the ceiling
        (3, 3, 3, "critical", -20.0),   # over it: critical at once, whatever the month
        (12, 1, 1, "on_track", 60.0),   # a ceiling is never "done"
    ],
)  # fmt: skip
def test_an_at_most_count_holds_all_year(
    month: int, a: float, b: float, status: str, gap: float
) -> None:
    """较大安全事故不超过5起: the ceiling is what is due every month (no m/12 share of it)."""
    inputs = make_inputs(
        month, [cumulative_task(5, "at_most")], two_towns(),
        figures=[("甲镇", "T1", 1, a, f"2026-{month:02d}"), ("乙镇", "T1", 1, b, f"2026-{month:02d}")],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    m = metric(result)
    assert (m["expected"], m["status"], m["completion"]) == (5, status, None)
    assert m["gap"] == pytest.approx(gap)
    # each town against its equal share of the ceiling, 2.5, all year as well
    town = unit_row(result, "甲镇")
    assert (town["target"], town["expected"]) == (2.5, 2.5)
    assert town["status"] == ("on_track" if a <= 2.5 else "critical")
    assert result.tasks.row(0, named=True)["status"] == status


@pytest.mark.parametrize("confirmed_as", ["at_most", "at_least", "about"])
def test_a_zero_target_is_a_ceiling_of_zero(confirmed_as: str) -> None:
    """零事故: a confirmed target of 0 is "at most 0" whatever bound was confirmed with it
    (at least 0 asks nothing). Nothing is divided by it: completion and gap stay empty, never
    infinite or NaN; 0 is on track, 1 is critical, and the unit with the accident is named."""
    figures = [("甲镇", "T1", 1, 1, "2026-03"), ("乙镇", "T1", 1, 0, "2026-03")]
    result = evaluate(
        make_inputs(3, [cumulative_task(0, confirmed_as)], two_towns(), figures), SETTINGS
    )
    m = metric(result)
    assert (m["bound"], m["target"], m["actual"], m["expected"]) == ("at_most", 0, 1, 0)
    assert (m["status"], m["completion"], m["gap"]) == ("critical", None, None)
    assert (unit_row(result, "甲镇")["status"], unit_row(result, "乙镇")["status"]) == (
        "critical", "on_track",
    )  # fmt: skip
    task = result.tasks.row(0, named=True)
    assert (task["status"], task["lagging_units"]) == ("critical", ["甲镇"])
    none = [("甲镇", "T1", 1, 0, "2026-03"), ("乙镇", "T1", 1, 0, "2026-03")]
    m = metric(
        evaluate(make_inputs(3, [cumulative_task(0, confirmed_as)], two_towns(), none), SETTINGS)
    )
    assert (m["status"], m["completion"], m["gap"]) == ("on_track", None, None)  # 0 / 0: no NaN


@pytest.mark.parametrize(
    ("kind", "bound", "target", "actual", "status", "gap", "completion"),
    [
        ("level", "at_most", 3.0, 2.9, "on_track", 0.1, None),   # 失业率控制在3%以内
        ("level", "at_most", 3.0, 3.0, "on_track", 0.0, None),
        ("level", "at_most", 3.0, 3.1, "critical", -0.1, None),  # over the line: critical
        ("growth", "at_most", 2.0, 2.5, "critical", -0.5, None),  # 债务增长控制在2%以内
        ("level", "at_least", 0.0, 1.0, "critical", -1.0, None),  # 黑臭水体清零, confirmed as 0
        ("growth", "at_least", 0.0, 0.3, "on_track", 0.3, None),  # 增长0%以上: no decline
        ("growth", "at_least", 0.0, -0.5, "critical", -0.5, None),
        ("level", "at_least", 90.0, 81.0, "lagging", -9.0, 0.9),  # unchanged: at least
    ],
)  # fmt: skip
def test_ceilings_and_zero_targets_of_rates_and_levels(
    kind: str, bound: str, target: float, actual: float, status: str, gap: float,
    completion: float | None,
) -> None:  # fmt: skip
    inputs = make_inputs(
        5, [{"task_id": "T1", "position": 1, "label": "指标", "kind": kind, "bound": bound,
             "measure": "%", "target": target}],
        [("牵头局", "lead", "T1", 1, None)], figures=[("牵头局", "T1", 1, actual, "2026-05")],
    )  # fmt: skip
    m = metric(evaluate(inputs, SETTINGS))
    assert (m["status"], m["expected"]) == (status, target)
    assert m["gap"] == pytest.approx(gap)
    assert m["completion"] == (None if completion is None else pytest.approx(completion))


# ---------------------------------------------------------------- milestones and units


@pytest.mark.parametrize(
    ("month", "declared", "status"),
    [(3, "done", "done"), (3, "on_schedule", "on_track"), (3, "behind", "lagging"),
     (3, "not_started", "lagging"), (7, "not_started", "critical"), (3, None, "missing")],
)  # fmt: skip
def test_milestone_statuses(month: int, declared: str | None, status: str) -> None:
    inputs = make_inputs(
        month, [], [("甲镇", "responsible", "M1", 0, None)],
        declared=[("甲镇", "M1", declared)] if declared else [],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    assert unit_row(result, "甲镇", "M1", 0)["status"] == status
    assert result.tasks.row(0, named=True)["status"] == status


@pytest.mark.parametrize(
    ("month", "deadline", "declared", "status"),
    [(5, date(2026, 6, 30), "on_schedule", "on_track"),  # before the deadline: as declared
     (6, date(2026, 6, 30), "on_schedule", "lagging"),  # the deadline's month, not done
     (6, date(2026, 6, 15), "done", "done"),
     (7, date(2026, 6, 30), "on_schedule", "critical"),  # a month past it
     (7, date(2026, 6, 30), "done", "done"),
     (12, date(2026, 12, 31), "behind", "lagging"),
     (4, date(2026, 3, 31), "not_started", "critical"),
     (6, date(2026, 6, 30), "not_started", "lagging"),  # 未启动 before month 7, due now
     (3, None, "on_schedule", "on_track")],  # no 完成时限: as declared
)  # fmt: skip
def test_a_milestone_past_its_deadline_is_behind_unless_done(
    month: int, deadline: date | None, declared: str, status: str
) -> None:
    """DESIGN §5: judged by the declared status until the deadline; past it anything but 已完成
    is lagging, and critical a month later."""
    inputs = make_inputs(
        month, [], [("甲镇", "responsible", "M1", 0, None)],
        declared=[("甲镇", "M1", declared)], deadlines={"M1": deadline} if deadline else None,
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    assert unit_row(result, "甲镇", "M1", 0)["status"] == status
    assert result.tasks.row(0, named=True)["status"] == status


def test_milestone_task_is_as_bad_as_its_worst_unit() -> None:
    inputs = make_inputs(
        3, [], [("甲镇", "responsible", "M1", 0, None), ("乙镇", "responsible", "M1", 0, None),
                ("丙镇", "responsible", "M1", 0, None)],
        declared=[("甲镇", "M1", "on_schedule"), ("乙镇", "M1", "behind")],
        submitted={"甲镇": ON_TIME, "乙镇": ON_TIME},
    )  # fmt: skip
    task = evaluate(inputs, SETTINGS).tasks.row(0, named=True)
    assert task["status"] == "lagging"
    assert task["lagging_units"] == ["乙镇"] and task["missing_units"] == ["丙镇"]


def test_missing_unit_is_carried_forward_and_flagged() -> None:
    inputs = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        figures=[("甲镇", "T1", 1, 160, "2026-03"), ("乙镇", "T1", 1, 140, "2026-02")],
        submitted={"甲镇": ON_TIME, "牵头局": ON_TIME},
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    m = metric(result)
    assert (m["actual"], m["carried"], m["status"]) == (300, True, "on_track")
    b = unit_row(result, "乙镇")
    assert (b["actual"], b["carried"], b["status"]) == (140, True, "missing")
    task = result.tasks.row(0, named=True)
    assert task["missing_units"] == ["乙镇"]
    units = {r["unit"]: r for r in result.units.iter_rows(named=True)}
    assert units["乙镇"]["submission"] == "missing" and units["乙镇"]["on_track_share"] == 0


def test_allocations_judge_each_unit_on_its_own_share() -> None:
    # 1500 target; 甲镇 holds 300 of it, 乙镇 has no allocation: an equal share of 750
    inputs = make_inputs(
        6, [cumulative_task(1500)], two_towns(alloc=(300, None)),
        figures=[("甲镇", "T1", 1, 150, "2026-06"), ("乙镇", "T1", 1, 300, "2026-06")],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    a, b = unit_row(result, "甲镇"), unit_row(result, "乙镇")
    assert (a["target"], a["expected"], a["status"]) == (300, 150, "on_track")
    assert (b["target"], b["expected"], b["status"]) == (
        750,
        375,
        "lagging",
    )  # 75 short = 10 % of 750
    assert result.tasks.row(0, named=True)["lagging_units"] == ["乙镇"]
    none = evaluate(inputs, Settings(unit_share="none"))
    assert none.unit_metrics.filter(pl.col("unit") == "乙镇").is_empty()  # no share: not judged


def test_streak_counts_and_resets() -> None:
    def run(actual: float, previous: int) -> tuple[int, int]:
        inputs = make_inputs(
            4, [cumulative_task(1200)], [("牵头局", "lead", "T1", 1, None)],
            figures=[("牵头局", "T1", 1, actual, "2026-04")],
            previous_metrics=[("T1", 1, previous)], previous_tasks=[("T1", previous)],
        )  # fmt: skip
        result = evaluate(inputs, SETTINGS)
        return metric(result)["streak"], result.tasks.row(0, named=True)["streak"]

    assert run(350, 2) == (3, 3)  # lagging a third month
    assert run(400, 2) == (0, 0)  # back on schedule: the streak resets
    assert run(100, 0) == (1, 1)  # critical counts too


def test_units_are_ranked_like_with_like_in_two_tables() -> None:
    """DESIGN §5: towns (zones, streets) and departments (companies) in two tables; score = share
    of judged items on track or done; on-time submission breaks ties; equal scores share a rank
    (1, 1, 3); fewer than three judged items: listed, not ranked."""
    towns = ("甲镇", "戊镇", "乙镇", "丙镇")
    assignments = [
        (u, role, t, 1, None)
        for t in ("T1", "T2", "T3")
        for u, role in [("牵头局", "lead"), ("二局", "lead"), *((town, "responsible") for town in towns)]
    ] + [("另局", "lead", "T4", 1, None), ("丁镇", "responsible", "T4", 1, None),
         ("某局", "lead", "M1", 0, None), ("丁镇", "responsible", "M1", 0, None)]  # fmt: skip
    # four towns share 1200: 300 each, 75 due in March (red line 20 % of 300 = 60)
    own = {"甲镇": (75, 75, 75), "戊镇": (80, 80, 80), "乙镇": (75, 75, 75), "丙镇": (75, 75, 30)}
    figures = [
        (u, t, 1, v, "2026-03")
        for u, vs in own.items()
        for t, v in zip(("T1", "T2", "T3"), vs, strict=True)
    ]
    figures.append(("丁镇", "T4", 1, 30, "2026-03"))  # T4: 100 alone, 25 due
    late = datetime(2026, 4, 9, 8, 0)
    everyone = {a[0] for a in assignments}
    inputs = make_inputs(
        3, [cumulative_task(1200, task=t) for t in ("T1", "T2", "T3")] + [cumulative_task(100, task="T4")],
        assignments, figures=figures,
        declared=[("丁镇", "M1", "on_schedule"), ("某局", "M1", "behind")],
        submitted={u: late if u in ("乙镇", "二局") else ON_TIME for u in everyone},
        kinds={u: "dept" for u in ("牵头局", "二局", "另局", "某局")},
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    units = {r["unit"]: r for r in result.units.iter_rows(named=True)}
    got = {u: (r["judged"], round(r["on_track_share"], 4), r["rank"]) for u, r in units.items()}
    assert got == {
        # towns: 甲 and 戊 all on track and on time share first place; 乙 as good but late;
        # 丙 is behind on T3 (30 of 75 due: 45 short, lagging)
        "甲镇": (3, 1.0, 1), "戊镇": (3, 1.0, 1), "乙镇": (3, 1.0, 3), "丙镇": (3, 0.6667, 4),
        # 丁镇: T4 and M1 on track, but two items: listed, not ranked
        "丁镇": (2, 1.0, None),
        # departments, on the district figures: T1 = T2 = 305 of 300 due (on track), T3 = 260
        # (lagging); 二局 as good but late
        "牵头局": (3, 0.6667, 1), "二局": (3, 0.6667, 2),
        "另局": (1, 1.0, None), "某局": (1, 0.0, None),
    }  # fmt: skip
    assert units["乙镇"]["submission"] == "late" and units["甲镇"]["submission"] == "on_time"
    t3 = result.tasks.filter(pl.col("task_id") == "T3").row(0, named=True)
    assert (t3["status"], t3["lagging_units"]) == ("lagging", ["丙镇"])


def test_submitted_by_the_end_of_the_deadline_day_is_on_time() -> None:
    inputs = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        submitted={"甲镇": ON_TIME, "乙镇": datetime(2026, 4, 9, 8, 0), "牵头局": datetime(2026, 4, 8, 23, 59)},
    )  # fmt: skip
    units = {
        r["unit"]: r["submission"] for r in evaluate(inputs, SETTINGS).units.iter_rows(named=True)
    }
    assert units == {"甲镇": "on_time", "乙镇": "late", "牵头局": "on_time"}


def test_the_first_listed_lead_unit_speaks_for_the_district() -> None:
    # 牵头单位：商务局、文体广旅局 — both report a figure; the first listed one counts
    inputs = make_inputs(
        6, [cumulative_task(100)],
        [("商务局", "lead", "T1", 1, None), ("文体广旅局", "lead", "T1", 1, None)],
        figures=[("文体广旅局", "T1", 1, 10, "2026-06"), ("商务局", "T1", 1, 60, "2026-06")],
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    m = metric(result)
    assert (m["actual"], m["source"], m["status"]) == (60, "lead", "on_track")
    assert result.tasks.row(0, named=True)["lead_units"] == ["商务局", "文体广旅局"]
    # the second lead unit answers for the same district figure, with the district's target
    row = unit_row(result, "文体广旅局")
    assert (row["target"], row["actual"], row["status"]) == (100, 60, "on_track")


# ------------------------------------------------------------------ at the edges
# Edges of the keyed joins in ducha.evaluation.rules.prepare (hand-made inputs, no database).


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


# ---------------------------------------------------------------- DESIGN §5, issue 19


def test_a_lagging_milestone_task_names_the_lead_unit_that_declared_the_delay() -> None:
    """2026-004 in March: 住建局 (lead) declared 滞后, a town did not report. The task names
    住建局 as behind and the town as missing."""
    inputs = make_inputs(
        3, [], [("住建局", "lead", "M1", 0, None), ("甲镇", "responsible", "M1", 0, None)],
        declared=[("住建局", "M1", "behind")], submitted={"住建局": ON_TIME},
    )  # fmt: skip
    task = evaluate(inputs, SETTINGS).tasks.row(0, named=True)
    assert task["status"] == "lagging"
    assert (task["lagging_units"], task["missing_units"]) == (["住建局"], ["甲镇"])
    # 未启动 from month 7 is critical, and still names the lead
    late = make_inputs(
        7, [], [("住建局", "lead", "M1", 0, None)], declared=[("住建局", "M1", "not_started")]
    )  # fmt: skip
    task = evaluate(late, SETTINGS).tasks.row(0, named=True)
    assert (task["status"], task["lagging_units"]) == ("critical", ["住建局"])


def test_a_lead_unit_is_named_behind_only_for_a_figure_of_its_own() -> None:
    # target 1200, March: 300 due. The lead reports 200 itself: lagging (100 short = 8.3 points)
    own = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        figures=[("牵头局", "T1", 1, 200, "2026-03"), ("甲镇", "T1", 1, 150, "2026-03"),
                 ("乙镇", "T1", 1, 150, "2026-03")],
    )  # fmt: skip
    task = evaluate(own, SETTINGS).tasks.row(0, named=True)
    assert (task["status"], task["lagging_units"]) == ("lagging", ["牵头局"])
    # no figure of the lead: the towns' 100 + 140 = 240 is the district's (lagging); each town
    # owes 600 × 3/12 = 150; both are behind, the lead is not named for the towns' sum
    summed = make_inputs(
        3, [cumulative_task(1200)], two_towns(),
        figures=[("甲镇", "T1", 1, 100, "2026-03"), ("乙镇", "T1", 1, 140, "2026-03")],
    )  # fmt: skip
    task = evaluate(summed, SETTINGS).tasks.row(0, named=True)
    assert (task["status"], task["lagging_units"]) == ("lagging", ["乙镇", "甲镇"])


@pytest.mark.parametrize(
    ("lead", "towns", "actual", "source", "carried"),
    [
        # a lead's January 5 does not outrank the towns' March 30 + 30
        ((5, "2026-01"), ("2026-03", "2026-03"), 60, "units", False),
        # one town sent March figures, the other carried from February: still fresher
        ((5, "2026-01"), ("2026-03", "2026-02"), 60, "units", True),
        # the lead's own March figure speaks for the district
        ((55, "2026-03"), ("2026-03", "2026-03"), 55, "lead", False),
        # nothing fresher from the towns: the lead's February figure, marked carried
        ((58, "2026-02"), ("2026-01", "2026-01"), 58, "lead", True),
    ],
)  # fmt: skip
def test_a_lead_figure_carried_from_an_earlier_month_never_beats_fresher_figures(
    lead: tuple[float, str], towns: tuple[str, str], actual: float, source: str, carried: bool
) -> None:
    inputs = make_inputs(
        3, [cumulative_task(200)], two_towns(),
        figures=[("牵头局", "T1", 1, lead[0], lead[1]), ("甲镇", "T1", 1, 30, towns[0]),
                 ("乙镇", "T1", 1, 30, towns[1])],
    )  # fmt: skip
    m = metric(evaluate(inputs, SETTINGS))
    # 200 × 3/12 = 50 due in March
    assert (m["actual"], m["source"], m["carried"]) == (actual, source, carried)
    assert m["status"] == "on_track"


def test_of_two_lead_units_the_one_with_a_figure_of_this_month_speaks() -> None:
    inputs = make_inputs(
        3, [cumulative_task(200)],
        [("甲局", "lead", "T1", 1, None), ("乙局", "lead", "T1", 1, None)],
        figures=[("甲局", "T1", 1, 10, "2026-01"), ("乙局", "T1", 1, 52, "2026-03")],
    )  # fmt: skip
    m = metric(evaluate(inputs, SETTINGS))
    assert (m["actual"], m["source"], m["carried"], m["status"]) == (52, "lead", False, "on_track")


def test_a_unit_that_did_not_report_is_judged_only_on_what_it_would_have_reported() -> None:
    """Two towns on a count (T1) and a growth rate the lead reports (G1). 乙镇 sends nothing: it is
    missing on T1 only, as 甲镇 is judged on T1 only (no rate of its own): one judged item each."""
    growth = {"task_id": "G1", "position": 1, "label": "投资增长", "kind": "growth", "bound": "at_least",
              "measure": "%", "target": 5.0}  # fmt: skip
    inputs = make_inputs(
        3, [cumulative_task(1200), growth],
        two_towns() + [("工信局", "lead", "G1", 1, None), ("甲镇", "responsible", "G1", 1, None),
                       ("乙镇", "responsible", "G1", 1, None)],
        figures=[("甲镇", "T1", 1, 160, "2026-03"), ("工信局", "G1", 1, 6.0, "2026-03")],
        submitted={"甲镇": ON_TIME, "工信局": ON_TIME, "牵头局": ON_TIME},
    )  # fmt: skip
    result = evaluate(inputs, SETTINGS)
    rows = {
        (r["unit"], r["task_id"]): r["status"] for r in result.unit_metrics.iter_rows(named=True)
    }
    assert rows[("乙镇", "T1")] == "missing" and ("乙镇", "G1") not in rows
    assert rows[("甲镇", "T1")] == "on_track" and ("甲镇", "G1") not in rows
    units = {r["unit"]: r for r in result.units.iter_rows(named=True)}
    assert (units["甲镇"]["judged"], units["乙镇"]["judged"]) == (1, 1)
    assert result.tasks.filter(pl.col("task_id") == "G1").row(0, named=True)["missing_units"] == []
