"""Issue 17: decomposition tables as other governments publish them (tests/targets/data/real_tables,
gathered from their sites, source address on each file's first line), imported from .docx and
.xlsx laid out as published, with the register a clerk of that government would write. What a
careful reader counts — the tasks, and the deadlines of the 完成时限 column — is written in each
file before ducha read it; a table published without its header stops with a message naming
what is missing."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, Workspace, assert_user_error
from tests.targets.real_tables import RealTable, real_tables, write_docx, write_xlsx

TABLES = real_tables()
WRITERS = {".docx": write_docx, ".xlsx": write_xlsx}


def _workspace(tmp_path: Path, table: RealTable) -> Workspace:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "units.yaml").write_text(
        yaml.safe_dump(table.register(), allow_unicode=True), encoding="utf-8"
    )
    return Workspace(tmp_path, config, tmp_path / "data" / "ducha.duckdb")


def test_the_collection_is_what_the_issue_asks_for() -> None:
    """At least twelve tables of different governments, several years and kinds, each with its
    source, and no register that names a bare remark as a unit or alias."""
    governments = {t.data["government"] for t in TABLES}
    assert len(governments) >= 12, governments
    assert len({t.data["year"] for t in TABLES}) >= 5
    assert {t.data["kind"] for t in TABLES} >= {"分解表", "责任分工方案", "民生实事"}
    for table in TABLES:
        first = table.path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# source: http"), table.name
        for unit in table.data["units"]:
            for name in [unit["name"], *(unit.get("aliases") or [])]:
                assert not str(name).startswith(("（", "(")), (table.name, name)


@pytest.mark.parametrize("suffix", WRITERS)
@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
def test_a_real_table_imports_as_published(tmp_path: Path, table: RealTable, suffix: str) -> None:
    ws = _workspace(tmp_path, table)
    path = WRITERS[suffix](table, tmp_path / f"{table.name}{suffix}")
    year = str(table.data["year"])
    if not table.header_rows:  # published without its header row: nothing to map the columns by
        assert_user_error(
            ws, ["targets", "import", str(path), "--year", year], "没有找到分解表的表头"
        )
        return
    preview = json.loads(
        ws.ok("targets", "import", str(path), "--year", year, "--dry-run", "--format", "json")
    )
    assert not ws.db.exists()  # a preview writes nothing
    assert {"content", "lead_units"} <= set(preview["header"])
    ws.ok("targets", "import", str(path), "--year", year)
    tasks = json.loads(ws.ok("targets", "show", "--year", year, "--format", "json"))
    expect = table.data["expect"]
    assert len(tasks) == expect["tasks"] == preview["tasks"]
    assert all(t["content"] and t["lead_units"] for t in tasks)
    deadlines = Counter(t["deadline"] for t in tasks if t["deadline"])
    assert deadlines == Counter(str(d) for d in (expect.get("deadlines") or {}).values())
    registered = {u["name"] for u in table.data["units"]}
    for task in tasks:
        assert set(task["lead_units"]) | set(task["responsible_units"]) <= registered
