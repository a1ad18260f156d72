"""Tables as Word and Excel lay them out: the text of a table nested in a cell is kept, in
reading order, and a 工作内容 cell merged down over several rows is one task (its rows add
their lead units), whether the merge is Word's w:vMerge (as Word writes it, and as LibreOffice
writes it) or an Excel merged range. Documents are written by python-docx and converted by
LibreOffice; the imports go through the command line."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
import xlsxwriter

from tests.helpers import Workspace, by_id, metric_tuples, show

HEADER = ["序号", "目标名称", "工作内容", "区政府分管领导", "牵头单位", "责任单位"]
ALL_UNITS = "各镇、开发区、街道"
MERGED = "招引科技型中小微企业330家以上，新增规上工业企业100家，工业投资增长5%左右。"


def libreoffice(path: Path, out_dir: Path) -> Path:
    """The document opened and saved again by LibreOffice as Word 2007 XML."""
    if shutil.which("soffice") is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    out_dir.mkdir(exist_ok=True)
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{out_dir}/profile",
         "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(out_dir), str(path)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    converted = out_dir / path.name
    assert converted.exists()
    return converted


def document_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("word/document.xml").decode("utf-8")


def new_table(rows: int) -> tuple[docx.document.Document, docx.table.Table]:
    document = docx.Document()
    document.add_paragraph("《2026年政府工作报告》目标任务分解表")
    table = document.add_table(rows=rows + 1, cols=len(HEADER))
    table.style = "Table Grid"
    for c, text in enumerate(HEADER):
        table.cell(0, c).text = text
    return document, table


# ------------------------------------------------------------------ nested tables


def nested_docx(path: Path) -> Path:
    """A task whose text goes on in a table nested in its cell, then in a paragraph after it."""
    document, table = new_table(2)
    for r, (goal, lead) in enumerate([("培育创新主体", "科技局"), ("", "工信局")], start=1):
        for c, text in enumerate([str(r), goal, "", "王  斐", lead, ALL_UNITS]):
            table.cell(r, c).text = text
    cell = table.cell(1, 2)
    cell.text = "招引："
    nested = cell.add_table(rows=1, cols=2)
    nested.cell(0, 0).text = "科技型中小微企业"
    nested.cell(0, 1).text = "330家以上，"
    cell.add_paragraph("其中高新技术企业100家以上。")
    table.cell(2, 2).text = "新增规上工业企业100家。"
    document.save(str(path))
    return path


@pytest.mark.parametrize("writer", ["python-docx", "LibreOffice"])
def test_a_nested_table_is_read_in_reading_order(
    ws: Workspace, tmp_path: Path, writer: str
) -> None:
    path = nested_docx(tmp_path / "嵌套表.docx")
    if writer == "LibreOffice":
        path = libreoffice(path, tmp_path / "lo")
    assert document_xml(path).count("<w:tbl>") == 2  # the nested table is really nested
    ws.ok("targets", "import", str(path), "--year", "2026")
    first, second = show(ws)
    assert first["content"] == "招引：科技型中小微企业330家以上，其中高新技术企业100家以上。"
    assert [m[:2] for m in metric_tuples(first)] == [(330, "家"), (100, "家")]
    assert second["content"] == "新增规上工业企业100家。"


# ------------------------------------------------------------------ vertically merged cells


def merged_docx(path: Path) -> Path:
    """Task 1's 工作内容 merged down over three rows, one lead unit a row; tasks 2 and 3 share
    a lead unit cell merged over their two rows; the goal merged over all five."""
    document, table = new_table(5)
    contents = [MERGED, "", "", "新增公共停车泊位1500个以上。", "焕新用地面积超1200亩。"]
    leads = ["科技局", "工信局", "发改局", "商务局", ""]
    for r in range(1, 6):
        for c, text in ((3, "王  斐"), (4, leads[r - 1]), (5, ALL_UNITS)):
            if text:
                table.cell(r, c).text = text
    table.cell(1, 0).text = "1"
    table.cell(4, 0).text = "2"
    table.cell(5, 0).text = "3"
    table.cell(1, 2).merge(table.cell(3, 2)).text = contents[0]
    table.cell(4, 2).text, table.cell(5, 2).text = contents[3], contents[4]
    table.cell(4, 4).merge(table.cell(5, 4)).text = "商务局"
    table.cell(1, 1).merge(table.cell(5, 1)).text = "强化项目支撑"
    document.save(str(path))
    return path


def merged_xlsx(path: Path) -> Path:
    """The same table in Excel, with merged ranges (xlsxwriter)."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("分解表")
    sheet.write_row(0, 0, HEADER)
    sheet.merge_range(1, 2, 3, 2, MERGED)
    sheet.merge_range(4, 4, 5, 4, "商务局")
    sheet.merge_range(1, 1, 5, 1, "强化项目支撑")
    for r, lead in zip(range(1, 4), ["科技局", "工信局", "发改局"], strict=True):
        sheet.write_row(r, 3, ["王  斐", lead, ALL_UNITS])
    for r, content in ((4, "新增公共停车泊位1500个以上。"), (5, "焕新用地面积超1200亩。")):
        sheet.write(r, 2, content)
        sheet.write(r, 3, "王  斐")
        sheet.write(r, 5, ALL_UNITS)
    for r, seq in ((1, 1), (4, 2), (5, 3)):
        sheet.write_number(r, 0, seq)
    book.close()
    return path


def _python_docx(tmp_path: Path) -> Path:
    path = merged_docx(tmp_path / "合并.docx")
    xml = document_xml(path)
    assert '<w:vMerge w:val="restart"/>' in xml and "<w:vMerge/>" in xml  # as Word writes it
    return path


def _libreoffice(tmp_path: Path) -> Path:
    path = libreoffice(merged_docx(tmp_path / "合并.docx"), tmp_path / "lo")
    assert '<w:vMerge w:val="continue"/>' in document_xml(path)
    return path


def _xlsx(tmp_path: Path) -> Path:
    return merged_xlsx(tmp_path / "合并.xlsx")


WRITERS: dict[str, Callable[[Path], Path]] = {
    "python-docx": _python_docx,
    "LibreOffice": _libreoffice,
    "xlsx": _xlsx,
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_merged_work_content_cell_is_one_task(ws: Workspace, tmp_path: Path, writer: str) -> None:
    path = WRITERS[writer](tmp_path)
    ws.ok("targets", "import", str(path), "--year", "2026")
    tasks = show(ws)
    assert [t["content"] for t in tasks] == [
        MERGED,
        "新增公共停车泊位1500个以上。",
        "焕新用地面积超1200亩。",
    ]
    first = by_id(tasks)["2026-001"]
    assert first["lead_units"] == ["科技局", "工信局", "发改局"]  # every row's lead unit, in order
    assert first["leaders"] == ["王斐"]
    assert [m[:2] for m in metric_tuples(first)] == [(330, "家"), (100, "家"), (5, "%")]
    # other merged cells still give their text to every row they cover
    assert [t["lead_units"] for t in tasks[1:]] == [["商务局"], ["商务局"]]
    assert {t["goal"] for t in tasks} == {"强化项目支撑"}
