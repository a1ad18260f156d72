"""What a spreadsheet file holds, read from its container before any library materialises it: the
parts of an .xlsx package (zip members inflated under a limit, the workbook's sheets, each
sheet's formula cells without a saved result and error cells), and the BIFF records of an .xls
compound file (its error cells).
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from ducha.submissions.limits import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_UNZIPPED_BYTES,
    FileRejected,
    cell_ref,
)

_BROKEN_XLSX = "文件已损坏，不是有效的 .xlsx 文件（可能传输不完整）"
_ZIP_UNSUPPORTED = (
    "文件使用了 .xlsx 不支持的压缩方式或加密，无法读取（请用 Excel 或 WPS 另存为 .xlsx 后重新报送）"
)
MAX_ZIP_MEMBERS = 2_000
MAX_MERGED_RANGES = 20_000
MAX_MERGED_CELLS = (MAX_ROWS + 50) * MAX_COLUMNS  # merged ranges never overlap in a real sheet


@dataclass
class SheetMarks:
    """What calamine does not say about a worksheet's cells, from its XML (A1 refs)."""

    formulas: dict[str, bool] = field(default_factory=dict)  # formula cell -> has a cached value
    errors: dict[str, str] = field(default_factory=dict)  # error cell -> "#DIV/0!", "#N/A" …


