"""A zip package (.xlsx, .docx) read from its raw bytes under one cap for the whole file: members
inflated and checked against their declared size and CRC (Inflater), and the package written
again with the checked members stored, so that the library reading it inflates nothing
(stored_package)."""

from __future__ import annotations

import struct
import zipfile
import zlib

from ducha.submissions.limits import MAX_UNZIPPED_BYTES, FileRejected

BROKEN_XLSX = "文件已损坏，不是有效的 .xlsx 文件（可能传输不完整）"
MAX_ZIP_MEMBERS = 2_000


def stored_package(
    inflater: Inflater, members: list[zipfile.ZipInfo], inflated: dict[int, bytes]
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
BOMB = f"文件解压后超过 {MAX_UNZIPPED_BYTES // 1024 // 1024} MB，疑似压缩炸弹，未处理"


class Inflater:
    """Inflates members from the zip's raw bytes under one running cap for the file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.left = MAX_UNZIPPED_BYTES

    def raw(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes as stored in the zip (compressed or not)."""
        at = info.header_offset
        header = self.data[at : at + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise FileRejected(BROKEN_XLSX)
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        start = at + 30 + name_len + extra_len
        raw = self.data[start : start + info.compress_size]
        if len(raw) != info.compress_size:
            raise FileRejected(BROKEN_XLSX)
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
                raise FileRejected(BROKEN_XLSX) from exc
            if len(body) > self.left:
                raise FileRejected(BOMB)
            if not stream.eof:
                raise FileRejected(BROKEN_XLSX)
        if len(body) > self.left:
            raise FileRejected(BOMB)
        self.left -= len(body)
        if len(body) != info.file_size or zlib.crc32(body) != info.CRC:
            raise FileRejected(BROKEN_XLSX)
        return body
