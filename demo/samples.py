"""Sample files written by real tools (python-docx, xlsxwriter) for the demo and tests.

The decomposition table is laid out as offices publish it: a title above the
table, one row per task, and the 目标名称 cell merged down over the tasks of
the same goal.
"""

from __future__ import annotations

from pathlib import Path

from ducha.targets.tables import COLUMN_NAMES, RawRow

HEADER = list(COLUMN_NAMES.values())
TITLE = "《{year}年政府工作报告》目标任务分解表"


def _cells(row: RawRow) -> list[str]:
    return ["", row.goal, row.content, row.leaders, row.lead_units, row.responsible_units]


def _goal_runs(rows: list[RawRow]) -> list[tuple[int, int]]:
    """(first, last) row index of each run of tasks sharing a goal."""
    runs: list[tuple[int, int]] = []
    for i, row in enumerate(rows):
        if runs and rows[runs[-1][0]].goal == row.goal:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def write_docx(rows: list[RawRow], path: Path, year: int = 2026) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph(TITLE.format(year=year))
    table = document.add_table(rows=len(rows) + 1, cols=len(HEADER))
    table.style = "Table Grid"
    for c, text in enumerate(HEADER):
        table.cell(0, c).text = text
    for r, row in enumerate(rows, start=1):
        for c, text in enumerate(_cells(row)):
            if c == 0:
                text = str(r)
            if c != 1:
                table.cell(r, c).text = text
    for first, last in _goal_runs(rows):
        top = table.cell(first + 1, 1)
        if last > first:
            top = top.merge(table.cell(last + 1, 1))
        top.text = rows[first].goal
    document.save(str(path))
    return path


def write_xlsx(rows: list[RawRow], path: Path, year: int = 2026) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("分解表")
    wrap = book.add_format({"text_wrap": True, "valign": "vcenter", "border": 1})
    sheet.merge_range(0, 0, 0, len(HEADER) - 1, TITLE.format(year=year), wrap)
    for c, text in enumerate(HEADER):
        sheet.write_string(1, c, text, wrap)
    for r, row in enumerate(rows, start=2):
        for c, text in enumerate(_cells(row)):
            if c == 0:
                sheet.write_number(r, c, r - 1, wrap)
            elif c != 1:
                sheet.write_string(r, c, text, wrap)
    for first, last in _goal_runs(rows):
        if last > first:
            sheet.merge_range(first + 2, 1, last + 2, 1, rows[first].goal, wrap)
        else:
            sheet.write_string(first + 2, 1, rows[first].goal, wrap)
    sheet.set_column(2, 2, 60)
    book.close()
    return path
