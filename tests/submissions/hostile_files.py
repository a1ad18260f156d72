"""Hostile spreadsheets, small on disk and ruinous to read naively: each is what a careless or
malicious sender could drop in the inbox, written byte by byte (a minimal .xlsx package) or by
real tools (xlwt writes .xls as old office software does, msoffcrypto-tool encrypts as Excel
does). Every one is refused before it costs memory: by a check of what the file claims
(ducha.submissions.containers), or by the limits of the process that reads it (ducha.sandbox).
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="进展表" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def xlsx_package(rows_xml: str, shared: list[str] | None = None) -> bytes:
    """A minimal .xlsx: one sheet whose <sheetData> holds `rows_xml`, and shared strings."""
    items = "".join(f"<si><t>{text}</t></si>" for text in shared or ["填报单位"])
    strings = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{items}</sst>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", _SHEET_HEAD + rows_xml + _SHEET_TAIL)
        z.writestr("xl/sharedStrings.xml", strings)
    return out.getvalue()


def far_cell(ref: str, row: int) -> bytes:
    """A1 and one cell far away (XFD1048576: calamine would allocate 512 GiB for the grid)."""
    return xlsx_package(
        f'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        f'<row r="{row}"><c r="{ref}" t="s"><v>0</v></c></row>'
    )


def unnumbered_far_cells() -> bytes:
    """The same grid without any reference: a row numbered 1048576 whose 16,384 cells carry no
    r attribute, so that their place follows from their order (readers honour that)."""
    return xlsx_package(
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="1048576">'
        + "<c/>" * 16383
        + '<c t="s"><v>0</v></c></row>'
    )


def shared_string_bomb(chars: int, references: int) -> bytes:
    """One shared string of `chars` characters shown by `references` cells: a few kilobytes on
    disk, chars × references characters to whoever reads every cell."""
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>' for r in range(1, references + 1)
    )
    return xlsx_package(cells, ["长" * chars])


def xls_shared_string_bomb(chars: int, references: int) -> bytes:
    """The same in an .xls (BIFF8: one SST string, LABELSST cells), written by xlwt."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("进展表")
    text = "长" * chars
    for r in range(references):
        sheet.write(r, 0, text)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls_far_cell() -> bytes:
    """An .xls with a cell in its last row and column (65,536 × 256), written by xlwt."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("进展表")
    sheet.write(0, 0, "填报单位")
    sheet.write(65535, 255, "远处")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def encrypted(xlsx: bytes, password: str = "密码123") -> bytes:
    """An .xlsx protected by a password to open, as Excel writes it (an OLE file holding
    EncryptionInfo and EncryptedPackage), by msoffcrypto-tool."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx)).encrypt(password, out)
    return out.getvalue()


# ------------------------------------------------------------ a corpus of every hostile class

# What a unit may type to make the office's messages act: links, images, HTML, script, a formula,
# Markdown blocks, direction overrides, a web address, a template and a secret reference. The
# .csv files carry terminal escapes and controls too (an .xlsx cannot hold them).
INJECTIONS = (
    "[点此查看整改要求](http://evil.example/phish)",
    "![跟踪](http://evil.example/t.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    '=HYPERLINK("http://evil.example","点我")',
    "@所有人\n# 冒充标题\n- 冒充列表",
    "\u202e倒序文字\u202c",
    "www.evil.example",
    "**加粗** `代码` > 引用 | 表格 |",
    "{{ secrets }}{% raw %}",
    "${SMTP_PASSWORD}",
)
CONTROLS = (
    "\x1b[2J\x1b[31m红字\x1b[0m",
    "响铃\x07退格\x08",
    "\x1b]8;;http://evil.example\x07链接\x1b]8;;\x07",
)


@dataclass
class Hostile:
    """One entry of the inbox: the name ducha shows for it, and what ingesting it must do.

    expect: "accepted" (its unit stated, and when `metrics` is given, exactly those rows stored),
    "rejected" with `word` in one of its errors, or None (never read: a link to a folder)."""

    shown: str
    expect: str | None
    word: str = ""
    unit: str | None = None
    metrics: frozenset | None = None
    texts: tuple[str, ...] = ()  # narrative texts it carries (stored as written)


