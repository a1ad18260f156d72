"""Reports as real offices fill them (issue 17): no template data, a title that keeps the year
and the month apart, a unit written with the government's prefix and a remark, a 填报日期 line.
The period is the month reported, never the day the form was filled."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl
import pytest

from ducha.periods import Period
from ducha.submissions.identify import period_in_text
from ducha.submissions.templates import META_SHEET
from tests.helpers import Workspace
from tests.submissions.fuzz_files import Templates


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2026年政府工作报告目标任务3月份推进情况表", "2026-03"),
        ("武进区2026年1-3月重点工作完成情况", "2026-03"),
        ("2026年1—3月目标任务进展", "2026-03"),
        ("2026年三月份推进情况", "2026-03"),
        ("2026年十二月", "2026-12"),
        ("湖塘镇-2026年3月进展", "2026-03"),
        ("2026年3月进展（填报日期：2026年4月3日）", "2026-03"),
        ("填报单位：湖塘镇  填报日期：2026年4月3日", None),
        ("制表日期：2026年4月3日", None),
        ("2026年4月3日", None),  # a day is a date, not a period
        ("2026年4-6月", None),  # a quarter's months, not a period's cumulative months
    ],
)
def test_the_period_is_the_month_reported_never_a_date(text: str, period: str | None) -> None:
    assert period_in_text(text) == (Period.parse(period) if period else None)


def test_a_real_town_report_with_a_fill_date_is_read_for_its_month(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    templates = prepared[1]
    unit = "湖塘镇" if "湖塘镇" in templates.units else templates.units[0]
    fill = templates.fill(unit, random.Random(3))
    path = tmp_path / "推进情况表.xlsx"

    def as_published(book: openpyxl.Workbook) -> None:
        del book[META_SHEET]  # no template data: only what people wrote
        sheet = book.worksheets[0]
        sheet.cell(1, 1).value = "2026年政府工作报告目标任务3月份推进情况表"
        sheet.cell(2, 1).value = f"填报单位：常州市武进区{unit}（盖章）    填报日期：2026年4月3日"

    templates.write_filled(fill, path, edit=as_published)
    out = json.loads(rws.ok("ingest", str(path), "--format", "json"))[0]
    errors = [p["message"] for p in out["problems"] if p["severity"] == "error"]
    assert out["status"] == "accepted", errors
    assert (out["unit"], out["period"]) == (unit, "2026-03")
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        stored = con.sql(
            "SELECT DISTINCT p.unit, p.period FROM progress_metrics p JOIN submissions "
            "USING (submission_id) WHERE file_name = ?", params=[path.name],
        ).fetchall()  # fmt: skip
    finally:
        con.close()
    assert stored == [(unit, "2026-03")]


def test_a_percentage_in_a_count_column_is_refused_not_stored_as_a_count(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    """“16.7%” typed where 个 are counted was stored as 16.7 个: it is refused, naming the cell."""
    from ducha.submissions.templates import COL

    templates = prepared[1]
    unit, line = next(
        (u, ln) for u in templates.units for ln in templates.lines(u)
        if ln.metric.position and (ln.metric.measure or "") in ("个", "家", "项")
    )  # fmt: skip
    fill = templates.fill(unit, random.Random(4))
    fill.cells[(line.row, COL["累计完成"])] = "16.7%"
    fill.cells.pop((line.row, COL["本月完成"]), None)
    path = templates.write_filled(fill, tmp_path / f"{unit}-2026年3月进展.xlsx")
    out = json.loads(rws.ok("ingest", str(path), "--format", "json"))[0]
    errors = [p["message"] for p in out["problems"] if p["severity"] == "error"]
    assert out["status"] == "rejected"
    assert any("“16.7%”是百分比" in m and f"以“{line.metric.measure}”计" in m for m in errors), (
        errors
    )


@pytest.mark.parametrize("with_template_data", [True, False])
def test_a_second_sheet_of_another_unit_is_refused_not_stored_as_the_first(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path, with_template_data: bool
) -> None:
    """A file holding its own report and, on a second sheet, another unit's (pasted in, or two
    offices sharing a workbook): neither unit's figures are stored under the other's name."""
    templates = prepared[1]
    unit, other = templates.units[:2]
    fill = templates.fill(unit, random.Random(6))

    def two_reports(book: openpyxl.Workbook) -> None:
        if not with_template_data:
            del book[META_SHEET]
        first = book.worksheets[0]
        second = book.copy_worksheet(first)
        second.title = f"{other}报表"
        second.cell(2, 1).value = f"填报单位：{other}　　报送期：2026年3月"

    path = templates.write_filled(fill, tmp_path / "2026年3月进展.xlsx", edit=two_reports)
    out = json.loads(rws.ok("ingest", str(path), "--format", "json", "--unit", unit))[0]
    errors = [p["message"] for p in out["problems"] if p["severity"] == "error"]
    assert out["status"] == "rejected"
    assert any(f"的是{other}" in m and "一个文件只能报送一个单位" in m for m in errors), errors
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM progress_metrics").fetchall() == [(0,)]
    finally:
        con.close()


def test_status_words_of_real_tables_are_mapped_and_the_mapping_is_shown(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    """超进度, 欠进度, 推进缓慢 … are the offices' own words for the four statuses: taken, with the
    mapping in the receipt; 待统计 and 暂无数据 count as empty."""
    from ducha.submissions.templates import COL

    templates = prepared[1]
    unit = next(u for u in templates.units if len(templates.by_unit[u]) >= 4)
    fill = templates.fill(unit, random.Random(8))
    firsts = [ln for ln in templates.lines(unit) if ln.first][:4]
    words = {"超进度": "on_schedule", "欠进度": "behind", "推进缓慢": "behind", "提前完成": "done"}
    for line, word in zip(firsts, words, strict=False):
        fill.cells[(line.row, COL["完成状态"])] = word
    numbered = next(ln for ln in templates.lines(unit) if ln.metric.position)
    fill.cells[(numbered.row, COL["本月完成"])] = "待统计"
    path = templates.write_filled(fill, tmp_path / f"{unit}-2026年3月进展.xlsx")
    out = json.loads(rws.ok("ingest", str(path), "--format", "json"))[0]
    warnings = [p["message"] for p in out["problems"] if p["severity"] == "warning"]
    assert out["status"] == "accepted", out["problems"]
    assert "完成状态“超进度”按“序时推进”录入" in warnings
    assert "完成状态“推进缓慢”按“滞后”录入" in warnings
    assert warnings.count("完成状态“欠进度”按“滞后”录入") == 1  # once a task, merged or not
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        stored = dict(con.sql("SELECT task_id, status FROM progress_tasks").fetchall())
    finally:
        con.close()
    for line, word in zip(firsts, words, strict=False):
        assert stored[line.task.task_id] == words[word]


def test_a_first_quarter_header_is_the_march_cumulative_and_others_are_refused(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    """A quarterly header (一季度 over 计划 | 完成) instead of 本月完成 and 累计完成. In a March
    report 一季度完成 is the 1-3月 figure: stored as the cumulative figure, the plan never as a
    figure. 二季度完成 in a March report is no figure of its: the file is refused naming the
    columns, instead of storing the texts and dropping the figures without a word."""
    from ducha.submissions.templates import COL, HEADER_ROW

    templates = prepared[1]
    unit = next(u for u in templates.units if len(templates.by_unit[u]) >= 4)
    fill = templates.fill(unit, random.Random(9))

    def quarterly(quarter: str) -> Callable[[openpyxl.Workbook], None]:
        def edit(book: openpyxl.Workbook) -> None:
            sheet = book.worksheets[0]
            sheet.cell(HEADER_ROW + 1, COL["本月完成"] + 1).value = f"{quarter}计划"
            sheet.cell(HEADER_ROW + 1, COL["累计完成"] + 1).value = f"{quarter}完成"

        return edit

    path = templates.write_filled(
        fill, tmp_path / f"{unit}-2026年3月进展.xlsx", edit=quarterly("一季度")
    )
    out = json.loads(rws.ok("ingest", str(path), "--format", "json"))[0]
    assert out["status"] == "accepted", out["problems"]
    written = {
        (ln.task.task_id, ln.metric.position): fill.cells.get((ln.row, COL["累计完成"]))
        for ln in templates.lines(unit)
        if ln.metric.position
    }
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        stored = con.sql(
            "SELECT task_id, position, month_value, cumulative_value FROM progress_metrics"
        ).fetchall()
    finally:
        con.close()
    assert stored and all(month is None for _, _, month, _ in stored)  # a plan is no figure
    for task_id, position, _, cumulative in stored:
        assert cumulative == pytest.approx(float(written[(task_id, position)]))

    path = templates.write_filled(
        fill, tmp_path / f"{unit}-2026年3月进展-二季度.xlsx", edit=quarterly("二季度")
    )
    out = json.loads(rws.ok("ingest", str(path), "--format", "json"))[0]
    errors = [p["message"] for p in out["problems"] if p["severity"] == "error"]
    assert out["status"] == "rejected", out["problems"]
    assert any("二季度计划" in m and "二季度完成" in m for m in errors), errors
    assert not any("年度目标" in m for m in errors)  # targets are no figures of the month


@pytest.mark.parametrize(
    ("written", "unit"),
    [
        ("常州市武进区民政局（盖章）", "民政局"),
        ("武进区湖塘镇", "湖塘镇"),
        ("县水利局", "水利局"),
        ("湖塘镇（盖章）", "湖塘镇"),
        ("市场监管局", "市场监管局"),  # a name that starts like a prefix is found as it is
        ("区", None),
        ("王斐", None),  # a leader is no unit
    ],
)
def test_units_are_found_as_people_write_them(written: str, unit: str | None) -> None:
    from ducha.config import load_config
    from tests.helpers import ROOT

    assert load_config(ROOT / "config").units.resolve_unit(written) == unit
