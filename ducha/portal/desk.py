"""The portal's one door to the database.

DuckDB lets one process write a file at a time, and the flows, `ducha ingest` and `ducha
evaluate` must keep working while the portal runs. So the portal never holds the database: one
worker thread (the desk) opens it for a moment, does what has piled up, and closes it again.

* An upload is first written to the spool (data/portal/spool/<id>/: the file as received and
  `upload.json` with unit, period and the server's time of receipt), then handed to the desk.
  The desk takes every waiting upload at once and checks them with the same code as `ducha
  ingest` (one transaction per batch, archived by SHA-256, a receipt per file), then writes
  `receipt.json` beside each. The page waits a few seconds for it; if the database is held by
  a flow meanwhile, the clerk sees 已收到，正在核验 and the page refreshes itself until the
  receipt is there. Nothing is lost: a spooled upload without a receipt is taken up again when
  the portal starts.
* Page views, downloads and uploads are audit events appended to data/portal/events.jsonl and
  written to the `portal_events` table by the desk when it has the database (the first view of
  a unit's link for a period is its 已读).
* What a unit's page shows (its tasks, the deadline) is read by the desk and kept: while the
  database is busy the page shows the last copy.
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ducha.config import Config
from ducha.periods import Period

SUFFIXES = (".xlsx", ".xls", ".csv")
# evidence (佐证材料): what its first bytes must be, by suffix; ducha never opens it
EVIDENCE_MAGIC = {
    ".pdf": (b"%PDF-",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
    ".png": (b"\x89PNG\r\n\x1a\n",), ".docx": (b"PK\x03\x04",), ".xlsx": (b"PK\x03\x04",),
    ".zip": (b"PK\x03\x04",), ".doc": (b"\xd0\xcf\x11\xe0",), ".xls": (b"\xd0\xcf\x11\xe0",),
}  # fmt: skip
_SAFE_NAME = re.compile(r"[^\w\u4e00-\u9fff.（）()\-]+")
_IDLE_SECONDS = 2.0  # how often the desk looks at the spool when nobody calls it
_OPEN_WAIT = 1.0
_EVENT_COLUMNS = (
    "happened_at",
    "action",
    "unit",
    "period",
    "address",
    "detail",
)  # seconds the desk waits for another process's lock before it tries again


def safe_file_name(
    name: str, unit: str, period: Period, suffixes: tuple[str, ...] = SUFFIXES
) -> str | None:
    """The name an upload is kept under: the clerk's name without paths or odd characters, with
    one of the suffixes allowed (the spreadsheets, or evidence); None for any other type."""
    base = Path(name.replace("\\", "/")).name
    suffix = Path(base).suffix.lower()
    if suffix not in suffixes:
        return None
    stem = _SAFE_NAME.sub("_", Path(base).stem)[:80].strip("._") or f"{unit}-{period}"
    return stem + suffix


@dataclass(frozen=True)
class Upload:
    id: str
    folder: Path
    file: Path
    unit: str
    period: Period
    received_at: datetime
    task_id: str | None = None  # evidence for this task; None: a progress report

    @property
    def receipt_path(self) -> Path:
        return self.folder / "receipt.json"

    def receipt(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.receipt_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None


class Desk:
    """The worker thread that alone opens the database for the portal."""

    def __init__(self, cfg: Config, now: Callable[[], datetime]) -> None:
        self.cfg = cfg
        self.now = now
        self.root = cfg.workspace.data_dir / "portal"
        self.spool = self.root / "spool"
        self.events_path = self.root / "events.jsonl"
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], _Reply]] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._events_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ducha-portal-desk", daemon=True)
        self._waiting: set[str] | None = None  # spool folders the desk has yet to answer
        self._new: set[str] = set()
        self.spool.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ the requests' side

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def spool_upload(
        self, unit: str, period: Period, name: str, data: bytes, task_id: str | None = None
    ) -> Upload:
        """Keep an upload (a report, or evidence for `task_id`) before anything else happens."""
        upload_id = f"{self.now():%Y%m%d%H%M%S}-{secrets.token_hex(6)}"
        folder = self.spool / upload_id
        folder.mkdir(parents=True)
        file = folder / name
        file.write_bytes(data)
        received = self.now()
        meta = {
            "unit": unit,
            "period": str(period),
            "file": name,
            "received_at": received.isoformat(),
            "task_id": task_id,
        }
        (folder / "upload.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        with self._events_lock:
            self._new.add(upload_id)
        self._wake.set()
        return Upload(upload_id, folder, file, unit, period, received, task_id)

    def upload(self, upload_id: str) -> Upload | None:
        if not re.fullmatch(r"\d{14}-[0-9a-f]{12}", upload_id):
            return None
        folder = self.spool / upload_id
        try:
            meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return Upload(upload_id, folder, folder / meta["file"], meta["unit"],
                      Period.parse(meta["period"]), datetime.fromisoformat(meta["received_at"]),
                      meta.get("task_id"))  # fmt: skip

    def event(self, action: str, unit: str | None, period: Period | None, address: str,
              detail: str = "") -> None:  # fmt: skip
        """An audit event, kept at once in events.jsonl and written to the database later."""
        line = json.dumps(
            {"at": self.now().isoformat(), "action": action, "unit": unit,
             "period": str(period) if period else None, "address": address[:64],
             "detail": detail[:200]},
            ensure_ascii=False,
        )  # fmt: skip
        with self._events_lock, self.events_path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        self._wake.set()

    def call(self, job: Callable[[Any], Any], seconds: float) -> Any:
        """Run job(connection) on the desk; raises Busy when the database stays held."""
        reply = _Reply()
        self._jobs.put((job, reply))
        self._wake.set()
        if not reply.done.wait(seconds):
            reply.abandoned = True
            raise Busy
        if reply.error is not None:
            raise reply.error
        return reply.value

    # ------------------------------------------------------------------ the desk's side

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(_IDLE_SECONDS)
            self._wake.clear()
            pending = self._pending_uploads()
            jobs = self._take_jobs()
            if not pending and not jobs and not self._has_events():
                continue
            try:
                self._with_database(pending, jobs)
            except Busy:
                for _, reply in jobs:  # the callers show what they have
                    reply.error = Busy()
                    reply.done.set()
                time.sleep(0.5)
                self._wake.set()  # try again: the uploads are still in the spool

    def _take_jobs(self) -> list[tuple[Callable[[Any], Any], _Reply]]:
        jobs = []
        while True:
            try:
                jobs.append(self._jobs.get_nowait())
            except queue.Empty:
                return [(job, reply) for job, reply in jobs if not reply.abandoned]

    def _pending_uploads(self) -> list[Upload]:
        """Uploads without a receipt: those spooled since the last look, and at the first look
        every one a stopped portal left behind."""
        if self._waiting is None:
            self._waiting = {f.name for f in self.spool.iterdir() if f.is_dir()}
        with self._events_lock:
            self._waiting |= self._new
            self._new = set()
        found = []
        for name in sorted(self._waiting):
            upload = self.upload(name)
            if upload is None or upload.receipt_path.exists():
                self._waiting.discard(name)
            else:
                found.append(upload)
        return found

    def _has_events(self) -> bool:
        return self.events_path.exists() and self.events_path.stat().st_size > 0

    def _with_database(self, pending: list[Upload], jobs: list) -> None:
        from contextlib import closing

        from ducha.db import DatabaseBusy, connect

        try:
            con = connect(self.cfg.workspace.db_path, wait=_OPEN_WAIT)
        except DatabaseBusy:
            raise Busy from None
        with closing(con):
            reports = [u for u in pending if u.task_id is None]
            if reports:
                self._check_uploads(con, reports)
            evidence = [u for u in pending if u.task_id is not None]
            if evidence:
                self._store_evidence(con, evidence)
            for job, reply in jobs:
                try:
                    reply.value = job(con)
                except Exception as exc:  # the caller gets it
                    reply.error = exc
                reply.done.set()
            self._flush_events(con)

    def _check_uploads(self, con: Any, pending: list[Upload]) -> None:
        """The same checks as `ducha ingest`, every waiting file in one run (one context, one
        transaction per batch), each held to the unit and period of the link it came through
        and received when the server received it."""
        from ducha.submissions.ingest import ingest
        from ducha.submissions.receipts import render_receipt

        ws = self.cfg.workspace
        by_file = {u.file.resolve(): u for u in pending}
        results = ingest(
            con, list(by_file), register=self.cfg.units, workspace=self.cfg.code,
            archive_dir=ws.archive_dir, timezone=self.cfg.schedule.timezone,
            unit={path: u.unit for path, u in by_file.items()},
            period={path: u.period for path, u in by_file.items()},
            received_at=lambda path: by_file[path.resolve()].received_at,
        )  # fmt: skip
        for result in results:
            upload = by_file[result.path.resolve()]
            receipt = result.to_dict() | {"file": upload.file.name, "text": render_receipt(result)}
            tmp = upload.receipt_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(receipt, ensure_ascii=False), encoding="utf-8")
            tmp.replace(upload.receipt_path)

    def _store_evidence(self, con: Any, pending: list[Upload]) -> None:
        """Evidence archived under its SHA-256 and listed; the same file for the same task again
        is noted as already received."""
        import hashlib
        import shutil

        folder = self.cfg.workspace.archive_dir / "evidence"
        folder.mkdir(parents=True, exist_ok=True)
        for upload in pending:
            data = upload.file.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            kept = folder / f"{digest}{upload.file.suffix.lower()}"
            if not kept.exists():
                shutil.copyfile(upload.file, kept)
            known = con.execute(
                "SELECT count(*) FROM evidence WHERE unit = ? AND period = ? AND task_id = ? "
                "AND sha256 = ?", [upload.unit, str(upload.period), upload.task_id, digest],
            ).fetchall()[0][0]  # fmt: skip
            if not known:
                con.execute(
                    "INSERT INTO evidence (unit, period, task_id, file_name, sha256, bytes, "
                    "archive_path, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [upload.unit, str(upload.period), upload.task_id, upload.file.name, digest,
                     len(data), str(kept), upload.received_at],
                )  # fmt: skip
            receipt = {"status": "duplicate" if known else "accepted", "evidence": True,
                       "task_id": upload.task_id, "file": upload.file.name, "bytes": len(data),
                       "problems": []}  # fmt: skip
            tmp = upload.receipt_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(receipt, ensure_ascii=False), encoding="utf-8")
            tmp.replace(upload.receipt_path)

    def _flush_events(self, con: Any) -> None:
        with self._events_lock:
            if not self._has_events():
                return
            taken = self.events_path.with_suffix(".taking")
            self.events_path.replace(taken)
        columns: dict[str, list[Any]] = {name: [] for name in _EVENT_COLUMNS}
        for line in taken.read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
                row = (datetime.fromisoformat(e["at"]), e["action"], e["unit"], e["period"],
                       e["address"], e["detail"])  # fmt: skip
            except (ValueError, KeyError, TypeError):
                continue  # a line cut off by a crash
            for name, value in zip(_EVENT_COLUMNS, row, strict=True):
                columns[name].append(value)
        if columns["happened_at"]:  # one statement: executemany costs a statement per row
            import pyarrow as pa

            events = pa.table(columns)  # noqa: F841 - read by name in the statement below
            con.execute(f"INSERT INTO portal_events SELECT {', '.join(_EVENT_COLUMNS)} FROM events")
        taken.unlink()


class Busy(Exception):
    """The database is held by another process (a flow run, `ducha ingest` …)."""


class _Reply:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