def _column(index: int) -> str:
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def build_hostile_corpus(templates: Any, folder: Path, outside: Path, seed: int) -> list[Hostile]:
    """An inbox of every hostile class, with good files among them (a few named in GBK, a few
    carrying injections in every narrative field), random within each class by `seed`."""
    from ducha.submissions.templates import COL
    from tests.submissions.fuzz_files import csv_bytes

    rng = random.Random(seed)
    folder.mkdir(parents=True)
    outside.mkdir(parents=True)
    out: list[Hostile] = []

    def write(name: str | bytes, data: bytes, entry: Hostile) -> None:
        path = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
        path.write_bytes(data)
        out.append(entry)

    # far cells, past the row limit, anywhere up to XFD1048576, with and without references
    for i in range(8):
        row = rng.randint(5_051, 1_048_576)
        ref = f"{_column(rng.randint(1, 16_384))}{row}"
        write(
            f"远处单元格{i}-{ref}.xlsx",
            far_cell(ref, row),
            Hostile(f"远处单元格{i}-{ref}.xlsx", "rejected", "超出"),
        )
    write(
        "无编号单元格.xlsx",
        unnumbered_far_cells(),
        Hostile("无编号单元格.xlsx", "rejected", "超出"),
    )
    # shared-string amplification, .xlsx and .xls (BIFF)
    for i in range(4):
        chars, refs = rng.randint(20_000, 32_000), rng.randint(1_500, 4_000)
        name = f"共享字符串{i}-{chars}字×{refs}.xlsx"
        write(name, shared_string_bomb(chars, refs), Hostile(name, "rejected", "总量异常大"))
    name = "共享字符串-超长.xlsx"
    write(
        name,
        shared_string_bomb(rng.randint(40_000, 200_000), 3),
        Hostile(name, "rejected", "32767 字"),
    )
    for i in range(2):
        chars, refs = rng.randint(20_000, 30_000), rng.randint(1_500, 3_000)
        name = f"旧格式{i}-{chars}字×{refs}.xls"
        write(name, xls_shared_string_bomb(chars, refs), Hostile(name, "rejected", "总量异常大"))
    write(
        "旧格式-远处单元格.xls",
        xls_far_cell(),
        Hostile("旧格式-远处单元格.xls", "rejected", "5000 行"),
    )

    units = rng.sample(templates.units, 9)
    fills = {u: templates.fill(u, rng, tag=f"{u}:") for u in units}
    base = templates.write_filled(fills[units[0]], outside / "base.xlsx").read_bytes()
    write("加密.xlsx", encrypted(base), Hostile("加密.xlsx", "rejected", "加密"))

    # names that are not UTF-8: GBK (a Windows zip unpacked on Linux), else bytes no encoding reads
    for unit in units[:3]:
        name = f"{unit}-2026年3月进展表.xlsx"
        templates.write_filled(fills[unit], outside / name)
        write(name.encode("gbk"), (outside / name).read_bytes(),
              Hostile(name, "accepted", unit=unit, metrics=frozenset(fills[unit].metrics)))  # fmt: skip
    for i in range(2):
        raw = bytes(rng.choice(range(0x80, 0xA0)) for _ in range(3)) + f"-{i}.xlsx".encode()
        write(
            raw,
            far_cell("B9000", 9000),
            Hostile(raw.decode("utf-8", "replace"), "rejected", "超出"),
        )

    # injections in every narrative field and in the file names
    for k, unit in enumerate(units[3:8]):
        fill, as_csv = fills[unit], k >= 3
        payloads = [*INJECTIONS, *(CONTROLS if as_csv else ())]
        texts = []
        for line in templates.lines(unit):
            if line.first:
                for field in ("进展情况", "存在问题", "下步打算"):
                    text = f"{field}：" + "".join(rng.sample(payloads, 3))  # no formula
                    fill.cells[(line.row, COL[field])] = text
                    texts.append(text)
        stem = rng.choice(INJECTIONS).replace("/", "／").replace("\n", " ")
        name = f"{unit}-{stem}{'-' + CONTROLS[0] if as_csv else ''}.{'csv' if as_csv else 'xlsx'}"
        if as_csv:
            rows, _ = templates.filled_grid(fill)
            write(
                name,
                csv_bytes(rows, "utf-8"),
                Hostile(name, "accepted", unit=unit, texts=tuple(texts)),
            )
        else:
            templates.write_filled(fill, outside / "injected.xlsx")
            write(name, (outside / "injected.xlsx").read_bytes(),
                  Hostile(name, "accepted", unit=unit, texts=tuple(texts)))  # fmt: skip

    # links: to a secret outside, to a good file inside, to a folder outside
    secret = outside / "secrets.env"
    secret.write_text("SMTP_PASSWORD=不可外泄\n", encoding="utf-8")
    (folder / "指向密钥.xlsx").symlink_to(secret)
    out.append(Hostile("指向密钥.xlsx", "rejected", "链接"))
    inside = next(h for h in out if h.expect == "accepted")
    (folder / "指向本目录的文件.xlsx").symlink_to(folder / os.fsdecode(inside.shown.encode("gbk")))
    out.append(Hostile("指向本目录的文件.xlsx", "rejected", "链接"))
    elsewhere = outside / "别处"
    elsewhere.mkdir()
    templates.write_filled(fills[units[8]], elsewhere / f"{units[8]}-3月.xlsx")
    (folder / "指向别处的目录").symlink_to(elsewhere, target_is_directory=True)
    return out
