"""Read a received spreadsheet (.xlsx, .xls, .csv) into plain cell grids, safely.

Limits are checked before and while parsing: file size, decompressed size
(zip bombs), sheets, rows and columns. A file that breaks a limit or cannot be
read raises FileRejected with a plain-Chinese reason; nothing here writes.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNZIPPED_BYTES = 100 * 1024 * 1024
MAX_SHEETS = 30
MAX_ROWS = 5_000
MAX_COLUMNS = 200
SUFFIXES = (".xlsx", ".xls", ".csv")


class FileRejected(Exception):
    """The whole file is unreadable or over a limit; the message is for the sender."""

    def __init__(self, message: str, sheet: str | None = None, cell: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sheet = sheet
        self.cell = cell


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]]  # values: str, int, float, bool, date/datetime, or "" for empty
    hidden: bool = False
    formulas: dict[str, bool] = field(default_factory=dict)  # A1 ref -> has a cached value


@dataclass
class Workbook:
    sheets: list[Sheet]


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """0-based row and column to an A1 reference."""
    return f"{column_letter(col)}{row + 1}"


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
    formulas: dict[str, dict[str, bool]] = {}
    if suffix == ".xlsx":
        formulas = _check_xlsx_package(data)
    elif data[:4] == b"PK\x03\x04":
        raise FileRejected("文件扩展名为 .xls，但内容是 .xlsx，请改正扩展名后重新报送")
    return _read_excel(data, formulas)


def _check_xlsx_package(data: bytes) -> dict[str, dict[str, bool]]:
    """Inflate every member with a running cap (a zip bomb stops at the cap, never in memory),
    and find formula cells without a cached value."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise FileRejected("文件已损坏，不是有效的 .xlsx 文件（可能传输不完整）") from exc
    if len(members) > 2_000:
        raise FileRejected("文件结构异常（压缩包内文件过多）")
    total = 0
    sheet_xml: dict[str, bytes] = {}
    workbook_xml = rels_xml = b""
    for info in members:
        chunks: list[bytes] = []
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(1 << 16):
                    total += len(chunk)
                    if total > MAX_UNZIPPED_BYTES:
                        raise FileRejected(
                            f"文件解压后超过 {MAX_UNZIPPED_BYTES // 1024 // 1024} MB，疑似压缩炸弹，未处理"
                        )
                    if info.filename.startswith("xl/worksheets/") or info.filename in (
                        "xl/workbook.xml",
                        "xl/_rels/workbook.xml.rels",
                    ):
                        chunks.append(chunk)
        except FileRejected:
            raise
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
        ) as exc:
            raise FileRejected("文件已损坏，不是有效的 .xlsx 文件（可能传输不完整）") from exc
        body = b"".join(chunks)
        if info.filename == "xl/workbook.xml":
            workbook_xml = body
        elif info.filename == "xl/_rels/workbook.xml.rels":
            rels_xml = body
        elif body and (b"<f>" in body or b"<f " in body):
            sheet_xml[info.filename] = body
    if not workbook_xml:
        raise FileRejected("文件不是有效的 .xlsx 工作簿（缺少工作簿结构）")
    return _formula_cells(workbook_xml, rels_xml, sheet_xml) if sheet_xml else {}


_SHEET_TAG = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL_TAG = re.compile(rb'<Relationship\b[^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"')
_REL_TAG_REV = re.compile(rb'<Relationship\b[^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"')
_FORMULA_CELL = re.compile(
    rb'<c\b[^>]*?\br="([A-Z]+[0-9]+)"[^>]*?>\s*<f\b[^>]*?(?:/>|>.*?</f>)\s*(?:<v>(.*?)</v>|<v/>)?',
    re.S,
)


def _formula_cells(
    workbook_xml: bytes, rels_xml: bytes, sheet_xml: dict[str, bytes]
) -> dict[str, dict[str, bool]]:
    targets = {rid: target for rid, target in _REL_TAG.findall(rels_xml)}
    targets.update({rid: target for target, rid in _REL_TAG_REV.findall(rels_xml)})
    found: dict[str, dict[str, bool]] = {}
    for name, rid in _SHEET_TAG.findall(workbook_xml):
        target = targets.get(rid, b"").decode("utf-8", "replace").lstrip("/")
        path = target if target.startswith("xl/") else f"xl/{target}"
        body = sheet_xml.get(path)
        if body is None:
            continue
        cells = {ref.decode(): bool(value) for ref, value in _FORMULA_CELL.findall(body)}
        if cells:
            found[_xml_unescape(name.decode("utf-8", "replace"))] = cells
    return found


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        .replace("&apos;", "'").replace("&amp;", "&")
    )  # fmt: skip


def _read_excel(data: bytes, formulas: dict[str, dict[str, bool]]) -> Workbook:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        metadata = book.sheets_metadata
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
        except Exception as exc:
            raise FileRejected(f"工作表“{meta.name}”已损坏，无法读取", sheet=meta.name) from exc
        if sheet.height > MAX_ROWS + 50:
            raise FileRejected(
                f"工作表“{meta.name}”有 {sheet.height} 行，超过 {MAX_ROWS} 行的上限",
                sheet=meta.name,
            )
        if sheet.width > MAX_COLUMNS:
            raise FileRejected(
                f"工作表“{meta.name}”有 {sheet.width} 列，超过 {MAX_COLUMNS} 列的上限",
                sheet=meta.name,
            )
        try:
            rows = sheet.to_python(skip_empty_area=False)
            merges = sheet.merged_cell_ranges or []
        except Exception as exc:
            raise FileRejected(f"工作表“{meta.name}”已损坏，无法读取", sheet=meta.name) from exc
        grid = [[_plain(v) for v in row] for row in rows]
        _fill_merged(grid, merges)
        hidden = str(getattr(meta, "visible", "")).lower().endswith(("hidden", "veryhidden"))
        sheets.append(Sheet(meta.name, grid, hidden, formulas.get(meta.name, {})))
    return Workbook(sheets)


def _fill_merged(grid: list[list[Any]], merges: list) -> None:
    """Copy a merged range's value into every cell it covers (merged headers, task cells)."""
    for (r0, c0), (r1, c1) in merges:
        if r0 >= len(grid):
            continue
        top = grid[r0][c0] if c0 < len(grid[r0]) else ""
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            row = grid[r]
            for c in range(c0, min(c1, len(row) - 1) + 1):
                if row[c] == "":
                    row[c] = top


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (datetime, date, time, timedelta)):
        return value
    return value


def _read_csv(data: bytes) -> Workbook:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes almost anything
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
        for row in csv.reader(io.StringIO(text), dialect):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 50:
                raise FileRejected(f"文件超过 {MAX_ROWS} 行的上限")
            if len(row) > MAX_COLUMNS:
                raise FileRejected(
                    f"第 {len(rows)} 行有 {len(row)} 列，超过 {MAX_COLUMNS} 列的上限"
                )
    except csv.Error as exc:
        raise FileRejected(f"CSV 格式有误：第 {len(rows) + 1} 行无法解析") from exc
    return Workbook([Sheet("CSV", rows)])
