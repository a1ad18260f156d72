"""Monthly progress: templates out, spreadsheets in, every figure where it belongs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import openpyxl
import pytest
import xlsxwriter

from demo.sample_progress import figures, responsible_count, write_csv_gbk, write_retyped
from ducha.periods import Period
from ducha.submissions.assignments import unit_tasks
from ducha.submissions.templates import COL, HEADER_ROW, MAIN_SHEET
from ducha.submissions.values import ValueProblem, parse_number, parse_status
from tests.helpers import ROOT, Workspace

MARCH = Period(2026, 3)


def ingest(ws: Workspace, *paths: Path | str, extra: tuple[str, ...] = ()) -> list[dict]:
    return json.loads(ws.ok("ingest", *map(str, paths), *extra, "--format", "json"))


def templates(ws: Workspace, out: Path, period: str = "2026-03", *units: str) -> list[Path]:
    args = ["templates", "--period", period, "--out", str(out), "--format", "json"]
    for unit in units:
        args += ["--unit", unit]
    return [Path(p) for p in json.loads(ws.ok(*args))]


def fill(path: Path, values: dict[tuple[str, int], tuple[object, object]], status: dict[str, str] | None = None,
         target: Path | None = None) -> Path:  # fmt: skip
    """Type values into a template with openpyxl: {(task_id, position): (本月完成, 累计完成)}."""
    book = openpyxl.load_workbook(path)
    sheet = book[MAIN_SHEET]
    task = None
    for row in range(HEADER_ROW + 2, sheet.max_row + 1):
        task = sheet.cell(row, COL["任务编号"] + 1).value or task
        position = sheet.cell(row, COL["指标序号"] + 1).value
        if position and (task, position) in values:
            month, cumulative = values[(task, position)]
            sheet.cell(row, COL["本月完成"] + 1).value = month
            sheet.cell(row, COL["累计完成"] + 1).value = cumulative
        if status and task in status and sheet.cell(row, COL["任务编号"] + 1).value:
            sheet.cell(row, COL["完成状态"] + 1).value = status[task]
    book.save(target or path)
    return target or path


def rows(ws: Workspace, unit: str | None = None, period: str = "2026-03") -> dict[tuple, tuple]:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        query = (
            "SELECT p.unit, p.task_id, p.position, p.month_value, p.cumulative_value FROM progress_metrics p "
            "JOIN latest_submissions s USING (submission_id) WHERE p.period = $period"
        )
        found = con.sql(query, params={"period": period}).fetchall()
    finally:
        con.close()
    return {(u, t, p): (m, c) for u, t, p, m, c in found if unit is None or u == unit}


def known_values(ws: Workspace, unit: str) -> dict[tuple[str, int], tuple[float, float]]:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        tasks = unit_tasks(con, MARCH)[unit]
    finally:
        con.close()
    values = {}
    for i, task in enumerate(tasks):
        for metric in task.metrics:
            if metric.position:
                values[(task.task_id, metric.position)] = (
                    float(i % 7),
                    float(i % 7 + 3 * metric.position + 10),
                )
    return values


# ---------------------------------------------------------------- templates


def test_templates_for_every_reporting_unit(confirmed: Workspace, tmp_path: Path) -> None:
    paths = templates(confirmed, tmp_path)
    names = {p.name for p in paths}
    assert "湖塘镇-2026年3月进展表.xlsx" in names and "商务局-2026年3月进展表.xlsx" in names
    assert len(paths) == 50  # 8 towns, 4 zones, 2 streets, departments and companies with tasks
    book = openpyxl.load_workbook(tmp_path / "湖塘镇-2026年3月进展表.xlsx")
    assert book.sheetnames == ["进展表", "填报说明", "ducha"]
    assert book["ducha"].sheet_state == "hidden"
    sheet = book["进展表"]
    assert sheet.protection.sheet  # task columns are locked
    header = [c.value for c in sheet[HEADER_ROW + 1]]
    assert header[:4] == ["任务编号", "序号", "目标名称", "工作内容"] and "累计完成" in header
    first = HEADER_ROW + 2
    assert sheet.cell(first, 1).protection.locked
    assert sheet.cell(first, 1).value == "2026-001"  # a milestone task: status, no figures
    assert sheet.cell(first, COL["本月完成"] + 1).protection.locked
    assert not sheet.cell(first, COL["完成状态"] + 1).protection.locked
    metric_row = next(
        r for r in range(first, sheet.max_row) if sheet.cell(r, 1).value == "2026-003"
    )
    assert not sheet.cell(metric_row, COL["本月完成"] + 1).protection.locked
    validations = {
        str(dv.sqref).split(":")[0][:1]: dv for dv in sheet.data_validations.dataValidation
    }
    assert validations["O"].type == "list" and "序时推进" in validations["O"].formula1
    assert validations["M"].type == "decimal"
    # the unit's own allocation of 新增公共停车泊位 (300 of 1500) is written for it
    parking = [r for r in sheet.iter_rows(min_row=first, values_only=True) if r[0] == "2026-061"][0]
    assert parking[COL["年度目标"]] == 1500 and parking[COL["本单位分解目标"]] == 300


def test_templates_carry_last_months_cumulative(confirmed: Workspace, tmp_path: Path) -> None:
    feb = templates(confirmed, tmp_path / "02", "2026-02", "湖塘镇")[0]
    fill(feb, {("2026-061", 1): (20, 45)})
    ingest(confirmed, feb)
    march = templates(confirmed, tmp_path / "03", "2026-03", "湖塘镇")[0]
    sheet = openpyxl.load_workbook(march)["进展表"]
    parking = [r for r in sheet.iter_rows(values_only=True) if r[0] == "2026-061"][0]
    assert parking[COL["上月累计"]] == 45


def test_templates_bad_options(confirmed: Workspace, tmp_path: Path) -> None:
    from tests.helpers import assert_user_error

    assert_user_error(
        confirmed, ["templates", "--period", "2026-13", "--out", str(tmp_path)], "2026-13"
    )
    assert_user_error(
        confirmed,
        ["templates", "--period", "2026-03", "--unit", "火星镇", "--out", str(tmp_path)],
        "火星镇",
    )
    assert_user_error(
        confirmed, ["templates", "--period", "2025-03", "--out", str(tmp_path)], "2025"
    )


# ---------------------------------------------------------------- round trip


def test_round_trip_gives_exactly_the_numbers_typed(confirmed: Workspace, tmp_path: Path) -> None:
    paths = templates(confirmed, tmp_path / "t", "2026-03", "湖塘镇", "商务局", "高新区")
    expected = {}
    for path in paths:
        unit = path.name.split("-")[0]
        values = known_values(confirmed, unit)
        fill(
            path,
            values,
            target=tmp_path / "in" / path.name
            if (tmp_path / "in").mkdir(exist_ok=True) is None
            else None,
        )
        expected.update({(unit, t, p): v for (t, p), v in values.items()})
    results = ingest(confirmed, tmp_path / "in")
    assert [r["status"] for r in results] == ["accepted"] * 3
    assert rows(confirmed) == expected


@pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("CI"), reason="LibreOffice not installed"
)
def test_libreoffice_xls_round_trip_ingests_the_same_rows(
    confirmed: Workspace, tmp_path: Path
) -> None:
    """Filled files saved by LibreOffice as .xls, and back to .xlsx, give the same rows."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: .ci/run installs it"
    paths = templates(confirmed, tmp_path / "t", "2026-03", "湖塘镇", "商务局")
    filled = tmp_path / "filled"
    filled.mkdir()
    for path in paths:
        fill(
            path,
            known_values(confirmed, path.name.split("-")[0]),
            {"2026-001": "滞后"},
            filled / path.name,
        )
    ingest(confirmed, filled)
    reference = rows(confirmed)
    assert len(reference) > 20
    profile = f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}"
    for suffix, source in (("xls", filled), ("xlsx", tmp_path / "xls")):
        subprocess.run(
            [soffice, profile, "--headless", "--convert-to", suffix, "--outdir", str(tmp_path / suffix),
             *map(str, sorted(source.glob("*")))],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    for folder in (tmp_path / "xls", tmp_path / "xlsx"):
        other = Workspace(confirmed.root, confirmed.config, tmp_path / f"{folder.name}.duckdb")
        other.ok(
            "targets",
            "import",
            str(ROOT / "data/samples/wujin-2026-target-decomposition-table.txt"),
            "--year",
            "2026",
        )
        other.ok(
            "targets",
            "confirm",
            str(ROOT / "config/reviews/targets-2026.yaml"),
        )
        results = ingest(other, folder)
        assert [r["status"] for r in results] == ["accepted", "accepted"], results
        assert rows(other) == reference, folder.name
        statuses = (
            duckdb.connect(str(other.db), read_only=True)
            .sql("SELECT status FROM progress_tasks WHERE task_id = '2026-001'")
            .fetchall()
        )
        assert statuses == [("behind",), ("behind",)] or statuses == [("behind",)]


# ---------------------------------------------------------------- messy files


def expected_figures(ws: Workspace, unit: str, period: Period = MARCH) -> dict[tuple, tuple]:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        by_unit = unit_tasks(con, period)
    finally:
        con.close()
    counts = responsible_count(by_unit)
    out = {}
    for task in by_unit[unit]:
        for position, (month, cumulative) in figures(
            unit, task, period, counts.get(task.task_id, 0)
        ).items():
            out[(unit, task.task_id, position)] = (month, cumulative)
    return out, by_unit[unit], counts


def test_retyped_sheet_with_merged_two_level_header(confirmed: Workspace, tmp_path: Path) -> None:
    """Title rows, 完成情况 merged over 当月完成/累计完成数, no task ids, numbers as text."""
    expected, tasks, counts = expected_figures(confirmed, "牛塘镇")
    path = tmp_path / "牛塘镇-2026年3月进展.xlsx"
    write_retyped(path, "牛塘镇", MARCH, tasks, counts)
    sheet = openpyxl.load_workbook(path)["Sheet1"]
    typed = [
        c.value for row in sheet.iter_rows(min_row=5) for c in row[3:5] if isinstance(c.value, str)
    ]
    assert any(v.endswith(("个", "家", "场", "亩")) for v in typed) and any(
        "／" in v or "０" <= v[:1] <= "９" for v in typed
    )
    results = ingest(confirmed, path)
    assert results[0]["status"] == "accepted", results[0]["problems"]
    got = rows(confirmed, "牛塘镇")
    assert got == {k: v for k, v in expected.items() if v != (None, None)}
    reporter = (
        duckdb.connect(str(confirmed.db), read_only=True)
        .sql("SELECT reporter FROM submissions")
        .fetchall()
    )
    assert "李明" in reporter[0][0]


def test_gbk_csv_identified_by_its_title_line(confirmed: Workspace, tmp_path: Path) -> None:
    expected, tasks, counts = expected_figures(confirmed, "南夏墅街道")
    path = tmp_path / "进展情况.csv"  # the name says nothing: the first line does
    write_csv_gbk(path, "南夏墅街道", MARCH, tasks, counts)
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    results = ingest(confirmed, path)
    assert (results[0]["unit"], results[0]["period"], results[0]["status"]) == (
        "南夏墅街道",
        "2026-03",
        "accepted",
    )
    assert rows(confirmed, "南夏墅街道") == {k: v for k, v in expected.items() if v != (None, None)}


def test_renamed_template_still_knows_whose_it_is(confirmed: Workspace, tmp_path: Path) -> None:
    path = templates(confirmed, tmp_path, "2026-03", "洛阳镇")[0]
    renamed = path.with_name("最终版(2).xlsx")
    path.rename(renamed)
    fill(renamed, {("2026-061", 1): (5, 15)})
    result = ingest(confirmed, renamed)[0]
    assert (result["unit"], result["period"], result["status"]) == ("洛阳镇", "2026-03", "accepted")


def plain_sheet(
    path: Path, header: list[str], body: list[list[object]], title: list[str] | None = None
) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("报表")
    r = 0
    for line in title or []:
        sheet.write_string(r, 0, line)
        r += 1
    sheet.write_row(r, 0, header)
    for row in body:
        r += 1
        for c, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(r, c, value)
            elif value is not None:
                sheet.write_number(r, c, value)
    book.close()
    return path


def test_unit_and_period_from_file_name_then_options(confirmed: Workspace, tmp_path: Path) -> None:
    body = [["2026-061", 1, "３５", "1,200"]]
    header = ["任务编号", "指标序号", "当月完成", "累计完成"]
    named = plain_sheet(tmp_path / "湖塘镇-2026年3月进展.xlsx", header, body)
    assert ingest(confirmed, named)[0]["status"] == "accepted"
    assert rows(confirmed, "湖塘镇")[("湖塘镇", "2026-061", 1)] == (35.0, 1200.0)
    anonymous = plain_sheet(tmp_path / "报表.xlsx", header, [["2026-061", 1, "2", "1.2万"]])
    result = ingest(confirmed, anonymous)[0]
    assert result["status"] == "rejected" and "无法确定填报单位" in json.dumps(
        result, ensure_ascii=False
    )
    result = ingest(confirmed, anonymous, extra=("--unit", "高新区", "--period", "2026-03"))[0]
    assert (result["unit"], result["status"]) == ("高新区", "accepted")
    assert rows(confirmed, "高新区")[("高新区", "2026-061", 1)] == (2.0, 12000.0)


def test_signals_that_disagree_reject_the_file(confirmed: Workspace, tmp_path: Path) -> None:
    path = templates(confirmed, tmp_path, "2026-03", "湖塘镇")[0]
    fill(path, {("2026-061", 1): (5, 15)})
    wrong_name = path.with_name("牛塘镇-2026年3月进展.xlsx")
    path.rename(wrong_name)
    result = ingest(confirmed, wrong_name)[0]
    assert result["status"] == "rejected"
    assert any("湖塘镇" in p["message"] and "牛塘镇" in p["message"] for p in result["problems"])
    wrong_month = plain_sheet(
        tmp_path / "湖塘镇-2026年2月进展.xlsx", ["任务编号", "指标序号", "本月完成", "累计完成"],
        [["2026-061", 1, 1, 2]], title=["填报单位：湖塘镇", "2026年3月目标任务进展"],
    )  # fmt: skip
    result = ingest(confirmed, wrong_month)[0]
    assert result["status"] == "rejected" and "不一致" in result["problems"][0]["message"]
    assert rows(confirmed) == {}


def test_rows_map_by_seq_and_by_text_with_the_fuzzy_score_kept(
    confirmed: Workspace, tmp_path: Path
) -> None:
    header = ["序号", "工作内容", "本月完成数", "1-3月累计", "进展情况"]
    body = [
        [61, "", 3, 30, "推进中"],                                   # by 序号 (table order)
        ["", "更新老旧小区636户以上。", 10, 50, "按计划"],             # exact text
        ["", "深化老旧电梯更新工作，实施老旧电梯更新454台", 4, 40, ""],  # fuzzy text
    ]  # fmt: skip
    path = plain_sheet(
        tmp_path / "湖塘镇2026年3月.xlsx", header, body, title=["湖塘镇2026年3月进展"]
    )
    result = ingest(confirmed, path)[0]
    assert result["status"] == "accepted", result["problems"]
    assert rows(confirmed, "湖塘镇") == {
        ("湖塘镇", "2026-061", 1): (3.0, 30.0),
        ("湖塘镇", "2026-059", 1): (10.0, 50.0),
        ("湖塘镇", "2026-058", 1): (4.0, 40.0),
    }
    con = duckdb.connect(str(confirmed.db), read_only=True)
    methods = dict(
        con.sql(
            "SELECT task_id, match_method || ':' || round(match_score) FROM progress_metrics"
        ).fetchall()
    )
    assert methods["2026-061"] == "seq:100.0" and methods["2026-059"] == "text:100.0"
    assert (
        methods["2026-058"].startswith("fuzzy:") and float(methods["2026-058"].split(":")[1]) < 100
    )
    assert any(p["severity"] == "warning" and "近似" in p["message"] for p in result["problems"])


def test_several_sheets_notes_rows_and_empty_marks(confirmed: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "湖塘镇-2026年3月进展.xlsx"
    book = xlsxwriter.Workbook(str(path))
    one = book.add_worksheet("经济指标")
    one.write_row(0, 0, ["任务编号", "指标序号", "本月完成", "累计完成"])
    one.write_row(1, 0, ["2026-061", 1, "/", "—"])
    one.write_row(2, 0, ["2026-059", 1, "无", 12])
    one.write_row(4, 0, ["填报人：张三  电话：0519-86000000"])
    two = book.add_worksheet("重点工作")
    two.write_row(0, 0, ["任务编号", "完成状态", "进展情况", "存在问题", "下步打算"])
    two.write_row(1, 0, ["2026-001", "正常推进", "组织音乐节", "无", "继续推进"])
    book.close()
    result = ingest(confirmed, path)[0]
    assert result["status"] == "accepted", result["problems"]
    assert rows(confirmed, "湖塘镇") == {("湖塘镇", "2026-059", 1): (None, 12.0)}
    con = duckdb.connect(str(confirmed.db), read_only=True)
    assert con.sql("SELECT task_id, status, progress, issues FROM progress_tasks").fetchall() == [
        ("2026-001", "on_schedule", "组织音乐节", None)
    ]


# ---------------------------------------------------------------- checks


@pytest.mark.parametrize(
    ("body", "cell", "needle"),
    [
        ([["2026-061", 1, 3, "约三十"]], "D2", "“约三十”不是有效数字"),
        ([["2026-061", 1, -3, 10]], "C2", "负数"),
        ([["2026-061", 1, 30, 10]], "C2", "本月完成（30）大于累计完成（10）"),
        ([["2026-061", 1, 3, 20000]], "D2", "超过年度目标"),
        ([["2026-061", 1, 3, 10], ["2026-061", 1, 3, 10]], "A3", "出现了两次"),
        ([["2026-999", 1, 3, 10]], "A2", "不是本单位"),
        ([["2025-061", 1, 3, 10]], "A2", "无效"),
        ([["2026-061", 7, 3, 10]], "B2", "指标序号“7”"),
        ([["", "", 3, 10]], "A2", "对应不到任务"),
    ],
)
def test_errors_reject_the_whole_file_with_sheet_and_cell(
    confirmed: Workspace, tmp_path: Path, body: list, cell: str, needle: str
) -> None:
    good = [["2026-059", 1, 1, 5]]
    path = plain_sheet(
        tmp_path / "湖塘镇-2026年3月.xlsx",
        ["任务编号", "指标序号", "本月完成", "累计完成"],
        good + body,
    )
    shift = {"D2": "D3", "C2": "C3", "A2": "A3", "B2": "B3", "A3": "A4"}[cell]
    result = ingest(confirmed, path)[0]
    assert result["status"] == "rejected" and result["rows"] == 0
    errors = [p for p in result["problems"] if p["severity"] == "error"]
    assert any(
        p["sheet"] == "报表" and p["cell"] == shift and needle in p["message"] for p in errors
    ), errors
    assert rows(confirmed) == {}  # not even the good row
    receipt = (
        duckdb.connect(str(confirmed.db), read_only=True)
        .sql("SELECT receipt FROM submissions")
        .fetchall()[0][0]
    )
    assert f"报表!{shift}：" in receipt and "本文件未入库" in receipt


def test_formula_without_a_cached_value_is_an_error(confirmed: Workspace, tmp_path: Path) -> None:
    path = templates(confirmed, tmp_path, "2026-03", "湖塘镇")[0]
    book = openpyxl.load_workbook(path)
    sheet = book["进展表"]
    row = next(r for r in range(4, sheet.max_row + 1) if sheet.cell(r, 1).value == "2026-061")
    sheet.cell(row, COL["本月完成"] + 1).value = 5
    sheet.cell(row, COL["累计完成"] + 1).value = f"=L{row}+M{row}"  # openpyxl saves no cached value
    book.save(path)
    result = ingest(confirmed, path)[0]
    assert result["status"] == "rejected"
    assert any(p["cell"] == f"N{row}" and "公式" in p["message"] for p in result["problems"])


def test_cumulative_below_last_month_is_a_warning(confirmed: Workspace, tmp_path: Path) -> None:
    header = ["任务编号", "指标序号", "本月完成", "累计完成"]
    feb = plain_sheet(tmp_path / "湖塘镇-2026年2月.xlsx", header, [["2026-061", 1, 10, 40]])
    ingest(confirmed, feb)
    march = plain_sheet(
        tmp_path / "湖塘镇-2026年3月.xlsx", header, [["2026-061", 1, 5, 35], ["2026-059", 1, 4, ""]]
    )
    result = ingest(confirmed, march)[0]
    assert result["status"] == "accepted"
    warnings = [p["message"] for p in result["problems"] if p["severity"] == "warning"]
    assert any("低于上月累计（40）" in w for w in warnings)
    assert rows(confirmed, "湖塘镇")[("湖塘镇", "2026-059", 1)] == (
        4.0,
        None,
    )  # no January figure to add to


def test_month_only_in_january_counts_as_cumulative(confirmed: Workspace, tmp_path: Path) -> None:
    jan = plain_sheet(
        tmp_path / "湖塘镇-2026年1月.xlsx",
        ["任务编号", "指标序号", "本月完成"],
        [["2026-061", 1, 12]],
    )
    result = ingest(confirmed, jan)[0]
    assert result["status"] == "accepted"
    assert rows(confirmed, "湖塘镇", "2026-01") == {("湖塘镇", "2026-061", 1): (12.0, 12.0)}


# ---------------------------------------------------------------- history


def test_duplicate_and_superseded_keep_history(confirmed: Workspace, tmp_path: Path) -> None:
    header = ["任务编号", "指标序号", "本月完成", "累计完成"]
    first = plain_sheet(
        tmp_path / "a" / "湖塘镇-2026年3月.xlsx" if (tmp_path / "a").mkdir() is None else None,
        header,
        [["2026-061", 1, 5, 20]],
    )
    assert ingest(confirmed, first)[0]["status"] == "accepted"
    before = confirmed.state()
    copy = tmp_path / "湖塘镇3月（重发）.xlsx"
    shutil.copy(first, copy)
    dup = ingest(confirmed, copy)[0]
    assert dup["status"] == "duplicate"
    assert confirmed.state() == before  # an identical file changes nothing
    text = confirmed.ok("ingest", str(copy), "--verbose")
    assert "湖塘镇3月（重发）.xlsx：重复（未重复入库）" in text
    assert text.strip().endswith("共 1 个文件：重复（未重复入库） 1。")
    second = plain_sheet(tmp_path / "湖塘镇-2026年3月-更正.xlsx", header, [["2026-061", 1, 6, 21]])
    assert ingest(confirmed, second)[0]["status"] == "superseded"
    assert rows(confirmed, "湖塘镇") == {("湖塘镇", "2026-061", 1): (6.0, 21.0)}
    con = duckdb.connect(str(confirmed.db), read_only=True)
    history = con.sql(
        "SELECT file_name, status, superseded_by IS NOT NULL, supersedes IS NOT NULL FROM submissions ORDER BY submission_id"
    ).fetchall()
    assert history == [
        ("湖塘镇-2026年3月.xlsx", "accepted", True, False),
        ("湖塘镇-2026年3月-更正.xlsx", "accepted", False, True),
    ]
    assert con.sql("SELECT count(*) FROM progress_metrics").fetchall() == [
        (2,)
    ]  # both versions kept


def test_every_file_is_archived_unchanged_under_its_sha256(
    confirmed: Workspace, tmp_path: Path
) -> None:
    import hashlib

    good = plain_sheet(
        tmp_path / "湖塘镇-2026年3月.xlsx",
        ["任务编号", "指标序号", "本月完成", "累计完成"],
        [["2026-061", 1, 5, 20]],
    )
    bad = tmp_path / "牛塘镇-2026年3月.xlsx"
    bad.write_bytes(b"PK\x03\x04 truncated")
    results = ingest(confirmed, tmp_path)
    assert sorted(r["status"] for r in results) == ["accepted", "rejected"]
    for path in (good, bad):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        archived = confirmed.db.parent / "archive" / digest[:2] / f"{digest}.xlsx"
        assert archived.read_bytes() == path.read_bytes()


def test_receipt_and_json_shape(confirmed: Workspace, tmp_path: Path) -> None:
    path = plain_sheet(tmp_path / "湖塘镇-2026年3月.xlsx", ["任务编号", "指标序号", "本月完成", "累计完成"],
                       [["2026-061", 1, 3, "约三十"]], title=[""])  # fmt: skip
    result = ingest(confirmed, path)[0]
    assert set(result) == {"file", "unit", "period", "status", "rows", "problems"}
    assert set(result["problems"][0]) == {"sheet", "cell", "severity", "message"}
    receipt = (
        duckdb.connect(str(confirmed.db), read_only=True)
        .sql("SELECT receipt FROM submissions")
        .fetchall()[0][0]
    )
    assert "报表!D3：“约三十”不是有效数字" in receipt
    assert receipt.startswith("【回执】湖塘镇 2026年3月")
    text = confirmed.ok("ingest", str(path))
    assert "未接收" in text and "报表!D3：“约三十”不是有效数字" in text


def test_a_new_workspace_gets_its_inbox(confirmed: Workspace) -> None:
    """`ducha ingest` with no paths reads data/inbox/; a workspace that has none yet gets an
    empty one (the daily flow ingests every day, from the first)."""
    inbox = confirmed.db.parent / "inbox"
    assert not inbox.exists()
    before = confirmed.state()
    assert "中没有待接收的" in confirmed.ok("ingest")
    assert inbox.is_dir() and not any(inbox.iterdir())
    assert confirmed.state() == before
    from tests.helpers import assert_user_error

    inbox.rmdir()
    inbox.write_text("一个文件占了收件目录的名字", encoding="utf-8")
    assert_user_error(confirmed, ["ingest"], "无法创建收件目录", "已有同名文件")


def test_ingest_bad_options(confirmed: Workspace, tmp_path: Path) -> None:
    from tests.helpers import assert_user_error

    assert_user_error(confirmed, ["ingest", str(tmp_path / "无此目录")], "找不到")
    assert_user_error(confirmed, ["ingest", str(tmp_path), "--period", "2026年3月"], "报送期")
    assert_user_error(confirmed, ["ingest", str(tmp_path), "--unit", "火星镇"], "火星镇")


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "measure", "value"),
    [
        ("35个", "个", 35), ("1,200", "个", 1200), ("1.2万", "人", 12000), ("３５", "个", 35),
        ("5.2%", "%", 5.2), ("/", "个", None), ("—", "个", None), ("无", "个", None), ("", "个", None),
        ("3.5亿元", "亿元", 3.5), ("35000万元", "亿元", 3.5), (" 12 ", "个", 12), ("-3.1", "%", -3.1),
    ],
)  # fmt: skip
def test_parse_number(text: str, measure: str, value: float | None) -> None:
    assert parse_number(text, measure) == value


