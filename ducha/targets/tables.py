"""Read the target task decomposition table from .txt, .docx or .xlsx.

The readers only find the table and its six columns; names are resolved and
checked later (ducha.targets.register). Every row keeps where it came from, so an
error can name it.

The file is untrusted: it is read in a sandbox child (ducha.sandbox) with hard memory and time
limits, after the checks of what it claims (ducha.targets.word for .docx, the spreadsheet
checks for .xlsx). A file that breaks a check or a limit, or makes the parser abort or hang, is
one Chinese error naming it; nothing is imported.

A 工作内容 cell merged down over several rows (Word's w:vMerge, an Excel merged range) is one
task: the rows under it add their leaders and units to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ducha.errors import UserError
from ducha.targets.word import GridRow

if TYPE_CHECKING:
    from ducha.sandbox import Sandbox

MAX_TABLE_BYTES = 50 * 1024 * 1024
MAX_CELL_CHARS = 32_767  # Excel's limit for a cell; a task's text is a few hundred characters

# Canonical column → header spellings seen in published tables (white space removed).
COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("序号", "编号"),
    "goal": ("目标名称", "目标", "任务名称", "类别", "项目类别"),
    "content": (
        "工作内容", "工作任务", "具体任务", "主要内容", "工作标准", "主要任务", "具体任务及目标",
        "指标要求", "民生实事", "实事项目", "重点任务", "任务内容", "建设内容", "项目内容",
    ),
    "leaders": (
        "区政府分管领导", "市政府分管领导", "县政府分管领导", "分管领导", "责任领导", "区分管领导",
        "县分管领导", "市分管领导", "县级领导", "区级领导", "市级领导", "牵头领导", "分管区领导",
        "分管县领导", "分管市领导", "联系领导",
    ),
    "lead_units": ("牵头单位", "牵头部门", "责任部门", "主办单位", "牵头责任单位"),
    "responsible_units": (
        "责任单位", "配合单位", "实施单位", "协办单位", "参与单位", "协同单位", "配合部门",
    ),
    "deadline": (
        "完成时限", "时间节点", "完成时间", "完成期限", "时限要求", "完成时限要求", "时间要求",
        "计划完成时间", "完成时间节点", "时限",
    ),
}  # fmt: skip
# Spellings that name the content when the table has no other content column, else the goal
# (民生实事: 项目名称 | 主要内容; a plain table: 序号 | 目标任务 | 牵头单位)
EITHER_GOAL_OR_CONTENT = ("目标任务", "项目名称")
REQUIRED = ("content", "lead_units")  # leaders may be missing: tasks then have none
COLUMN_NAMES = {
    "seq": "序号",
    "goal": "目标名称",
    "content": "工作内容",
    "leaders": "区政府分管领导",
    "lead_units": "牵头单位",
    "responsible_units": "责任单位",
    "deadline": "完成时限",
}
_WS = re.compile(r"\s+")
# a section row's ordinal: 一、 （一） 1. 第一部分
_ORDINAL = re.compile(
    r"^(?:第?[一二三四五六七八九十]+(?:部分)?[、.．]|[（(][一二三四五六七八九十]+[)）])\s*"
)


@dataclass(frozen=True)
class RawRow:
    """One task row as written in the table (cells are raw text)."""

    where: str  # e.g. "第 12 行" / "表格第 12 行" / "Sheet1 第 12 行"
    goal: str
    content: str
    leaders: str
    lead_units: str
    responsible_units: str
    deadline: str = ""  # the 完成时限 / 时间节点 cell as written


@dataclass(frozen=True)
class Table:
    """The task rows of a table and its header as mapped: column → the header text as written."""

    rows: list[RawRow]
    header: dict[str, str]


_BRACKETED = re.compile(r"[（(][^（()）]*[）)]")
# a header no exact spelling names, read by its words (责任主体与协同单位, 牵头负责领导, 主要工作举措)
_NOT_A_TASK = re.compile(r"情况|进度|进展|完成|单位|部门|领导|时间|时限|科室|负责人|备注|说明|是否")
_LOOSE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("leaders", re.compile(r"领导")),
    ("deadline", re.compile(r"时限|完成时间|时间节点|节点|实施计划|进度安排|时间安排")),
    ("lead_units", re.compile(r"(牵头|主办|主责|主要责任).*(单位|部门)")),
    (
        "responsible_units",
        re.compile(r"(责任|配合|协同|协办|参与|实施).*(单位|部门|主体)|责任主体"),
    ),
    ("content", re.compile(r"任务|工作|内容|举措|事项|项目|实事|目标")),
)


def _header_key(text: str) -> str | None:
    norm = _WS.sub("", text or "")
    for candidate in dict.fromkeys((norm, _BRACKETED.sub("", norm))):
        for key, spellings in COLUMNS.items():
            if candidate in spellings:
                return key
    return None


def _loose_key(text: str) -> str | None:
    norm = _BRACKETED.sub("", _WS.sub("", text or ""))
    if not norm or len(norm) > 20:
        return None
    for key, pattern in _LOOSE:
        if pattern.search(norm) and (key != "content" or not _NOT_A_TASK.search(norm)):
            return key
    return None


def _map_header(cells: list[str]) -> dict[str, int]:
    """Which column holds what: the spellings of COLUMNS first, then headers read by their
    words. Of several task columns the rightmost holds the content and the one left of it the
    goal (项目名称 | 工作任务, 主要任务 | 全年目标任务, 实事项目 | 工作举措及实施计划). A table with
    责任单位 but no 牵头单位 names its lead units there (then a second responsible column, such
    as 配合单位, holds the others)."""
    mapping: dict[str, int] = {}
    responsible: list[int] = []
    tasks: list[tuple[int, int]] = []  # (exact content 0, either 1, read by its words 2; column)
    for i, text in enumerate(cells):
        key = _header_key(text)
        loose = _loose_key(text) if key is None else None
        if key == "content" or (key is None and _WS.sub("", text or "") in EITHER_GOAL_OR_CONTENT):
            tasks.append((0 if key else 1, i))
        elif key == "responsible_units" or (key is None and loose == "responsible_units"):
            responsible.append(i)
        elif key and key not in mapping:
            mapping[key] = i
        elif loose == "content":
            tasks.append((2, i))
        elif loose and loose not in mapping:
            mapping[loose] = i
    if tasks:
        content = max(i for _, i in tasks)
        mapping["content"] = content
        left = [i for _, i in tasks if i < content]
        if left and "goal" not in mapping:
            mapping["goal"] = left[-1]
    if responsible and "lead_units" not in mapping:
        mapping["lead_units"] = responsible.pop(0)
    if responsible:
        mapping["responsible_units"] = responsible[0]
    return mapping


def _join_paragraphs(text: str) -> str:
    """Content paragraphs are joined without a separator (they are sentences)."""
    return "".join(p.strip() for p in text.splitlines() if p.strip())


def _names_cell(text: str) -> str:
    return "\n".join(p.strip() for p in text.splitlines() if p.strip())


def _rows_from_grid(grid: list[GridRow], source: str) -> Table:
    """Find the header in a grid and build the task rows. A row whose 工作内容 continues the
    merged cell above adds its leaders and units to the task above (each name once)."""
    header_at = -1
    mapping: dict[str, int] = {}
    for i, row in enumerate(grid[:30]):
        mapping = _map_header(row.cells)
        if all(k in mapping for k in REQUIRED):
            header_at = i
            break
    else:
        found = {k for row in grid[:30] for k in _map_header(row.cells)}
        missing = [
            "牵头单位或责任单位" if k == "lead_units" else COLUMN_NAMES[k]
            for k in REQUIRED
            if k not in found
        ]
        raise UserError(f"{source}：没有找到分解表的表头，缺少列“{'”“'.join(missing)}”")
    rows: list[RawRow] = []
    last_goal = ""
    previous_is_task = False  # the row above began or continued a task
    for row in grid[header_at + 1 :]:
        cells, where = row.cells, row.where

        def cell(key: str, cells: list[str] = cells, where: str = where) -> str:
            i = mapping.get(key)
            text = cells[i] if i is not None and i < len(cells) else ""
            if len(text) > MAX_CELL_CHARS:
                raise UserError(
                    f"{source} {where}：“{COLUMN_NAMES[key]}”超过 {MAX_CELL_CHARS} 字，"
                    "不像分解表的内容，未导入"
                )
            return text

        if mapping["content"] in row.continued:
            if previous_is_task:
                rows[-1] = _continued(rows[-1], cell)
            continue  # (a header cell merged down: nothing to continue)
        content = _join_paragraphs(cell("content"))
        section = _section_title(cells, content)
        if section is not None:  # 一、提振消费市场: the goal of the tasks under it
            last_goal, previous_is_task = section, False
            continue
        previous_is_task = bool(content)
        if not content:
            if any(c.strip() for c in cells):
                if all(k in _map_header(cells) for k in REQUIRED):  # repeated (a page break)
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
                deadline=_join_paragraphs(cell("deadline")),
            )
        )
    if not rows:
        raise UserError(f"{source}：分解表中没有任何任务行")
    header = grid[header_at].cells
    return Table(rows, {key: _WS.sub("", header[i]) for key, i in mapping.items()})


def _section_title(cells: list[str], content: str) -> str | None:
    """The title of a section row (一、提振消费市场 across the table, or alone in one cell while
    the content column is empty); None for a task row."""
    texts = {c.strip() for c in cells if c.strip()}
    if len(texts) != 1:
        return None
    (text,) = texts
    spread = sum(1 for c in cells if c.strip()) > 1  # one cell merged across the row
    if content and not (spread or _ORDINAL.match(text)):
        return None  # a task with nothing but its content: its missing units are an error
    if len(text) > 60 or _header_key(text):
        return None
    return _ORDINAL.sub("", _join_paragraphs(text)).strip() or None


def _continued(task: RawRow, cell: Callable[[str], str]) -> RawRow:
    """The task with the names of a row under its merged 工作内容 added (each line once)."""

    def more(before: str, key: str) -> str:
        lines = before.splitlines()
        lines += [line for line in _names_cell(cell(key)).splitlines() if line not in lines]
        return "\n".join(lines)

    return RawRow(
        where=task.where,
        goal=task.goal,
        content=task.content,
        leaders=more(task.leaders, "leaders"),
        lead_units=more(task.lead_units, "lead_units"),
        responsible_units=more(task.responsible_units, "responsible_units"),
        deadline=task.deadline or _join_paragraphs(cell("deadline")),
    )


def read_text(name: str, data: bytes) -> Table:
    """The plain-text form of a Word table: a line starting with TAB opens a
    cell; lines without a TAB continue it (blank lines separate paragraphs)."""
    from ducha.submissions.spreadsheet import decode_text

    text = decode_text(data)
    if text is None:
        raise UserError(f"{name}：无法识别文件编码（应为 UTF-8 或 GBK）")
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
            f"{name}：没有找到分解表（应有以制表符分隔的“序号、目标名称、工作内容、"
            "区政府分管领导、牵头单位、责任单位”六列；至少要有工作内容和牵头单位或责任单位）"
        )
    body = cells[start:]
    if len(body) % width:
        lineno = body[-(len(body) % width)][0]
        raise UserError(f"{name} 第 {lineno} 行：表格最后一行的单元格数不足 {width} 个")
    grid = [
        GridRow(f"第 {body[i][0]} 行", ["\n".join(c[1]) for c in body[i : i + width]])
        for i in range(0, len(body), width)
    ]
    return _rows_from_grid(grid, name)


def read_docx(name: str, data: bytes) -> Table:
    """The first table of the document that has the table's columns (ducha.targets.word)."""
    from ducha.targets.word import docx_tables

    tables = docx_tables(name, data)
    if not tables:
        raise UserError(f"{name}：文件中没有表格，找不到目标任务分解表")
    return _first_table(tables, name)


