"""The portal's clerk without a server: its rounds of checks over one hold of the database,
the checks' context it keeps between rounds and holds, the checking children (their copy,
their renewal, the uploads they begin ahead), and giving way to another ducha process."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ducha.periods import Period
from tests.helpers import Workspace
from tests.submissions.fuzz_files import COL, MAIN_SHEET, Templates

PERIOD = Period(2026, 3)


def test_the_clerks_kept_context_sees_what_earlier_rounds_stored(
    portal_ws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Rounds of one hold share the checks' context (loaded once) and the children that check
    with a copy of it: a file accepted in round one is known in round two (the same bytes: a
    duplicate; new ones supersede it), the same bytes twice in one round are one file, and a
    unit not in the first round has its tasks too."""
    with _clerk_rounds(portal_ws, templates, tmp_path) as rounds:
        assert rounds.run(("湖塘镇", 1)) == ["accepted"]
        assert rounds.run(("湖塘镇", 1), ("牛塘镇", 2)) == ["duplicate", "accepted"]
        assert rounds.run(("湖塘镇", 3)) == ["superseded"]  # it supersedes the first
        assert rounds.run(("礼嘉镇", 4), ("礼嘉镇", 4)) == ["accepted", "duplicate"]
        statuses = rounds.con.sql(
            "SELECT status, superseded_by IS NOT NULL FROM submissions WHERE unit = '湖塘镇' "
            "ORDER BY submission_id").fetchall()  # fmt: skip
        assert statuses == [("accepted", True), ("accepted", False)]


@pytest.mark.parametrize("ahead", [False, True], ids=["next-round", "begun-ahead"])
def test_a_month_stored_after_the_childrens_copy_is_checked_again_by_the_clerk(
    portal_ws: Workspace, templates: Templates, tmp_path: Path, ahead: bool
) -> None:
    """The children check with the figures of the month before as they were when they got
    their copy. 湖塘镇's February is stored in round one, after the copy was made (the round
    has March files too); its March in round two must be held against that February: it is
    checked again by the clerk, which finds the cumulative figures lower than February's.
    Also when March came while round one was checked, and a child checked it meanwhile."""
    import openpyxl

    from ducha.submissions.templates import template_name, write_templates

    february = Period(2026, 2)
    with _clerk_rounds(portal_ws, templates, tmp_path) as rounds:
        write_templates(rounds.con, tmp_path / "feb", workspace=rounds.cfg.code, period=february,
                        units=["湖塘镇"])  # fmt: skip
        fill = templates.fill("湖塘镇", random.Random(7))
        book = openpyxl.load_workbook(tmp_path / "feb" / template_name("湖塘镇", february))
        sheet = book[MAIN_SHEET]
        cumulative = COL["累计完成"]
        for (r, c), value in fill.cells.items():
            sheet.cell(r + 1, c + 1).value = value
        book.save(tmp_path / "二月.xlsx")
        rows = {line.row for line in templates.metric_lines("湖塘镇", ["cumulative"])}
        lowered = [(r, c) for (r, c), v in fill.cells.items()
                   if c == cumulative and r in rows and v > 0]  # fmt: skip
        for key in lowered:  # March: every cumulative figure below February's
            fill.cells[key] = fill.cells[key] / 2
        for r, c in [(r, c) for (r, c) in fill.cells if c == COL["本月完成"]]:
            del fill.cells[(r, c)]
        templates.write_filled(fill, tmp_path / "三月.xlsx")

        third = rounds.upload("湖塘镇", tmp_path / "三月.xlsx")
        if ahead:
            rounds.coming.append(third)
        assert rounds.run(("湖塘镇", tmp_path / "二月.xlsx", february), ("牛塘镇", 2)) == [
            "accepted", "accepted",
        ]  # fmt: skip
        begun = [f[0] for call in rounds.checkers._ahead for f in call.files]
        assert begun == ([third.file.resolve()] if ahead else [])
        results = rounds.run(third, results=True)
        (march,) = results
        assert march.status == "accepted"
        assert march.worker is None  # checked by the clerk, not by a child's older copy
        lower = [p for p in march.problems if "低于上月累计" in p.message]
        assert len(lower) == len(lowered)


