"""The clerk: the one process that opens the database for the portal.

The web server (ducha.portal.app, ducha.portal.desk) never touches DuckDB; it keeps what arrives
on disk and asks the clerk over a pipe. The clerk is a process of its own so that checking files
(the same code as `ducha ingest`) and answering web requests do not wait for one another's turn
at Python's global lock. It opens the database for a moment when there is something to do and
closes it again, so flows, `ducha ingest` and `ducha evaluate` keep working while the portal runs:

* uploads (spool/<id>/, kept by the desk before anything else happens): every waiting one is
  checked in one ingest run, each held to the unit and period of its link and received at the
  server's time of upload; `receipt.json` is written beside it and the desk is told. The files
  are read and checked by children, one per core, each with a copy of the checks' context
  (ducha.submissions.checkers.Checkers, under the sandbox's limits), while the clerk stores
  them: on deadline day the clerk alone would be the slowest step. Uploads announced while a
  round is checked are begun by the children that are free, and checked while the clerk
  stores the round (the next round takes their results: a deadline-day run 5 % shorter);
* evidence: archived under its SHA-256 and listed;
* the audit: the desk's closed event files (events-*.ready) go into `portal_events`;
* questions from the desk (ducha.portal.questions): the units' pages of a period, a unit's
  template, the dashboard's views.

When another process holds the database, questions are answered "busy" at once (the pages show
their last copy) and the uploads wait in the spool; the clerk tries again half a second later.
A spooled upload without a receipt is taken up again when the clerk starts, and the clerk stops
when the web server's end of the pipe closes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
import traceback
from contextlib import suppress
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ducha.config import Config
from ducha.periods import Period
from ducha.portal.desk import EVENT_COLUMNS, Busy, Upload, read_upload
from ducha.portal.questions import answer

if TYPE_CHECKING:
    from ducha.submissions.checkers import Checkers
    from ducha.submissions.checking import Context

IDLE_SECONDS = 2.0  # how often the clerk looks at the spool when nobody calls it
OPEN_WAIT = 1.0  # seconds it waits for another process's lock before answering "busy"
RETRY_SECONDS = 0.5
LINGER_SECONDS = 0.5  # how long the clerk keeps the database open for more work to come
HOLD_SECONDS = 10.0  # the longest it keeps the database open at a time
# files the checking children check before fresh ones take over: a child's address space
# grows by about 1 MB per 100 files (measured on the portal bench), so 5,000 files leave a
# later file nearly all of its budget; renewing every 500 cost 6 % of a deadline-day run
SANDBOX_FILES = 5000
SANDBOX_IDLE_SECONDS = 60.0  # the checking children end after this long without a use
FAILED_SECONDS = 10.0  # after an error that is not the database being busy (logged)


def serve(cfg: Config, conn: Connection) -> None:
    """The clerk's process: until the web server stops it or goes away."""
    with suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group
        _import_what_it_uses()
        Clerk(cfg, conn).run()


def _import_what_it_uses() -> None:
    """What the clerk's work imports (about 0.7 s), imported when it starts: not on the first
    page view or upload, which would wait for it."""
    import pyarrow  # noqa: F401 - the audit's events

    import ducha.portal.overview  # noqa: F401
    import ducha.submissions.ingest  # noqa: F401
    import ducha.submissions.receipts  # noqa: F401
    import ducha.submissions.templates  # noqa: F401


