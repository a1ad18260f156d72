"""One ingest over an inbox mixing good files with every hostile kind of file issue 16 names,
run as a real `ducha ingest` process under a hard memory cap: it ends normally, the good files
are accepted, each hostile one is refused with its Chinese reason, and no process of the run
grows past about 1 GB. Then the parts one by one: links, names, long texts, the read limits.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.helpers import ROOT, Workspace
from tests.submissions.fuzz_files import Templates, zip_bomb
from tests.submissions.hostile_files import (
    encrypted,
    far_cell,
    shared_string_bomb,
    unnumbered_far_cells,
    xls_far_cell,
    xls_shared_string_bomb,
)

DUCHA = str(Path(sys.executable).with_name("ducha"))
MEMORY_CAP = 3 * 1024**3  # address space of the ingest and of every process it starts
PEAK_LIMIT_MB = 1024


def _good(templates: Templates, unit: str, path: Path, seed: int = 1) -> Path:
    return templates.write_filled(templates.fill(unit, random.Random(seed)), path)


def _run_capped(ws: Workspace, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`ducha ARGS` in its own process tree under MEMORY_CAP; the largest resident set any
    process of that tree reached (MB), measured by a parent that runs nothing else."""
    measure = (
        "import resource, subprocess, sys\n"
        f"cap = {MEMORY_CAP}\n"
        "def limit():\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
        "done = subprocess.run(sys.argv[1:], preexec_fn=limit, capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout)\n"
        "sys.stderr.write(done.stderr)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(f'\\nPEAK_MB={peak:.0f}\\n')\n"
        "sys.exit(done.returncode)\n"
    )
    command = [DUCHA, "--db", str(ws.db), "--config", str(ws.config), *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", measure, *command], capture_output=True, text=True, env=env,
        timeout=600,
    )  # fmt: skip
    peak = float(done.stderr.rsplit("PEAK_MB=", 1)[1].split()[0])
    return done, peak