@pytest.mark.parametrize("text", ["约三十", "三十", "1.2.3", "abc", "12个左右吧", "1e5x"])
def test_parse_number_rejects(text: str) -> None:
    with pytest.raises(ValueProblem, match="不是有效数字"):
        parse_number(text, "个")


def test_parse_status() -> None:
    assert parse_status("序时推进") == "on_schedule" and parse_status(" 已完成 ") == "done"
    assert parse_status("未开始") == "not_started" and parse_status("/") is None
    with pytest.raises(ValueProblem, match="完成状态“差不多”无效"):
        parse_status("差不多")


def test_supersede_within_one_batch(confirmed: Workspace, tmp_path: Path) -> None:
    header = ["任务编号", "指标序号", "本月完成", "累计完成"]
    first = plain_sheet(tmp_path / "湖塘镇-2026年3月.xlsx", header, [["2026-061", 1, 5, 20]])
    second = plain_sheet(
        tmp_path / "湖塘镇-2026年3月（更正）.xlsx", header, [["2026-061", 1, 6, 21]]
    )
    os.utime(first, (1_770_000_000, 1_770_000_000))
    os.utime(second, (1_770_000_600, 1_770_000_600))  # arrived ten minutes later
    assert [r["status"] for r in ingest(confirmed, tmp_path)] == ["accepted", "superseded"]
    con = duckdb.connect(str(confirmed.db), read_only=True)
    assert con.sql("SELECT file_name FROM latest_submissions").fetchall() == [
        ("湖塘镇-2026年3月（更正）.xlsx",)
    ]
    assert rows(confirmed, "湖塘镇") == {("湖塘镇", "2026-061", 1): (6.0, 21.0)}


