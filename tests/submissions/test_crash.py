"""`ducha ingest` killed with SIGKILL mid-run, then run again, ends where one clean run ends.

A folder of ~120 files for 2026-03 (several versions per unit, so later files supersede
earlier ones; byte-identical copies, which are duplicates; a few broken files, which are
rejected) is ingested three ways:

- reference: one uninterrupted `ducha ingest FOLDER` (the console script, in a subprocess);
- interrupted: `ducha.submissions.ingest.ingest(..., batch_files=5)` in a child process (the CLI has no
  batch option), killed with SIGKILL after some batches have committed — at a random moment,
  between two batches, inside a batch's open transaction, or while a file is being archived;
- then `ducha ingest FOLDER` again, to completion.

The database after the kill holds exactly the batches that committed (all-or-nothing per
batch), and after the rerun it equals the reference (compared without ids and timestamps of
the run), with one archived copy per distinct file and no half-written `.part` file.

To stop at a precise point the child prints a line after each committed batch and, for the
deterministic kill points, sleeps at that point (after a commit, before COMMIT, before the
archive's os.replace) until it is killed: the kill lands where a real crash could land, only
not by chance.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ducha.config import load_config
from ducha.submissions.templates import COL
from tests.helpers import ROOT, Workspace
from tests.submissions.fuzz_files import (
    PERIOD,
    Templates,
    prepared_database,
    set_mtimes,
    workspace_from,
)

BATCH = 5
UNITS = (
    "城管局", "住建局", "工信局", "商务局", "发改局", "科技局", "农业农村局", "人社局",
    "中以园", "民政局",
)  # fmt: skip
VERSIONS = 10  # per unit: every later version supersedes the one before
BIG_UNIT, BIG_VERSIONS = "洛阳镇", 3
DUCHA = Path(sys.executable).with_name("ducha")

CHILD = r"""
import os, sys, time
from contextlib import contextmanager
from pathlib import Path

import ducha.submissions.ingest as ingest
import ducha.submissions.store as store
from ducha.config import load_config
from ducha.db import opened
from ducha.workspace import Workspace

db, config, folder, batch, mode, at = sys.argv[1:7]
batch, at = int(batch), int(at)
state = {"commits": 0, "transactions": 0}


def pause():
    print("paused", flush=True)
    time.sleep(600)


store_batch = ingest.store_batch


def counted_store_batch(con, results):
    store_batch(con, results)
    state["commits"] += 1
    print(f"committed {state['commits']}", flush=True)
    if mode == "between" and state["commits"] == at:
        pause()


ingest.store_batch = counted_store_batch

if mode == "transaction":  # stop inside batch `at`'s transaction, before its COMMIT
    transaction = store.transaction

    @contextmanager
    def paused_transaction(con):
        with transaction(con):
            yield con
            state["transactions"] += 1
            if state["transactions"] == at:
                pause()

    store.transaction = paused_transaction

if mode == "archive":  # stop between writing an archive's .part file and renaming it
    replace = os.replace

    def paused_replace(src, dst, *args, **kwargs):
        if str(src).endswith(".part") and state["commits"] >= at:
            pause()
        return replace(src, dst, *args, **kwargs)

    os.replace = paused_replace

ws = Workspace.from_options(db, config)
cfg = load_config(ws)
with opened(ws.db_path) as con:
    results = ingest.ingest(
        con, [Path(folder)], register=cfg.units, workspace=cfg.code,
        archive_dir=ws.data_dir / "archive", batch_files=batch,
    )