def _check_xlsx_package(data: bytes) -> tuple[bytes, dict[str, SheetMarks]]:
    """Check the zip before calamine opens it, and mark formula and error cells. Returns the
    package calamine reads, and the marks.

    Trust, then verify: every member must be stored or deflated, unencrypted, with sizes that
    deflate can produce, and the sizes declared add up to at most the cap. The parts calamine
    reads (workbook, its relationships and their targets, worksheets) are then inflated from
    the raw bytes with a running cap, whatever their headers claim, and checked against their
    declared size and CRC. Other members (images, document properties) are never inflated.
    calamine is given the same package with the parts inflated here stored uncompressed
    (_stored_package): it reads exactly the bytes checked, and does not inflate them again.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except NotImplementedError as exc:  # "zip file version 6.4"
        raise FileRejected(_ZIP_UNSUPPORTED) from exc
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise FileRejected(_BROKEN_XLSX) from exc
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
            raise FileRejected(_BROKEN_XLSX)  # sizes that no deflate stream has
        declared += info.file_size
    if declared > MAX_UNZIPPED_BYTES:
        raise FileRejected(_BOMB)
    inflater = _Inflater(data)
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
    return _stored_package(inflater, members, inflated), marks


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


MAX_CELL_TEXT_BYTES = 32_767 * 3  # Excel's limit, 32 767 characters a cell, in UTF-8 at most
MAX_TEXT_BYTES = (
    30 * 1024 * 1024
)  # all the text a file's cells show, shared strings counted as shown
_SHARED_ITEM = re.compile(rb"<(?:\w+:)?si\b[^>]*>(.*?)</(?:\w+:)?si>", re.S)
_TEXT_RUN = re.compile(rb"<(?:\w+:)?t\b[^>/]*>([^<]*)<")
_SHARED_CELL = re.compile(
    rb"""<(?:\w+:)?c\b[^<>]*?\st\s*=\s*["']s["'][^<>]*>\s*<(?:\w+:)?v>(\d+)<"""
)
_TOO_MUCH_TEXT = (
    "文件中单元格文字的总量异常大（同一段长文字被大量单元格引用），未处理；请检查文件后重新报送"
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
                raise FileRejected(_TOO_MUCH_TEXT)


def _stored_package(
    inflater: _Inflater, members: list[zipfile.ZipInfo], inflated: dict[int, bytes]
) -> bytes:
    """The zip again, member by member: the ones inflated and checked stored as they are
    (with the CRC just verified), the others copied still compressed (a broken one left
    out). Names are written as UTF-8; no data descriptors, no zip64 (members are capped far
    below 4 GB)."""
    out: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    for info in members:
        body = inflated.get(info.header_offset)
        if body is not None:
            method, payload, size = zipfile.ZIP_STORED, body, len(body)
        else:
            try:
                payload = inflater.raw(info)
            except FileRejected:
                continue  # a broken member calamine does not read: left out
            method, size = info.compress_type, info.file_size
        name = info.filename.encode("utf-8")
        fields = (20, 0x800, method, 0, 0x21, info.CRC, len(payload), size, len(name))
        local = _LOCAL_HEADER.pack(b"PK\x03\x04", *fields, 0) + name
        directory.append(
            _CENTRAL_HEADER.pack(b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + name
        )
        out += (local, payload)
        offset += len(local) + len(payload)
    listing = b"".join(directory)
    end = _END_RECORD.pack(b"PK\x05\x06", 0, 0, len(directory), len(directory), len(listing),
                           offset, 0)  # fmt: skip
    return b"".join((*out, listing, end))


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END_RECORD = struct.Struct("<4sHHHHIIH")
_BOMB = f"文件解压后超过 {MAX_UNZIPPED_BYTES // 1024 // 1024} MB，疑似压缩炸弹，未处理"


class _Inflater:
    """Inflates members from the zip's raw bytes under one running cap for the file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.left = MAX_UNZIPPED_BYTES

    def raw(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes as stored in the zip (compressed or not)."""
        at = info.header_offset
        header = self.data[at : at + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise FileRejected(_BROKEN_XLSX)
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        start = at + 30 + name_len + extra_len
        raw = self.data[start : start + info.compress_size]
        if len(raw) != info.compress_size:
            raise FileRejected(_BROKEN_XLSX)
        return raw

    def inflate(self, info: zipfile.ZipInfo) -> bytes:
        raw = self.raw(info)
        if info.compress_type == zipfile.ZIP_STORED:
            body = raw
        else:
            stream = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                body = stream.decompress(raw, self.left + 1)
            except zlib.error as exc:
                raise FileRejected(_BROKEN_XLSX) from exc
            if len(body) > self.left:
                raise FileRejected(_BOMB)
            if not stream.eof:
                raise FileRejected(_BROKEN_XLSX)
        if len(body) > self.left:
            raise FileRejected(_BOMB)
        self.left -= len(body)
        if len(body) != info.file_size or zlib.crc32(body) != info.CRC:
            raise FileRejected(_BROKEN_XLSX)
        return body


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


# .xls (BIFF8 in an OLE compound file): calamine reads error cells as empty too, so they are
# found here, in the records. Anything unexpected gives up quietly: calamine judges the file.
_CFB_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
_CFB_END = 0xFFFFFFFE
_BIFF_ERRORS = {
    0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
    0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA",
}  # fmt: skip
_ENCRYPTED = "文件已加密（设置了打开密码），无法读取；请取消密码后重新报送"
MAX_CELL_RECORDS = 2_000_000  # cells a file may hold (a sheet holds at most 5 050 × 200)
_CELL_RECORDS = {0x0203, 0x00FD, 0x027E, 0x0201, 0x0006, 0x0205, 0x0204, 0x00D6}  # one cell each
_MULTI_CELL_RECORDS = {0x00BD, 0x00BE}  # MULRK, MULBLANK: row, first column …, last column


def _xls_error_cells(data: bytes) -> dict[str, SheetMarks]:
    """Error cells (BOOLERR records, and FORMULA records whose cached result is an error), in
    one pass over the workbook stream, which also checks what the file claims before calamine
    reads it: not encrypted, no cell beyond MAX_ROWS + 50 rows or MAX_COLUMNS columns, not
    more than MAX_CELL_RECORDS cells, and not more text shown than MAX_TEXT_BYTES (a shared
    string counted at every cell that shows it)."""
    try:
        book = _cfb_stream(data, "Workbook")
    except (ValueError, IndexError, struct.error):
        return {}
    if book is None:
        return {}
    starts: dict[int, str] = {}  # stream offset of a worksheet's records -> its name
    marks: dict[str, SheetMarks] = {}
    sheet = None
    cells = 0
    shown = 0  # characters shown by LABELSST cells
    sst: list[bytes] = []  # the SST record and its CONTINUE records
    lengths: list[int] | None = None
    previous = 0
    for at, kind, body in _biff_records(book):
        if kind == 0x002F:  # FILEPASS
            raise FileRejected(_ENCRYPTED)
        if sheet is None and kind == 0x0085 and len(body) >= 8:  # BOUNDSHEET8
            length, wide = body[6], body[7] & 1
            raw = body[8 : 8 + length * (2 if wide else 1)]
            starts[struct.unpack_from("<I", body)[0]] = raw.decode(
                "utf-16-le" if wide else "latin-1", "replace"
            )
        if kind == 0x00FC or (
            kind == 0x003C and previous in (0x00FC, 0x003C) and sst and lengths is None
        ):
            sst.append(body)
        elif sst and lengths is None:
            lengths = _sst_lengths(sst)
        previous = kind
        sheet = starts.get(at, sheet)
        if sheet is None:
            continue
        if kind == 0x0200 and len(body) >= 12:  # DIMENSIONS: rows and columns the sheet claims
            rows, cols = struct.unpack_from("<I", body, 4)[0], struct.unpack_from("<H", body, 10)[0]
            if rows > MAX_ROWS + 50 or cols > MAX_COLUMNS:
                raise FileRejected(
                    f"工作表“{sheet}”声明有 {rows} 行、{cols} 列，超出 {MAX_ROWS} 行、{MAX_COLUMNS} 列的上限，未处理",
                    sheet=sheet,
                )
        if kind in _CELL_RECORDS or kind in _MULTI_CELL_RECORDS:
            if len(body) < 6:
                continue
            row, col = struct.unpack_from("<HH", body)
            last = (
                struct.unpack_from("<H", body, len(body) - 2)[0]
                if kind in _MULTI_CELL_RECORDS
                else col
            )
            cells += max(1, last - col + 1)
            if row >= MAX_ROWS + 50 or last >= MAX_COLUMNS:
                raise FileRejected(
                    f"工作表“{sheet}”在 {cell_ref(row, min(last, 16383))} 处有单元格，超出 {MAX_ROWS} 行、"
                    f"{MAX_COLUMNS} 列的上限，未处理（请删除表格以外的内容后重新报送）",
                    sheet=sheet,
                )
            if cells > MAX_CELL_RECORDS:
                raise FileRejected(f"文件的单元格超过 {MAX_CELL_RECORDS} 个的上限，未处理")
            if kind == 0x00FD and len(body) >= 10 and lengths:  # LABELSST: a shared string shown
                index = struct.unpack_from("<I", body, 6)[0]
                shown += lengths[index] if index < len(lengths) else 0
                if shown > MAX_TEXT_BYTES // 3:
                    raise FileRejected(_TOO_MUCH_TEXT)
        if kind == 0x0205 and len(body) >= 8 and body[7] == 1:  # BOOLERR holding an error
            code = body[6]
        elif kind == 0x0006 and len(body) >= 14 and body[6] == 2 and body[12:14] == b"\xff\xff":
            code = body[8]  # FORMULA whose cached result is an error
        else:
            continue
        row, col = struct.unpack_from("<HH", body)
        marks.setdefault(sheet, SheetMarks()).errors[cell_ref(row, col)] = _BIFF_ERRORS.get(
            code, ""
        )
    return marks


def _sst_lengths(segments: list[bytes]) -> list[int] | None:
    """The length in characters of each string of the shared string table (SST record and its
    CONTINUE records), or None when it cannot be read (calamine then judges the file). A string
    over Excel's 32 767 characters is refused."""
    if not segments or len(segments[0]) < 8:
        return None
    count = struct.unpack_from("<I", segments[0], 4)[0]
    i, pos = 0, 8
    lengths: list[int] = []

    def take(n: int) -> bytes:  # a few header bytes, perhaps across a record boundary
        return bytes(next_byte() for _ in range(n))

    def next_byte() -> int:
        nonlocal i, pos
        while pos >= len(segments[i]):
            i, pos = i + 1, 0
            if i >= len(segments):
                raise IndexError
        pos += 1
        return segments[i][pos - 1]

    def skip(n: int) -> None:  # formatting runs and extensions: passed over, not copied
        nonlocal i, pos
        while n > 0:
            if pos >= len(segments[i]):
                i, pos = i + 1, 0
                if i >= len(segments):
                    raise IndexError
            here = min(n, len(segments[i]) - pos)
            pos, n = pos + here, n - here

    try:
        while len(lengths) < count and len(lengths) < MAX_CELL_RECORDS:
            cch, flags = struct.unpack("<HB", take(3))
            runs = struct.unpack("<H", take(2))[0] if flags & 0x08 else 0
            extra = struct.unpack("<i", take(4))[0] if flags & 0x04 else 0
            left, wide = cch, flags & 0x01
            while left > 0:  # the characters, which may go on in the next record with new flags
                if pos >= len(segments[i]):
                    i, pos = i + 1, 0
                    if i >= len(segments):
                        raise IndexError
                    wide = segments[i][0] & 0x01
                    pos = 1
                here = min(left, (len(segments[i]) - pos) // (2 if wide else 1))
                if here <= 0:
                    raise IndexError
                pos += here * (2 if wide else 1)
                left -= here
            skip(runs * 4 + max(extra, 0))
            if cch > 32_767:
                raise FileRejected("文件中有一个单元格的文字超过 32767 字（Excel 的上限），未处理")
            lengths.append(cch)
    except (IndexError, struct.error):
        return lengths or None
    return lengths


def is_encrypted_office_file(data: bytes) -> bool:
    """An Office file with a password to open: a compound file holding an EncryptedPackage."""
    try:
        return _cfb_stream(data, "EncryptedPackage") is not None
    except (ValueError, IndexError, struct.error):
        return False


def _biff_records(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(offset, record type, record data) of every record."""
    at = 0
    while at + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, at)
        yield at, kind, stream[at + 4 : at + 4 + size]
        at += 4 + size


def _cfb_stream(data: bytes, name: str) -> bytes | None:
    """A stream of an OLE compound file, by name (None: not there). Chains are cut at the
    number of sectors, so a hostile file costs at most a pass over its own bytes."""
    if data[:8] != _CFB_SIGNATURE:
        return None
    sector = 1 << struct.unpack_from("<H", data, 0x1E)[0]
    if sector not in (512, 4096):
        return None
    (directory_start,) = struct.unpack_from("<I", data, 0x30)
    mini_cutoff, mini_fat_start = struct.unpack_from("<II", data, 0x38)
    difat, difat_count = struct.unpack_from("<II", data, 0x44)
    per_sector = sector // 4
    sectors = (len(data) - sector) // sector
    fat_needed = sectors // per_sector + 1
    fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < sectors]
    for _ in range(difat_count):
        if difat >= sectors or len(fat_sectors) >= fat_needed:
            break
        entries = struct.unpack_from(f"<{per_sector}I", data, (difat + 1) * sector)
        fat_sectors += [s for s in entries[:-1] if s < sectors]
        difat = entries[-1]
    fat: list[int] = []
    for s in fat_sectors[:fat_needed]:
        fat += struct.unpack_from(f"<{per_sector}I", data, (s + 1) * sector)

    def chain(start: int, table: list[int] | tuple[int, ...]) -> list[int]:
        found = []
        while start != _CFB_END and start < len(table) and len(found) <= len(table):
            found.append(start)
            start = table[start]
        return found

    def read(start: int) -> bytes:
        return b"".join(data[(s + 1) * sector : (s + 2) * sector] for s in chain(start, fat))

    directory = read(directory_start)
    root_start = None  # the root entry (the first) holds the mini stream
    for at in range(0, len(directory) - 127, 128):
        entry = directory[at : at + 128]
        (length,) = struct.unpack_from("<H", entry, 0x40)
        kind = entry[0x42]
        start, size = struct.unpack_from("<II", entry, 0x74)
        if kind == 5:
            root_start = start
        found = entry[: max(length - 2, 0)].decode("utf-16-le", "replace")
        if kind != 2 or found.lower() != name.lower():
            continue
        if size >= mini_cutoff or root_start is None:
            return read(start)[:size]
        packed = read(mini_fat_start)
        mini_fat = struct.unpack(f"<{len(packed) // 4}I", packed[: len(packed) // 4 * 4])
        mini = read(root_start)
        return b"".join(mini[s * 64 : (s + 1) * 64] for s in chain(start, mini_fat))[:size]
    return None


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
        .replace("&apos;", "'").replace("&amp;", "&")
    )  # fmt: skip
