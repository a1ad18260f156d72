"""The fixtures every test may ask for: a throw-away workspace (a copy of config/ and a DuckDB file),
at the stages of the sample year, and a real Prefect server (tests/helpers.py has the rest)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import REVIEW_2026, ROOT, SEED_TABLE, Workspace


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
    """A real Prefect server with prefect.yaml deployed (tests/helpers.py). Tests that use
    it are marked xdist_group("prefect"), so one worker process starts one server for them all."""
    from tests.helpers import start_server

    server = start_server(tmp_path_factory.mktemp("prefect"))
    try:
        yield server
    finally:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(
            timeout=10
        )  # logs of flows run in this process, sent before the server goes
        server.stop()