print("done", len(results), flush=True)
"""


class PartFileLeftover(Exception):
    """A `.part` file stayed in the archive (raised last, so it masks no other failure)."""


# ------------------------------------------------------------------- corpus


def _filled(templates: Templates, unit: str, path: Path, rng: random.Random, tag: str) -> Path:
    return templates.write_filled(templates.fill(unit, rng, tag=tag), path)


def build_folder(templates: Templates, folder: Path, seed: int = 7) -> list[Path]:
    """~120 files in ingest order (their modification times say so)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    versions: dict[str, list[Path]] = {}
    for unit in (*UNITS, BIG_UNIT):
        count = BIG_VERSIONS if unit == BIG_UNIT else VERSIONS
        versions[unit] = [
            _filled(
                templates,
                unit,
                folder / f"{unit}-{PERIOD.zh}进展表（第{v}次报送）.xlsx",
                rng,
                f"v{v}:",
            )  # fmt: skip
            for v in range(count)
        ]
    # Interleave the units, keeping each unit's versions in order.
    order: list[Path] = []
    queues = {u: list(p) for u, p in versions.items()}
    while queues:
        unit = rng.choice(sorted(queues))
        order.append(queues[unit].pop(0))
        if not queues[unit]:
            del queues[unit]
    broken = _broken_files(templates, folder, rng)
    for path in broken:
        order.insert(rng.randrange(len(order) + 1), path)
    # Byte-identical copies: some right after the original (same batch), some much later.
    for i, original in enumerate(rng.sample(order[:-10], 9) + [broken[0]]):
        copy = original.with_name(f"{original.stem}（{i + 1}）{original.suffix}")
        shutil.copyfile(original, copy)
        at = order.index(original) + 1
        order.insert(at + (0 if i % 3 == 0 else rng.randrange(len(order) - at + 1)), copy)
    set_mtimes(order)
    return order


def _broken_files(templates: Templates, folder: Path, rng: random.Random) -> list[Path]:
    made = []
    for i, unit in enumerate(("城管局", "商务局")):
        data = _filled(templates, unit, folder / "tmp.xlsx", rng, "t:").read_bytes()
        path = folder / f"{unit}-{PERIOD.zh}进展表（传输中断{i}）.xlsx"
        path.write_bytes(data[: rng.randrange(100, len(data) - 100)])
        made.append(path)
    (folder / "tmp.xlsx").unlink()
    for unit in ("工信局", "发改局"):
        fill = templates.fill(unit, rng, tag="bad:")
        line = templates.metric_lines(unit, ("cumulative",))[0]
        fill.cells[(line.row, COL["累计完成"])] = "约三十"
        made.append(templates.write_filled(fill, folder / f"{unit}-{PERIOD.zh}进展表（有误）.xlsx"))
    path = folder / f"科技局-{PERIOD.zh}进展表（导出）.csv"
    path.write_bytes(rng.randbytes(3000))
    made.append(path)
    fill = templates.fill("民政局", rng, tag="other:")
    made.append(templates.write_filled(fill, folder / f"人社局-{PERIOD.zh}进展表（错发）.xlsx"))
    path = folder / f"中以园-{PERIOD.zh}进展表（空）.xlsx"
    path.write_bytes(b"")
    made.append(path)
    return made


# --------------------------------------------------------------- snapshots


