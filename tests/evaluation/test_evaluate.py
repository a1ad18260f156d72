"""Evaluation on the sample months, stored per period, recomputed independently in SQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from ducha.db import connect
from ducha.evaluation.inputs import load_inputs
from ducha.periods import Period
from tests.helpers import Workspace, assert_user_error


def evaluate(ws: Workspace, period: str) -> dict:
    return json.loads(ws.ok("evaluate", "--period", period, "--format", "json"))


def test_json_shape(sample_months: Workspace) -> None:
    data = evaluate(sample_months, "2026-03")
    assert set(data) == {"period", "metrics", "tasks", "units"} and data["period"] == "2026-03"
    assert set(data["metrics"][0]) == {
        "task_id",
        "metric",
        "label",
        "kind",
        "unit",
        "target",
        "actual",
        "expected",
        "status",
        "streak",
    }
    assert set(data["tasks"][0]) == {
        "task_id",
        "status",
        "lead_units",
        "lagging_units",
        "missing_units",
    }
    assert set(data["units"][0]) == {"unit", "submission", "on_track_share", "rank"}
    assert len(data["metrics"]) == 46 and len(data["tasks"]) == 94
    t7 = [m for m in data["metrics"] if m["task_id"] == "2026-007"]
    assert (
        [m["metric"] for m in t7] == [1, 2, 3]
        and t7[2]["kind"] == "growth"
        and t7[2]["expected"] == 5
    )
    assert {m["status"] for m in data["metrics"]} <= {
        "done",
        "on_track",
        "lagging",
        "critical",
        "missing",
    }


def test_figures_recomputed_independently(sample_months: Workspace) -> None:
    data = evaluate(sample_months, "2026-03")
    con = duckdb.connect(str(sample_months.db), read_only=True)
    # district actual of 2026-061 (城管局 leads, the 12 units report): the sum of each unit's
    # latest cumulative figure up to March from the latest accepted files
    (total,) = con.sql(
        """
        SELECT sum(v) FROM (
          SELECT arg_max(p.cumulative_value, p.period) AS v
          FROM progress_metrics p JOIN submissions s USING (submission_id)
          WHERE s.status = 'accepted' AND s.superseded_by IS NULL AND p.task_id = '2026-061'
            AND p.position = 1 AND p.unit <> '城管局' AND p.period <= '2026-03'
          GROUP BY p.unit)
        """
    ).fetchall()[0]
    parking = next(m for m in data["metrics"] if m["task_id"] == "2026-061")
    assert parking["actual"] == total and parking["expected"] == 1500 * 3 / 12
    gap = (total - 375) / 1500
    assert parking["status"] == (
        "on_track" if gap >= 0 else "lagging" if gap >= -0.2 else "critical"
    )
    # 嘉泽镇 sent nothing for March: missing, its February figures carried forward
    units = {u["unit"]: u for u in data["units"]}
    assert units["嘉泽镇"]["submission"] == "missing" and units["湖塘镇"]["submission"] == "on_time"
    carried = con.sql(
        "SELECT count(*) FROM eval_unit_metrics WHERE period = '2026-03' AND unit = '嘉泽镇' AND carried "
        "AND status = 'missing'"
    ).fetchall()[0][0]
    assert carried > 0
    assert all(
        "嘉泽镇" in t["missing_units"]
        for t in data["tasks"]
        if t["task_id"] in ("2026-001", "2026-061")
    )
    # growth: the lead unit's figure is the district's
    (rate,) = con.sql(
        "SELECT cumulative_value FROM progress_metrics p JOIN latest_submissions s USING (submission_id) "
        "WHERE p.unit = '工信局' AND p.task_id = '2026-007' AND p.position = 3 AND p.period = '2026-03'"
    ).fetchall()[0]
    assert (
        next(m for m in data["metrics"] if m["task_id"] == "2026-007" and m["metric"] == 3)[
            "actual"
        ]
        == rate
    )
    # two ranking tables, each from 1; fewer than three judged items: not ranked
    rows = con.sql(
        "SELECT unit, kind IN ('town', 'zone', 'street') AS territorial, judged, rank "
        "FROM eval_units WHERE period = '2026-03'"
    ).fetchall()
    for territorial in (True, False):
        table = [(judged, rank) for _, t, judged, rank in rows if t == territorial]
        ranks = sorted(rank for judged, rank in table if rank is not None)
        assert ranks and ranks[0] == 1 and ranks[-1] <= len(ranks)
        assert all((rank is None) == (judged < 3) for judged, rank in table)
    assert {u["unit"]: u["rank"] for u in data["units"]} == {u: r for u, _, _, r in rows}


def test_stored_per_period_and_streaks_from_the_database(sample_months: Workspace) -> None:
    march = evaluate(sample_months, "2026-03")  # evaluates January and February first
    con = duckdb.connect(str(sample_months.db), read_only=True)
    runs = con.sql("SELECT period, evaluated_at FROM eval_runs ORDER BY period").fetchall()
    assert [r[0] for r in runs] == ["2026-01", "2026-02", "2026-03"]
    history = {
        (t, p): (s, k)
        for t, p, s, k in con.sql(
            "SELECT task_id, period, status, streak FROM eval_tasks"
        ).fetchall()
    }
    con.close()
    for task in march["tasks"]:
        expected = 0
        for month in ("2026-01", "2026-02", "2026-03"):
            status, streak = history[(task["task_id"], month)]
            expected = expected + 1 if status in ("lagging", "critical") else 0
            assert streak == expected, (task["task_id"], month)
    # evaluating February again replaces February only
    before = duckdb.connect(str(sample_months.db), read_only=True)
    march_rows = before.sql(
        "SELECT * FROM eval_metrics WHERE period = '2026-03' ORDER BY ALL"
    ).fetchall()
    jan_run = before.sql("SELECT evaluated_at FROM eval_runs WHERE period = '2026-01'").fetchall()
    before.close()
    evaluate(sample_months, "2026-02")
    after = duckdb.connect(str(sample_months.db), read_only=True)
    assert (
        after.sql("SELECT * FROM eval_metrics WHERE period = '2026-03' ORDER BY ALL").fetchall()
        == march_rows
    )
    assert (
        after.sql("SELECT evaluated_at FROM eval_runs WHERE period = '2026-01'").fetchall()
        == jan_run
    )
    assert after.sql("SELECT count(*) FROM eval_metrics WHERE period = '2026-02'").fetchall() == [
        (46,)
    ]


def test_evaluate_text_output_and_errors(sample_months: Workspace) -> None:
    out = sample_months.ok("evaluate", "--period", "2026-03")
    assert "2026年3月研判结果（报送截止 2026-04-08）" in out  # Qingming: 4-6 April off
    assert_user_error(sample_months, ["evaluate", "--period", "2026-3x"], "报送期")
    assert_user_error(sample_months, ["evaluate", "--period", "2025-03"], "2025")


@pytest.mark.parametrize("text", ["red_threshold: 2", "unit_share: half", "speed: 1"])
def test_bad_evaluation_settings(sample_months: Workspace, text: str) -> None:
    (sample_months.config / "evaluation.yaml").write_text(text + "\n", encoding="utf-8")
    assert_user_error(sample_months, ["evaluate", "--period", "2026-03"], "evaluation.yaml")


def test_latest_figures_carry_forward_what_the_period_lacks(tmp_path: Path) -> None:
    """eval_latest_figures on hand-made files: the period's own figure, else the latest
    non-blank earlier one from the latest accepted file of its month (late, corrected or
    rejected files included), only for what is assigned."""
    con = connect(tmp_path / "figures.duckdb")
    units = ["甲镇", "乙镇", "丙镇", "丁镇", "戊镇", "己镇"]
    con.execute(
        "INSERT INTO imports VALUES (1, 2026, 't.txt', '', ?, 1, 0, 0, 0)", [datetime.now()]
    )
    con.execute(
        "INSERT INTO tasks VALUES ('2026-001', 2026, 1, '目标', '内容', [], ['牵头局'], ?, '各镇', "
        "false, '', NULL, true, 1, NULL)",
        [units],
    )
    con.execute("INSERT INTO metrics VALUES ('2026-001', 1, '新增', 100, '个', 'cumulative', "
                "'at_least', true)")  # fmt: skip
    files = [  # (id, unit, period, status, superseded_by, received_at)
        (1, "甲镇", "2026-01", "accepted", None, datetime(2026, 2, 3)),
        (2, "甲镇", "2026-02", "accepted", None, datetime(2026, 3, 3)),
        (3, "甲镇", "2026-03", "accepted", None, datetime(2026, 4, 3)),
        (4, "乙镇", "2026-02", "accepted", None, datetime(2026, 3, 3)),
        (5, "乙镇", "2026-03", "accepted", None, datetime(2026, 4, 3)),  # left blank
        (6, "丙镇", "2026-02", "accepted", 7, datetime(2026, 3, 3)),  # corrected by 7
        (7, "丙镇", "2026-02", "accepted", None, datetime(2026, 4, 20)),  # late correction
        (8, "丁镇", "2026-01", "accepted", None, datetime(2026, 2, 3)),
        (9, "丁镇", "2026-02", "accepted", None, datetime(2026, 3, 3)),  # left blank
        (10, "丁镇", "2026-03", "accepted", None, datetime(2026, 4, 3)),  # no row for it
        (11, "戊镇", "2026-03", "accepted", 12, datetime(2026, 4, 2)),
        (12, "戊镇", "2026-03", "accepted", None, datetime(2026, 4, 3)),
        (13, "己镇", "2026-02", "accepted", None, datetime(2026, 3, 3)),
        (14, "己镇", "2026-03", "rejected", None, datetime(2026, 4, 3)),
        (15, "庚镇", "2026-03", "accepted", None, datetime(2026, 4, 3)),  # not assigned
    ]
    for sid, unit, period, status, superseded_by, received in files:
        con.execute(
            "INSERT INTO submissions (submission_id, sha256, file_name, archive_path, unit, period, "
            "status, superseded_by, received_at, ingested_at, rows, receipt) "
            "VALUES (?, '', '', '', ?, ?, ?, ?, ?, ?, 1, '')",
            [sid, unit, period, status, superseded_by, received, received],
        )
    figures = [  # (submission, unit, period, cumulative value)
        (1, "甲镇", "2026-01", 10), (2, "甲镇", "2026-02", 20), (3, "甲镇", "2026-03", 30),
        (4, "乙镇", "2026-02", 25), (5, "乙镇", "2026-03", None),
        (6, "丙镇", "2026-02", 40), (7, "丙镇", "2026-02", 35),
        (8, "丁镇", "2026-01", 5), (9, "丁镇", "2026-02", None),
        (11, "戊镇", "2026-03", 60), (12, "戊镇", "2026-03", 50),
        (13, "己镇", "2026-02", 12), (14, "己镇", "2026-03", 70),
        (15, "庚镇", "2026-03", 99),
    ]  # fmt: skip
    for sid, unit, period, value in figures:
        con.execute(
            "INSERT INTO progress_metrics BY NAME SELECT ? AS submission_id, ? AS unit, "
            "? AS period, '2026-001' AS task_id, 1 AS position, NULL AS month_value, "
            "?::DOUBLE AS cumulative_value, '进展表' AS sheet, 6 AS row_no, "
            "'task_id' AS match_method, 100.0 AS match_score",
            [sid, unit, period, value],
        )
    inputs = load_inputs(con, Period(2026, 3), date(2026, 4, 8))
    got = {r[0]: (r[1], r[2]) for r in inputs.figures.select("unit", "value", "last_period").rows()}
    con.close()
    assert got.pop("庚镇", None) in (None, (99, "2026-03"))  # unassigned: not used either way
    assert got == {
        "甲镇": (30, "2026-03"),
        "乙镇": (25, "2026-02"),  # blank in March: February carried forward
        "丙镇": (35, "2026-02"),  # the late correction of February wins
        "丁镇": (5, "2026-01"),  # February blank, March without the row: January
        "戊镇": (50, "2026-03"),  # the later March file
        "己镇": (12, "2026-02"),  # the rejected March file does not count
    }


def test_evaluating_a_month_nobody_reported_warns(confirmed: Workspace) -> None:
    result = confirmed.run("evaluate", "--period", "2026-03")
    assert result.code == 0
    assert "提示：2026年3月没有收到任何单位的报表" in result.err
    assert "全部 50 个报送单位记为未报送" in result.err