def read_xlsx(name: str, data: bytes) -> Table:
    """Through the same guarded reader as the progress spreadsheets (limits, merged cells filled);
    the merged ranges are read again to know which cells continue the one above."""
    from ducha.submissions.limits import FileRejected
    from ducha.submissions.spreadsheet import read_workbook

    try:
        book = read_workbook(name, data)
    except FileRejected as exc:
        raise UserError(f"{name}：{exc.message}") from exc
    if not book.sheets:
        raise UserError(f"{name}：工作簿中没有工作表")
    merges = _merged_ranges(name, data)
    grids = []
    for sheet in book.sheets:
        continued: dict[int, set[int]] = {}
        for (r0, c0), (r1, c1) in merges.get(sheet.name, []):
            for r in range(r0 + 1, min(r1, len(sheet.rows) - 1) + 1):
                continued.setdefault(r, set()).update(range(c0, c1 + 1))
        grids.append(
            [
                GridRow(
                    f"工作表“{sheet.name}”第 {r} 行",
                    [_cell_text(v) for v in row],
                    frozenset(continued.get(r - 1, ())),
                )
                for r, row in enumerate(sheet.rows, start=1)
            ]
        )
    return _first_table(grids, name)


def _merged_ranges(name: str, data: bytes) -> dict[str, list]:
    """Each sheet's merged ranges ((first row, first column), (last row, last column)), from a
    package read_workbook has already checked and read."""
    import io

    from python_calamine import CalamineWorkbook

    from ducha.submissions.containers import check_xlsx_package

    package, _ = check_xlsx_package(data)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(package))
        return {
            sheet: book.get_sheet_by_name(sheet).merged_cell_ranges or []
            for sheet in book.sheet_names
        }
    except Exception:  # calamine has many error types for broken files
        raise UserError(f"{name}：文件已损坏或格式不对，无法读取合并单元格") from None