def snapshot(db: Path) -> dict[str, Counter]:
    """Everything ingest stores, with submission ids replaced by the file's SHA-256 and
    without the moment of the run (ingested_at) or where this workspace keeps its archive."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {
            "submissions": (
                "SELECT s.sha256, s.file_name, s.unit, s.period, s.status, "
                "s.superseded_by IS NOT NULL, s.rows, s.receipt, s.reporter, s.received_at, "
                "old.sha256 AS supersedes, new.sha256 AS superseded_by "
                "FROM submissions s "
                "LEFT JOIN submissions old ON old.submission_id = s.supersedes "
                "LEFT JOIN submissions new ON new.submission_id = s.superseded_by"
            ),
            "submission_problems": (
                "SELECT s.sha256, p.seq, p.sheet, p.cell, p.severity, p.message "
                "FROM submission_problems p LEFT JOIN submissions s USING (submission_id)"
            ),
            "progress_metrics": (
                "SELECT s.sha256, p.unit, p.period, p.task_id, p.position, p.month_value, "
                "p.cumulative_value, p.sheet, p.row_no, p.match_method, p.match_score "
                "FROM progress_metrics p LEFT JOIN submissions s USING (submission_id)"
            ),
            "progress_tasks": (
                "SELECT s.sha256, p.unit, p.period, p.task_id, p.status, p.progress, p.issues, "
                "p.next_steps FROM progress_tasks p LEFT JOIN submissions s USING (submission_id)"
            ),
        }
        return {name: Counter(con.sql(query).fetchall()) for name, query in tables.items()}
    finally:
        con.close()


def only(snap: dict[str, Counter], shas: set[str], *, links: bool = True) -> dict[str, Counter]:
    """The part of a snapshot that comes from the files `shas` (links=False: without whether
    and by what a submission was superseded, which a later batch may still change)."""
    out = {}
    for name, rows in snap.items():
        kept = Counter({row: n for row, n in rows.items() if row[0] in shas})
        if name == "submissions" and not links:
            kept = Counter({row[:5] + row[6:11]: n for row, n in kept.items()})
        out[name] = kept
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archive_listing(data_dir: Path) -> tuple[Counter, list[str]]:
    """(archived copies per SHA-256, leftover .part files)."""
    files = [p for p in (data_dir / "archive").rglob("*") if p.is_file()]
    parts = sorted(p.name for p in files if ".part" in p.name)
    copies = Counter(p.name.split(".")[0] for p in files if ".part" not in p.name)
    return copies, parts


def run_ducha(ws: Workspace, folder: Path) -> list[dict[str, Any]]:
    """`ducha ingest FOLDER --format json`, the console script in its own process."""
    done = subprocess.run(
        [str(DUCHA), "--db", str(ws.db), "--config", str(ws.config), "ingest", str(folder),
         "--format", "json"],
        capture_output=True, text=True, timeout=300, cwd=ws.root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def run_killed(
    ws: Workspace, folder: Path, mode: str, at: int, delay: float = 0.0,
    env: dict[str, str] | None = None,
) -> tuple[int | None, list[str]]:  # fmt: skip
    """Run the child; SIGKILL it once it reports `paused` (or `committed {at}` in random mode,
    after `delay`). Returns (exit code, the lines it printed)."""
    log = (ws.root / f"child-{mode}.err").open("w")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ws.db), str(ws.config), str(folder), str(BATCH), mode,
         str(at)],
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    trigger = f"committed {at}" if mode == "random" else "paused"
    lines: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.strip())
            if lines[-1] == trigger:
                if delay:
                    time.sleep(delay)
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait(timeout=60)
    finally:
        watchdog.cancel()
        log.close()
    return child.returncode, lines


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The prepared database, the folder, and the reference: one clean `ducha ingest`."""
    root = tmp_path_factory.mktemp("crash")
    db, templates = prepared_database(root / "prepared")
    folder = root / "inbox"
    order = build_folder(templates, folder)
    reference = workspace_from(db, root / "reference")
    started = time.monotonic()
    outcomes = run_ducha(reference, folder)
    took = time.monotonic() - started
    statuses = Counter(o["status"] for o in outcomes)
    print(f"\nreference: {len(order)} files in {took:.1f} s: {dict(statuses)}")
    # The scenario has every outcome, and one result per file in the folder's order.
    assert [Path(o["file"]).name for o in outcomes] == [p.name for p in order]
    assert statuses["accepted"] == len(UNITS) + 1
    assert statuses["superseded"] == len(UNITS) * (VERSIONS - 1) + BIG_VERSIONS - 1
    assert statuses["duplicate"] >= 5 and statuses["rejected"] >= 7
    return {
        "db": db,
        "folder": folder,
        "order": order,
        "outcomes": outcomes,
        "snapshot": snapshot(reference.db),
        "archive": archive_listing(reference.db.parent),
        "accepted": statuses["accepted"] + statuses["superseded"],
    }


# --------------------------------------------------------------------- tests


def _check_interrupted(scenario: dict[str, Any], ws: Workspace) -> int:
    """After the kill: the database holds whole batches, a strict prefix of the run.
    Returns how many batches it holds."""
    order: list[Path] = scenario["order"]
    shas = [sha256(p) for p in order]
    killed = snapshot(ws.db)
    stored = {row[0] for row in killed["submissions"]}
    reference_shas = {row[0] for row in scenario["snapshot"]["submissions"]}
    batches = (len(order) + BATCH - 1) // BATCH
    consistent = [
        k for k in range(batches + 1)
        if stored == {s for s in shas[: k * BATCH] if s in reference_shas}
    ]  # fmt: skip
    assert consistent, "the killed run left part of a batch behind"
    accepted = sum(n for row, n in killed["submissions"].items() if row[4] == "accepted")
    assert 0 < accepted < scenario["accepted"], "the kill did not interrupt the run"
    assert only(killed, stored, links=False) == only(scenario["snapshot"], stored, links=False)
    dangling = [row for row in killed["submissions"] if row[5] and row[11] is None]
    assert not dangling, "superseded_by points at a submission that was never committed"
    return consistent[-1]


