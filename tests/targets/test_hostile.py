"""Fuzz-style tests of hostile target tables (tests/targets/hostile_tables.py writes them):
.docx bombs (a deflate bomb, sizes that lie, many members, a huge shared styles part), truncated,
random and randomly damaged documents, deeply nested tables. Each one is one Chinese line
naming the file, exit code 2, no traceback, nothing imported (the database is not even
created), and memory stays bounded: the bombs run the real command line in a process under a
hard address-space limit, and whatever gets past the checks meets the sandbox's limits."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

import ducha.sandbox
from ducha.targets.tables import read_table
from tests.helpers import Workspace, assert_user_error
from tests.targets import hostile_tables as hostile

CAP_BYTES = 2 * 1024**3  # address space of each process of the command (the sandbox child: less)
MB = 1024 * 1024


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile.good_docx(tmp_path_factory.mktemp("good") / "分解表.docx")


def import_capped(ws: Workspace, path: Path) -> subprocess.CompletedProcess[str]:
    """`ducha targets import` in a new process that may not map more than CAP_BYTES."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))

    ducha = Path(sys.executable).with_name("ducha")
    return subprocess.run(
        [str(ducha), "--db", str(ws.db), "--config", str(ws.config),
         "targets", "import", str(path), "--year", "2026"],
        capture_output=True, text=True, timeout=300, preexec_fn=cap,
    )  # fmt: skip


def assert_one_chinese_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith("错误：") and "\n" not in line, line
    for needle in needles:
        assert needle in line, line


BOMBS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    # 1.3 MB on disk, 1.2 GB of text in one cell: 2.5 GB of memory before the check
    "deflate-bomb": (hostile.deflate_bomb, "疑似压缩炸弹"),
    # the same stream, its headers claiming the real document's size and CRC
    "lying-sizes": (hostile.lying_bomb, "文件已损坏"),
    # 50,000 members (python-docx read every central directory entry)
    "many-members": (hostile.many_members, "压缩包内文件超过 2000 个"),
    # styles.xml of 400 MB in 1.5 MB: python-docx parses it, used or not (6 GB before)
    "huge-shared-styles": (hostile.huge_shared_part, "疑似压缩炸弹"),
    # 60 MB of styles: under the package's cap, over the cap of its XML (about 1 GB parsed)
    "styles-over-the-xml-cap": (
        partial(hostile.huge_shared_part, inflated=60 * MB),
        "文档内容解压后超过 30 MB",
    ),
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_docx_bombs_are_refused_before_parsing(
    ws: Workspace, good: Path, tmp_path: Path, kind: str
) -> None:
    make, reason = BOMBS[kind]
    path = make(good, tmp_path / f"{kind}.docx")
    assert path.stat().st_size < 8 * MB
    assert_one_chinese_line(import_capped(ws, path), f"{kind}.docx", reason)
    assert not ws.db.exists()  # nothing written, not even an empty database


