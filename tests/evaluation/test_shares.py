"""A unit is judged only against a figure printed in its own template or portal page (DESIGN §5):
the rule's two forms agree, and the figures the evaluation judges 湖塘镇 against are the ones its
template prints."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import openpyxl
import polars as pl

from ducha.evaluation.shares import unit_target, unit_target_expr
from ducha.submissions.templates import COL, HEADER_ROW, MAIN_SHEET
from tests.helpers import Workspace


def test_the_rule_for_one_line_and_for_a_frame_agree() -> None:
    combos = list(itertools.product(
        ("cumulative", "growth", "level", None), (1200.0, 0.0, None), (300.0, None),
        ("lead", "responsible"), (0, 1, 4), ("equal", "none"),
    ))  # fmt: skip
    for share in ("equal", "none"):
        rows = [c for c in combos if c[5] == share]
        frame = pl.DataFrame(
            [c[:5] for c in rows],
            schema={"kind": pl.String, "target": pl.Float64, "allocation": pl.Float64,
                    "role": pl.String, "n_responsible": pl.Int64},
            orient="row",
        )  # fmt: skip
        got = frame.select(unit_target_expr(share).alias("t"))["t"].to_list()
        assert got == [unit_target(*c) for c in rows]
    # by hand: 1200 among four towns is 300 each; an allocation wins; a lead holds the target
    assert unit_target("cumulative", 1200, None, "responsible", 4, "equal") == 300
    assert unit_target("cumulative", 1200, 500, "responsible", 4, "equal") == 500
    assert unit_target("cumulative", 1200, None, "lead", 4, "equal") == 1200
    assert unit_target("cumulative", 1200, None, "responsible", 4, "none") is None
    assert unit_target("growth", 6.5, None, "responsible", 4, "equal") == 6.5


def test_a_unit_is_judged_against_what_its_template_prints(
    sample_months: Workspace, tmp_path: Path
) -> None:
    unit = "湖塘镇"
    sample_months.ok("evaluate", "--period", "2026-03")
    sample_months.ok("templates", "--period", "2026-03", "--unit", unit, "--out", str(tmp_path))
    (path,) = tmp_path.glob("*.xlsx")
    sheet = openpyxl.load_workbook(path)[MAIN_SHEET]
    printed: dict[tuple[str, int], tuple[float | None, float | None]] = {}
    task = ""
    for row in sheet.iter_rows(min_row=HEADER_ROW + 2, values_only=True):
        task = row[COL["任务编号"]] or task  # merged down a task's lines
        if row[COL["指标序号"]]:
            printed[(task, int(row[COL["指标序号"]]))] = (
                row[COL["年度目标"]],
                row[COL["本单位分解目标"]],
            )
    con = duckdb.connect(str(sample_months.db), read_only=True)
    judged = con.sql(
        "SELECT task_id, position, role, target FROM eval_unit_metrics "
        "WHERE period = '2026-03' AND unit = ? AND position > 0", params=[unit],
    ).fetchall()  # fmt: skip
    con.close()
    shares = 0
    for task_id, position, role, target in judged:
        annual, own = printed[(task_id, position)]
        shown = own if own is not None else annual
        assert abs(shown - target) < 0.005, (task_id, position, role, target, annual, own)
        shares += own is not None and abs(own - annual) > 0.005
    assert shares >= 5  # 湖塘镇 shares many district counts with the other towns
