"""Fixtures of the portal tests: a prepared database, and `ducha portal` serving a copy of it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, Workspace
from tests.portal.servers import PortalServer
from tests.submissions.fuzz_files import Templates, prepared_database


@pytest.fixture(scope="module")
def portal_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Templates]:
    return prepared_database(tmp_path_factory.mktemp("portal-prepared"))


@pytest.fixture(scope="module")
def templates(portal_db: tuple[Path, Templates]) -> Templates:
    return portal_db[1]


@pytest.fixture
def portal_ws(ws: Workspace, portal_db: tuple[Path, Templates]) -> Workspace:
    ws.db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(portal_db[0], ws.db)
    return ws


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, portal_db: tuple[Path, Templates]
) -> Iterator[PortalServer]:
    root = tmp_path_factory.mktemp("portal")
    shutil.copytree(ROOT / "config", root / "config")
    (root / "data").mkdir()
    shutil.copy(portal_db[0], root / "data" / "ducha.duckdb")
    server = PortalServer(root).start()
    yield server
    server.stop()
