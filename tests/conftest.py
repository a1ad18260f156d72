"""Shared fixtures: a throw-away workspace (config copy + DuckDB file) and the CLI."""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from ducha.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SEED_TABLE = SAMPLES / "wujin-2026-target-decomposition-table.txt"
REVIEW_2026 = ROOT / "config" / "reviews" / "targets-2026.yaml"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Workspace:
    root: Path
    config: Path
    db: Path

    def run(self, *args: str, stdin: str = "") -> Result:
        """Run `ducha --db … --config … ARGS` in this process."""
        out, err = io.StringIO(), io.StringIO()
        old_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["--db", str(self.db), "--config", str(self.config), *args])
        finally:
            sys.stdin = old_stdin
        return Result(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str, stdin: str = "") -> str:
        result = self.run(*args, stdin=stdin)
        assert result.code == 0, result.err
        return result.out

    def state(self) -> dict[str, list[tuple]]:
        """Every table's rows, sorted: to prove a failed command changed nothing."""
        if not self.db.exists():
            return {}
        try:
            con = duckdb.connect(str(self.db), read_only=True)
        except duckdb.IOException:  # not a database: compare the bytes
            return {"<bytes>": [(self.db.read_bytes(),)]}
        try:
            tables = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
            return {
                t: sorted(con.sql(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in sorted(tables)
            }
        finally:
            con.close()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    return Workspace(tmp_path, config, tmp_path / "data" / "ducha.duckdb")


@pytest.fixture(scope="session")
def _prepared_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seed imported (and confirmed) once per test process; tests get copies."""
    root = tmp_path_factory.mktemp("prepared")
    base = Workspace(root, ROOT / "config", root / "imported.duckdb")
    base.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    confirmed = root / "confirmed.duckdb"
    shutil.copy(base.db, confirmed)
    Workspace(root, ROOT / "config", confirmed).ok("targets", "confirm", str(REVIEW_2026))
    return {"imported": base.db, "confirmed": confirmed}


@pytest.fixture
def imported(ws: Workspace, _prepared_dbs: dict[str, Path]) -> Workspace:
    ws.db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_prepared_dbs["imported"], ws.db)
    return ws


@pytest.fixture
def confirmed(ws: Workspace, _prepared_dbs: dict[str, Path]) -> Workspace:
    """The sample workspace with the 2026 register imported and its metrics confirmed."""
    ws.db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_prepared_dbs["confirmed"], ws.db)
    return ws


@pytest.fixture(scope="session")
def _sample_months_db(
    _prepared_dbs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The confirmed sample workspace with its generated submissions for 2026-01..03 ingested."""
    from demo.sample_progress import generate_month
    from ducha.config import load_config
    from ducha.db import opened
    from ducha.periods import Period
    from ducha.submissions.ingest import ingest

    root = tmp_path_factory.mktemp("sample-months")
    db = root / "ducha.duckdb"
    shutil.copy(_prepared_dbs["confirmed"], db)
    register = load_config(ROOT / "config").units
    with opened(db) as con:
        for month in (1, 2, 3):
            period = Period(2026, month)
            files = generate_month(con, period, root / "inbox" / str(period), workspace="wujin")
            start = datetime(2026, month + 1, 2, 9, 0)
            arrival = {p.resolve(): start + timedelta(minutes=10 * i) for i, p in enumerate(files)}
            ingest(con, files, register=register, workspace="wujin", archive_dir=root / "archive",
                   received_at=arrival.__getitem__)  # fmt: skip
    return db


@pytest.fixture
def sample_months(ws: Workspace, _sample_months_db: Path) -> Workspace:
    ws.db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_sample_months_db, ws.db)
    return ws


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory):
    """A real Prefect server with prefect.yaml deployed (tests/prefect_server.py). Tests that use
    it are marked xdist_group("prefect"), so one worker process starts one server for them all."""
    from tests.prefect_server import start_server

    server = start_server(tmp_path_factory.mktemp("prefect"))
    try:
        yield server
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(
            timeout=10
        )  # logs of flows run in this process, sent before the server goes
        server.stop()
