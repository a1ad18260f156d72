"""The tables of a Word (.docx) decomposition table, read safely.

Before python-docx sees a file, its zip is checked the way an .xlsx is checked
(ducha.submissions.zipped): at most MAX_ZIP_MEMBERS members, each stored or deflated and
unencrypted, sizes a deflate stream can have, the declared sizes adding up to at most
MAX_UNZIPPED_BYTES and their XML to at most MAX_XML_BYTES; then every member is inflated from
the raw bytes under a running cap and checked against its declared size and CRC, and tables
nested more than MAX_NESTING deep are refused. python-docx reads the checked members (stored,
so nothing is inflated twice). Callers run this in a sandbox child (ducha.targets.tables).

A table becomes a grid of GridRows, one cell per layout column: a cell spanning columns
(w:gridSpan) sits in its first column, the others are empty; a cell continuing a vertical merge
(w:vMerge) repeats the text of the cell it continues and is listed in `continued`, so that the
rows under a merged 工作内容 are one task. A cell's text is its paragraphs and the text of the
tables nested in it, one line per paragraph or nested cell, in reading order.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ducha.errors import UserError
from ducha.submissions.biff import CFB_SIGNATURE, is_encrypted_office_file
from ducha.submissions.limits import MAX_COLUMNS, MAX_ROWS, MAX_UNZIPPED_BYTES, FileRejected
from ducha.submissions.zipped import BOMB, MAX_ZIP_MEMBERS, Inflater, stored_package

MAX_XML_BYTES = 30 * 1024 * 1024  # all XML parts inflated; a real 300-task table has < 3 MB
MAX_NESTING = 8  # tables inside a table cell, inside …; real tables nest one or two deep
_MB = 1024 * 1024

_BROKEN = "文件已损坏，不是有效的 Word（.docx）文件（可能传输不完整），请用 Word 或 WPS 打开后另存为 .docx 再导入"
_UNSUPPORTED = (
    "文件使用了 .docx 不支持的压缩方式或加密，无法读取，请用 Word 或 WPS 另存为 .docx 后再导入"
)
_ENCRYPTED = "文件已加密（设置了打开密码），无法读取，请取消密码后再导入"
_OLD_DOC = "文件是旧版 Word（.doc）格式，请用 Word 或 WPS 另存为 .docx 后再导入"
_TOO_MANY_MEMBERS = f"文件结构异常（压缩包内文件超过 {MAX_ZIP_MEMBERS} 个），不像分解表，未导入"
_DOCX_BOMB = f"文件解压后超过 {MAX_UNZIPPED_BYTES // _MB} MB，疑似压缩炸弹，未导入"
_TOO_MUCH_XML = f"文件的文档内容解压后超过 {MAX_XML_BYTES // _MB} MB，不像分解表，未导入"
_TOO_DEEP = f"表格嵌套超过 {MAX_NESTING} 层（表格里套表格），无法读取，请去掉多余的嵌套后再导入"
_NOT_WORD = "不是 Word 文档（.docx），请确认文件类型"  # a zip, but not a word-processing package

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _TBL, _TR, _TC = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc"
_WRAPPERS = {f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml"}  # content controls, custom XML
_TABLE_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?tbl[\s>/]")


class _TooDeep(Exception):
    pass


@dataclass(frozen=True)
class GridRow:
    """One row of a table: where it is (for messages), a text per layout column, and the
    columns whose cell continues the merged cell above."""

    where: str
    cells: list[str]
    continued: frozenset[int] = field(default_factory=frozenset)


def docx_tables(name: str, data: bytes) -> list[list[GridRow]]:
    """Every top-level table of the document, as grids. UserError (naming the file) when the
    file is not a sound .docx or breaks a limit."""
    import docx

    package = check_package(name, data)
    try:
        document = docx.Document(io.BytesIO(package))
    except (MemoryError, RecursionError):
        raise
    except ValueError as exc:  # "… is not a Word file, content type is …"
        raise UserError(f"{name}：{_NOT_WORD if 'content type' in str(exc) else _BROKEN}") from None
    except Exception as exc:  # lxml, zipfile, python-docx: anything a broken package raises
        if _out_of_memory(exc):  # libxml2 reports a failed allocation as a syntax error
            raise MemoryError from None
        raise UserError(f"{name}：{_BROKEN}") from None
    try:
        return [
            _grid(name, table, t)
            for t, table in enumerate(_children(document.element.body, _TBL), start=1)
        ]
    except _TooDeep:
        raise UserError(f"{name}：{_TOO_DEEP}") from None
    except (MemoryError, RecursionError, UserError):
        raise
    except Exception:  # an attribute python-docx cannot convert (w:gridSpan="x") …
        raise UserError(f"{name}：{_BROKEN}") from None


def _out_of_memory(exc: Exception) -> bool:
    """Whether lxml failed for want of memory (libxml2's ERR_NO_MEMORY, raised as a syntax
    error): that is the sandbox's memory limit, not a damaged file."""
    from lxml import etree

    if not isinstance(exc, etree.LxmlError):
        return False
    no_memory = etree.ErrorTypes.ERR_NO_MEMORY
    return getattr(exc, "code", None) == no_memory or any(
        entry.type == no_memory for entry in exc.error_log
    )