def _first_table(grids: list[list[GridRow]], name: str) -> Table:
    """The rows of the first grid that holds the table; else the error of the last one."""
    last_error: UserError | None = None
    for grid in grids:
        try:
            return _rows_from_grid(grid, name)
        except UserError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


READERS = {".txt": read_text, ".docx": read_docx, ".xlsx": read_xlsx}


def read_table(path: Path) -> Table:
    """Read the decomposition table from a file, choosing the reader by suffix; the reader
    runs in a sandbox child (hard memory and time limits)."""
    from ducha.submissions.limits import FileRejected

    if not path.exists():
        raise UserError(f"找不到文件 {path}")
    if path.is_dir():
        raise UserError(f"{path} 是目录，请指定分解表文件")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise UserError(
            f"{path.name}：不支持的文件类型“{path.suffix or '无扩展名'}”，请使用 .docx、.xlsx 或 .txt"
        )
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path.name}：文件是空的")
    if size > MAX_TABLE_BYTES:
        raise UserError(f"{path.name}：文件超过 {MAX_TABLE_BYTES // 1024 // 1024} MB，不像分解表")
    with path.open("rb") as handle:
        data = handle.read(MAX_TABLE_BYTES + 1)  # what is read is what was checked
    if len(data) > MAX_TABLE_BYTES:
        raise UserError(f"{path.name}：文件超过 {MAX_TABLE_BYTES // 1024 // 1024} MB，不像分解表")
    with _sandbox() as box:
        try:
            table, problem = box.call(_read_in_child, suffix, path.name, data)
        except FileRejected:  # the child aborted, hung or hit its memory limit
            kind = box.failures[-1] if box.failures else "crash"
            reason = _FAILED[kind].format(memory=box.memory // 1024 // 1024, seconds=box.seconds)
            raise UserError(f"{path.name}：{reason}") from None
    if problem is not None or table is None:
        raise UserError(problem or f"{path.name}：无法读取")
    return table


def _sandbox() -> Sandbox:
    """A sandbox with ducha.sandbox's limits as they are now (tests lower them)."""
    from ducha import sandbox

    return sandbox.Sandbox(
        memory=sandbox.MEMORY_BYTES, seconds=sandbox.FILE_SECONDS, cpu=sandbox.CPU_SECONDS
    )


_FAILED = {
    "memory": "文件过于复杂，读取时超出内存上限（{memory} MB），未导入；请检查文件是否有异常大的内容，另存后再导入",
    "time": "文件过于复杂，{seconds:g} 秒内未能读完，未导入；请检查文件后再导入",
    "crash": "文件无法安全读取（读取程序异常退出），未导入；请用 Word、WPS 或 Excel 另存后再导入",
}  # fmt: skip


def _read_in_child(suffix: str, name: str, data: bytes) -> tuple[Table | None, str | None]:
    """In the sandbox child: the table, or the one-line reason the file is refused (what a parser
    prints before it aborts goes nowhere: the sandbox's child writes no stderr)."""
    try:
        return READERS[suffix](name, data), None
    except UserError as exc:
        return None, exc.message