def test_task_texts_that_start_like_notes_are_rows_not_notes() -> None:
    """Found in review: “注重生态保护，…” was taken for a notes row (it starts with 注) and
    dropped. A notes row needs a colon after its word (填报人 and 联系人 also a space), and a
    row whose text names one of the unit's tasks is never a notes row."""
    from ducha.submissions.assignments import MetricLine, TaskLines
    from ducha.submissions.results import Before, FileResult
    from ducha.submissions.rows import UnitIndex, parse_rows
    from ducha.submissions.spreadsheet import Sheet, Workbook

    def task(task_id: str, seq: int, content: str) -> TaskLines:
        metric = MetricLine(1, "数量", 100.0, "处", "cumulative", None)
        return TaskLines(task_id, seq, "改善生态环境", content, ["住建局"], "lead", [metric])

    tasks = [
        task("2026-001", 1, "注重生态保护，建成口袋公园8处。"),
        task("2026-002", 2, "电话回访群众满意度，完成回访1200户。"),
        task("2026-003", 3, "说明：新建城市绿道20公里。"),
    ]
    rows = [
        ["工作内容", "本月完成", "累计完成"],
        ["注重生态保护，建成口袋公园8处。", 1, 3],
        ["电话回访群众满意度，完成回访1200户。", 100, 300],
        ["说明：新建城市绿道20公里。", 2, 5],
        ["注：以上数据为初步统计", "", 7],
        ["填报人：张三  电话：0519-86000000", "", ""],
    ]
    result = FileResult(Path("住建局-2026年3月.xlsx"), "0" * 64, unit="住建局")
    parse_rows(result, Workbook([Sheet("报表", rows)]), UnitIndex.build(tasks), Before(MARCH, {}))
    assert result.ok, result.problems
    assert {(m.task_id, m.cumulative_value) for m in result.metrics} == {
        ("2026-001", 3.0),
        ("2026-002", 300.0),
        ("2026-003", 5.0),
    }
    assert result.reporter is not None and result.reporter.startswith("填报人")


@pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("CI"), reason="LibreOffice not installed"
)
def test_error_cells_are_errors_in_xls_too(confirmed: Workspace, tmp_path: Path) -> None:
    """calamine reads #DIV/0! / #N/A as empty cells in .xls as in .xlsx: both are found in
    the file itself (BIFF records here) and reject the file naming the cells."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: .ci/run installs it"
    path = templates(confirmed, tmp_path / "t", "2026-03", "湖塘镇")[0]
    book = openpyxl.load_workbook(path)
    sheet = book[MAIN_SHEET]
    row = next(r for r in range(4, sheet.max_row + 1) if sheet.cell(r, 1).value == "2026-061")
    sheet.cell(row, COL["本月完成"] + 1).value = "#N/A"  # openpyxl writes error cells
    sheet.cell(row, COL["累计完成"] + 1).value = "#DIV/0!"
    filled = tmp_path / "filled"
    filled.mkdir()
    book.save(filled / path.name)
    profile = f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}"
    subprocess.run(
        [soffice, profile, "--headless", "--convert-to", "xls", "--outdir", str(tmp_path / "xls"),
         str(filled / path.name)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    result = ingest(confirmed, tmp_path / "xls")[0]
    assert result["status"] == "rejected"
    cells = {p["cell"]: p["message"] for p in result["problems"] if p["severity"] == "error"}
    month, cumulative = f"M{row}", f"N{row}"
    assert "#N/A" in cells[month] and "#DIV/0!" in cells[cumulative], cells


# ---------------------------------------------------------------- worker processes


def test_workers_use_figures_stored_earlier_in_the_run(
    confirmed: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes check with a copy of the database taken when the run starts. A
    March file whose 累计完成 is left blank needs February's figure, which this same run
    stores first (one file per batch): the March file is checked again in the main process,
    so the result is what one process checking every file would store."""
    import ducha.submissions.ingest
    import ducha.submissions.parallel
    from ducha.config import load_config
    from ducha.db import opened

    folder = tmp_path / "in"
    folder.mkdir()
    header = ["任务编号", "指标序号", "本月完成", "累计完成"]
    feb = plain_sheet(folder / "湖塘镇-2026年2月.xlsx", header, [["2026-061", 1, 10, 40]])
    march = plain_sheet(folder / "湖塘镇-2026年3月.xlsx", header, [["2026-061", 1, 5, ""]])
    os.utime(feb, (1_775_000_000, 1_775_000_000))
    os.utime(march, (1_775_000_060, 1_775_000_060))
    monkeypatch.setenv("DUCHA_INGEST_WORKERS", "2")
    monkeypatch.setattr(ducha.submissions.parallel, "SERIAL_CHUNKS", 0)  # every file to the workers
    with opened(confirmed.db) as con:
        results = ducha.submissions.ingest.ingest(
            con, [folder], register=load_config(confirmed.config).units, workspace="wujin",
            archive_dir=tmp_path / "archive", batch_files=1,
        )  # fmt: skip
    assert [(r.path.name, r.status) for r in results] == [
        (feb.name, "accepted"),
        (march.name, "accepted"),
    ]
    assert results[0].worker not in (None, os.getpid())  # February: checked by a worker
    assert results[1].worker is None  # March: checked again here, with February's figure
    assert rows(confirmed, "湖塘镇")[("湖塘镇", "2026-061", 1)] == (5.0, 45.0)
    assert any("按上月累计加本月完成计为 45" in p.message for p in results[1].problems)


