"""Importing the decomposition table: formats, resolution, ids, history, broken input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
import xlsxwriter
import yaml

from demo.samples import write_docx, write_xlsx
from ducha.targets.tables import read_table
from tests.helpers import (
    ROOT,
    SEED_TABLE,
    Workspace,
    assert_user_error,
    by_id,
    corrected_table,
    metric_tuples,
    show,
)

TOWNS = ["湖塘镇", "牛塘镇", "洛阳镇", "雪堰镇", "前黄镇", "礼嘉镇", "嘉泽镇", "湟里镇"]
ZONES = ["高新区", "西太湖"]
STREETS = ["南夏墅街道", "西湖街道"]


# ------------------------------------------------------------------ the seed


def test_seed_imports_94_tasks_in_table_order(imported: Workspace) -> None:
    tasks = show(imported)
    assert [t["id"] for t in tasks] == [f"2026-{n:03d}" for n in range(1, 95)]
    assert set(tasks[0]) == {
        "id",
        "goal",
        "content",
        "leaders",
        "lead_units",
        "responsible_units",
        "metrics",
        "deadline",
    }
    assert {t["deadline"] for t in tasks} == {None}  # the seed table has no 完成时限 column
    t = by_id(tasks)
    assert t["2026-001"]["leaders"] == ["王斐", "王婷"]  # “王  斐” normalised
    assert t["2026-001"]["lead_units"] == ["商务局", "文体广旅局"]
    assert t["2026-002"]["goal"] == "提振消费市场"  # blank goal inherits the one above
    assert t["2026-005"]["goal"] == "强化项目支撑"
    assert t["2026-001"]["responsible_units"] == TOWNS + ZONES + STREETS  # 各镇、开发区、街道
    assert t["2026-005"]["responsible_units"] == TOWNS + ZONES  # 各镇、开发区
    assert t["2026-043"]["responsible_units"] == TOWNS + STREETS  # 各镇、街道
    # every task has its leaders (but one the table leaves blank) and lead units resolved
    assert all(task["lead_units"] for task in tasks)
    assert sum(1 for task in tasks if not task["leaders"]) == 1
    no_leader = next(task for task in tasks if not task["leaders"])
    assert no_leader["content"].startswith("健全综治中心实战体系") and no_leader["lead_units"] == [
        "综治中心"
    ]


def test_seed_metrics_named_in_the_issue(imported: Workspace) -> None:
    t = by_id(show(imported))
    assert metric_tuples(t["2026-007"]) == [
        (180, "个", "cumulative", "at_least"),
        (31, "个", "cumulative", "at_least"),
        (5, "%", "growth", "about"),
    ]
    assert [m[0] for m in metric_tuples(t["2026-005"])] == [3, 5, 24, 119]
    assert {m[1] for m in metric_tuples(t["2026-005"])} == {"个"}
    assert "PM2.5" in t["2026-066"]["content"] and t["2026-066"]["metrics"] == []
    assert "15分钟医保服务圈" in t["2026-077"]["content"] and t["2026-077"]["metrics"] == []
    assert not any(m["confirmed"] for task in t.values() for m in task["metrics"])


def test_related_units_from_config_or_pending(imported: Workspace) -> None:
    t = by_id(show(imported))
    # 2026-008: 相关单位 listed in config/related_units.yaml, plus 各镇、开发区
    assert t["2026-008"]["responsible_units"] == TOWNS + ZONES + ["住建局", "自然资源和规划分局"]
    # 2026-031: 相关单位 with no list: the lead unit reports, and the import says so
    assert t["2026-031"]["responsible_units"] == ["科技局"]
    out = imported.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    assert "相关单位" in out and "2026-031" in out and "2026-008" not in out.split("相关单位")[-1]


def test_text_docx_and_xlsx_give_the_same_register(imported: Workspace, tmp_path: Path) -> None:
    """The bundled .docx and .xlsx (written by python-docx and xlsxwriter, goal cells merged)."""
    ws = imported
    expected = show(ws)
    for path in (SEED_TABLE.with_suffix(".docx"), SEED_TABLE.with_suffix(".xlsx")):
        other = Workspace(ws.root, ws.config, tmp_path / f"{path.suffix[1:]}.duckdb")
        other.ok("targets", "import", str(path), "--year", "2026")
        assert show(other) == expected, path.suffix


def test_bundled_docx_and_xlsx_samples_match_the_text(tmp_path: Path) -> None:
    text = read_table(SEED_TABLE).rows
    for suffix in ("docx", "xlsx"):
        rows = read_table(SEED_TABLE.with_suffix(f".{suffix}")).rows
        assert [
            (r.goal, r.content, r.leaders, r.lead_units, r.responsible_units) for r in rows
        ] == [(r.goal, r.content, r.leaders, r.lead_units, r.responsible_units) for r in text]


# ------------------------------------------------------------------ re-import


def test_reimport_keeps_ids_reports_changes_and_history(
    imported: Workspace, tmp_path: Path
) -> None:
    before = by_id(show(imported))
    result = json.loads(
        imported.ok(
            "targets",
            "import",
            str(corrected_table(tmp_path)),
            "--year",
            "2026",
            "--format",
            "json",
        )
    )
    assert result["added"] == ["2026-095"]
    assert result["changed"] == ["2026-006", "2026-086"]
    assert result["removed"] == ["2026-042"]
    assert result["unchanged"] == 94 - 3
    after = show(imported)
    ids = [t["id"] for t in after]
    assert "2026-042" not in ids
    assert ids[ids.index("2026-095") + 1] == "2026-059"  # the new task sits where it was inserted
    t = by_id(after)
    assert t["2026-006"]["content"] == "招引科技型中小微企业350家以上。"
    assert metric_tuples(t["2026-006"]) == [(350, "家", "cumulative", "at_least")]
    assert t["2026-086"]["responsible_units"] == TOWNS + ZONES + STREETS
    assert t["2026-001"] == before["2026-001"]
    history = imported.state()["task_history"]
    changes = sorted((r[0], r[2]) for r in history if r[1] == 2)
    assert changes == [
        ("2026-006", "changed"),
        ("2026-042", "removed"),
        ("2026-086", "changed"),
        ("2026-095", "added"),
    ]
    old_006 = [r for r in history if r[0] == "2026-006" and r[1] == 1][0]
    assert old_006[4] == "招引科技型中小微企业330家以上。"  # the earlier version is kept


def test_reimport_same_table_changes_nothing_but_the_import_log(imported: Workspace) -> None:
    before = imported.state()
    out = imported.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    assert "新增 0、修改 0、删除 0、未变 94" in out
    after = imported.state()
    assert len(after["imports"]) == 2
    for table in ("tasks", "task_history", "metrics"):
        if table == "tasks":  # only the import id moves
            assert [r[:13] for r in after[table]] == [r[:13] for r in before[table]]
        else:
            assert after[table] == before[table]


# ------------------------------------------------------------------ broken input


@pytest.fixture(params=["empty", "imported"])
def any_ws(request: pytest.FixtureRequest, ws: Workspace) -> Workspace:
    if request.param == "imported":
        ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    return ws


def test_docx_without_a_table(any_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "通知.docx"
    document = docx.Document()
    document.add_paragraph("《2026年政府工作报告》目标任务分解落实方案（正文，无附表）")
    document.save(str(path))
    assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], "通知.docx", "没有表格"
    )


def test_docx_with_an_unrelated_table(any_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "名单.docx"
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    for c, text in enumerate(["姓名", "单位", "电话"]):
        table.cell(0, c).text = text
    document.save(str(path))
    assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], "名单.docx", "工作内容"
    )


def test_xlsx_with_wrong_columns(any_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "分解表.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sheet1")
    sheet.write_row(0, 0, ["序号", "目标名称", "工作内容", "完成时限"])
    sheet.write_row(1, 0, [1, "提振消费市场", "组织促消费活动超35场。", "12月底"])
    book.close()
    assert_user_error(
        any_ws,
        ["targets", "import", str(path), "--year", "2026"],
        "分解表.xlsx",
        "牵头单位或责任单位",  # a leaders' column is not required (issue 17)
    )


def test_unknown_unit_names_its_row(any_ws: Workspace, tmp_path: Path) -> None:
    text = SEED_TABLE.read_text(encoding="utf-8").replace(
        "\t招引科技型中小微企业330家以上。\n\t王  斐\n\n袁士东\n\t科技局",
        "\t招引科技型中小微企业330家以上。\n\t王  斐\n\n袁士东\n\t科创局",
    )
    path = tmp_path / "分解表.txt"
    path.write_text(text, encoding="utf-8")
    message = assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], "分解表.txt", "科创局",
        lines=True,
    )  # fmt: skip
    lineno = text.splitlines().index("\t招引科技型中小微企业330家以上。")
    assert f"第 {lineno - 1} 行" in message  # the row starts at its 序号 cell, two lines above
    assert "最接近的：“科技局”" in message
    # a snippet to paste, valid YAML: 科创局 as another name of 科技局, or as a unit of its own
    snippet = "\n".join(line for line in message.splitlines() if line.startswith("  "))
    (as_alias,) = yaml.safe_load(snippet)
    assert as_alias["name"] == "科技局" and as_alias["aliases"][-1] == "科创局"
    assert "改用：- {name: 科创局, kind: dept}" in snippet


def test_unknown_responsible_unit_and_leader(any_ws: Workspace, tmp_path: Path) -> None:
    text = SEED_TABLE.read_text(encoding="utf-8")
    text = text.replace("\n湖塘镇\n", "\n湖唐镇\n").replace(
        "\t张小虎\n\t医保局", "\t张晓虎\n\t医保局"
    )
    path = tmp_path / "分解表.txt"
    path.write_text(text, encoding="utf-8")
    message = assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], "湖唐镇", "张晓虎", lines=True
    )
    # each name once, with every row it is in, and the closest names of its own kind
    listed = [line for line in message.splitlines() if line.startswith("· ")]
    assert [line.split("”")[0] for line in listed] == ["· “湖唐镇", "· “张晓虎"]
    assert "“湖塘镇”" in message and "“张小虎”" in message
    (town,) = [line for line in message.splitlines() if line.startswith("· “湖唐镇”")]
    assert town.count("行") == text.count("\n湖唐镇\n") or "等" in town
    pasted = [
        yaml.safe_load(line.split("  #")[0])[0]
        for line in message.splitlines()
        if line.startswith("  - ")
    ]
    by_name = {u["name"]: u for u in pasted}
    assert "湖唐镇" in by_name["湖塘镇"]["aliases"] and by_name["湖塘镇"]["kind"] == "town"
    assert by_name["张小虎"]["kind"] == "leader" and "张晓虎" in by_name["张小虎"]["aliases"]


def test_a_remark_on_its_own_is_never_offered_as_a_unit(any_ws: Workspace, tmp_path: Path) -> None:
    """A remark that lost its unit ("（邹区镇）" after a separator) must be fixed in the table,
    not registered: the message says so and offers no snippet for it."""
    text = SEED_TABLE.read_text(encoding="utf-8").replace(
        "\t招引科技型中小微企业330家以上。\n\t王  斐\n\n袁士东\n\t科技局",
        "\t招引科技型中小微企业330家以上。\n\t王  斐\n\n袁士东\n\t科技局、（邹区镇）",
    )
    path = tmp_path / "分解表.txt"
    path.write_text(text, encoding="utf-8")
    message = assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], "（邹区镇）", "括注", lines=True
    )
    assert not [line for line in message.splitlines() if line.startswith("  - ")]


@pytest.mark.parametrize("suffix", [".txt", ".docx", ".xlsx"])
def test_empty_file(any_ws: Workspace, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"空{suffix}"
    path.write_bytes(b"")
    assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], f"空{suffix}", "空"
    )


@pytest.mark.parametrize("suffix", [".docx", ".xlsx"])
def test_corrupt_office_file(any_ws: Workspace, tmp_path: Path, suffix: str) -> None:
    good = write_docx if suffix == ".docx" else write_xlsx
    path = good(read_table(SEED_TABLE).rows[:3], tmp_path / f"表{suffix}")
    path.write_bytes(path.read_bytes()[:2000])  # truncated in transit
    assert_user_error(any_ws, ["targets", "import", str(path), "--year", "2026"], f"表{suffix}")


def test_text_file_without_the_table(any_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "说明.txt"
    path.write_text("这是一份通知，没有附表。\n", encoding="utf-8")
    assert_user_error(
        any_ws, ["targets", "import", str(path), "--year", "2026"], "说明.txt", "没有找到分解表"
    )


@pytest.mark.parametrize("year", ["26", "2026年", "二〇二六", "20260", "abcd", "1800"])
def test_unknown_year_format(any_ws: Workspace, year: str) -> None:
    assert_user_error(
        any_ws, ["targets", "import", str(SEED_TABLE), "--year", year], f"年份“{year}”"
    )


def test_missing_file_and_unsupported_type(any_ws: Workspace, tmp_path: Path) -> None:
    assert_user_error(
        any_ws, ["targets", "import", str(tmp_path / "无.docx"), "--year", "2026"], "找不到文件"
    )
    pdf = tmp_path / "分解表.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    assert_user_error(any_ws, ["targets", "import", str(pdf), "--year", "2026"], "不支持的文件类型")


def test_zip_that_is_not_a_docx(any_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "假.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "不是 Word 文件")
    assert_user_error(any_ws, ["targets", "import", str(path), "--year", "2026"], "假.docx")


def test_wrong_option_is_one_chinese_line(ws: Workspace) -> None:
    result = ws.run("targets", "import", str(SEED_TABLE), "--yeer", "2026")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.startswith("错误：没有这个选项")


def test_console_script_exit_code_and_no_traceback(ws: Workspace) -> None:
    ducha = Path(sys.executable).with_name("ducha")
    proc = subprocess.run(
        [
            str(ducha),
            "--db",
            str(ws.db),
            "--config",
            str(ws.config),
            "targets",
            "show",
            "--year",
            "2026",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"错误：数据库 {ws.db} 不存在，请先导入目标任务分解表（ducha targets import）"
    )
    assert not ws.db.exists()


def test_config_and_db_from_the_environment(ws: Workspace) -> None:
    ducha = Path(sys.executable).with_name("ducha")
    env = {**os.environ, "DUCHA_DB": str(ws.db), "DUCHA_CONFIG": str(ws.config)}
    proc = subprocess.run(
        [str(ducha), "targets", "import", str(SEED_TABLE), "--year", "2026"],
        capture_output=True,
        text=True,
        cwd=ws.root,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert ws.db.exists()


def test_sample_writers_round_trip(tmp_path: Path) -> None:
    """python-docx / xlsxwriter tables with merged goal cells read back as written."""
    rows = read_table(SEED_TABLE).rows[:20]
    for path in (write_docx(rows, tmp_path / "表.docx"), write_xlsx(rows, tmp_path / "表.xlsx")):
        back = read_table(path).rows
        assert [
            (r.goal, r.content, r.leaders, r.lead_units, r.responsible_units) for r in back
        ] == [(r.goal, r.content, r.leaders, r.lead_units, r.responsible_units) for r in rows], (
            path.suffix
        )


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        (  # 民生实事: 项目名称 and 主要内容, no leader, only 责任单位 (the lead units then)
            ["序号", "项目名称", "主要内容", "责任单位", "完成时限"],
            [1, "城乡公交提档", "新增公交线路 12 条。", "交通局", "12月底前"],
            {"goal": "城乡公交提档", "content": "新增公交线路 12 条。", "leaders": [],
             "lead_units": ["交通局"], "responsible_units": ["交通局"]},  # the lead does it
        ),
        (  # 目标任务 alone is the content; 县级领导; 协办单位 are the responsible units
            ["序号", "目标任务", "县级领导", "牵头单位", "协办单位"],
            [1, "招引科技型中小微企业330家以上。", "王斐", "科技局", "湖塘镇\n（盖章）"],
            {"goal": "", "content": "招引科技型中小微企业330家以上。", "leaders": ["王斐"],
             "lead_units": ["科技局"], "responsible_units": ["湖塘镇"]},
        ),
        (  # 工作标准 as the content, 责任领导, 责任单位 then 配合单位
            ["序号", "类别", "工作标准", "责任领导", "责任单位", "配合单位"],
            [1, "提振消费", "组织促消费活动超35场。", "王婷", "商务局", "牛塘镇、洛阳镇"],
            {"goal": "提振消费", "content": "组织促消费活动超35场。", "leaders": ["王婷"],
             "lead_units": ["商务局"], "responsible_units": ["牛塘镇", "洛阳镇"]},
        ),
    ],
    ids=["民生实事", "县级领导-协办单位", "工作标准-配合单位"],
)  # fmt: skip
def test_headers_as_other_governments_write_them(
    ws: Workspace, tmp_path: Path, header: list[str], row: list[object], expected: dict
) -> None:
    """Issue 17: the content, goal, leaders' and units' columns under the names other
    governments give them; a table without leaders imports with tasks without leaders."""
    path = tmp_path / "分解表.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Sheet1")
    sheet.write_row(0, 0, ["2026年重点工作任务分解表"])
    sheet.write_row(1, 0, header)
    sheet.write_row(2, 0, row)
    book.close()
    ws.ok("targets", "import", str(path), "--year", "2026")
    (task,) = json.loads(ws.ok("targets", "show", "--year", "2026", "--format", "json"))
    assert {k: task[k] for k in expected} == expected
