"""`ducha ingest` against well over 1,000 broken or hostile files in one call.

The corpus (tests/fuzz_corpus.py) mixes a few good filled templates with corrupt, truncated,
random and empty files, zip bombs, oversized sheets, and real templates broken in their
content. One `ducha ingest FOLDER --format json` must survive all of it: one result per file,
a Chinese reason for every rejection, no figure from a rejected file, and the good files
stored with exactly their rows.

The tests after the corpus test pin bugs found by this fuzzing, fixed since (regression tests).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import xlsxwriter

from ducha.config import load_config
from ducha.notices.planning import plan_notices
from ducha.notices.rendering import render
from ducha.submissions.templates import COL, MAIN_SHEET
from ducha.vocabulary import KINDS
from tests.helpers import ROOT, Workspace
from tests.submissions.fuzz_corpus import GOOD_UNITS, SEED, build_corpus
from tests.submissions.fuzz_files import (
    ACCEPT,
    ANY,
    PERIOD,
    REJECT,
    Case,
    Templates,
    csv_bytes,
    set_mtimes,
)
from tests.submissions.hostile_files import build_hostile_corpus

STATUSES = {"accepted", "rejected", "duplicate", "superseded"}
CJK = re.compile(r"[\u4e00-\u9fff]")
EXCEPTION_TEXT = re.compile(
    r"Traceback|Error:|Exception|Errno|line \d+, in |object has no attribute|invalid literal"
    r"|NoneType|KeyError|IndexError"
)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def templates(prepared: tuple[Path, Templates]) -> Templates:
    return prepared[1]


# ------------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def message_problems(outcome: dict[str, Any]) -> list[str]:
    """Messages that are not plain Chinese for the sender (English exception text, no CJK)."""
    bad = []
    for p in outcome["problems"]:
        text = p["message"] or ""
        if not CJK.search(text) or EXCEPTION_TEXT.search(text):
            bad.append(text)
    return bad


class Stored:
    """What the database holds after an ingest, keyed for the checks."""

    def __init__(self, db: Path) -> None:
        con = duckdb.connect(str(db), read_only=True)
        try:
            self.submissions = con.sql(
                "SELECT submission_id, sha256, file_name, unit, period, status, rows, receipt "
                "FROM submissions"
            ).fetchall()
            self.metrics: dict[int, Counter] = defaultdict(Counter)
            for sid, *row in con.sql(
                "SELECT submission_id, task_id, position, month_value, cumulative_value "
                "FROM progress_metrics"
            ).fetchall():
                self.metrics[sid][tuple(row)] += 1
            self.tasks: dict[int, Counter] = defaultdict(Counter)
            for sid, *row in con.sql(
                "SELECT submission_id, task_id, status, progress, issues, next_steps "
                "FROM progress_tasks"
            ).fetchall():
                self.tasks[sid][tuple(row)] += 1
            self.from_rejected = con.sql(
                "SELECT (SELECT count(*) FROM progress_metrics p JOIN submissions s "
                "        USING (submission_id) WHERE s.status <> 'accepted'), "
                "       (SELECT count(*) FROM progress_tasks p JOIN submissions s "
                "        USING (submission_id) WHERE s.status <> 'accepted')"
            ).fetchall()[0]
            self.orphans = con.sql(
                "SELECT count(*) FROM (SELECT submission_id, unit, period FROM progress_metrics "
                "UNION ALL SELECT submission_id, unit, period FROM progress_tasks) p "
                "LEFT JOIN submissions s USING (submission_id) "
                "WHERE s.submission_id IS NULL OR s.unit IS DISTINCT FROM p.unit "
                "   OR s.period IS DISTINCT FROM p.period"
            ).fetchall()[0][0]
            self.problem_rows = con.sql(
                "SELECT submission_id, severity, message FROM submission_problems"
            ).fetchall()
        finally:
            con.close()
        self.by_sha: dict[str, list[tuple]] = defaultdict(list)
        for row in self.submissions:
            self.by_sha[row[1]].append(row)

    def accepted(self, sha: str) -> list[tuple]:
        return [s for s in self.by_sha.get(sha, []) if s[5] == "accepted"]


def unit_task_ids(templates: Templates, unit: str) -> set[str]:
    return {t.task_id for t in templates.by_unit.get(unit, [])}


# ------------------------------------------------------------------ the fuzz


def test_a_thousand_broken_files_in_one_ingest(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    started = time.monotonic()
    cases = build_corpus(templates, inbox)
    built = time.monotonic() - started
    kinds = Counter(c.kind for c in cases)
    broken = [c for c in cases if c.kind != "good"]
    good = [c for c in cases if c.kind == "good"]
    assert len(broken) >= 1000, kinds
    assert len(good) == len(GOOD_UNITS)
    assert sorted(p.resolve() for p in inbox.iterdir()) == sorted(c.path.resolve() for c in cases)

    started = time.monotonic()
    result = rws.run("ingest", str(inbox), "--format", "json")
    took = time.monotonic() - started
    print(
        f"\n{len(cases)} files ({len(broken)} broken), built in {built:.1f} s, ingested in {took:.1f} s"
    )
    print(", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    assert result.code == 0, result.err[-3000:]
    assert "Traceback" not in result.err

    outcomes = json.loads(result.out)
    per_file = Counter(Path(o["file"]).resolve() for o in outcomes)
    assert len(outcomes) == len(cases)
    assert set(per_file) == {c.path.resolve() for c in cases}
    assert max(per_file.values()) == 1
    outcome = {Path(o["file"]).resolve(): o for o in outcomes}
    assert {o["status"] for o in outcomes} <= STATUSES

    stored = Stored(rws.db)
    assert stored.from_rejected == (0, 0), "progress rows from a rejected submission"
    assert stored.orphans == 0, "progress rows without their submission or with another unit/period"
    failures: list[str] = []

    def fail(case: Case, what: str) -> None:
        failures.append(f"{case.kind} {case.path.name}: {what}")

    for case in cases:
        o = outcome[case.path.resolve()]
        status, errors = o["status"], [p for p in o["problems"] if p["severity"] == "error"]
        if bad := message_problems(o):
            fail(case, f"messages not plain Chinese: {bad}")
        sha = sha256(case.path)
        accepted = stored.accepted(sha)
        if status == "rejected":
            if not errors:
                fail(case, "rejected without an error")
            if o["rows"] != 0:
                fail(case, f"rejected with rows = {o['rows']}")
            if accepted:
                fail(case, "rejected, but the same bytes are stored as accepted")
        else:
            if errors:
                fail(case, f"{status} despite errors {errors}")
            if not accepted:
                fail(case, f"{status}, but no accepted submission holds these bytes")
        if case.expect == REJECT:
            if status != "rejected":
                fail(case, f"must be rejected, got {status} ({o['problems']})")
            elif case.message and not any(case.message in p["message"] for p in errors):
                fail(case, f"no error mentions “{case.message}”: {[p['message'] for p in errors]}")
        if case.expect == ACCEPT and status not in ("accepted", "superseded"):
            fail(case, f"must be accepted, got {status}: {[p['message'] for p in errors]}")
        if case.kind == "good" and status != "accepted":
            fail(case, f"good file {status}")
        if status in ("accepted", "superseded") and accepted:
            (sid, _, _, unit, period, _, rows, _) = accepted[0]
            metrics, tasks = stored.metrics.get(sid, Counter()), stored.tasks.get(sid, Counter())
            if unit != case.unit or period != str(PERIOD):
                fail(case, f"stored for {unit} {period}")
            stored_tasks = {row[0] for row in metrics} | {row[0] for row in tasks}
            if not stored_tasks <= unit_task_ids(templates, case.unit or ""):
                fail(
                    case,
                    f"tasks of another unit stored: {stored_tasks - unit_task_ids(templates, case.unit or '')}",
                )
            metric_tasks = {row[0] for row in metrics}
            if rows != sum(metrics.values()) + len({row[0] for row in tasks} - metric_tasks):
                fail(case, f"submission rows {rows} ≠ stored rows")
            if case.metrics is not None:
                if metrics != Counter(case.metrics):
                    fail(case, f"metrics differ: {set(metrics) ^ set(case.metrics)}")
                if tasks != Counter(case.tasks or ()):
                    fail(case, f"tasks differ: {set(tasks) ^ set(case.tasks or ())}")

    # Figures only ever come from files that may legitimately be accepted.
    allowed = {sha256(c.path) for c in cases if c.expect in (ACCEPT, ANY)}
    for sid, sha, name, unit, *_ in stored.submissions:
        if (stored.metrics.get(sid) or stored.tasks.get(sid)) and sha not in allowed:
            failures.append(f"progress rows for {unit} from {name}, a file that must be rejected")
    # The good units hold exactly the good files' rows, nothing from the broken files.
    for case in good:
        subs = [s for s in stored.submissions if s[3] == case.unit and s[5] == "accepted"]
        if [s[1] for s in subs] != [sha256(case.path)]:
            failures.append(f"good unit {case.unit}: accepted submissions {[s[2] for s in subs]}")
    # Units that only received files that must be rejected have no progress at all.
    expectations: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        if case.unit:
            expectations[case.unit].add(case.expect)
    for unit, expected in expectations.items():
        if expected == {REJECT}:
            rows = [s for s in stored.submissions if s[3] == unit and s[5] == "accepted"]
            if rows:
                failures.append(f"{unit} only sent broken files, yet has accepted {rows}")
    # Every distinct rejected file keeps its receipt and its problems.
    problem_subs = {sid for sid, severity, _ in stored.problem_rows if severity == "error"}
    for sid, _, name, _, _, status, _, receipt in stored.submissions:
        if not receipt.startswith("【回执】"):
            failures.append(f"{name}: receipt {receipt[:40]!r}")
        if status == "rejected" and sid not in problem_subs:
            failures.append(f"{name}: rejected submission without an error row")
    rejected_shas = {
        sha256(c.path) for c in cases if outcome[c.path.resolve()]["status"] == "rejected"
    }
    stored_rejected = {s[1] for s in stored.submissions if s[5] == "rejected"}
    if rejected_shas - stored_rejected:
        failures.append(
            f"{len(rejected_shas - stored_rejected)} rejected files have no submission row"
        )

    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures[:60])
    statuses = Counter(o["status"] for o in outcomes)
    print("outcomes:", dict(statuses))


# Devices a unit's words must not carry into a notice (the words themselves are quoted)
ACTIVE_MARKDOWN = re.compile(
    r"\]\(|!\[|<img|<script|javascript:|https?://|www\.evil|\x1b|\x07|\u202e|^#|^- 冒充|\*\*加粗",
    re.MULTILINE,
)
ACTIVE_TEXT = re.compile(r"javascript:|https?://|www\.evil|\x1b|\x07|\u202e")


def test_every_hostile_class_in_one_ingest(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Far cells anywhere, shared-string and BIFF amplification, encryption, names that are not
    UTF-8, links out of and inside the inbox, injections in every narrative field and in file
    names, with good files among them (issue 16): one ingest ends normally, each file is judged
    by itself, the good ones stored exactly, and no notice of the month carries a unit's link,
    image, markup or control character."""
    inbox = tmp_path / "inbox"
    cases = build_hostile_corpus(templates, inbox, tmp_path / "outside", seed=SEED)
    result = rws.run("ingest", str(inbox), "--format", "json")
    assert result.code == 0, result.err[-3000:]
    assert "Traceback" not in result.err
    outcomes = {Path(o["file"]).name: o for o in json.loads(result.out)}
    read = [c for c in cases if c.expect]
    assert sorted(outcomes) == sorted(c.shown for c in read)  # the linked folder is not read
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        for c in read:
            o = outcomes[c.shown]
            errors = [p["message"] for p in o["problems"] if p["severity"] == "error"]
            assert o["status"] == c.expect, (c.shown, errors)
            assert not [m for m in errors if not CJK.search(m) or EXCEPTION_TEXT.search(m)]
            if c.expect == "rejected":
                assert any(c.word in m for m in errors), (c.shown, errors)
                continue
            (sid, unit) = con.sql(
                "SELECT submission_id, unit FROM submissions WHERE file_name = ? "
                "AND status = 'accepted'", params=[c.shown],
            ).fetchall()[0]  # fmt: skip
            assert unit == c.unit
            if c.metrics is not None:
                stored = con.sql(
                    "SELECT task_id, position, month_value, cumulative_value "
                    "FROM progress_metrics WHERE submission_id = ?", params=[sid],
                ).fetchall()  # fmt: skip
                assert Counter(stored) == Counter(c.metrics)
            texts = [
                t for row in con.sql(
                    "SELECT progress, issues, next_steps FROM progress_tasks "
                    "WHERE submission_id = ?", params=[sid],
                ).fetchall() for t in row if t is not None
            ]  # fmt: skip
            if c.texts:  # stored as written
                assert sorted(texts) == sorted(t.strip() for t in c.texts)
        archived = b"".join(p.read_bytes() for p in (rws.db.parent / "archive").rglob("*.*"))
        assert "不可外泄".encode() not in archived  # the linked secret was not read
    finally:
        con.close()

    rws.ok("evaluate", "--period", str(PERIOD))
    cfg = load_config(rws.config)
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        plan = plan_notices(
            con, PERIOD, workspace="武进区", channels=cfg.channels, calendar=cfg.calendar(),
            schedule=cfg.schedule, as_of=dt.date(2026, 4, 9), kinds=tuple(KINDS),
        )  # fmt: skip
    finally:
        con.close()
    quoting = 0
    for notice in plan.notices:
        markdown = f"{notice.title}\n{render(notice, 'markdown')}"
        text = f"{notice.title}\n{render(notice, 'text')}"
        html = render(notice, "html")
        quoting += "evil" in text or "冒充" in text or "倒序文字" in text
        assert not ACTIVE_MARKDOWN.search(markdown), markdown[:3000]
        assert not ACTIVE_TEXT.search(text), text[:3000]
        assert "<img src=x" not in html and "<script>" not in html and "\x1b" not in html
    assert quoting >= 5, "the units' words reach the notices (quoted, not acting)"


