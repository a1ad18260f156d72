"""Hostile decomposition tables for the import tests: a real table written by python-docx
(demo.samples.write_docx, three tasks of the seed), then broken the way a careless or hostile
sender would: members rewritten byte by byte in a zip written here (so that sizes, CRCs and
compressed streams can be anything), deflate bombs built from repeated fully flushed blocks
(a gigabyte of XML in a file of about a megabyte, without ever holding the gigabyte), truncated
and randomly damaged bytes, deeply nested tables.
"""

from __future__ import annotations

import random
import struct
import zipfile
import zlib
from pathlib import Path

from demo.samples import write_docx
from ducha.targets.tables import read_table
from tests.helpers import SEED_TABLE

DOCUMENT = "word/document.xml"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")


def good_docx(path: Path, tasks: int = 3) -> Path:
    """A table of the first `tasks` tasks of the seed, as python-docx writes it."""
    return write_docx(read_table(SEED_TABLE).rows[:tasks], path)


def members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


class Member:
    """One zip member as it will be written: its raw (compressed) bytes and what the headers
    claim (which need not be true)."""

    def __init__(
        self, name: str, raw: bytes, *, size: int, crc: int, method: int = zipfile.ZIP_DEFLATED
    ) -> None:
        self.name, self.raw, self.size, self.crc, self.method = name, raw, size, crc, method

    @classmethod
    def deflated(cls, name: str, body: bytes) -> Member:
        stream = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        raw = stream.compress(body) + stream.flush()
        return cls(name, raw, size=len(body), crc=zlib.crc32(body))


def write_zip(path: Path, parts: list[Member]) -> Path:
    """A zip of exactly these members (no data descriptors, no zip64)."""
    out, directory, offset = [], [], 0
    for part in parts:
        name = part.name.encode("utf-8")
        fields = (20, 0x800, part.method, 0, 0x21, part.crc, len(part.raw), part.size, len(name))
        local = _LOCAL.pack(b"PK\x03\x04", *fields, 0) + name
        directory.append(_CENTRAL.pack(b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + name)
        out += [local, part.raw]
        offset += len(local) + len(part.raw)
    listing = b"".join(directory)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(parts), len(parts), len(listing), offset, 0)
    path.write_bytes(b"".join([*out, listing, end]))
    return path


def rebuilt(good: Path, path: Path, replace: dict[str, Member], extra: list[Member] = ()) -> Path:
    """`good` with some members replaced and others added."""
    parts = [replace.get(name) or Member.deflated(name, body) for name, body in members(good)]
    return write_zip(path, [*parts, *extra])