def test_one_ingest_over_a_hostile_inbox_under_a_memory_cap(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    templates = prepared[1]
    inbox = rws.db.parent / "inbox"
    inbox.mkdir()
    good_units = templates.units[:3]
    good = [
        _good(templates, u, inbox / f"{u}-3月进展.xlsx", seed=i) for i, u in enumerate(good_units)
    ]
    base = good[0].read_bytes()
    secret = tmp_path / "secrets.env"
    secret.write_text("SMTP_PASSWORD=不可外泄\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(good[1], elsewhere / "另一份.xlsx")

    hostile = {  # name -> (bytes or how to make it, a word of the reason its receipt must give)
        "远处单元格-XFD1048576.xlsx": (far_cell("XFD1048576", 1048576), "超出 5000 行"),
        "远处单元格-XFD8000.xlsx": (far_cell("XFD8000", 8000), "超出 5000 行"),
        "无编号单元格.xlsx": (unnumbered_far_cells(), "超出 5000 行"),
        "共享字符串-39MB×100.xlsx": (shared_string_bomb(39 * 1024 * 1024 // 3, 100), "32767 字"),
        "共享字符串-3万字×2000.xlsx": (shared_string_bomb(30_000, 2_000), "总量异常大"),
        "旧格式-3万字×2000.xls": (xls_shared_string_bomb(30_000, 2_000), "总量异常大"),
        "旧格式-远处单元格.xls": (xls_far_cell(), "5000 行"),
        "加密.xlsx": (encrypted(base), "加密"),
        "压缩炸弹.xlsx": (zip_bomb(base), "压缩炸弹"),
    }
    for name, (data, _) in hostile.items():
        (inbox / name).write_bytes(data)
    sizes = {name: len(data) for name, (data, _) in hostile.items()}
    big = inbox / "超大文件.xlsx"
    with big.open("wb") as handle:
        handle.truncate(500 * 1024 * 1024)  # sparse: 500 MB to read, nothing on disk
    (inbox / "指向密钥的链接.xlsx").symlink_to(secret)
    (inbox / "指向别处的目录").symlink_to(elsewhere, target_is_directory=True)
    os.mkfifo(inbox / "管道.xlsx")
    gbk_name = os.fsdecode("武进区某镇3月报表".encode("gbk") + b".xlsx")
    shutil.copy(good[2], inbox / gbk_name)
    good[2].unlink()
    expected = {
        **{name: word for name, (_, word) in hostile.items()},
        "超大文件.xlsx": "20 MB",
        "指向密钥的链接.xlsx": "链接",
        "管道.xlsx": "不是普通文件",
    }

    done, peak = _run_capped(rws, "ingest", "--format", "json")
    print(f"\npeak resident set of the largest process: {peak:.0f} MB; sizes on disk: {sizes}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "memory allocation" not in done.stderr
    outcomes = {Path(o["file"]).name: o for o in json.loads(done.stdout)}
    assert set(outcomes) == {*expected, good[0].name, good[1].name, "武进区某镇3月报表.xlsx"}
    for name, word in expected.items():
        o = outcomes[name]
        reasons = " ".join(p["message"] for p in o["problems"] if p["severity"] == "error")
        assert o["status"] == "rejected" and word in reasons, (name, o)
    for name in (good[0].name, good[1].name, "武进区某镇3月报表.xlsx"):
        assert outcomes[name]["status"] == "accepted", outcomes[name]
    assert peak < PEAK_LIMIT_MB

    # the secret was neither archived nor moved; the link went to rejected/, not its target
    assert secret.read_text(encoding="utf-8") == "SMTP_PASSWORD=不可外泄\n"
    archived = [p for p in (rws.db.parent / "archive").rglob("*") if p.is_file()]
    assert all(b"SMTP_PASSWORD" not in p.read_bytes() for p in archived)
    assert all(p.stat().st_size <= 20 * 1024 * 1024 for p in archived)
    rejected = next((rws.db.parent / "rejected").iterdir())
    assert (rejected / "指向密钥的链接.xlsx").is_symlink()
    assert (rejected / "超大文件.xlsx").stat().st_size == 500 * 1024 * 1024
    assert (elsewhere / "另一份.xlsx").exists()  # the linked folder was not read, nor emptied
    assert (inbox / "指向别处的目录").is_symlink()

    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        names = {n for (n,) in con.sql("SELECT file_name FROM submissions").fetchall()}
        from_rejected = con.sql(
            "SELECT count(*) FROM progress_metrics JOIN submissions USING (submission_id) "
            "WHERE status <> 'accepted'"
        ).fetchall()[0]
    finally:
        con.close()
    assert "武进区某镇3月报表.xlsx" in names  # the GBK name stored as the sender sees it
    assert from_rejected == (0,)


def test_a_name_with_control_characters_is_printed_escaped(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    name = "坏文件\n已接收（某镇 2026-03，99 行）\x1b[2K.xlsx"
    (folder / name).write_bytes(far_cell("XFD8000", 8000))
    undecodable = os.fsdecode(b"\xff\xfe\xfa.xlsx")
    (folder / undecodable).write_bytes(far_cell("XFD8000", 8000))
    result = rws.run("ingest", str(folder))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert not any(line.startswith("已接收") for line in lines)
    assert "\x1b" not in result.out
    assert "坏文件\\n已接收（某镇 2026-03，99 行）\\x1b[2K.xlsx：未接收" in result.out
    assert "\ufffd" in result.out  # bytes no encoding reads: replacement characters
    as_json = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    assert sorted(Path(o["file"]).name for o in as_json) == sorted(
        [name, "\ufffd\ufffd\ufffd.xlsx"]
    )


def test_a_narrative_over_the_limit_is_cut_with_a_warning(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    templates = prepared[1]
    unit = templates.units[0]
    fill = templates.fill(unit, random.Random(5))
    line = templates.lines(unit)[0]
    from ducha.submissions.templates import COL

    fill.cells[(line.row, COL["存在问题"])] = "问" * 30_000
    path = templates.write_filled(fill, tmp_path / "长文字.xlsx")
    result = json.loads(rws.ok("ingest", str(path), "--format", "json"))[0]
    assert result["status"] == "accepted"
    warnings = [p["message"] for p in result["problems"] if p["severity"] == "warning"]
    assert any("“存在问题”有 30000 字，超过 2000 字的上限" in w for w in warnings), warnings
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        (length,) = con.sql(
            "SELECT max(length(issues)) FROM progress_tasks WHERE task_id = $t",
            params={"t": line.task.task_id},
        ).fetchall()[0]
    finally:
        con.close()
    assert length == 2000


def _full_sheet(path: Path) -> Path:
    """A sheet filled to the limits (5,000 rows × 200 columns of numbers): nothing in it breaks
    a claim check, but reading it takes about 160 MB more than a process holds before."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("进展表")
    for r in range(5000):
        sheet.write_row(r, 0, [r * 1000 + c + 0.5 for c in range(200)])
    book.close()
    return path


def test_a_file_over_the_read_memory_limit_is_refused_and_the_rest_go_on(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The sandbox's child hits its limit (here 100 MB over what it holds) on the full sheet
    and is replaced: the file is refused with that reason, the good files before and after it are accepted."""
    templates = prepared[1]
    folder = tmp_path / "in"
    folder.mkdir()
    units = templates.units[:4]
    for i, unit in enumerate(units[:2]):
        _good(templates, unit, folder / f"a{i}-{unit}.xlsx", seed=i)
    full = _full_sheet(folder / "b-满表.xlsx")
    for i, unit in enumerate(units[2:]):
        _good(templates, unit, folder / f"c{i}-{unit}.xlsx", seed=10 + i)
    monkeypatch.setenv("DUCHA_READ_MEMORY_MB", "100")
    monkeypatch.setenv("DUCHA_INGEST_WORKERS", "0")
    outcomes = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    by_name = {Path(o["file"]).name: o for o in outcomes}
    refused = by_name[full.name]
    assert refused["status"] == "rejected"
    assert "内存上限（100 MB）" in refused["problems"][0]["message"]
    assert sorted(o["status"] for n, o in by_name.items() if n != full.name) == ["accepted"] * 4


def test_a_worker_dying_on_a_file_costs_that_file_only(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Worker processes read under the same limit. The full sheet comes after the files this
    process reads while the worker starts and after a chunk the worker reads, so a worker
    takes it and dies (or fails) on it; its chunk and the rest are read here, through the
    sandbox: the full sheet is refused for its memory, every other file gets the outcome it
    would have had anyway."""
    from ducha.config import load_config
    from ducha.db import opened
    from ducha.submissions.ingest import ingest
    from ducha.submissions.parallel import CHUNK, SERIAL_CHUNKS
    from tests.submissions.hostile_files import xlsx_package

    templates = prepared[1]
    folder = tmp_path / "in"
    folder.mkdir()
    # read here while the worker starts, then one chunk for the worker; the full sheet starts
    # the chunk after
    fillers = SERIAL_CHUNKS * CHUNK + CHUNK
    for i in range(fillers):  # tiny files nobody can be identified from: refused at once
        (folder / f"a{i:03d}.xlsx").write_bytes(
            xlsx_package(f'<row r="1"><c r="A1" t="inlineStr"><is><t>第{i}份</t></is></c></row>')
        )
    full = _full_sheet(folder / "b-满表.xlsx")
    good = [
        _good(templates, u, folder / f"c{i}.xlsx", seed=i)
        for i, u in enumerate(templates.units[:2])
    ]
    monkeypatch.setenv("DUCHA_READ_MEMORY_MB", "100")
    monkeypatch.setenv("DUCHA_INGEST_WORKERS", "1")
    with opened(rws.db) as con:
        results = ingest(
            con, [folder], register=load_config(rws.config).units, workspace="wujin",
            archive_dir=tmp_path / "archive",
        )  # fmt: skip
    by_name = {r.path.name: r for r in results}
    assert len(results) == fillers + 3
    assert any(r.worker not in (None, os.getpid()) for r in results), "no file read by a worker"
    refused = by_name[full.name]
    assert refused.worker is None  # read again here, after the worker failed on it
    assert refused.status == "rejected"
    assert "内存上限（100 MB）" in refused.problems[0].message
    assert [by_name[p.name].status for p in good] == ["accepted", "accepted"]
    assert all(by_name[f"a{i:03d}.xlsx"].status == "rejected" for i in range(fillers))


def test_a_link_named_on_the_command_line_is_refused_too(
    rws: Workspace, prepared: tuple[Path, Templates], tmp_path: Path
) -> None:
    """Links are refused wherever they come from: ducha reads files, not what links point at."""
    templates = prepared[1]
    real = _good(templates, templates.units[0], tmp_path / "真文件.xlsx")
    link = tmp_path / "链接.xlsx"
    link.symlink_to(real)
    outcome = json.loads(rws.ok("ingest", str(link), "--format", "json"))[0]
    assert outcome["status"] == "rejected"
    assert "链接" in outcome["problems"][0]["message"]
    assert real.exists() and link.is_symlink()
