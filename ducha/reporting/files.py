"""The briefing's files: one HTML page and one .xlsx workbook under the same name in data/reports/.

Both are written under temporary names first and take their final names together at the end:
a failure (a full disk, a folder that cannot be written) leaves the previous briefing as it was,
never one new file beside an old one, and is one Chinese line (UserError), not a traceback.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

from ducha.errors import UserError, os_reason
from ducha.reporting.briefing import Briefing, Masthead
from ducha.reporting.html import render_html
from ducha.reporting.xlsx import write_xlsx

PARTIAL = ".partial"


def briefing_stem(workspace: str, period: object) -> str:
    """The briefing's file name without its suffix (.html, .xlsx, .pdf)."""
    return f"{workspace}-{period}-目标任务推进情况通报"


def briefing_url(base_url: str | None, period: object) -> str | None:
    """The briefing's copy on the dashboard (behind its login) where workspace.yaml gives the
    portal's base_url; None without one."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/d/briefing?period={quote(str(period))}"


def write_briefing(
    b: Briefing, out_dir: Path, masthead: Masthead | None = None
) -> tuple[Path, Path]:
    stem = briefing_stem(b.workspace, b.period)
    html, xlsx = out_dir / f"{stem}.html", out_dir / f"{stem}.xlsx"
    partial = [p.with_name(p.name + PARTIAL) for p in (html, xlsx)]
    page = render_html(b, masthead)  # before anything is written: a failure leaves no file
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        partial[0].write_text(page, encoding="utf-8")
        write_xlsx(b, partial[1])
        for made, final in zip(partial, (html, xlsx), strict=True):
            os.replace(made, final)
    except Exception as exc:
        for path in partial:
            with suppress(OSError):
                path.unlink(missing_ok=True)
        cause = exc if isinstance(exc, OSError) else _os_error_in(exc)
        if cause is None:
            raise
        raise UserError(f"无法写入通报 {out_dir / stem}：{os_reason(cause)}") from exc
    return html, xlsx


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError another library wrapped (xlsxwriter's FileCreateError carries it)."""
    for inner in (*exc.args[:1], exc.__cause__):
        if isinstance(inner, OSError):
            return inner
    return None


def write_pdf(html: Path) -> Path | None:
    """The briefing's A4 PDF beside its HTML (ducha.reporting.pdf); None without Chromium."""
    from ducha.reporting.pdf import print_pdf

    pdf = html.with_suffix(".pdf")
    try:
        if print_pdf(html, pdf):
            return pdf
        pdf.unlink(missing_ok=True)  # never an earlier month's run beside this HTML
        return None
    except (OSError, RuntimeError) as exc:
        raise UserError(f"无法生成通报的 PDF {pdf}：{exc}") from exc