def repeated_deflate(prefix: bytes, chunk: bytes, count: int, suffix: bytes) -> Member:
    """A deflate stream of prefix + chunk × count + suffix, built without holding it: each piece
    ends with a full flush (byte aligned, no back references), so the compressed chunk can be
    repeated as it is. Returns the member body for DOCUMENT (raw bytes, size and CRC)."""

    def piece(data: bytes, mode: int) -> bytes:
        stream = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return stream.compress(data) + stream.flush(mode)

    block = piece(chunk, zlib.Z_FULL_FLUSH)
    raw = piece(prefix, zlib.Z_FULL_FLUSH) + block * count + piece(suffix, zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(suffix, crc)
    return Member(DOCUMENT, raw, size=len(prefix) + len(chunk) * count + len(suffix), crc=crc)


def _split_at_first_text(xml: bytes, marker: str) -> tuple[bytes, bytes]:
    """The document XML cut inside the text of the cell that holds `marker`."""
    at = xml.index(marker.encode("utf-8"))
    return xml[:at], xml[at:]


def deflate_bomb(good: Path, path: Path, *, inflated: int = 1200 * 1024 * 1024) -> Path:
    """A real table whose first task's text carries `inflated` bytes of 啊 (UTF-8): about a
    megabyte on disk for 1.2 GB of XML, honest sizes and CRC (every check of the zip format
    passes; only the amount is hostile)."""
    xml = dict(members(good))[DOCUMENT]
    first = read_table(good).rows[0].content
    prefix, suffix = _split_at_first_text(xml, first)
    chunk = "啊".encode() * 349_525  # 1 MiB less one byte
    member = repeated_deflate(prefix, chunk, inflated // len(chunk), suffix)
    return rebuilt(good, path, {DOCUMENT: member})


def lying_bomb(good: Path, path: Path, *, inflated: int = 1200 * 1024 * 1024) -> Path:
    """The deflate bomb whose headers claim the size and CRC of the real document."""
    bomb = deflate_bomb(good, path, inflated=inflated)
    xml = dict(members(good))[DOCUMENT]
    member = next(m for m in _read_raw(bomb) if m.name == DOCUMENT)
    member.size, member.crc = len(xml), zlib.crc32(xml)
    others = [m for m in _read_raw(bomb) if m.name != DOCUMENT]
    return write_zip(path, [member if m.name == DOCUMENT else m for m in [*others, member]])


def _read_raw(path: Path) -> list[Member]:
    """The members of a zip as stored (raw compressed bytes and the headers' claims)."""
    data = path.read_bytes()
    found = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            at = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
            start = at + 30 + name_len + extra_len
            raw = data[start : start + info.compress_size]
            found.append(
                Member(info.filename, raw, size=info.file_size, crc=info.CRC,
                       method=info.compress_type)
            )  # fmt: skip
    return found


def many_members(good: Path, path: Path, count: int = 50_000) -> Path:
    """A valid table followed by `count` empty members."""
    extra = [Member(f"customXml/item{i}.bin", b"", size=0, crc=0, method=0) for i in range(count)]
    return rebuilt(good, path, {}, extra)


def huge_shared_part(good: Path, path: Path, *, inflated: int = 400 * 1024 * 1024) -> Path:
    """The styles every paragraph shares, blown up to `inflated` bytes of style definitions
    (python-docx parses every XML part of the package, used or not)."""
    styles = dict(members(good))["word/styles.xml"]
    end = styles.rindex(b"</w:styles>")
    chunk = b'<w:style w:type="paragraph" w:styleId="s"><w:name w:val="s"/></w:style>' * 15_000
    member = repeated_deflate(styles[:end], chunk, inflated // len(chunk), styles[end:])
    member.name = "word/styles.xml"
    return rebuilt(good, path, {"word/styles.xml": member})


def truncated_document(good: Path, path: Path) -> Path:
    """word/document.xml cut in the middle (the zip itself is sound)."""
    xml = dict(members(good))[DOCUMENT]
    return rebuilt(good, path, {DOCUMENT: Member.deflated(DOCUMENT, xml[: len(xml) // 2])})


def random_document(good: Path, path: Path, seed: int) -> Path:
    """word/document.xml replaced by random bytes (the zip itself is sound)."""
    body = random.Random(seed).randbytes(20_000)
    return rebuilt(good, path, {DOCUMENT: Member.deflated(DOCUMENT, body)})


def damaged(good: Path, path: Path, seed: int, flips: int = 8) -> Path:
    """`good` with a few random bytes overwritten, anywhere in the file."""
    data = bytearray(good.read_bytes())
    rng = random.Random(seed)
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))
    return path


def nested_tables(good: Path, path: Path, depth: int) -> Path:
    """The first task's text cell holding a table inside a table … `depth` levels deep."""
    xml = dict(members(good))[DOCUMENT]
    first = read_table(good).rows[0].content.encode("utf-8")
    run = b"<w:r><w:t>" + first + b"</w:t></w:r>"
    at = xml.index(run)
    close = xml.index(b"</w:p>", at) + len(b"</w:p>")
    inner = b""
    for level in range(depth, 0, -1):
        text = b"<w:p><w:r><w:t>%d</w:t></w:r></w:p>" % level
        inner = (
            b"<w:tbl><w:tblGrid><w:gridCol/></w:tblGrid><w:tr><w:tc>"
            + text + inner + b"<w:p/></w:tc></w:tr></w:tbl>"
        )  # fmt: skip
    body = xml[:close] + inner + xml[close:]
    return rebuilt(good, path, {DOCUMENT: Member.deflated(DOCUMENT, body)})


def heavy_document(good: Path, path: Path, *, paragraphs: int = 4_000_000) -> Path:
    """A real table followed by millions of empty paragraphs: every cap of the package holds
    (about 24 MB of XML), but the parsed tree needs far more memory than the file suggests."""
    xml = dict(members(good))[DOCUMENT]
    end = xml.rindex(b"<w:sectPr")
    body = xml[:end] + b"<w:p/>" * paragraphs + xml[end:]
    return rebuilt(good, path, {DOCUMENT: Member.deflated(DOCUMENT, body)})