class Clerk:
    def __init__(self, cfg: Config, conn: Connection) -> None:
        self.cfg, self.conn = cfg, conn
        self.root = cfg.workspace.data_dir / "portal"
        self.spool = self.root / "spool"
        self.waiting = {f.name for f in self.spool.iterdir() if f.is_dir()}  # restart: all
        self.uploads: dict[str, Upload] = {}  # those waiting, as read from the spool
        self.checking: set[str] = set()  # the uploads of the round being checked
        self.questions: list[tuple[int, tuple[Any, ...]]] = []
        self.stopping = False
        self.checkers: Checkers | None = None  # kept while uploads keep coming
        self.checked_files = 0
        self.last_use = 0.0
        self.con: Any = None  # the database, while the clerk holds it
        # the checks' context (tasks, accepted files): kept for as long as nobody else changes
        # what it is loaded from (ducha.portal.clerk.context_version), checked once per hold
        self.context: Context | None = None
        self.version: Any = None  # what it was loaded from, when the clerk last let go
        self.verified = False  # checked against the database held now
        self.opened = 0.0

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._let_go()
            self._end_checkers()

    def _run(self) -> None:
        while not self.stopping:
            # (uploads already named: taken while the round before was checked)
            self._listen(
                0 if self.waiting else IDLE_SECONDS if self.con is None else LINGER_SECONDS
            )
            uploads = self._pending_uploads()
            events = sorted(self.root.glob("events-*.ready"))
            if time.monotonic() - self.last_use > SANDBOX_IDLE_SECONDS:
                self._end_checkers()
            if not (uploads or self.questions or events):
                self._let_go()  # nothing more came: the database is free again
                continue
            try:
                self._with_database(uploads, events)
            except Exception as exc:  # noqa: BLE001 - the uploads stay in the spool for later
                if not isinstance(exc, Busy):
                    traceback.print_exc(file=sys.stderr)
                    self.context = None  # it may hold what a failed transaction did not store
                self._let_go()
                for number, _ in self.questions:
                    self._reply(number, False, "busy")
                self.questions = []
                self._listen(RETRY_SECONDS if isinstance(exc, Busy) else FAILED_SECONDS)

    def _listen(self, seconds: float) -> None:
        """Take what the desk sent: wait up to `seconds` for the first message, then take every
        message already there."""
        try:
            ready = self.conn.poll(seconds)
            while ready:
                message = self.conn.recv()
                if message[0] == "stop":
                    self.stopping = True
                elif message[0] == "ask":
                    self.questions.append((message[1], message[2]))
                elif message[0] == "wake":
                    self.waiting.update(message[1])
                ready = self.conn.poll(0)
        except (EOFError, OSError):  # the web server is gone
            self.stopping = True

    def _reply(self, number: int, ok: bool, value: Any) -> None:
        try:
            self.conn.send(("reply", number, ok, value))
        except (OSError, BrokenPipeError):
            self.stopping = True

    def _pending_uploads(self) -> list[Upload]:
        found = []
        for name in sorted(self.waiting):
            upload = self.uploads.get(name) or read_upload(self.spool, name)
            if upload is None or upload.receipt_path.exists():
                self.waiting.discard(name)
                self.uploads.pop(name, None)
            else:
                self.uploads[name] = upload  # (read once: the desk never changes it)
                found.append(upload)
        return found

    def _database(self) -> Any:
        """The open database: opened now, or kept from the round before. Not opened while
        another ducha process waits for it (ducha.db.others_waiting): the clerk let go for it,
        and would otherwise take it again before that process's next try, round after round
        while uploads keep coming."""
        from ducha.db import DatabaseBusy, connect, others_waiting

        if self.con is None:
            if others_waiting(self.cfg.workspace.db_path):
                raise Busy
            try:
                self.con = connect(self.cfg.workspace.db_path, wait=OPEN_WAIT)
            except DatabaseBusy:
                raise Busy from None
            self.opened, self.verified = time.monotonic(), False
        return self.con

    def _let_go(self) -> None:
        """Close the database; what the context was loaded from is noted first, so that the
        next hold keeps it if nobody else changed the tasks or the submissions meanwhile."""
        if self.con is not None:
            con, self.con = self.con, None
            if self.context is not None and self.verified:  # (else the note from before)
                try:
                    self.version = context_version(con)
                except Exception:  # noqa: BLE001 - a broken connection: loaded again next time
                    self.context = None
            con.close()

    def _with_database(self, uploads: list[Upload], events: list[Path]) -> None:
        """One round. After checking uploads the database stays open for the next round while
        uploads keep coming (opening and closing it costs more than checking a file), but never
        longer than HOLD_SECONDS at a time, and not a moment once another ducha process waits
        for it (ducha.db.others_waiting); after anything else it is closed at once."""
        from ducha.db import others_waiting

        con = self._database()
        try:
            self._work(con, uploads, events)
        finally:
            held = time.monotonic() - self.opened
            streaming = any(u.task_id is None for u in uploads)  # only uploads keep it open
            if not streaming or held > HOLD_SECONDS or others_waiting(self.cfg.workspace.db_path):
                self._let_go()

    def _work(self, con: Any, uploads: list[Upload], events: list[Path]) -> None:
        reports = [u for u in uploads if u.task_id is None]
        # a unit's page viewed (its copy asked for): its upload is likely to follow
        viewed = {Period.parse(q[1]) for _, q in self.questions if q[0] == "pages"}
        if reports or viewed:
            self._keep_context(con)  # (the pages show its tasks)
            checkers = self._checkers(len(reports))  # (started now, in the background)
        if reports:  # all at once: one transaction (in tens, 10-20 % slower)
            self.checking = {u.id for u in reports}
            try:
                self._answered(check_uploads(self.cfg, con, reports, checkers, self.context))
            finally:
                self.checking = set()
        evidence = [u for u in uploads if u.task_id is not None and u.request is None]
        if evidence:
            self._answered(store_evidence(self.cfg, con, evidence))
        requests = [u for u in uploads if u.request is not None]
        if requests:
            self._answered(store_requests(self.cfg, con, requests))
        questions, self.questions = self.questions, []
        for number, question in questions:
            try:
                self._reply(number, True, answer(self.cfg, con, question, self.context))
            except Exception:  # noqa: BLE001 - logged; the page says it cannot show it now
                traceback.print_exc(file=sys.stderr)
                self._reply(number, False, "failed")
        for path in events:
            flush_events(con, path)
        if viewed and self.context is not None:  # the answers first: the pages wait for them
            # the children given their copy now, not when the first upload has come
            checkers.ready(self.context, self.cfg.workspace.archive_dir, frozenset(viewed))

    def _keep_context(self, con: Any) -> None:
        """The checks' context for this hold: the one from before if what it was loaded from
        is unchanged (the tasks and submissions: another process may have changed them while
        the clerk let go), else loaded again (about a second with its copies for the
        children, per hold when every hold loaded it)."""
        if self.context is not None and not self.verified:
            if self.version is not None and context_version(con) == self.version:
                self.context.con = con
            else:
                self.context = None
        if self.context is None:
            self.context = checks_context(self.cfg, con)
        self.verified = True

    def _answered(self, answered: list[str]) -> None:
        self.waiting.difference_update(answered)
        for name in answered:
            self.uploads.pop(name, None)
        if answered:
            try:
                self.conn.send(("answered", answered))
            except (OSError, BrokenPipeError):
                self.stopping = True

    def _checkers(self, files: int) -> Checkers:
        """The children that read and check the uploads (ducha.submissions.checkers.Checkers),
        one per core, for `files` files now (0: soon): kept between rounds (starting them and
        giving them the context costs more than checking a file) until SANDBOX_IDLE_SECONDS
        pass without a use, replaced after SANDBOX_FILES files so that what a long-lived
        reader piles up never counts against a later file's limits."""
        from ducha.submissions.checkers import Checkers
        from ducha.submissions.ingest import memory_limit

        if self.checkers is not None and self.checked_files + files > SANDBOX_FILES:
            self.checkers.renew()
            self.checked_files = 0
        if self.checkers is None:
            self.checkers = Checkers(checker_count(), memory_limit())
            self.checkers.upcoming = self._upcoming
            self.checkers.start()
        self.checked_files += files
        self.last_use = time.monotonic()
        return self.checkers

    def _upcoming(self) -> list[tuple[Path, str | None, Period | None]]:
        """The reports uploaded since the round being checked began, oldest first: the
        checking children begin them while the clerk stores the round."""
        self._listen(0)
        coming = [
            u for u in self._pending_uploads() if u.id not in self.checking and u.task_id is None
        ]  # fmt: skip
        coming.sort(key=lambda u: u.received_at)
        return [(u.file.resolve(), u.unit, u.period) for u in coming]

    def _end_checkers(self) -> None:
        if self.checkers is not None:
            self.checkers.close()
            self.checkers, self.checked_files = None, 0