# ---------------------------------------------- bugs found (regression tests)


def _good_and_hostile(
    templates: Templates, folder: Path, hostile: bytes, *, good_unit: str = "住建局",
    hostile_unit: str = "交通局", suffix: str = ".xlsx",
) -> tuple[Case, Path]:  # fmt: skip
    """A good filled template and a hostile file (written after it) in `folder`."""
    import random

    folder.mkdir(parents=True, exist_ok=True)
    fill = templates.fill(good_unit, random.Random(1), tag="good:")
    good = templates.write_filled(fill, folder / f"{good_unit}-{PERIOD.zh}进展表.xlsx")
    bad = folder / f"{hostile_unit}-{PERIOD.zh}进展表{suffix}"
    bad.write_bytes(hostile)
    set_mtimes([good, bad])
    return Case(
        good, "good", ACCEPT, good_unit, frozenset(fill.metrics), frozenset(fill.tasks)
    ), bad


def _filled_bytes(templates: Templates, unit: str, seed: int = 2) -> bytes:
    import random

    out = io.BytesIO()
    fill = templates.fill(unit, random.Random(seed), tag="hostile:")
    book = templates.workbook(unit)
    for (r, c), value in fill.cells.items():
        book[MAIN_SHEET].cell(r + 1, c + 1).value = value
    book.save(out)
    return out.getvalue()


