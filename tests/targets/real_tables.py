"""Real decomposition tables of other governments (tests/targets/data/real_tables/*.yaml, each
with its source address on the first line) written back as published: a .docx by python-docx
and an .xlsx by openpyxl, with the title lines above the table, section rows merged across it,
cells that continue the one above merged down (the files write them as ""), and multi-line cells
as one paragraph (or line) per line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import openpyxl
import yaml
from openpyxl.styles import Alignment

DATA = Path(__file__).parent / "data" / "real_tables"


@dataclass(frozen=True)
class RealTable:
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def header_rows(self) -> list[list[str]]:
        rows = [self.data["header"]] if self.data.get("header") else []
        return rows + ([self.data["header2"]] if self.data.get("header2") else [])

    @property
    def width(self) -> int:
        return max(len(r) for r in self.header_rows + self.data["rows"])

    def grid(self) -> list[tuple[list[str], list[bool]]]:
        """Every row padded to the width, with which cells continue the cell above."""
        out: list[tuple[list[str], list[bool]]] = []
        for r, row in enumerate(self.data["rows"]):
            if len(row) == 1:  # a section row, merged across the table
                out.append(([str(row[0])] + [""] * (self.width - 1), [False] * self.width))
                continue
            cells = [str(c if c is not None else "") for c in row] + [""] * (self.width - len(row))
            above_is_task = r > 0 and len(self.data["rows"][r - 1]) > 1
            out.append((cells, [above_is_task and not c.strip() for c in cells]))
        return out

    def register(self) -> dict[str, Any]:
        return {"units": self.data["units"], "groups": self.data.get("groups") or {}}


def real_tables() -> list[RealTable]:
    return [
        RealTable(p, yaml.safe_load(p.read_text(encoding="utf-8")))
        for p in sorted(DATA.glob("*.yaml"))
    ]


def write_docx(table: RealTable, path: Path) -> Path:
    document = docx.Document()
    for line in table.data.get("title") or []:
        document.add_paragraph(line)
    headers = table.header_rows
    grid = table.grid()
    word = document.add_table(rows=len(headers) + len(grid), cols=table.width)
    word.style = "Table Grid"
    for r, header in enumerate(headers):
        for c, text in enumerate(header):
            _cell_text(word.cell(r, c), text)
    for r, (cells, continues) in enumerate(grid, start=len(headers)):
        if all(not c for c in cells[1:]) and cells[0] and not any(continues):
            word.cell(r, 0).merge(word.cell(r, table.width - 1))
            _cell_text(word.cell(r, 0), cells[0])
            continue
        for c, text in enumerate(cells):
            if continues[c]:
                word.cell(r - 1, c).merge(word.cell(r, c))  # a vertical merge (w:vMerge)
            else:
                _cell_text(word.cell(r, c), text)
    document.save(str(path))
    return path


def _cell_text(cell: Any, text: str) -> None:
    lines = str(text).split("\n")
    cell.paragraphs[0].text = lines[0]
    for line in lines[1:]:
        cell.add_paragraph(line)


def write_xlsx(table: RealTable, path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    r = 1
    for line in table.data.get("title") or []:
        sheet.cell(r, 1, line)
        sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=table.width)
        r += 1
    for header in table.header_rows:
        for c, text in enumerate(header, start=1):
            sheet.cell(r, c, text or None)
        r += 1
    first_data = r
    starts: dict[int, int] = {}  # column → the row its current merged cell starts at
    grid = table.grid()
    for cells, continues in grid:
        if all(not c for c in cells[1:]) and cells[0] and not any(continues):
            sheet.cell(r, 1, cells[0])
            sheet.merge_cells(start_row=r, start_column=1, end_row=r, end_column=table.width)
            starts.clear()
            r += 1
            continue
        for c, text in enumerate(cells, start=1):
            if continues[c - 1] and r > first_data:
                start = starts.get(c, r - 1)
                starts[c] = start
                _merge_down(sheet, c, start, r)
            else:
                starts.pop(c, None)
                cell = sheet.cell(r, c, _xlsx_value(text))
                cell.alignment = Alignment(wrap_text=True, vertical="center")
        r += 1
    book.save(str(path))
    return path


def _merge_down(sheet: Any, column: int, start: int, end: int) -> None:
    for rng in list(sheet.merged_cells.ranges):
        if rng.min_col == column == rng.max_col and rng.min_row == start:
            sheet.unmerge_cells(str(rng))
    sheet.merge_cells(start_row=start, start_column=column, end_row=end, end_column=column)


def _xlsx_value(text: str) -> Any:
    """A 序号 typed as a number stays a number, as Excel keeps it."""
    return int(text) if text.isdigit() and len(text) < 6 else (text or None)