def test_one_row_per_metric_and_task_of_a_submission(sample_months: Workspace) -> None:
    """progress_metrics and progress_tasks have no key (migration 006): ingest itself writes
    one row per (submission, task, metric) and per (submission, task)."""
    con = duckdb.connect(str(sample_months.db), read_only=True)
    try:
        counts = con.sql(
            """
            SELECT
                (SELECT count(*) FROM progress_metrics),
                (SELECT count(*) FROM (SELECT DISTINCT submission_id, task_id, position
                                       FROM progress_metrics)),
                (SELECT count(*) FROM progress_tasks),
                (SELECT count(*) FROM (SELECT DISTINCT submission_id, task_id FROM progress_tasks))
            """
        ).fetchall()[0]
    finally:
        con.close()
    assert counts[0] > 1000 and counts[2] > 100
    assert counts[0] == counts[1] and counts[2] == counts[3]


def test_worker_results_survive_pickling() -> None:
    """Worker processes send FileResults back pickled in a compact form (figures and
    narratives as tuples): what arrives equals what was sent."""
    import pickle
    from datetime import datetime

    from ducha.submissions.results import ERROR, FileResult, MetricFigure, TaskNarrative

    sent = FileResult(
        Path("湖塘镇-2026年3月.xlsx"), "ab" * 32, "湖塘镇", "2026-03", status="accepted",
        metrics=[
            MetricFigure("2026-061", 1, 5.0, 45.0, "进展表", 7, "task_id", 100.0),
            MetricFigure("2026-062", 2, None, 3.5, "Sheet1", 9, "fuzzy", 91.5),
        ],
        tasks=[TaskNarrative("2026-061", "序时推进", "已开工", None, "下月竣工")],
        reporter="填报人：张三", received_at=datetime(2026, 4, 3, 9, 30), archive_path="x/ab.xlsx",
        receipt="回执", worker=4321,
    )  # fmt: skip
    sent.add(ERROR, "“约三十”不是有效数字", "Sheet1", "F12")
    arrived = pickle.loads(pickle.dumps(sent))
    assert arrived == sent
    assert isinstance(arrived.metrics[1], MetricFigure) and arrived.rows == sent.rows == 2