def checker_count() -> int:
    """How many children check uploads: one per core the clerk may use, up to four."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, 4))


def context_version(con: Any) -> tuple[Any, ...]:
    """What the checks' context is loaded from, summed up (sql/submissions/context_version.sql):
    equal versions, the same context."""
    from ducha.db import sql

    return tuple(con.sql(sql("submissions/context_version")).fetchall()[0])


def checks_context(cfg: Config, con: Any) -> Context:
    """What the checks need, for every unit: kept while the clerk holds the database."""
    from ducha.submissions.checking import Context

    context = Context(cfg.code, cfg.units, con=con, given=("本链接的单位", "本链接的报送期"))
    context.load_accepted()
    return context


def check_uploads(
    cfg: Config, con: Any, pending: list[Upload], checkers: Checkers, context: Context
) -> list[str]:
    """The same checks as `ducha ingest`, every waiting file in one run (one transaction per
    batch), each held to the unit and period of the link it came through and received when the
    server received it; the uploads answered. `context`: kept from an earlier round while the
    database stayed open; `checkers` read and check the files with a copy of it."""
    from ducha.submissions.ingest import ingest
    from ducha.submissions.receipts import render_receipt

    ws = cfg.workspace
    by_file = {u.file.resolve(): u for u in pending}
    results = ingest(
        con, list(by_file), register=cfg.units, workspace=cfg.code,
        archive_dir=ws.archive_dir, timezone=cfg.schedule.timezone,
        unit={path: u.unit for path, u in by_file.items()},
        period={path: u.period for path, u in by_file.items()},
        received_at=lambda path: (by_file.get(path) or by_file[path.resolve()]).received_at, context=context,
        checkers=checkers,
    )  # fmt: skip
    answered = []
    for result in results:
        upload = by_file.get(result.path) or by_file[result.path.resolve()]
        text = result.receipt or render_receipt(result)  # rendered when it was stored
        receipt = result.to_dict() | {"file": upload.file.name, "text": text}
        _write_receipt(upload, receipt)
        answered.append(upload.id)
    return answered


def store_evidence(cfg: Config, con: Any, pending: list[Upload]) -> list[str]:
    """Evidence archived under its SHA-256 and listed; the same file for the same task again
    is noted as already received."""
    for upload in pending:
        evidence_id, known, size = _archive_evidence(cfg, con, upload)
        _write_receipt(upload, {
            "status": "duplicate" if known else "accepted", "evidence": True,
            "task_id": upload.task_id, "file": upload.file.name, "bytes": size,
            "problems": [],
        })  # fmt: skip
    return [u.id for u in pending]


def _archive_evidence(cfg: Config, con: Any, upload: Upload) -> tuple[int, bool, int]:
    """(evidence id, whether it was there already, bytes) of the upload's file as evidence."""
    folder = cfg.workspace.archive_dir / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    data = upload.file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    kept = folder / f"{digest}{upload.file.suffix.lower()}"
    if not kept.exists():
        shutil.copyfile(upload.file, kept)
    key = [upload.unit, str(upload.period), upload.task_id, digest]
    known = con.execute(
        "SELECT min(evidence_id) FROM evidence WHERE unit = ? AND period = ? AND task_id = ? "
        "AND sha256 = ?", key,
    ).fetchall()[0][0]  # fmt: skip
    if known is not None:
        return known, True, len(data)
    added = con.execute(
        "INSERT INTO evidence (unit, period, task_id, file_name, sha256, bytes, archive_path, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING evidence_id",
        [*key[:3], upload.file.name, digest, len(data), str(kept), upload.received_at],
    ).fetchall()[0][0]  # fmt: skip
    return added, False, len(data)


