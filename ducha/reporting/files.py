"""The briefing's files: one HTML page and one .xlsx workbook under the same name in data/reports/."""

from __future__ import annotations

from pathlib import Path

from ducha.reporting.briefing import Briefing
from ducha.reporting.html import render_html
from ducha.reporting.xlsx import write_xlsx


def write_briefing(b: Briefing, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{b.workspace}-{b.period}-目标任务推进情况通报"
    html = out_dir / f"{stem}.html"
    html.write_text(render_html(b), encoding="utf-8")
    return html, write_xlsx(b, out_dir / f"{stem}.xlsx")
