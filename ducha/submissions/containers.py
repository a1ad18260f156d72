"""What an .xlsx file holds, read from its package before any library materialises it: the zip
members inflated under a limit (ducha.submissions.zipped), the workbook's sheets, the farthest
cell of each, the text its cells show, each sheet's formula cells without a saved result and
its error cells. An .xls file is read the same way record by record (ducha.submissions.biff).
"""

from __future__ import annotations

import io
import re
import zipfile

from ducha.submissions.limits import (
    MAX_CELL_TEXT_BYTES,
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_TEXT_BYTES,
    MAX_UNZIPPED_BYTES,
    TOO_MUCH_TEXT,
    FileRejected,
    SheetMarks,
    cell_ref,
)
from ducha.submissions.zipped import BOMB, BROKEN_XLSX, MAX_ZIP_MEMBERS, Inflater, stored_package

_ZIP_UNSUPPORTED = (
    "文件使用了 .xlsx 不支持的压缩方式或加密，无法读取（请用 Excel 或 WPS 另存为 .xlsx 后重新报送）"
)
MAX_MERGED_RANGES = 20_000
MAX_MERGED_CELLS = (MAX_ROWS + 50) * MAX_COLUMNS  # merged ranges never overlap in a real sheet


def check_xlsx_package(data: bytes) -> tuple[bytes, dict[str, SheetMarks]]:
    """Check the zip before calamine opens it, and mark formula and error cells. Returns the
    package calamine reads, and the marks.

    Trust, then verify: every member must be stored or deflated, unencrypted, with sizes that
    deflate can produce, and the sizes declared add up to at most the cap. The parts calamine
    reads (workbook, its relationships and their targets, worksheets) are then inflated from
    the raw bytes with a running cap, whatever their headers claim, and checked against their
    declared size and CRC. Other members (images, document properties) are never inflated.
    calamine is given the same package with the parts inflated here stored uncompressed
    (stored_package): it reads exactly the bytes checked, and does not inflate them again.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except NotImplementedError as exc:  # "zip file version 6.4"
        raise FileRejected(_ZIP_UNSUPPORTED) from exc
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise FileRejected(BROKEN_XLSX) from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise FileRejected("文件结构异常（压缩包内文件过多）")
    declared = 0
    for info in members:
        if info.flag_bits & 0x1 or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise FileRejected(_ZIP_UNSUPPORTED)
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.compress_size != info.file_size) or (
            info.compress_size > info.file_size + info.file_size // 1000 + 64
        ):
            raise FileRejected(BROKEN_XLSX)  # sizes that no deflate stream has
        declared += info.file_size
    if declared > MAX_UNZIPPED_BYTES:
        raise FileRejected(BOMB)
    inflater = Inflater(data)
    parts: dict[str, bytes] = {}
    inflated: dict[int, bytes] = {}  # member (header offset) -> its checked bytes

    def read(names: set[str]) -> None:
        for info in members:
            if info.filename in names:
                parts[info.filename] = inflated[info.header_offset] = inflater.inflate(info)

    read({"xl/workbook.xml", "xl/_rels/workbook.xml.rels"})
    workbook_xml = parts.get("xl/workbook.xml")
    if not workbook_xml:
        raise FileRejected("文件不是有效的 .xlsx 工作簿（缺少工作簿结构）")
    targets = _relationships(parts.get("xl/_rels/workbook.xml.rels", b""))
    read(
        set(targets.values())
        | {i.filename for i in members if i.filename.startswith("xl/worksheets/")}
    )
    marks: dict[str, SheetMarks] = {}
    sheets = _workbook_sheets(workbook_xml)
    shared = next(
        (
            parts[t]
            for t in targets.values()
            if t.lower().endswith("sharedstrings.xml") and t in parts
        ),
        b"",
    )
    lengths = _shared_string_lengths(shared)
    for name, rid in sheets:
        body = parts.get(targets.get(rid, ""), b"")
        far = _far_cell(body)
        if far is not None:  # calamine would allocate every cell up to it
            raise FileRejected(
                f"工作表“{name}”在 {far} 处有单元格，超出 {MAX_ROWS} 行、"
                f"{MAX_COLUMNS} 列的上限，未处理（请删除表格以外的内容后重新报送）",
                sheet=name,
            )
        if _MAYBE_FORMULA.search(body) or b'"e"' in body or b"'e'" in body:  # quick filters
            marks[name] = _sheet_marks(body)
    _check_text_amount(lengths, [parts.get(targets.get(rid, ""), b"") for _, rid in sheets])
    return stored_package(inflater, members, inflated), marks


# A cell reference beyond the limits: three letters (beyond ZZ), a column beyond GR (200), or a
# row beyond MAX_ROWS + 50 (5050). Only cells have an attribute r with letters in it (a row's r
# is a number), and rows without cells are left alone: Excel writes formatted empty rows. The
# pattern starts with a literal so that the search skips ahead; the character before it is
# checked after (the attribute is r, not one whose name ends in r).
_FAR_CELL = re.compile(
    rb"""r\s*=\s*["']((?:[A-Z]{3,}|[H-Z][A-Z]|G[S-Z])\d+|[A-Z]{1,3}"""
    rb"""(?:\d{5,}|[6-9]\d{3}|5[1-9]\d\d|50[6-9]\d|505[1-9]))["']"""
)