def _check_rerun(scenario: dict[str, Any], ws: Workspace) -> None:
    outcomes = run_ducha(ws, scenario["folder"])
    assert [Path(o["file"]).name for o in outcomes] == [p.name for p in scenario["order"]]
    again = snapshot(ws.db)
    for table, rows in scenario["snapshot"].items():
        assert again[table] == rows, (
            f"{table} differs from the uninterrupted run: "
            f"missing {list((rows - again[table]).elements())[:5]}, "
            f"extra {list((again[table] - rows).elements())[:5]}"
        )
    copies, parts = archive_listing(ws.db.parent)
    assert set(copies) == {sha256(p) for p in scenario["order"]}
    assert max(copies.values()) == 1, "one archived copy per distinct file"
    assert copies == scenario["archive"][0]
    if parts:
        raise PartFileLeftover(f"half-written archive files left behind: {parts}")


@pytest.mark.parametrize("at", [2, 11])
def test_kill_between_batches(scenario: dict[str, Any], tmp_path: Path, at: int) -> None:
    ws = workspace_from(scenario["db"], tmp_path)
    code, lines = run_killed(ws, scenario["folder"], "between", at)
    assert code == -signal.SIGKILL, lines
    assert lines[-1] == "paused" and f"committed {at}" in lines
    assert _check_interrupted(scenario, ws) == at
    _check_rerun(scenario, ws)


