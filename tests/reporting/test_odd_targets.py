"""Odd targets end to end on the sample workspace: a confirmed target of 0 (零事故) judged, stored
and reported; and a briefing written from a database holding odd numbers (inf and NaN, as an
earlier version stored for a target of 0; NULLs): shown as — (HTML) and empty cells (.xlsx)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import openpyxl

from tests.helpers import Workspace

# 2026-003 is reported by 商务局 (lead) and the towns in the sample months: its figures become
# counts of accidents under a ceiling of 0 (零事故).
REVIEW = """\
year: 2026
tasks:
- id: 2026-003
  confirmed: true
  metrics:
  - label: 较大及以上生产安全事故
    value: 0
    unit: 起
    kind: cumulative
    bound: at_most
"""


def _confirm(ws: Workspace, text: str) -> None:
    path = ws.root / "review.yaml"
    path.write_text(text, encoding="utf-8")
    ws.ok("targets", "confirm", str(path))


def _report(ws: Workspace, out: Path) -> tuple[Path, Path]:
    paths = json.loads(
        ws.ok("report", "--period", "2026-03", "--out", str(out), "--format", "json")
    )
    return Path(paths["html"]), Path(paths["xlsx"])


def _odd(values: list[tuple]) -> list[tuple]:
    return [r for r in values if any(isinstance(v, float) and not math.isfinite(v) for v in r)]


def test_a_zero_target_is_judged_stored_and_reported(
    sample_months: Workspace, tmp_path: Path
) -> None:
    ws = sample_months
    _confirm(ws, REVIEW)
    data = json.loads(ws.ok("evaluate", "--period", "2026-03", "--format", "json"))
    (metric,) = [m for m in data["metrics"] if m["task_id"] == "2026-003"]
    assert metric["actual"] > 0 and metric["status"] == "critical" and metric["expected"] == 0
    con = duckdb.connect(str(ws.db), read_only=True)
    stored = con.sql(
        "SELECT period, task_id, target, actual, expected, completion, gap FROM eval_metrics"
    ).fetchall()
    zero = con.sql(
        "SELECT period, bound, completion, gap, status FROM eval_metrics WHERE task_id = '2026-003' "
        "ORDER BY period"
    ).fetchall()
    units = con.sql(
        "SELECT unit, actual, status FROM eval_unit_metrics WHERE period = '2026-03' "
        "AND task_id = '2026-003' AND role = 'responsible' AND status <> 'missing'"
    ).fetchall()
    (task,) = con.sql(
        "SELECT status, lagging_units FROM eval_tasks WHERE period = '2026-03' AND task_id = '2026-003'"
    ).fetchall()
    con.close()
    assert not _odd(stored)  # January to March: no inf, no NaN anywhere
    assert [z[1:] for z in zero] == [("at_most", None, None, "critical")] * 3
    # each town against its own ceiling of 0: one accident is critical, none is on track
    assert {s for a, s in ((a, s) for _, a, s in units) if a == 0} <= {"on_track"}
    assert {s for _, a, s in units if a > 0} == {"critical"}
    assert task[0] == "critical" and set(task[1]) == {u for u, a, _ in units if a > 0}

    html, xlsx = _report(ws, tmp_path)
    book = openpyxl.load_workbook(xlsx)
    rows = {r[0]: r for r in book["指标"].iter_rows(min_row=4, values_only=True)}
    row = rows["2026-003"]
    assert row[3:11] == ("不高于", "起", 0, metric["actual"], 0, None, None, "严重滞后")
    lagging = {r[0]: r for r in book["滞后任务"].iter_rows(min_row=4, values_only=True)}
    assert f"较大及以上生产安全事故：实际{metric['actual']:g}/上限0起" in lagging["2026-003"][6]
    text = html.read_text(encoding="utf-8")
    assert (
        f"较大及以上生产安全事故：{metric['actual']:g} / 上限 0起（超出 {metric['actual']:g}起）"
        in text
    )
    assert "inf" not in text and "nan" not in text


def test_the_briefing_shows_odd_stored_numbers_as_dashes(
    sample_months: Workspace, tmp_path: Path
) -> None:
    """A database evaluated by an earlier version holds completion = inf for a target of 0;
    any stored number may be NaN or NULL. The briefing is written all the same, with — (HTML)
    and an empty cell (.xlsx) where there is no number."""
    ws = sample_months
    ws.ok("evaluate", "--period", "2026-03")
    con = duckdb.connect(str(ws.db))
    (task_id, position, label), (other_id, other_pos, other_label) = con.sql(
        "SELECT task_id, position, label FROM eval_metrics WHERE period = '2026-03' "
        "AND status IN ('lagging', 'critical') AND kind = 'cumulative' ORDER BY task_id LIMIT 2"
    ).fetchall()
    con.execute(
        "UPDATE eval_metrics SET completion = 'inf', gap = '-inf', expected = 'nan' "
        "WHERE period = '2026-03' AND task_id = ? AND position = ?", [task_id, position],
    )  # fmt: skip
    con.execute(
        "UPDATE eval_metrics SET completion = 'nan', gap = 'nan', actual = NULL "
        "WHERE period = '2026-03' AND task_id = ? AND position = ?", [other_id, other_pos],
    )  # fmt: skip
    ((unit,),) = con.sql(
        "SELECT unit FROM eval_units WHERE period = '2026-03' ORDER BY rank, unit LIMIT 1"
    ).fetchall()
    con.execute(
        "UPDATE eval_units SET on_track_share = 'nan' WHERE period = '2026-03' AND unit = ?", [unit]
    )
    con.close()
    html, xlsx = _report(ws, tmp_path)
    book = openpyxl.load_workbook(xlsx)
    values = [r for sheet in book for r in sheet.iter_rows(values_only=True)]
    assert not _odd(values)
    metrics = {(r[0], r[1]): r for r in book["指标"].iter_rows(min_row=4, values_only=True)}
    odd = metrics[(task_id, label)], metrics[(other_id, other_label)]
    assert odd[0][7:10] == (None, None, None)  # 序时目标, 完成比例, 差距: empty cells
    assert (odd[1][6], *odd[1][8:10]) == (None, None, None)  # 累计完成, 完成比例, 差距
    (ranked,) = [r for r in book["单位排名"].iter_rows(min_row=4, values_only=True) if r[2] == unit]
    assert ranked[6] is None  # 比例
    text = html.read_text(encoding="utf-8")
    assert not [w for w in ("inf", "nan", "NaN") if w in text.replace("information", "")]
    assert f"{unit} 序时推进比例 —" in text
