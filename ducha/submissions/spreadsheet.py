"""Read a received spreadsheet (.xlsx, .xls, .csv) into plain cell grids, safely.

Limits are checked before and while parsing: file size, decompressed size
(zip bombs), sheets, rows, columns and merged ranges. A file that breaks a limit
or cannot be read raises FileRejected with a plain-Chinese reason; nothing here
writes. calamine reads formula cells without a saved result and error cells
(#DIV/0!, #N/A) as empty: both are found in the file itself (the worksheet XML
of an .xlsx, the BIFF records of an .xls: ducha.submissions.containers) and marked on the Sheet.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from ducha.submissions.biff import (
    CFB_SIGNATURE,
    ENCRYPTED,
    is_encrypted_office_file,
    xls_error_cells,
)
from ducha.submissions.containers import MAX_MERGED_CELLS, MAX_MERGED_RANGES, check_xlsx_package
from ducha.submissions.limits import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    MAX_SHEETS,
    SUFFIXES,
    FileRejected,
    SheetMarks,
)


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]]  # values: str, int, float, bool, date/datetime, or "" for empty
    hidden: bool = False
    formulas: dict[str, bool] = field(default_factory=dict)  # A1 ref -> has a cached value
    errors: dict[str, str] = field(default_factory=dict)  # A1 ref -> error shown ("#DIV/0!")


@dataclass
class Workbook:
    sheets: list[Sheet]


def read_workbook(name: str, data: bytes) -> Workbook:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix not in SUFFIXES:
        raise FileRejected(
            f"不支持的文件类型“{suffix or '无扩展名'}”，请报送 .xlsx、.xls 或 .csv 文件"
        )
    if not data:
        raise FileRejected("文件是空的")
    if len(data) > MAX_FILE_BYTES:
        raise FileRejected(f"文件大小超过 {MAX_FILE_BYTES // 1024 // 1024} MB 的上限")
    if suffix == ".csv":
        return _read_csv(data)
    if data[:8] == CFB_SIGNATURE and is_encrypted_office_file(data):
        raise FileRejected(ENCRYPTED)  # an Office file with a password to open
    if suffix == ".xlsx":
        if data[:8] == CFB_SIGNATURE:
            raise FileRejected("文件扩展名为 .xlsx，但内容是 .xls，请改正扩展名后重新报送")
        data, marks = check_xlsx_package(data)
    elif data[:4] == b"PK\x03\x04":
        raise FileRejected("文件扩展名为 .xls，但内容是 .xlsx，请改正扩展名后重新报送")
    else:
        marks = xls_error_cells(data)
    return _read_excel(data, marks)


def _read_excel(data: bytes, marks: dict[str, SheetMarks]) -> Workbook:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        metadata = book.sheets_metadata
    except MemoryError:
        raise  # the sandbox names it (ducha.sandbox): not a damaged file
    except Exception as exc:  # calamine has many error types for broken files
        raise FileRejected(
            "文件已损坏或格式不对，无法打开（请用 Excel 或 WPS 另存为 .xlsx 后重新报送）"
        ) from exc
    if len(metadata) > MAX_SHEETS:
        raise FileRejected(f"工作表有 {len(metadata)} 个，超过 {MAX_SHEETS} 个的上限")
    sheets: list[Sheet] = []
    for meta in metadata:
        try:
            sheet = book.get_sheet_by_name(meta.name)
        except MemoryError:
            raise  # the sandbox names it (ducha.sandbox): not a damaged file
        except Exception as exc:
            raise FileRejected(f"工作表“{meta.name}”已损坏，无法读取", sheet=meta.name) from exc
        # the grid read below starts at A1, whatever the first used cell: its size is the
        # last used cell (height and width count from the first only)
        rows, cols = (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)
        if rows > MAX_ROWS + 50:
            raise FileRejected(
                f"工作表“{meta.name}”有 {rows} 行，超过 {MAX_ROWS} 行的上限", sheet=meta.name
            )
        if cols > MAX_COLUMNS:
            raise FileRejected(
                f"工作表“{meta.name}”有 {cols} 列，超过 {MAX_COLUMNS} 列的上限", sheet=meta.name
            )
        try:
            grid = sheet.to_python(skip_empty_area=False)  # empty cells are ""
            merges = sheet.merged_cell_ranges or []
        except MemoryError:
            raise  # the sandbox names it (ducha.sandbox): not a damaged file
        except Exception as exc:
            raise FileRejected(f"工作表“{meta.name}”已损坏，无法读取", sheet=meta.name) from exc
        _fill_merged(grid, merges, meta.name)
        hidden = str(getattr(meta, "visible", "")).lower().endswith(("hidden", "veryhidden"))
        found = marks.get(meta.name) or SheetMarks()
        sheets.append(Sheet(meta.name, grid, hidden, found.formulas, found.errors))
    return Workbook(sheets)


def _fill_merged(grid: list[list[Any]], merges: list, sheet: str) -> None:
    """Copy a merged range's value into every cell it covers (merged headers, task cells).

    Real merged ranges never overlap, so together they cover at most the sheet: more ranges
    or cells than that is a hostile file, rejected before any cell is copied."""
    height, width = len(grid), max((len(row) for row in grid), default=0)
    covered = 0
    for (r0, c0), (r1, c1) in merges:
        covered += max(0, min(r1, height - 1) - r0 + 1) * max(0, min(c1, width - 1) - c0 + 1)
    if len(merges) > MAX_MERGED_RANGES or covered > MAX_MERGED_CELLS:
        raise FileRejected(
            f"工作表“{sheet}”的合并单元格过多或相互重叠（{len(merges)} 处），无法读取，"
            "请取消多余的合并后重新报送",
            sheet=sheet,
        )
    for (r0, c0), (r1, c1) in merges:
        if r0 >= height:
            continue
        top = grid[r0][c0] if c0 < len(grid[r0]) else ""
        for r in range(r0, min(r1, height - 1) + 1):
            row = grid[r]
            for c in range(c0, min(c1, len(row) - 1) + 1):
                if row[c] == "":
                    row[c] = top


def decode_text(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), else GBK/GB18030 as Chinese offices save it; None if neither."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _read_csv(data: bytes) -> Workbook:
    text = decode_text(data)
    if text is None:
        raise FileRejected("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV")
    if "\x00" in text:
        raise FileRejected("文件含有二进制内容，不是文本 CSV 文件")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;，")
    except csv.Error:
        dialect = csv.excel
    rows: list[list[Any]] = []
    try:
        # strict: an unclosed quote is an error, not a field that swallows the rest of the file
        # newline=None: lines end in \n, \r\n or a lone \r (old Mac and some office exports)
        for row in csv.reader(io.StringIO(text, newline=None), dialect, strict=True):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 50:
                raise FileRejected(f"文件超过 {MAX_ROWS} 行的上限")
            if len(row) > MAX_COLUMNS:
                raise FileRejected(
                    f"第 {len(rows)} 行有 {len(row)} 列，超过 {MAX_COLUMNS} 列的上限"
                )
    except csv.Error as exc:
        problem = "内容过长" if "field larger" in str(exc) else "引号不成对或用法有误"
        raise FileRejected(
            f"CSV 格式有误：第 {len(rows) + 1} 行无法解析（{problem}），请检查该行后重新报送"
        ) from exc
    return Workbook([Sheet("CSV", rows)])
