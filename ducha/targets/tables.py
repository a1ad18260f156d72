"""Read the target task decomposition table from .txt, .docx or .xlsx.

The readers only find the table and its six columns; names are resolved and
checked later (ducha.targets.register). Every row keeps where it came from, so an
error can name it.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ducha.errors import UserError

MAX_TABLE_BYTES = 50 * 1024 * 1024

# Canonical column → header spellings seen in published tables (white space removed).
COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("序号", "编号"),
    "goal": ("目标名称", "目标任务", "目标", "任务名称"),
    "content": ("工作内容", "工作任务", "具体任务", "主要内容"),
    "leaders": (
        "区政府分管领导",
        "市政府分管领导",
        "县政府分管领导",
        "分管领导",
        "责任领导",
        "区分管领导",
    ),
    "lead_units": ("牵头单位", "牵头部门", "责任部门"),
    "responsible_units": ("责任单位", "配合单位", "实施单位"),
}
REQUIRED = ("content", "leaders", "lead_units", "responsible_units")
COLUMN_NAMES = {
    "seq": "序号",
    "goal": "目标名称",
    "content": "工作内容",
    "leaders": "区政府分管领导",
    "lead_units": "牵头单位",
    "responsible_units": "责任单位",
}
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class RawRow:
    """One task row as written in the table (cells are raw text)."""

    where: str  # e.g. "第 12 行" / "表格第 12 行" / "Sheet1 第 12 行"
    goal: str
    content: str
    leaders: str
    lead_units: str
    responsible_units: str


def _header_key(text: str) -> str | None:
    norm = _WS.sub("", text or "")
    for key, spellings in COLUMNS.items():
        if norm in spellings:
            return key
    return None


def _map_header(cells: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for i, text in enumerate(cells):
        key = _header_key(text)
        if key and key not in mapping:
            mapping[key] = i
    return mapping


def _join_paragraphs(text: str) -> str:
    """Content paragraphs are joined without a separator (they are sentences)."""
    return "".join(p.strip() for p in text.splitlines() if p.strip())


def _names_cell(text: str) -> str:
    return "\n".join(p.strip() for p in text.splitlines() if p.strip())


def _rows_from_grid(grid: list[tuple[str, list[str]]], source: str) -> list[RawRow]:
    """Find the header in a grid of (where, cells) and build the task rows."""
    header_at = -1
    mapping: dict[str, int] = {}
    for i, (_, cells) in enumerate(grid[:30]):
        mapping = _map_header(cells)
        if all(k in mapping for k in REQUIRED):
            header_at = i
            break
    else:
        found = {k for _, cells in grid[:30] for k in _map_header(cells)}
        missing = [COLUMN_NAMES[k] for k in REQUIRED if k not in found]
        raise UserError(f"{source}：没有找到分解表的表头，缺少列“{'”“'.join(missing)}”")
    rows: list[RawRow] = []
    last_goal = ""
    for where, cells in grid[header_at + 1 :]:

        def cell(key: str, cells: list[str] = cells) -> str:
            i = mapping.get(key)
            return cells[i] if i is not None and i < len(cells) else ""

        content = _join_paragraphs(cell("content"))
        if not content:
            if any(c.strip() for c in cells):
                if _map_header(cells):  # a repeated header row (page break in Word)
                    continue
                raise UserError(f"{source} {where}：“工作内容”为空")
            continue
        goal = _join_paragraphs(cell("goal")) or last_goal
        last_goal = goal
        rows.append(
            RawRow(
                where=where,
                goal=goal,
                content=content,
                leaders=_names_cell(cell("leaders")),
                lead_units=_names_cell(cell("lead_units")),
                responsible_units=_names_cell(cell("responsible_units")),
            )
        )
    if not rows:
        raise UserError(f"{source}：分解表中没有任何任务行")
    return rows


def read_text(path: Path) -> list[RawRow]:
    """The plain-text form of a Word table: a line starting with TAB opens a
    cell; lines without a TAB continue it (blank lines separate paragraphs)."""
    from ducha.submissions.spreadsheet import decode_text

    text = decode_text(path.read_bytes())
    if text is None:
        raise UserError(f"{path.name}：无法识别文件编码（应为 UTF-8 或 GBK）")
    cells: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("\t"):
            cells.append((lineno, [line[1:]]))
        elif line.strip() and cells:
            cells[-1][1].append(line)
    width = 6
    start = None
    for i in range(len(cells) - width + 1):
        header = [_WS.sub("", "\n".join(c[1])) for c in cells[i : i + width]]
        if all(k in _map_header(header) for k in REQUIRED):
            start = i
            break
    if start is None:
        raise UserError(
            f"{path.name}：没有找到分解表（应有以制表符分隔的“序号、目标名称、工作内容、"
            "区政府分管领导、牵头单位、责任单位”六列）"
        )
    body = cells[start:]
    if len(body) % width:
        lineno = body[-(len(body) % width)][0]
        raise UserError(f"{path.name} 第 {lineno} 行：表格最后一行的单元格数不足 {width} 个")
    grid = [
        (f"第 {body[i][0]} 行", ["\n".join(c[1]) for c in body[i : i + width]])
        for i in range(0, len(body), width)
    ]
    return _rows_from_grid(grid, path.name)


def read_docx(path: Path) -> list[RawRow]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UserError(f"{path.name}：不是有效的 Word（.docx）文件") from exc
    if not document.tables:
        raise UserError(f"{path.name}：文件中没有表格，找不到目标任务分解表")
    last_error: UserError | None = None
    for t, table in enumerate(document.tables, start=1):
        grid: list[tuple[str, list[str]]] = []
        for r, row in enumerate(table.rows, start=1):
            cells: list[str] = []
            previous = None
            for cell in row.cells:
                # python-docx repeats a horizontally merged cell: keep it once.
                cells.append("" if cell._tc is previous else cell.text)
                previous = cell._tc
            grid.append((f"表格{t}第 {r} 行", cells))
        try:
            return _rows_from_grid(grid, path.name)
        except UserError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def read_xlsx(path: Path) -> list[RawRow]:
    """Through the same guarded reader as the progress spreadsheets (limits, merged cells filled)."""
    from ducha.submissions.limits import FileRejected
    from ducha.submissions.spreadsheet import read_workbook

    try:
        book = read_workbook(path.name, path.read_bytes())
    except FileRejected as exc:
        raise UserError(f"{path.name}：{exc.message}") from exc
    last_error: UserError | None = None
    for sheet in book.sheets:
        grid = [
            (f"工作表“{sheet.name}”第 {r} 行", [_cell_text(v) for v in row])
            for r, row in enumerate(sheet.rows, start=1)
        ]
        try:
            return _rows_from_grid(grid, path.name)
        except UserError as exc:
            last_error = exc
    if last_error is None:
        raise UserError(f"{path.name}：工作簿中没有工作表")
    raise last_error


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


READERS = {".txt": read_text, ".docx": read_docx, ".xlsx": read_xlsx}


def read_table(path: Path) -> list[RawRow]:
    """Read the decomposition table from a file, choosing the reader by suffix."""
    if not path.exists():
        raise UserError(f"找不到文件 {path}")
    if path.is_dir():
        raise UserError(f"{path} 是目录，请指定分解表文件")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UserError(
            f"{path.name}：不支持的文件类型“{path.suffix or '无扩展名'}”，请使用 .docx、.xlsx 或 .txt"
        )
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path.name}：文件是空的")
    if size > MAX_TABLE_BYTES:
        raise UserError(f"{path.name}：文件超过 {MAX_TABLE_BYTES // 1024 // 1024} MB，不像分解表")
    return reader(path)
