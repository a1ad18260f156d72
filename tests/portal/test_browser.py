"""A clerk at a real browser (the system's Chromium driven by Playwright): open the unit's link,
download the template, fill it in with a spreadsheet library, upload it, read the receipt; a
broken file shows its cells and reasons; a tampered link shows nothing; the page fits a phone."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.portal.servers import PortalServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="the Debian chromium package is not installed"),
    pytest.mark.xdist_group("browser"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _fill_template(path: Path, cumulative: str | float) -> str:
    """Type figures into the downloaded template as a clerk would: every input row of a metric
    gets 本月完成 and 累计完成, every task a status; returns the first task id filled."""
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    header = next(r for r in range(1, 15) if sheet.cell(r, 1).value == "任务编号")
    columns = {sheet.cell(header, c).value: c for c in range(1, sheet.max_column + 1)}
    first = ""
    for r in range(header + 1, sheet.max_row + 1):
        task = sheet.cell(r, columns["任务编号"]).value
        if not task:
            continue
        first = first or str(task)
        if sheet.cell(r, columns["指标"]).value:
            sheet.cell(r, columns["本月完成"]).value = 1
            sheet.cell(r, columns["累计完成"]).value = cumulative
        sheet.cell(r, columns["完成状态"]).value = "序时推进"
        sheet.cell(r, columns["进展情况"]).value = "按计划推进"
    book.save(path)
    return first


def _download(page: object, folder: Path) -> Path:
    """The unit's template, downloaded from its page as a clerk clicks the link."""
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("text=下载本单位")  # type: ignore[attr-defined]
    template = folder / download.value.suggested_filename
    download.value.save_as(template)
    return template


def _upload(page: object, path: Path) -> None:
    """Choose the file, send the form, wait for the receipt page."""
    page.set_input_files("#file", str(path))  # type: ignore[attr-defined]
    page.click("text=上传并核验")  # type: ignore[attr-defined]
    page.wait_for_selector(".accepted, .rejected", timeout=60_000)  # type: ignore[attr-defined]


def test_a_clerk_downloads_fills_uploads_and_reads_the_receipt(
    browser: object, portal: PortalServer, tmp_path: Path
) -> None:
    unit = "湖塘镇"
    page = browser.new_page(accept_downloads=True)  # type: ignore[attr-defined]
    page.goto(portal.link(unit))
    assert page.inner_text("h1") == unit
    assert "报送截止" in page.inner_text(".lead")
    template = _download(page, tmp_path)
    assert template.suffix == ".xlsx" and unit in template.name
    _fill_template(template, 3)
    _upload(page, template)
    assert "已接收" in page.inner_text(".accepted")
    assert portal.stored(unit)[-1] == "accepted"
    page.close()


def test_a_broken_file_shows_its_cells_and_reasons_in_the_browser(
    browser: object, portal: PortalServer, tmp_path: Path
) -> None:
    unit = "高新区"
    page = browser.new_page(accept_downloads=True)  # type: ignore[attr-defined]
    page.goto(portal.link(unit))
    template = _download(page, tmp_path)
    _fill_template(template, "约三十")
    _upload(page, template)
    assert "未接收" in page.inner_text(".rejected")
    rows = page.locator("table.problems tbody tr")
    assert rows.count() >= 1
    first = rows.first.inner_text()
    assert "约三十" in first and "!" not in first  # sheet, cell and reason in their columns
    page.close()


def test_a_tampered_link_shows_nothing_and_the_page_fits_a_phone(
    browser: object, portal: PortalServer, tmp_path: Path
) -> None:
    url = portal.link("西湖街道")
    phone = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    phone.goto(url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    shot = tmp_path / "phone.png"
    phone.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    for button in phone.locator("button[type=submit]").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390 and box["height"] >= 30
    base, token = url.rsplit("/", 1)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    response = phone.goto(f"{base}/{tampered}")
    assert response is not None and response.status == 404
    text = phone.inner_text("body")
    assert "链接无效" in text and "西湖街道" not in text and "上传" not in text
    phone.close()