def _assert_rejected_beside_good(ws: Workspace, folder: Path, good: Case, bad: Path) -> None:
    result = ws.run("ingest", str(folder), "--format", "json")
    assert result.code == 0, result.err
    outcome = {Path(o["file"]).name: o for o in json.loads(result.out)}
    assert outcome[good.path.name]["status"] == "accepted"
    hostile = outcome[bad.name]
    assert hostile["status"] == "rejected"
    assert hostile["problems"] and not message_problems(hostile)


def _central_entries(data: bytes) -> list[int]:
    found, at = [], 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        found.append(at)
        at += 4
    return found


def test_zip_member_flagged_encrypted_is_rejected(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: a member flagged encrypted made zipfile raise RuntimeError and crashed the
    run."""
    data = bytearray(_filled_bytes(templates, "交通局"))
    entry = _central_entries(bytes(data))[-1]  # docProps or a sheet: any member will do
    flags = struct.unpack_from("<H", data, entry + 8)[0]
    struct.pack_into("<H", data, entry + 8, flags | 0x1)
    good, bad = _good_and_hostile(templates, tmp_path / "in", bytes(data))
    _assert_rejected_beside_good(rws, tmp_path / "in", good, bad)


def test_damaged_lzma_zip_member_is_rejected(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: a damaged LZMA member raised lzma.LZMAError and crashed the run (.xlsx
    members are stored or deflated: others are rejected)."""
    source = zipfile.ZipFile(io.BytesIO(_filled_bytes(templates, "交通局")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info), compress_type=zipfile.ZIP_LZMA)
    data = bytearray(out.getvalue())
    # The first member's LZMA properties (after the 30-byte header and its name) go bad.
    name_len, extra_len = struct.unpack_from("<HH", data, 26)
    start = 30 + name_len + extra_len
    data[start : start + 9] = b"\x05\x00\x05\x00\xff\xff\xff\xff\xff"
    good, bad = _good_and_hostile(templates, tmp_path / "in", bytes(data))
    _assert_rejected_beside_good(rws, tmp_path / "in", good, bad)


def test_zip_needing_a_newer_zip_version_is_rejected(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: "version needed" 6.4 made zipfile.ZipFile() raise NotImplementedError."""
    data = bytearray(_filled_bytes(templates, "交通局"))
    data[_central_entries(bytes(data))[0] + 6] = 64  # "version needed to extract" 6.4
    good, bad = _good_and_hostile(templates, tmp_path / "in", bytes(data))
    _assert_rejected_beside_good(rws, tmp_path / "in", good, bad)


def _patched_sheet(sheet_xml: Callable[[bytes], bytes], rows: int, cols: int) -> bytes:
    """A small .xlsx (one sheet, a cell at each corner) whose sheet XML is then rewritten."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("进展表")
    sheet.write(0, 0, "任务编号")
    sheet.write(rows - 1, cols - 1, 1)
    book.close()
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    patched = io.BytesIO()
    with zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = sheet_xml(body)
            archive.writestr(info, body)
    return patched.getvalue()


def _read_within(tmp_path: Path, data: bytes, seconds: float) -> None:
    """ducha.submissions.spreadsheet.read_workbook must reject or read `data` within `seconds` (run in a
    child process so that a runaway parse can be stopped)."""
    path = tmp_path / "hostile.xlsx"
    path.write_bytes(data)
    code = (
        "import sys\n"
        "from ducha.submissions.limits import FileRejected\n"
        "from ducha.submissions.spreadsheet import read_workbook\n"
        "try:\n"
        "    read_workbook('hostile.xlsx', open(sys.argv[1], 'rb').read())\n"
        "except FileRejected:\n"
        "    pass\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, timeout=seconds, check=True)


def test_overlapping_merged_ranges_do_not_stall_the_reader(tmp_path: Path) -> None:
    """Found by fuzzing: 10,000 overlapping merged ranges over a 2,000×200 sheet (a 3 KB file) took
    minutes to fill."""
    merges = b'<mergeCell ref="A1:GR2000"/>' * 10_000
    data = _patched_sheet(
        lambda xml: xml.replace(
            b"</sheetData>", b'</sheetData><mergeCells count="10000">' + merges + b"</mergeCells>"
        ),
        rows=2000,
        cols=200,
    )
    assert len(data) < 10_000
    _read_within(tmp_path, data, seconds=5)


def test_unclosed_formula_tags_do_not_stall_the_reader(tmp_path: Path) -> None:
    """Found by fuzzing: the formula-cell regex backtracked quadratically on 60,000 unclosed <f>
    tags."""
    data = _patched_sheet(
        lambda xml: xml.replace(
            b"</sheetData>", b'<row r="3">' + b'<c r="B3"><f>1' * 60_000 + b"</row></sheetData>"
        ),
        rows=2,
        cols=2,
    )
    assert len(data) < 10_000
    _read_within(tmp_path, data, seconds=5)


def test_absurd_growth_rates_are_rejected(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: 1e15 % and '9'*40 were accepted as growth rates."""
    import random

    folder = tmp_path / "in"
    folder.mkdir()
    unit = "发改局"
    (line,) = templates.metric_lines(unit, ("growth",))
    paths = []
    for i, value in enumerate((1e15, "9" * 40)):
        fill = templates.fill(unit, random.Random(i), tag=f"{i}:")
        fill.cells[(line.row, COL["累计完成"])] = value
        paths.append(templates.write_filled(fill, folder / f"{unit}-{PERIOD.zh}进展表-{i}.xlsx"))
    set_mtimes(paths)
    outcomes = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    assert [o["status"] for o in outcomes] == ["rejected", "rejected"], outcomes


def test_number_text_overflowing_to_infinity_is_rejected(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: a 400-digit text became float('inf') and was stored."""
    import random

    folder = tmp_path / "in"
    folder.mkdir()
    unit = "发改局"
    (line,) = templates.metric_lines(unit, ("growth",))
    fill = templates.fill(unit, random.Random(3))
    fill.cells[(line.row, COL["累计完成"])] = "9" * 400
    templates.write_filled(fill, folder / f"{unit}-{PERIOD.zh}进展表.xlsx")
    outcomes = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        infinite = con.sql(
            "SELECT count(*) FROM progress_metrics WHERE isinf(cumulative_value) OR isinf(month_value)"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert infinite == 0 and outcomes[0]["status"] == "rejected", outcomes


def test_csv_unclosed_quote_does_not_drop_later_rows(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: an unclosed quote swallowed every later row into one field and the file
    was accepted without them."""
    import random

    folder = tmp_path / "in"
    folder.mkdir()
    unit = "牛塘镇"
    fill = templates.fill(unit, random.Random(4), tag="csv:")
    rows, _ = templates.filled_grid(fill)
    lines = csv_bytes(rows, "gbk").split(b"\r\n")
    k = templates.lines(unit)[5].row  # an early data row
    lines[k] += ',"见附件'.encode("gbk")
    (folder / f"{unit}-{PERIOD.zh}进展表.csv").write_bytes(b"\r\n".join(lines))
    (outcome,) = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    if outcome["status"] == "rejected":  # the receipt names the row the quote opens on
        assert any(f"第 {k + 1} 行" in p["message"] for p in outcome["problems"]), outcome
        return
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        stored = set(con.sql(
            "SELECT task_id, position, month_value, cumulative_value FROM progress_metrics"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    assert stored == fill.metrics, f"accepted with {len(stored)} of {len(fill.metrics)} figures"


def test_two_versions_in_one_batch_leave_one_latest_submission(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by the fuzz run (store_batch marked superseded_by before inserting the batch's
    rows, leaving several "latest" submissions); fixed since, kept as a regression test."""
    import random

    folder = tmp_path / "in"
    folder.mkdir()
    unit = "城管局"
    paths = []
    for i in range(3):
        fill = templates.fill(unit, random.Random(10 + i), tag=f"v{i}:")
        paths.append(templates.write_filled(fill, folder / f"{unit}-{PERIOD.zh}进展表-v{i}.xlsx"))
    set_mtimes(paths)
    outcomes = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    assert [o["status"] for o in outcomes] == ["accepted", "superseded", "superseded"]
    con = duckdb.connect(str(rws.db), read_only=True)
    try:
        latest = con.sql(
            "SELECT file_name FROM latest_submissions WHERE unit = ? AND period = ?",
            params=[unit, str(PERIOD)],
        ).fetchall()
        unmarked = con.sql(
            "SELECT count(*) FROM submissions s WHERE superseded_by IS NULL "
            "AND EXISTS (SELECT 1 FROM submissions t WHERE t.supersedes = s.submission_id)"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert latest == [(paths[-1].name,)] and unmarked == 0, latest


def test_error_values_in_number_cells_are_not_read_as_blank(
    rws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Found by fuzzing: error cells (#DIV/0!, #N/A) were read as empty and the file accepted."""
    import random

    folder = tmp_path / "in"
    folder.mkdir()
    unit = "城管局"
    fill = templates.fill(unit, random.Random(5))
    line = templates.metric_lines(unit, ("cumulative",))[0]
    fill.cells[(line.row, COL["累计完成"])] = "#DIV/0!"  # openpyxl writes an error cell
    fill.cells[(line.row, COL["本月完成"])] = "#N/A"
    templates.write_filled(fill, folder / f"{unit}-{PERIOD.zh}进展表.xlsx")
    (outcome,) = json.loads(rws.ok("ingest", str(folder), "--format", "json"))
    cells = {p["cell"] for p in outcome["problems"] if p["severity"] == "error"}
    assert outcome["status"] == "rejected" and cells, outcome