@pytest.mark.parametrize("at", [1, 7, 16])
def test_kill_inside_a_batch_transaction(scenario: dict[str, Any], tmp_path: Path, at: int) -> None:
    """Killed after batch `at` inserted its rows but before COMMIT: none of them survive."""
    ws = workspace_from(scenario["db"], tmp_path)
    code, lines = run_killed(ws, scenario["folder"], "transaction", at)
    assert code == -signal.SIGKILL, lines
    assert lines[-1] == "paused" and f"committed {at}" not in lines
    assert at == 1 or f"committed {at - 1}" in lines
    held = _check_interrupted(scenario, ws) if at > 1 else None
    if held is not None:
        assert held == at - 1
    else:  # nothing committed yet: the database holds no submission at all
        assert not snapshot(ws.db)["submissions"]
    _check_rerun(scenario, ws)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_at_a_random_moment(scenario: dict[str, Any], tmp_path: Path, seed: int) -> None:
    """No pause in the child: killed a random few milliseconds after a commit, wherever it
    then is (checking files, archiving, inside the next transaction)."""
    rng = random.Random(seed)
    batches = (len(scenario["order"]) + BATCH - 1) // BATCH
    at, delay = rng.randrange(1, batches - 4), rng.uniform(0.0, 0.05)
    for _attempt in range(4):
        ws = workspace_from(scenario["db"], tmp_path / f"try{_attempt}")
        code, lines = run_killed(ws, scenario["folder"], "random", at, delay)
        if code == -signal.SIGKILL:
            break
        at, delay = max(1, at // 2), 0.0  # finished before the kill: kill earlier
    assert code == -signal.SIGKILL, f"never interrupted: {lines}"
    assert not any(line.startswith("done") for line in lines)
    held = _check_interrupted(scenario, ws)
    print(f"\nkilled {delay * 1000:.0f} ms after batch {at} committed: {held} batches held")
    assert held >= at
    _check_rerun(scenario, ws)  # a kill inside archive_file leaves a .part the rerun removes


def test_kill_while_archiving(scenario: dict[str, Any], tmp_path: Path) -> None:
    ws = workspace_from(scenario["db"], tmp_path)
    code, lines = run_killed(ws, scenario["folder"], "archive", 3)
    assert code == -signal.SIGKILL, lines
    assert lines[-1] == "paused" and "committed 3" in lines
    assert _check_interrupted(scenario, ws) == 3
    _check_rerun(scenario, ws)


# ----------------------------------------------------------- worker processes


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (a child and all it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker.encode() in environ:
                found.append(int(entry.name))
    return found


def _ingest_in_parallel(
    scenario: dict[str, Any], ws: Any, monkeypatch: pytest.MonkeyPatch, workers: int,
    **settings: int,
) -> list[Any]:  # fmt: skip
    """The scenario's folder ingested with `workers` worker processes; `settings`: module
    constants of ducha.submissions.parallel (SERIAL_CHUNKS, CHUNK) for this run."""
    import ducha.submissions.ingest
    import ducha.submissions.parallel
    from ducha.db import opened

    monkeypatch.setenv("DUCHA_INGEST_WORKERS", str(workers))
    for name, value in settings.items():
        monkeypatch.setattr(ducha.submissions.parallel, name, value)
    with opened(ws.db) as con:
        return ducha.submissions.ingest.ingest(
            con, [scenario["folder"]], register=load_config(ws.config).units, workspace="wujin",
            archive_dir=ws.db.parent / "archive", batch_files=BATCH,
        )  # fmt: skip


def _check_as_one_process(scenario: dict[str, Any], ws: Any, results: list[Any]) -> None:
    """The same outcomes in the same order, database and archive as one process."""
    assert [r.to_dict() for r in results] == scenario["outcomes"]
    again = snapshot(ws.db)
    for table, rows in scenario["snapshot"].items():
        assert again[table] == rows, f"{table} differs from one process checking every file"
    assert archive_listing(ws.db.parent) == scenario["archive"]


def test_workers_store_what_one_process_stores(
    scenario: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder checked by two worker processes (this process checks the first files while
    they start, and files whose check depends on what the run stored since): the same
    outcomes in the same order, the same database and the same archive as one process."""
    ws = workspace_from(scenario["db"], tmp_path)
    results = _ingest_in_parallel(scenario, ws, monkeypatch, 2, SERIAL_CHUNKS=2)
    by_workers = sum(r.worker not in (None, os.getpid()) for r in results)
    assert by_workers >= len(results) // 2, f"only {by_workers} files were checked by workers"
    _check_as_one_process(scenario, ws, results)


def test_this_process_takes_chunks_from_the_tail(
    scenario: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker, one file per chunk, nothing checked before the worker starts: while this
    process waits for the worker's first file it checks files from the end of the queue
    itself. Same outcomes in the same order, same database and archive as one process."""
    ws = workspace_from(scenario["db"], tmp_path)
    results = _ingest_in_parallel(scenario, ws, monkeypatch, 1, SERIAL_CHUNKS=0, CHUNK=1)
    ahead = [i for i, r in enumerate(results) if r.worker == os.getpid()]
    by_worker = [i for i, r in enumerate(results) if r.worker not in (None, os.getpid())]
    assert ahead and by_worker, (ahead, by_worker)
    # taken from the tail (a file taken may be checked again in its turn); the worker: the head
    assert min(ahead) > len(results) // 2 and min(by_worker) == 0
    _check_as_one_process(scenario, ws, results)


def test_kill_with_workers_at_a_random_moment(scenario: dict[str, Any], tmp_path: Path) -> None:
    """Killed while worker processes check files: the workers end too, and a rerun ends
    where one clean run ends."""
    marker = f"DUCHA_TEST_RUN={os.getpid()}-{time.monotonic_ns()}"
    env = {"DUCHA_INGEST_WORKERS": "2", "DUCHA_TEST_RUN": marker.split("=", 1)[1]}
    for at in (4, 2, 1):
        ws = workspace_from(scenario["db"], tmp_path / f"at{at}")
        code, lines = run_killed(ws, scenario["folder"], "random", at, 0.01, env=env)
        if code == -signal.SIGKILL:
            break
    assert code == -signal.SIGKILL, f"never interrupted: {lines}"
    deadline = time.monotonic() + 20
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_with(marker), "worker processes outlived the killed ingest"
    assert _check_interrupted(scenario, ws) >= at
    _check_rerun(scenario, ws)