def store_requests(cfg: Config, con: Any, pending: list[Upload]) -> list[str]:
    """申请延期 / 申请销号 recorded as pending (a 销号's file archived as evidence first); the
    receipt names the request's number."""
    from ducha.db import sql, transaction

    for upload in pending:
        asked = upload.request or {}
        with transaction(con):
            evidence_id = None
            if asked.get("kind") == "signoff":
                evidence_id, _, _ = _archive_evidence(cfg, con, upload)
            request_id = con.execute(sql("dashboard/add_request"), {
                "unit": upload.unit, "period": str(upload.period), "task_id": upload.task_id,
                "kind": asked.get("kind"), "new_date": asked.get("new_date"),
                "reason": asked.get("reason", ""), "evidence_id": evidence_id,
                "requested_at": upload.received_at,
            }).fetchall()[0][0]  # fmt: skip
        _write_receipt(upload, {
            "status": "accepted", "request": True, "request_id": request_id,
            "task_id": upload.task_id, "kind": asked.get("kind"),
            "new_date": asked.get("new_date"), "file": upload.file.name, "problems": [],
        })  # fmt: skip
    return [u.id for u in pending]


def _write_receipt(upload: Upload, receipt: dict[str, Any]) -> None:
    tmp = upload.receipt_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(receipt, ensure_ascii=False), encoding="utf-8")
    tmp.replace(upload.receipt_path)


def flush_events(con: Any, path: Path) -> None:
    """A closed event file into portal_events, in one statement (a line cut off by a crash is
    left out), then removed."""
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_COLUMNS}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
            row = (datetime.fromisoformat(e["at"]), e["action"], e["unit"], e["period"],
                   e["address"], e["detail"], e.get("user"))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue
        for name, value in zip(EVENT_COLUMNS, row, strict=True):
            columns[name].append(value)
    if columns["happened_at"]:  # executemany would cost a statement per row
        import pyarrow as pa

        events = pa.table(columns)  # noqa: F841 - read by name in the statement below
        names = ", ".join(EVENT_COLUMNS)
        con.execute(f"INSERT INTO portal_events ({names}) SELECT {names} FROM events")
    path.unlink()