def check_package(name: str, data: bytes) -> bytes:
    """The zip checked member by member, returned with every member stored (inflated here,
    once, under the caps)."""
    if data[:8] == CFB_SIGNATURE:  # an OLE compound file: encrypted Office file or a .doc
        raise UserError(f"{name}：{_ENCRYPTED if is_encrypted_office_file(data) else _OLD_DOC}")
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except NotImplementedError:
        raise UserError(f"{name}：{_UNSUPPORTED}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise UserError(f"{name}：{_BROKEN}") from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise UserError(f"{name}：{_TOO_MANY_MEMBERS}")
    declared = xml = 0
    for info in members:
        if info.flag_bits & 0x1 or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise UserError(f"{name}：{_UNSUPPORTED}")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.compress_size != info.file_size) or (
            info.compress_size > info.file_size + info.file_size // 1000 + 64
        ):
            raise UserError(f"{name}：{_BROKEN}")  # sizes that no deflate stream has
        declared += info.file_size
        if info.filename.lower().endswith((".xml", ".rels")):
            xml += info.file_size
    if declared > MAX_UNZIPPED_BYTES:
        raise UserError(f"{name}：{_DOCX_BOMB}")
    if xml > MAX_XML_BYTES:
        raise UserError(f"{name}：{_TOO_MUCH_XML}")
    inflater = Inflater(data)
    inflated: dict[int, bytes] = {}
    try:
        for info in members:  # sizes and CRCs as declared, or refused: the caps above hold
            inflated[info.header_offset] = inflater.inflate(info)
    except FileRejected as exc:
        raise UserError(f"{name}：{_DOCX_BOMB if exc.message == BOMB else _BROKEN}") from None
    for info in members:
        if info.filename.lower().endswith(".xml") and _nesting(inflated[info.header_offset]):
            raise UserError(f"{name}：{_TOO_DEEP}")
    return stored_package(inflater, members, inflated)


def _nesting(xml: bytes) -> bool:
    """Whether tables nest deeper than MAX_NESTING (one pass over the tags, before lxml)."""
    depth = 0
    for m in _TABLE_TAG.finditer(xml):
        if m.group(1):
            depth -= 1
            continue
        end = xml.find(b">", m.end() - 1)
        if xml[end - 1 : end] != b"/":  # not an empty <w:tbl/>
            depth += 1
            if depth > MAX_NESTING + 1:  # the outer table and MAX_NESTING tables inside it
                return True
    return False


def _children(element: Any, tag: str) -> Iterator[Any]:
    """Children with `tag`, looking through content controls and custom XML wrappers."""
    for child in element.iterchildren():
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)


def _grid(name: str, table: Any, t: int) -> list[GridRow]:
    rows: list[GridRow] = []
    above: dict[int, str] = {}  # layout column -> text of the cell that began there last
    for r, tr in enumerate(_children(table, _TR), start=1):
        if r > MAX_ROWS + 50:
            raise UserError(f"{name}：表格{t}超过 {MAX_ROWS} 行的上限，不像分解表，未导入")
        col = max(0, min(tr.grid_before, MAX_COLUMNS))
        cells = [""] * col
        continued: set[int] = set()
        for tc in _children(tr, _TC):
            span = max(1, tc.grid_span)
            if col + span > MAX_COLUMNS:
                raise UserError(
                    f"{name}：表格{t}第 {r} 行超过 {MAX_COLUMNS} 列的上限，不像分解表，未导入"
                )
            if tc.vMerge == "continue":
                text = above.get(col, "")
                continued.add(col)
            else:
                text = cell_text(tc)
            above[col] = text
            cells += [text] + [""] * (span - 1)
            col += span
        rows.append(GridRow(f"表格{t}第 {r} 行", cells, frozenset(continued)))
    return rows


def cell_text(tc: Any, depth: int = 0) -> str:
    """A cell's paragraphs and the cells of the tables nested in it, one line each, in reading
    order (a vertically merged nested cell is read once, where it begins)."""
    lines: list[str] = []
    for child in _blocks(tc):
        if child.tag == _P:
            lines.append(child.text)
            continue
        if depth >= MAX_NESTING:  # checked before parsing; kept for packages not checked
            raise _TooDeep
        for tr in _children(child, _TR):
            for inner in _children(tr, _TC):
                if inner.vMerge != "continue":
                    lines.append(cell_text(inner, depth + 1))
    return "\n".join(lines)


def _blocks(element: Any) -> Iterator[Any]:
    """The paragraphs and tables of a cell, in order, through content controls."""
    for child in element.iterchildren():
        if child.tag in (_P, _TBL):
            yield child
        elif child.tag in _WRAPPERS:
            yield from _blocks(child)
