"""Fixtures of the submission tests: a prepared database (targets imported, metrics reviewed) and
its real templates, once per module, and each test's own workspace holding a copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import Workspace
from tests.submissions.fuzz_files import Templates, prepared_database


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Templates]:
    """A database with the 2026 targets and reviewed metrics, and the real templates."""
    return prepared_database(tmp_path_factory.mktemp("prepared"))


@pytest.fixture
def rws(ws: Workspace, prepared: tuple[Path, Templates]) -> Workspace:
    """The test's own workspace holding a copy of the prepared database."""
    ws.db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(prepared[0], ws.db)
    return ws