def test_checking_files_needs_neither_duckdb_nor_polars() -> None:
    """Worker processes import ducha.submissions.parallel to check files; DuckDB and polars (0.4 s of
    their start) are imported only where the batch is written."""
    code = (
        "import sys, ducha.submissions.parallel; "
        "print(sorted(m for m in ('duckdb', 'polars') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=ROOT,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_checking_processes_need_no_pydantic() -> None:
    """Nor pydantic (0.17 s of a worker's start): the configuration and the flows' parameter
    types are read in the main process only."""
    code = "import sys, ducha.submissions.parallel; print('pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT)  # fmt: skip
    assert done.stdout.strip() == "False"


def test_unit_tasks_sent_to_workers_read_the_same(confirmed: Workspace) -> None:
    """A worker's copy of every unit's tasks travels with roles and task ids
    dictionary-encoded and arrives with plain strings again (rows of dictionary columns read
    ten times slower): each unit gets the same TaskLines as from the original."""
    import pickle

    import pyarrow as pa

    from ducha.periods import Period
    from ducha.submissions.assignments import unit_tasks

    con = duckdb.connect(str(confirmed.db), read_only=True)
    try:
        original = unit_tasks(con, Period(2026, 3))
    finally:
        con.close()
    arrived = pickle.loads(pickle.dumps(original))
    assert not any(pa.types.is_dictionary(f.type) for f in arrived._assignments.schema)
    assert list(arrived) == list(original) and len(original) > 10
    for unit in original:
        assert arrived[unit] == original[unit]


def test_calamine_reads_the_checked_parts_stored(confirmed: Workspace, tmp_path: Path) -> None:
    """calamine is given the package with the parts inflated and checked stored uncompressed
    (it reads exactly the bytes checked, once): a valid zip, with the same cells as the
    file sent, and a broken member calamine never reads (a picture) is left out."""
    import io
    import zipfile

    from python_calamine import CalamineWorkbook

    from ducha.submissions.containers import check_xlsx_package
    from ducha.submissions.spreadsheet import read_workbook

    [path] = templates(confirmed, tmp_path / "t", "2026-03", "湖塘镇")
    fill(path, {("2026-061", 1): (5, 45)}, {"2026-001": "滞后"})
    sent = path.read_bytes()
    package, marks = check_xlsx_package(sent)
    with zipfile.ZipFile(io.BytesIO(package)) as stored:
        assert stored.testzip() is None  # every member's CRC holds
        methods = {i.filename: i.compress_type for i in stored.infolist()}
    assert methods["xl/workbook.xml"] == methods["xl/worksheets/sheet1.xml"] == zipfile.ZIP_STORED

    def cells(data: bytes) -> list[list[list[object]]]:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        return [
            book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            for name in book.sheet_names
        ]

    assert cells(package) == cells(sent) and marks == {}
    expected = [s.rows for s in read_workbook(path.name, sent).sheets]
    assert any(45 in row for row in expected[0])

    # a picture whose local header is broken: calamine does not read it, it is left out
    with zipfile.ZipFile(io.BytesIO(sent)) as source:
        members = [(i, source.read(i)) for i in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as rebuilt:
        for info, body in members:
            rebuilt.writestr(info, body)
        rebuilt.writestr("xl/media/image1.png", b"\x89PNG" + b"0" * 500)
    damaged = bytearray(buffer.getvalue())
    at = damaged.rfind(b"PK\x03\x04")  # the picture's local header, the last one written
    damaged[at : at + 4] = b"XXXX"
    package, _ = check_xlsx_package(bytes(damaged))
    with zipfile.ZipFile(io.BytesIO(package)) as stored:
        assert "xl/media/image1.png" not in stored.namelist()
    assert [s.rows for s in read_workbook(path.name, bytes(damaged)).sheets] == expected


# ------------------------------------------------------------------ when a file was received


def _received(ws: Workspace) -> dict[str, object]:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        return dict(con.sql("SELECT file_name, received_at FROM submissions").fetchall())
    finally:
        con.close()


def test_received_when_it_arrived_never_by_its_modification_time(
    confirmed: Workspace, tmp_path: Path
) -> None:
    """The same report, once copied in plainly and once with its modification time set far back
    (`touch -d`, or as zip and rsync keep the sender's): both are received now, so neither is
    judged on time for a deadline long past, nor late for one to come."""
    import datetime as dt

    header = ["任务编号", "指标序号", "本月完成", "累计完成"]
    made = plain_sheet(tmp_path / "src" / "湖塘镇-2026年3月.xlsx" if (tmp_path / "src").mkdir() is None else None,
                       header, [["2026-061", 1, 5, 20]])  # fmt: skip
    inbox = confirmed.db.parent / "inbox"
    inbox.mkdir(parents=True)
    plain = inbox / "湖塘镇-2026年3月.xlsx"
    shutil.copy(made, plain)  # cp
    old = inbox / "牛塘镇-2026年3月.xlsx"
    plain_sheet(old, header, [["2026-061", 1, 4, 19]])
    subprocess.run(["touch", "-d", "2026-04-01 08:00", str(old)], check=True)
    from ducha import clock

    before = clock.now("Asia/Shanghai")  # the workspace's timezone, whatever the machine's
    ingest(confirmed)
    after = clock.now("Asia/Shanghai")
    times = _received(confirmed)
    assert set(times) == {plain.name, old.name}
    for name, when in times.items():
        assert before - dt.timedelta(minutes=1) <= when <= after + dt.timedelta(seconds=1), (
            name,
            when,
        )


def test_received_at_given_for_a_file_that_came_another_way(
    confirmed: Workspace, tmp_path: Path
) -> None:
    """A report that came by e-mail on the deadline and is put in by hand later keeps the time
    it was received (ducha ingest --received-at)."""
    path = plain_sheet(tmp_path / "湖塘镇-2026年3月.xlsx", ["任务编号", "指标序号", "本月完成", "累计完成"],
                       [["2026-061", 1, 5, 20]])  # fmt: skip
    ingest(confirmed, path, extra=("--received-at", "2026-04-08T16:30"))
    import datetime as dt

    assert _received(confirmed) == {path.name: dt.datetime(2026, 4, 8, 16, 30)}
    from tests.helpers import assert_user_error

    assert_user_error(
        confirmed, ["ingest", str(path), "--received-at", "4月8日"], "收到时间", "2026-04-08T16:30"
    )


def test_the_inbox_is_emptied_and_a_rejected_file_stays_findable(confirmed: Workspace) -> None:
    """Once its batch is committed a file leaves data/inbox/: an accepted one for
    data/received/<day>/, a rejected one for data/rejected/<day>/, which its receipt names. The
    next run reads nothing again and answers no draft twice."""

    header = ["任务编号", "指标序号", "本月完成", "累计完成"]
    inbox = confirmed.db.parent / "inbox"
    (inbox / "3月").mkdir(parents=True)
    good = plain_sheet(inbox / "3月" / "湖塘镇-2026年3月.xlsx", header, [["2026-061", 1, 5, 20]])
    bad = plain_sheet(inbox / "牛塘镇-2026年3月.xlsx", header, [["2026-061", 1, 3, "约三十"]])
    good_bytes, bad_bytes = good.read_bytes(), bad.read_bytes()
    results = {Path(r["file"]).name: r["status"] for r in ingest(confirmed)}
    assert results == {good.name: "accepted", bad.name: "rejected"}
    assert not any(inbox.iterdir())  # emptied, the emptied sub-folder too
    from ducha import clock

    day = clock.today("Asia/Shanghai").isoformat()
    data = confirmed.db.parent
    assert (data / "received" / day / "3月" / good.name).read_bytes() == good_bytes
    kept = data / "rejected" / day / bad.name
    assert kept.read_bytes() == bad_bytes
    con = duckdb.connect(str(confirmed.db), read_only=True)
    receipt = con.sql("SELECT receipt FROM submissions WHERE status = 'rejected'").fetchall()[0][0]
    con.close()
    assert f"原文件已移出收件目录，留存于数据目录 rejected/{day}/{bad.name}" in receipt
    before = confirmed.state()
    assert "中没有待接收的" in confirmed.ok("ingest")  # nothing read again
    # the same draft sent again: no second receipt row, and it leaves the inbox under another name
    shutil.copy(kept, inbox / bad.name)
    assert ingest(confirmed)[0]["status"] == "rejected"
    assert confirmed.state() == before
    assert (data / "rejected" / day / "牛塘镇-2026年3月（2）.xlsx").exists()


def test_files_named_from_elsewhere_stay_where_they_are(
    confirmed: Workspace, tmp_path: Path
) -> None:
    path = plain_sheet(tmp_path / "湖塘镇-2026年3月.xlsx", ["任务编号", "指标序号", "本月完成", "累计完成"],
                       [["2026-061", 1, 5, 20]])  # fmt: skip
    assert ingest(confirmed, path)[0]["status"] == "accepted"
    assert path.exists()  # the sender's own copy, not the inbox


def test_tasks_of_the_units_expected_only(confirmed: Workspace) -> None:
    """Files of known units (the portal's uploads) load only those units' tasks, the same lists
    as when every unit's are loaded; a unit outside them makes the context load every unit."""
    from ducha.config import load_config
    from ducha.submissions.checking import Context

    con = duckdb.connect(str(confirmed.db), read_only=True)
    try:
        every = unit_tasks(con, MARCH)
        chosen = unit_tasks(con, MARCH, ["湖塘镇", "教育局"])
        assert sorted(chosen) == ["教育局", "湖塘镇"] and len(every) > 10
        assert chosen["湖塘镇"] == every["湖塘镇"] and chosen["教育局"] == every["教育局"]
        assert dict(unit_tasks(con, MARCH, [])) == {}
        register = load_config(confirmed.config).units
        ctx = Context("wujin", register, con=con, units=frozenset({"湖塘镇"}))
        assert ctx.index_of("湖塘镇", MARCH) is not None and list(ctx.years[2026]) == ["湖塘镇"]
        assert ctx.index_of("教育局", MARCH) is not None and ctx.units is None
        assert len(ctx.years[2026]) == len(every)
    finally:
        con.close()