def test_uploads_that_come_during_a_round_are_checked_while_it_is_stored(
    portal_ws: Workspace, templates: Templates, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Once every file of a round is with a child, a free child takes the uploads that came
    meanwhile, its share of them in one call, and checks them while the clerk stores the
    round; the next round takes their results without sending the files again. Among them:
    the same bytes as a file the round accepted (a duplicate: the clerk finds it once the
    round is stored), and a sheet that ends its child (refused with that reason; the file
    begun with it is checked again on its own and accepted)."""
    from ducha.submissions.checkers import Checkers

    full = _too_full_for_a_child(tmp_path, monkeypatch)
    sent: list[list[str]] = []  # the units of the files of each call to a child
    begin = Checkers._begin
    monkeypatch.setattr(Checkers, "_begin", lambda self, sandbox, ctx, archive, files: (
        sent.append([unit for _, unit, _ in files]), begin(self, sandbox, ctx, archive, files)
    )[1])  # fmt: skip
    with _clerk_rounds(portal_ws, templates, tmp_path) as rounds:
        first = rounds.upload("湖塘镇", 1)
        later = [rounds.upload("牛塘镇", 2), rounds.upload("礼嘉镇", full),
                 rounds.upload("洛阳镇", 3), rounds.upload("湖塘镇", first.file)]  # fmt: skip
        rounds.coming.extend(later)
        assert rounds.run(first) == ["accepted"]
        assert sent == [["湖塘镇"], ["牛塘镇", "礼嘉镇"], ["洛阳镇", "湖塘镇"]]
        held = [[f[0] for f in call.files] for call in rounds.checkers._ahead]
        assert held == [
            [u.file.resolve() for u in later[:2]],
            [u.file.resolve() for u in later[2:]],
        ]
        sent.clear()
        results = rounds.run(*later, results=True)
        assert [r.status for r in results] == ["accepted", "rejected", "accepted", "duplicate"]
        assert "内存上限（100 MB）" in results[1].problems[0].message
        assert sent == [["牛塘镇"], ["礼嘉镇"]]  # the call that ended: one by one; not the other
        assert results[2].worker not in (None, os.getpid())  # as its child checked it ahead
        assert results[3].worker is None  # checked again by the clerk: a duplicate now
        assert not rounds.checkers._ahead


def test_files_begun_ahead_are_dropped_when_the_children_are_replaced(
    portal_ws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Fresh children (or a new copy of the context) take nothing checked with the copy before:
    what was begun ahead is dropped, and the next round sends the file again."""
    with _clerk_rounds(portal_ws, templates, tmp_path) as rounds:
        later = rounds.upload("牛塘镇", 2)
        rounds.coming.append(later)
        assert rounds.run(("湖塘镇", 1)) == ["accepted"]
        assert [len(call.files) for call in rounds.checkers._ahead] == [1]
        rounds.checkers.renew()
        assert not rounds.checkers._ahead
        (result,) = rounds.run(later, results=True)
        assert result.status == "accepted" and result.worker not in (None, os.getpid())


def test_a_file_that_ends_a_checking_child_is_refused_and_the_round_goes_on(
    portal_ws: Workspace, templates: Templates, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The children read under the sandbox's limit (here 100 MB over what they hold): a sheet
    that needs more ends its child, and is refused with that reason; the files around it are
    accepted, checked by fresh children with the same copy."""
    full = _too_full_for_a_child(tmp_path, monkeypatch)
    with _clerk_rounds(portal_ws, templates, tmp_path) as rounds:
        results = rounds.run(("湖塘镇", 1), ("牛塘镇", full), ("礼嘉镇", 2), ("洛阳镇", 3),
                         results=True)  # fmt: skip
        assert [r.status for r in results] == ["accepted", "rejected", "accepted", "accepted"]
        assert "内存上限（100 MB）" in results[1].problems[0].message
        assert all(r.worker not in (None, os.getpid()) for r in results[2:])


def test_the_clerk_keeps_its_context_between_holds_unless_another_process_wrote(
    portal_ws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """Between two holds of the database another process may change what the checks' context
    was loaded from: the clerk keeps its context (and the children's copy) when nothing was
    written, and loads it again when something was (here a task taken out of the year, after
    which a file's rows of that task are no longer the unit's)."""
    from multiprocessing import Pipe

    from ducha.config import load_config
    from ducha.db import connect
    from ducha.portal.clerk import Clerk

    cfg = load_config(portal_ws.config)
    (cfg.workspace.data_dir / "portal" / "spool").mkdir(parents=True)  # (the desk's)
    ours, theirs = Pipe()
    clerk = Clerk(cfg, theirs)

    def hold(unit: str, seed: int) -> dict[str, Any]:
        receipt = _one_round(clerk, templates, tmp_path, unit, seed)
        clerk._let_go()  # as when no upload follows
        return receipt

    try:
        assert hold("湖塘镇", 1)["status"] == "accepted"
        kept = clerk.context
        assert hold("牛塘镇", 2)["status"] == "accepted"
        assert clerk.context is kept  # nothing else written: the same context
        task = templates.by_unit["礼嘉镇"][0].task_id
        other = connect(portal_ws.db)  # another process's write while the clerk let go
        other.execute("UPDATE tasks SET active = false WHERE task_id = ?", [task])
        other.close()
        receipt = hold("礼嘉镇", 3)
        assert clerk.context is not kept  # loaded again
        assert any(task in p["message"] for p in receipt["problems"]), receipt["problems"]
    finally:
        clerk._end_checkers()
        ours.close()


def test_the_checking_children_are_renewed_after_their_share_of_files(
    portal_ws: Workspace, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After SANDBOX_FILES files fresh children take over (what a long-lived reader piles up
    never counts against a later file's limits), given the same copy of the context."""
    from multiprocessing import Pipe

    from ducha.config import load_config
    from ducha.portal import clerk as clerk_module

    monkeypatch.setattr(clerk_module, "SANDBOX_FILES", 2)
    cfg = load_config(portal_ws.config)
    (cfg.workspace.data_dir / "portal" / "spool").mkdir(parents=True)  # (the desk's)
    ours, theirs = Pipe()
    clerk = clerk_module.Clerk(cfg, theirs)

    def children() -> set[int]:  # (a fresh child starts when it is first given a file)
        assert clerk.checkers is not None
        return {s._process.pid for s in clerk.checkers.sandboxes if s._process is not None}

    try:
        units = ["湖塘镇", "牛塘镇", "礼嘉镇"]
        receipts = [_one_round(clerk, templates, tmp_path, units[0], 1)]
        first = children()
        receipts.append(_one_round(clerk, templates, tmp_path, units[1], 2))
        assert children() == first  # two files: still the first children
        receipts.append(_one_round(clerk, templates, tmp_path, units[2], 3))
        assert children() and not children() & first  # the third: fresh ones
        assert [r["status"] for r in receipts] == ["accepted"] * 3, receipts
    finally:
        clerk._end_checkers()
        clerk._let_go()
        ours.close()


def test_a_page_view_readies_the_checking_children_for_the_upload_that_follows(
    portal_ws: Workspace, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages' copy asked for (a unit opened its link): the clerk answers it from the checks'
    context, then gives the children their copy of that context for the month; the upload
    that follows is checked by those children without a copy made again. The pages are those
    read without the context."""
    from multiprocessing import Pipe

    from ducha.config import load_config
    from ducha.db import connect
    from ducha.portal import clerk as clerk_module
    from ducha.portal.questions import unit_pages
    from ducha.submissions.checkers import Checkers

    made: list[frozenset[Period] | None] = []
    prepare = Checkers._prepare
    monkeypatch.setattr(
        Checkers, "_prepare", lambda self, ctx, archive, periods: (
            made.append(periods), prepare(self, ctx, archive, periods))[1],
    )  # fmt: skip
    cfg = load_config(portal_ws.config)
    (cfg.workspace.data_dir / "portal" / "spool").mkdir(parents=True)  # (the desk's)
    ours, theirs = Pipe()
    clerk = clerk_module.Clerk(cfg, theirs)
    try:
        clerk.questions.append((7, ("pages", str(PERIOD))))
        clerk._with_database([], [])
        kind, number, ok, pages = ours.recv()
        assert (kind, number, ok) == ("reply", 7, True)
        assert made == [frozenset({PERIOD})]  # the children's copy, for the month viewed
        assert clerk.checkers is not None and clerk.checkers.context is clerk.context
        children = {s._process.pid for s in clerk.checkers.sandboxes}
        con = connect(portal_ws.db)
        try:
            assert pages == unit_pages(cfg, con, PERIOD)  # as read without it
        finally:
            con.close()
        assert "湖塘镇" in pages and pages["湖塘镇"]["tasks"]
        receipt = _one_round(clerk, templates, tmp_path, "湖塘镇", 1)
        assert receipt["status"] == "accepted", receipt
        assert made == [frozenset({PERIOD})]  # no copy made again for the upload
        assert {s._process.pid for s in clerk.checkers.sandboxes} == children
    finally:
        clerk._end_checkers()
        clerk._let_go()
        ours.close()


def test_the_clerk_has_the_children_begin_uploads_announced_during_a_round(
    portal_ws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """While the clerk checks a round, the desk announces another upload: the clerk takes the
    message, a child begins the file, and the clerk's next round (at once: the upload is
    named) stores it with the child's result."""
    from multiprocessing import Pipe

    from ducha.config import load_config
    from ducha.portal.clerk import Clerk
    from ducha.portal.desk import read_upload

    cfg = load_config(portal_ws.config)
    (cfg.workspace.data_dir / "portal" / "spool").mkdir(parents=True)  # (the desk's)
    ours, theirs = Pipe()
    clerk = Clerk(cfg, theirs)
    try:
        first, second = (_spooled(clerk, templates, tmp_path, unit, seed)
                         for unit, seed in (("湖塘镇", 1), ("牛塘镇", 2)))  # fmt: skip
        ours.send(("wake", [second.id]))  # (as the desk does when it keeps an upload)
        clerk._with_database([first], [])
        assert first.receipt()["status"] == "accepted"
        assert clerk.waiting == {second.id}
        assert clerk.checkers is not None
        begun = [f[0] for call in clerk.checkers._ahead for f in call.files]
        assert begun == [second.file.resolve()]
        assert clerk._pending_uploads() == [read_upload(clerk.spool, second.id)]
        clerk._with_database(clerk._pending_uploads(), [])
        assert second.receipt()["status"] == "accepted"
        assert not clerk.checkers._ahead and not clerk.waiting
    finally:
        clerk._end_checkers()
        clerk._let_go()
        ours.close()


def test_the_clerk_gives_way_to_a_process_that_waits_for_the_database(
    portal_ws: Workspace, templates: Templates, tmp_path: Path
) -> None:
    """While another ducha process waits for the database (its mark beside it), the clerk
    does not open it, though uploads wait: it let go for that process, which must get it;
    the uploads are stored once the process is done."""
    from multiprocessing import Pipe

    from ducha.config import load_config
    from ducha.portal.clerk import Clerk
    from ducha.portal.desk import Busy

    cfg = load_config(portal_ws.config)
    (cfg.workspace.data_dir / "portal" / "spool").mkdir(parents=True)  # (the desk's)
    ours, theirs = Pipe()
    clerk = Clerk(cfg, theirs)
    waiter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    mark = portal_ws.db.with_name(f"{portal_ws.db.name}.waiting-{waiter.pid}")
    try:
        upload = _spooled(clerk, templates, tmp_path, "湖塘镇", 1)
        mark.touch()  # (as ducha.db.connect leaves it while it waits)
        with pytest.raises(Busy):
            clerk._with_database([upload], [])
        assert clerk.con is None and upload.receipt() is None
        mark.unlink()  # the other process has the database, and is done with it
        clerk._with_database([upload], [])
        assert upload.receipt()["status"] == "accepted"
    finally:
        waiter.kill()
        waiter.wait()
        mark.unlink(missing_ok=True)
        clerk._end_checkers()
        clerk._let_go()
        ours.close()


def _spooled(clerk: Any, templates: Templates, tmp_path: Path, unit: str, seed: int) -> Any:
    """A filled template kept in the clerk's spool as the desk keeps an upload."""
    from ducha.portal.desk import read_upload

    made = tmp_path / f"{unit}-{seed}.xlsx"
    templates.write_filled(templates.fill(unit, random.Random(seed)), made)
    place = clerk.spool / f"20260401000000-{seed:012x}"
    place.mkdir(parents=True)
    shutil.copy(made, place / "表.xlsx")
    meta = {"unit": unit, "period": str(PERIOD), "file": "表.xlsx",
            "received_at": datetime.now(UTC).isoformat()}  # fmt: skip
    (place / "upload.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return read_upload(clerk.spool, place.name)


def _too_full_for_a_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sheet of a million numbers, and children allowed 100 MB over what they hold: reading
    it ends the child."""
    import xlsxwriter

    full = tmp_path / "满表.xlsx"
    book = xlsxwriter.Workbook(str(full))
    sheet = book.add_worksheet("进展表")
    for r in range(5000):
        sheet.write_row(r, 0, [r * 1000 + c + 0.5 for c in range(200)])
    book.close()
    monkeypatch.setenv("DUCHA_READ_MEMORY_MB", "100")
    return full


def _one_round(clerk: Any, templates: Templates, tmp_path: Path, unit: str, seed: int) -> Any:
    """One upload of a filled template through the clerk's round; its receipt."""
    from ducha.portal.desk import Upload

    made = tmp_path / f"{unit}-{seed}.xlsx"
    templates.write_filled(templates.fill(unit, random.Random(seed)), made)
    place = clerk.spool / f"20260401000000-{seed:012x}"
    place.mkdir(parents=True)
    file = Path(shutil.copy(made, place / "表.xlsx"))
    upload = Upload(place.name, place, file, unit, PERIOD, datetime.now(UTC))
    clerk._with_database([upload], [])
    return json.loads(upload.receipt_path.read_text(encoding="utf-8"))


@dataclass
class _Rounds:
    """The clerk's rounds of one hold, as ducha.portal.clerk runs them."""

    cfg: Any
    con: Any
    checkers: Any
    upload: Callable[..., Any]  # (unit, seed: a filled template | a file [, period]) -> Upload
    # run(*uploads): one round; each an Upload or what `upload` takes; their statuses in order
    # (results=True: the results themselves)
    run: Callable[..., list[Any]]
    # uploads that come while a round is checked (the clerk's spool): the children begin them
    coming: list[Any]


@contextmanager
def _clerk_rounds(portal_ws: Workspace, templates: Templates, tmp_path: Path) -> Iterator[_Rounds]:
    from ducha.config import load_config
    from ducha.db import connect
    from ducha.portal.clerk import checks_context
    from ducha.portal.desk import Upload
    from ducha.submissions.checkers import Checkers
    from ducha.submissions.ingest import ingest, memory_limit

    cfg = load_config(portal_ws.config)
    folder = tmp_path / "spool"
    con = connect(portal_ws.db)
    context = checks_context(cfg, con)
    checkers = Checkers(2, memory_limit())
    coming: list[Upload] = []
    current: list[Upload] = []
    checkers.upcoming = lambda: [
        (u.file.resolve(), u.unit, u.period) for u in coming if u not in current
    ]  # fmt: skip

    def upload(unit: str, given: int | Path, period: Period = PERIOD) -> Upload:
        made = given if isinstance(given, Path) else tmp_path / f"{unit}-{given}.xlsx"
        if not made.exists():
            templates.write_filled(templates.fill(unit, random.Random(given)), made)
        place = folder / str(len(list(folder.glob("*"))) if folder.exists() else 0)
        place.mkdir(parents=True)
        file = Path(shutil.copy(made, place / "表.xlsx"))
        return Upload(place.name, place, file, unit, period, datetime.now(UTC))

    def run(*sent: Any, results: bool = False) -> list[Any]:
        uploads = [s if isinstance(s, Upload) else upload(*s) for s in sent]
        current[:] = uploads
        by_file = {u.file: u for u in uploads}
        found = ingest(
            con, list(by_file), register=cfg.units, workspace=cfg.code,
            archive_dir=cfg.workspace.archive_dir,
            unit={p: u.unit for p, u in by_file.items()},
            period={p: u.period for p, u in by_file.items()},
            received_at=lambda p: by_file[p].received_at, context=context, checkers=checkers,
        )  # fmt: skip
        coming[:] = [u for u in coming if u not in uploads]
        ordered = sorted(found, key=lambda r: uploads.index(by_file[r.path]))
        return ordered if results else [r.status for r in ordered]

    try:
        yield _Rounds(cfg, con, checkers, upload, run, coming)
    finally:
        checkers.close()
        con.close()