BROKEN: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "truncated-xml": (hostile.truncated_document, "文件已损坏"),
    "random-xml-1": (partial(hostile.random_document, seed=1), "文件已损坏"),
    "random-xml-2": (partial(hostile.random_document, seed=2), "文件已损坏"),
    "nested-9-deep": (partial(hostile.nested_tables, depth=9), "表格嵌套超过 8 层"),
    "nested-100-deep": (partial(hostile.nested_tables, depth=100), "表格嵌套超过 8 层"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_documents_are_one_chinese_line(
    ws: Workspace, good: Path, tmp_path: Path, kind: str
) -> None:
    make, reason = BROKEN[kind]
    path = make(good, tmp_path / f"{kind}.docx")
    assert_user_error(ws, ["targets", "import", str(path), "--year", "2026"], path.name, reason)
    assert not ws.db.exists()


def test_nesting_up_to_the_limit_is_read(ws: Workspace, good: Path, tmp_path: Path) -> None:
    """Eight tables deep is still a table: its text is part of the task, in order."""
    path = hostile.nested_tables(good, tmp_path / "八层.docx", depth=8)
    ws.ok("targets", "import", str(path), "--year", "2026")
    first = ws.ok("targets", "show", "--year", "2026", "--format", "json")
    assert "12345678" in first  # the level numbers, outermost first, joined as sentences are


def test_randomly_damaged_documents_never_give_a_traceback(
    ws: Workspace, good: Path, tmp_path: Path
) -> None:
    """A few bytes overwritten anywhere (as a bad transfer does): the table imports as it is,
    or the import is refused in one Chinese line and nothing changes."""
    refused = 0
    for seed in range(24):
        path = hostile.damaged(good, tmp_path / f"损坏{seed}.docx", seed)
        before = ws.state()
        result = ws.run("targets", "import", str(path), "--year", "2026")
        assert "Traceback" not in result.err, (seed, result.err[-2000:])
        if result.code == 0:
            continue
        refused += 1
        line = result.err.strip()
        assert result.code == 2 and line.startswith("错误：") and "\n" not in line, (seed, line)
        assert path.name in line, line
        assert ws.state() == before
    assert refused >= 12  # most damage is seen (a flip in a CRC-checked member always is)


def test_a_cell_longer_than_any_task_is_refused(ws: Workspace, good: Path, tmp_path: Path) -> None:
    xml = dict(hostile.members(good))[hostile.DOCUMENT]
    first = read_table(good).rows[0].content.encode("utf-8")
    long = xml.replace(first, first + "啊".encode() * 40_000, 1)
    path = hostile.rebuilt(
        good,
        tmp_path / "长.docx",
        {hostile.DOCUMENT: hostile.Member.deflated(hostile.DOCUMENT, long)},
    )
    assert_user_error(
        ws,
        ["targets", "import", str(path), "--year", "2026"],
        "长.docx",
        "表格1第 2 行",
        "工作内容",
        "32767",
    )


def empty_cells(good: Path, path: Path) -> Path:
    """The text form with five million empty cells (a TAB and a newline each): 10 MB on disk,
    about 750 MB as cells."""
    path.write_bytes(b"\t\n" * 5_000_000)
    return path


SANDBOXED: dict[str, tuple[Callable[[Path, Path], Path], dict[str, float], str]] = {
    # four million empty paragraphs: every cap of the package holds (24 MB of XML), but the
    # parsed tree needs about 500 MB
    "heavy.docx": (hostile.heavy_document, {"MEMORY_BYTES": 300 * MB}, "超出内存上限（300 MB）"),
    "slow.docx": (hostile.heavy_document, {"FILE_SECONDS": 0.5}, "0.5 秒内未能读完"),
    "empty-cells.txt": (empty_cells, {"MEMORY_BYTES": 300 * MB}, "超出内存上限（300 MB）"),
}


@pytest.mark.parametrize("name", list(SANDBOXED))
def test_what_passes_the_checks_meets_the_sandbox(
    ws: Workspace, good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A file that passes every check but needs more memory or time than the sandbox allows
    (limits lowered here to keep the test short): the parser fails in the child, and the
    import is still one Chinese line."""
    make, limits, reason = SANDBOXED[name]
    path = make(good, tmp_path / name)
    for key, value in limits.items():
        monkeypatch.setattr(ducha.sandbox, key, value)
    assert_user_error(ws, ["targets", "import", str(path), "--year", "2026"], name, reason)
    assert not ws.db.exists()


def test_an_encrypted_document_is_told_so(ws: Workspace, good: Path, tmp_path: Path) -> None:
    pytest.importorskip("msoffcrypto")
    from msoffcrypto.format.ooxml import OOXMLFile

    path = tmp_path / "加密.docx"
    with good.open("rb") as plain, path.open("wb") as out:
        OOXMLFile(plain).encrypt("密码123", out)
    assert_user_error(ws, ["targets", "import", str(path), "--year", "2026"], "加密.docx", "已加密")
