"""An .xls file (BIFF8 records in an OLE compound file) read record by record before any library
materialises it: encryption, cells beyond the limits, cell records, the shared strings' total
as shown, and the error cells calamine reads as empty (ducha.submissions.spreadsheet)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from ducha.submissions.limits import (
    MAX_COLUMNS,
    MAX_ROWS,
    MAX_TEXT_BYTES,
    TOO_MUCH_TEXT,
    FileRejected,
    SheetMarks,
    cell_ref,
)

# .xls (BIFF8 in an OLE compound file): calamine reads error cells as empty too, so they are
# found here, in the records. Anything unexpected gives up quietly: calamine judges the file.
CFB_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
_CFB_END = 0xFFFFFFFE
_BIFF_ERRORS = {
    0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
    0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA",
}  # fmt: skip
ENCRYPTED = "文件已加密（设置了打开密码），无法读取；请取消密码后重新报送"
MAX_CELL_RECORDS = 2_000_000  # cells a file may hold (a sheet holds at most 5 050 × 200)
_CELL_RECORDS = {0x0203, 0x00FD, 0x027E, 0x0201, 0x0006, 0x0205, 0x0204, 0x00D6}  # one cell each
_MULTI_CELL_RECORDS = {0x00BD, 0x00BE}  # MULRK, MULBLANK: row, first column …, last column


def xls_error_cells(data: bytes) -> dict[str, SheetMarks]:
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
            raise FileRejected(ENCRYPTED)
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
                    raise FileRejected(TOO_MUCH_TEXT)
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
    if data[:8] != CFB_SIGNATURE:
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