def _far_cell(body: bytes) -> str | None:
    """The first cell in a worksheet's XML beyond the limits, if any: by its reference, or
    where a cell without one falls (after the cell before it in its row, in the row after
    the one before when the row has no number either)."""
    for m in _FAR_CELL.finditer(body):
        if m.start() > 0 and body[m.start() - 1] in b" \t\r\n":
            return m.group(1).decode("ascii", "replace")
    if b":c" in body or b":row" in body:  # tags may have a namespace prefix: the slow search
        numbered = _UNNUMBERED.search(body) is None
    else:  # searches that start with a literal skip ahead
        numbered = _UNNUMBERED_CELL.search(body) is None and _UNNUMBERED_ROW.search(body) is None
    if numbered:
        return None  # every cell and row numbered (as Excel, WPS and LibreOffice write them)
    return _far_position(body)


# a cell or row tag without an attribute r (its place then follows from the ones before it)
_NO_R = rb"(?=[\s/>])(?![^<>]*?\sr\s*=)"
_UNNUMBERED = re.compile(rb"<(?:\w+:)?(?:c|row)" + _NO_R)
_UNNUMBERED_CELL = re.compile(rb"<c" + _NO_R)
_UNNUMBERED_ROW = re.compile(rb"<row" + _NO_R)
_ROW_OR_CELL = re.compile(rb"<(?:\w+:)?(row|c)(?=[\s/>])([^<>]*)>")
_REF = re.compile(r"([A-Z]{1,3})(\d+)$")


def _far_position(body: bytes) -> str | None:
    """Where cells without a reference fall, as a reader places them (slow: only for sheets
    with such cells)."""
    row, col = -1, -1
    for m in _ROW_OR_CELL.finditer(body):
        ref = _attr(m.group(2), rb"r")
        if m.group(1) == b"row":
            row = _number(ref) - 1 if ref is not None else row + 1
            col = -1
            continue
        found = _REF.match(ref.strip().upper()) if ref is not None else None
        if found is not None:
            col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(found.group(1)))) - 1
            row = _number(found.group(2)) - 1
        else:
            col += 1
        if row >= MAX_ROWS + 50 or col >= MAX_COLUMNS or row < 0:
            return cell_ref(max(row, 0), min(col, 16383))
    return None


def _number(text: str | None) -> int:
    """A row number as written (anything else counts as beyond every limit)."""
    try:
        return int(text or "")
    except ValueError:
        return 10**9


_SHARED_ITEM = re.compile(rb"<(?:\w+:)?si\b[^>]*>(.*?)</(?:\w+:)?si>", re.S)
_TEXT_RUN = re.compile(rb"<(?:\w+:)?t\b[^>/]*>([^<]*)<")
_SHARED_CELL = re.compile(
    rb"""<(?:\w+:)?c\b[^<>]*?\st\s*=\s*["']s["'][^<>]*>\s*<(?:\w+:)?v>(\d+)<"""
)


def _shared_string_lengths(xml: bytes) -> list[int]:
    """The length in bytes of each shared string, at most: the bytes up to its end tag, markup
    included (a bound the text amount check can use, found at the speed of bytes.split). Only
    an item longer than a cell may be is measured exactly, by its text runs."""
    if b"</si>" not in xml:  # a namespace prefix (</x:si>), or no shared strings
        return [_text_size(m.group(1)) for m in _SHARED_ITEM.finditer(xml)]
    pieces = xml.split(b"</si>")[:-1]  # the last piece is what follows the last item
    lengths = [len(piece) for piece in pieces]
    for i, size in enumerate(lengths):
        if size > MAX_CELL_TEXT_BYTES:
            lengths[i] = _text_size(pieces[i][pieces[i].rfind(b"<si") :])
    return lengths


