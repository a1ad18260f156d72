"""Filling in online: the fields of the unit's template on a page, written into the template
itself (openpyxl) and sent on as an upload, so that the same checks judge it and the archive keeps
a generated .xlsx as the original."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from ducha.submissions.templates import COL, HEADER_ROW, MAIN_SHEET

FIGURES = {"month": "本月完成", "cumulative": "累计完成"}
TEXTS = {"status": "完成状态", "progress": "进展情况", "issues": "存在问题", "next": "下步打算"}
MAX_TEXT = 2000


def field(task_id: str, position: int | None, what: str) -> str:
    """The form field of a metric's figure (position) or of a task's text (position None)."""
    return f"{task_id}:{position}:{what}" if position is not None else f"{task_id}:{what}"


def filled_template(template: Path, values: Mapping[str, str]) -> bytes:
    """The template with what was typed on the page: each metric line's figures, each task's
    status and texts on its first line (the task's cells are merged down its lines)."""
    import openpyxl

    book = openpyxl.load_workbook(template)
    sheet = book[MAIN_SHEET]
    task, first = "", True
    for row in range(HEADER_ROW + 2, sheet.max_row + 1):
        written = sheet.cell(row, COL["任务编号"] + 1).value
        if written:
            task, first = str(written), True
        if not task:
            continue
        position = sheet.cell(row, COL["指标序号"] + 1).value
        if isinstance(position, int | float) and position:
            for what, header in FIGURES.items():
                _put(sheet, row, header, values.get(field(task, int(position), what)))
        if first:
            for what, header in TEXTS.items():
                _put(sheet, row, header, values.get(field(task, None, what)))
            first = False
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _put(sheet: object, row: int, header: str, value: str | None) -> None:
    text = (value or "").strip()[:MAX_TEXT]
    if text:
        sheet.cell(row, COL[header] + 1).value = text  # type: ignore[attr-defined]
