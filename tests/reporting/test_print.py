"""What ducha's spreadsheets look like on paper: a unit's template and the .xlsx briefing, converted
to PDF by LibreOffice (as an office would print them) and read back page by page with poppler:
A4 landscape, fit to the page's width, the header rows on every page, pages numbered."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Workspace

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdfinfo") is None,
    reason="LibreOffice and poppler are needed (.ci/run installs them)",
)
A4_LANDSCAPE = (841.89, 595.3)


def to_pdf(source: Path, out: Path) -> Path:
    subprocess.run(
        ["soffice", f"-env:UserInstallation={(out / 'lo-profile').as_uri()}", "--headless",
         "--convert-to", "pdf", "--outdir", str(out), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return out / f"{source.stem}.pdf"


def pages(pdf: Path) -> list[tuple[tuple[float, float], str]]:
    """Each page's size in points and its text."""
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    count = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    found = []
    for n in range(1, count + 1):
        size = subprocess.run(["pdfinfo", "-f", str(n), "-l", str(n), str(pdf)],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        w, h = map(float, re.search(rf"Page\s+{n} size:\s+([\d.]+) x ([\d.]+)", size).groups())
        text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        found.append(((round(w, 1), round(h, 1)), text))
    return found


def landscape_a4(size: tuple[float, float]) -> bool:
    return abs(size[0] - A4_LANDSCAPE[0]) < 1 and abs(size[1] - A4_LANDSCAPE[1]) < 1


def test_a_units_template_prints_on_a4_landscape_with_its_header_on_every_page(
    confirmed: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "t"
    confirmed.ok("templates", "--period", "2026-03", "--unit", "湖塘镇", "--out", str(out))
    (template,) = out.glob("*.xlsx")
    printed = pages(to_pdf(template, tmp_path))
    guide = [text for _, text in printed if "填报说明" in text]
    assert len(guide) == 1 and "报送后会收到回执" in guide[0]  # the guide: one page of its own
    main = [(size, text) for size, text in printed if "填报说明" not in text]
    assert len(main) >= 3  # 湖塘镇 reports on most of the 94 tasks: several pages
    for n, (size, text) in enumerate(main, start=1):
        assert landscape_a4(size), f"page {n}: {size}"
        # the title, the unit's line and the header row are repeated on every page
        assert "目标任务进展情况表" in text and "填报单位：湖塘镇" in text, f"page {n}"
        assert "任务编号" in text and "累计完成" in text and "下步打算" in text, f"page {n}"
        assert re.search(rf"第\s*{n}\s*页", text), f"page {n}: no page number"
    # fit to the width: every column on the page, the last one (下步打算) included, and the
    # wrapped task texts shown whole (the longest task's last words are on a page)
    assert "2026-094" in "".join(text for _, text in main)


def test_the_briefing_spreadsheet_prints_on_a4_landscape_with_headers_repeated(
    sample_months: Workspace, tmp_path: Path
) -> None:
    sample_months.ok("evaluate", "--period", "2026-03")
    sample_months.ok("report", "--period", "2026-03", "--out", str(tmp_path / "r"))
    (xlsx,) = (tmp_path / "r").glob("*.xlsx")
    printed = pages(to_pdf(xlsx, tmp_path))
    assert len(printed) >= 4  # four sheets
    for n, (size, text) in enumerate(printed, start=1):
        assert landscape_a4(size), f"page {n}: {size}"
        assert "任务编号" in text or "排名类别" in text, f"page {n} has no header row"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium prints the briefing's PDF")
def test_the_briefing_is_a_document_to_issue_on_at_most_twelve_a4_pages(
    sample_months: Workspace,
) -> None:
    """文号, 主送 and the main points first, the tables, then 落款 and the evaluation day; A4
    portrait, at most 12 pages for a month of the sample district (94 tasks, 50 units)."""
    sample_months.ok("evaluate", "--period", "2026-03")
    sample_months.ok("report", "--period", "2026-03")
    (pdf,) = (sample_months.db.parent / "reports").glob("*2026-03*.pdf")
    printed = pages(pdf)
    assert 1 < len(printed) <= 12, len(printed)
    assert all(abs(w - 595.3) < 1 and abs(h - 841.9) < 1 for (w, h), _ in printed)
    first, last = printed[0][1], printed[-1][1]
    assert first.index("督通〔2026〕3号") < first.index("目标任务推进情况通报")
    assert "各镇人民政府" in first and "主要情况" in first  # 主送, the summary on page one
    assert re.search(r"武进区人民政府督查室\s*2026年4月\d+日", last)  # 落款 and date at the end
    text = "".join(t for _, t in printed)
    assert "滞后任务" in text and "报送单位排名" in text