def _text_size(item: bytes) -> int:
    """The bytes of text in one shared string item (its text runs); too long is refused."""
    size = sum(len(m.group(1)) for m in _TEXT_RUN.finditer(item))
    if size > MAX_CELL_TEXT_BYTES:
        raise FileRejected(
            f"文件中有一个单元格的文字超过 {MAX_CELL_TEXT_BYTES // 3} 字（Excel 的上限），未处理"
        )
    return size


def _check_text_amount(lengths: list[int], bodies: list[bytes]) -> None:
    """The text all cells show, a shared string counted at every cell that shows it: a 40 MB
    string referenced by a hundred cells is four gigabytes to whoever reads the sheet."""
    if not lengths:
        return
    longest = max(lengths)
    references = sum(b.count(b't="s"') + b.count(b"t='s'") for b in bodies)
    if references * longest <= MAX_TEXT_BYTES:  # the common case: no need to count exactly
        return
    total = 0
    for body in bodies:
        for m in _SHARED_CELL.finditer(body):
            index = int(m.group(1))
            total += lengths[index] if index < len(lengths) else 0
            if total > MAX_TEXT_BYTES:
                raise FileRejected(TOO_MUCH_TEXT)


# Tag and attribute patterns stop at the next "<" or ">": each search is linear in the input.
_TAG_SHEET = re.compile(rb"<(?:\w+:)?sheet\b([^<>]*)")
_TAG_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^<>]*)")
_ATTR = {
    name: re.compile(rb"(?:^|\s)" + name + rb"""\s*=\s*(?:"([^"]*)"|'([^']*)')""")
    for name in (rb"name", rb"r:id", rb"Id", rb"Target", rb"r", rb"t")
}
# A cell: its start tag's attributes and its content up to the next cell tag (or </c>).
_CELL = re.compile(rb"<(?:\w+:)?c\b([^<>]*)>((?:[^<]+|<(?!/?(?:\w+:)?c\b))*)")
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_MAYBE_FORMULA = re.compile(rb"f[\s/>]")  # fast: every formula tag has this
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)<")
_ERROR_TYPE = re.compile(rb"""\st\s*=\s*["']e["']""")
_FORMULA_OR_ERROR = re.compile(rb"""<f\b|\st\s*=\s*["']e["']""")


def _attr(attrs: bytes, name: bytes) -> str | None:
    m = _ATTR[name].search(attrs)
    if m is None:
        return None
    return _xml_unescape(
        (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8", "replace")
    )


def _relationships(rels_xml: bytes) -> dict[str, str]:
    """Relationship id -> the member it points at (targets are relative to xl/)."""
    found: dict[str, str] = {}
    for m in _TAG_RELATIONSHIP.finditer(rels_xml):
        rid, target = _attr(m.group(1), rb"Id"), _attr(m.group(1), rb"Target")
        if rid is not None and target:
            target = target.lstrip("/")
            found[rid] = target if target.startswith("xl/") else f"xl/{target}"
    return found


def _workbook_sheets(workbook_xml: bytes) -> list[tuple[str, str]]:
    """(sheet name, relationship id) of every sheet in the workbook."""
    found = []
    for m in _TAG_SHEET.finditer(workbook_xml):
        name, rid = _attr(m.group(1), rb"name"), _attr(m.group(1), rb"r:id")
        if name is not None and rid is not None:
            found.append((name, rid))
    return found


def _sheet_marks(body: bytes) -> SheetMarks:
    """Formula and error cells. Most cells are neither: the cells are found from the formula
    tags and error types (the cell tag before each), not by reading every cell."""
    marks = SheetMarks()
    if b"<c " not in body or b":c " in body:  # a namespace prefix (<x:c>): every cell read
        cells = _CELL.finditer(body)
    else:
        starts = {body.rfind(b"<c ", 0, hit.start()) for hit in _FORMULA_OR_ERROR.finditer(body)}
        cells = (_CELL.match(body, at) for at in sorted(starts) if at >= 0)
    for m in cells:
        if m is None:
            continue
        attrs, content = m.group(1), m.group(2)
        if attrs.endswith(b"/"):  # <c r="A1" s="2"/>: an empty cell
            continue
        is_formula = _FORMULA.search(content) is not None
        is_error = _ERROR_TYPE.search(attrs) is not None
        if not (is_formula or is_error):
            continue
        ref = _attr(attrs, rb"r")
        if ref is None:
            continue
        value = _VALUE.search(content)
        if is_formula:
            marks.formulas[ref] = bool(value and value.group(1))
        if is_error:
            marks.errors[ref] = (
                _xml_unescape(value.group(1).decode("utf-8", "replace")) if value else "#错误"
            )
    return marks


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        .replace("&apos;", "'").replace("&amp;", "&")
    )  # fmt: skip
