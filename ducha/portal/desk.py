"""The portal's front desk, in the web server's process: what arrives is kept on disk at once,
and the clerk (ducha.portal.clerk, a process of its own, the only one of the portal that opens
the database) is asked for the rest.

DuckDB lets one process write a file at a time, and the flows, `ducha ingest` and `ducha
evaluate` must keep working while the portal runs; checking files and serving pages must not
wait for one another's turn at Python's global lock either. So:

* An upload is first written to the spool (data/portal/spool/<id>/: the file as received and
  `upload.json` with unit, period and the server's time of receipt), then the clerk is told. The
  clerk checks every waiting upload at once with the same code as `ducha ingest` and writes
  `receipt.json` beside each; the desk hears which are answered. The receipt page waits a few
  seconds for it; if a flow holds the database meanwhile, the page says 已收到，正在核验 and
  refreshes itself until the receipt is there. Nothing is lost: a spooled upload without a
  receipt is taken up again when the clerk (re)starts.
* Page views, downloads and uploads are audit events appended to data/portal/events.jsonl;
  every second at most that file is closed (events-<n>.ready) and the clerk writes it to the
  `portal_events` table (the first view of a unit's link for a period is its 已读).
* What a unit's page shows (its tasks, the deadline) is asked of the clerk and kept by the app:
  while the database is busy the page shows the last copy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import suppress
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
SPOOL_ID = re.compile(r"\d{14}-[0-9a-f]{12}")
EVENT_COLUMNS = ("happened_at", "action", "unit", "period", "address", "detail", "user_name")
_EVENTS_EVERY = 1.0  # seconds: how often the event file is handed to the clerk


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
    request: dict[str, Any] | None = None  # a request (kind, new_date, reason) on task_id

    @property
    def receipt_path(self) -> Path:
        return self.folder / "receipt.json"

    def receipt(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.receipt_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None


def read_upload(spool: Path, upload_id: str) -> Upload | None:
    """The spooled upload of that id (None: no such upload, or not an id)."""
    if not SPOOL_ID.fullmatch(upload_id):
        return None
    folder = spool / upload_id
    try:
        meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return Upload(upload_id, folder, folder / meta["file"], meta["unit"],
                  Period.parse(meta["period"]), datetime.fromisoformat(meta["received_at"]),
                  meta.get("task_id"), meta.get("request"))  # fmt: skip


class Busy(Exception):
    """The database is held by another process (a flow run, `ducha ingest` …), or the clerk
    could not answer in time."""


class Desk:
    """The web server's side: the spool, the audit file, and the line to the clerk."""

    def __init__(self, cfg: Config, now: Callable[[], datetime]) -> None:
        self.cfg = cfg
        self.now = now
        self.root = cfg.workspace.data_dir / "portal"
        self.spool = self.root / "spool"
        self.events_path = self.root / "events.jsonl"
        self._lock = threading.Lock()  # the pipe, the replies, the event file
        self._replies: dict[int, Reply] = {}
        self._numbers = itertools.count(1)
        self._answered: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}  # receipt pages waiting
        self._events: Any = None  # the open event file
        self._handing: threading.Timer | None = None
        self._process: Any = None
        self._conn: Any = None
        self.spool.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ the clerk

    def start(self) -> None:
        self._hand_over_events()  # what a stopped portal left behind
        with self._lock:
            self._start_clerk()

    def _start_clerk(self) -> None:
        import multiprocessing

        from ducha.portal.clerk import serve

        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        # not a daemon (it starts the sandbox's children); it ends when this end of the pipe
        # closes, even if this process is killed
        process = context.Process(target=serve, args=(self.cfg, theirs), name="ducha-portal-clerk")
        process.start()
        theirs.close()
        self._process, self._conn = process, ours
        threading.Thread(target=self._listen, args=(ours,), name="ducha-portal-desk",
                         daemon=True).start()  # fmt: skip

    def stop(self) -> None:
        self._hand_over_events()
        with self._lock:
            if self._conn is not None:
                with suppress(OSError):
                    self._conn.send(("stop",))
            process = self._process
        if process is not None:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()

    def _send(self, message: tuple[Any, ...]) -> None:
        """To the clerk; a clerk that died (a bug, a kill) is started again first."""
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start_clerk()
            try:
                self._conn.send(message)
            except OSError:
                self._start_clerk()
                self._conn.send(message)

    def _listen(self, conn: Any) -> None:
        """The clerk's answers, until its end of the pipe closes."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "answered":
                with self._lock:
                    self._answered.update(message[1])
                    woken = [f for i in message[1] for f in self._waiters.pop(i, [])]
                for future in woken:
                    with suppress(RuntimeError):  # its loop closed: the server is stopping
                        future.get_loop().call_soon_threadsafe(_wake, future)
            elif message[0] == "reply":
                _, number, ok, value = message
                with self._lock:
                    reply = self._replies.pop(number, None)
                if reply is not None:
                    reply.ok, reply.value = ok, value
                    reply.done.set()
        with self._lock:  # whoever still waits on this clerk hears "busy"
            waiting, self._replies = self._replies, {}
        for reply in waiting.values():
            reply.done.set()

    def ask(self, question: tuple[Any, ...], seconds: float) -> Any:
        """The clerk's answer (ducha.portal.questions.answer); Busy when the database stays held
        or no answer comes within `seconds` (a late answer is dropped)."""
        number, reply = self._ask(question)
        if not reply.done.wait(seconds) or not reply.ok:
            with self._lock:
                self._replies.pop(number, None)
            raise Busy
        return reply.value

    def asked(self, question: tuple[Any, ...]) -> Reply:
        """The question sent to the clerk; its answer comes when it comes (Reply.done), also
        to an asker that stopped waiting for it."""
        return self._ask(question)[1]

    def _ask(self, question: tuple[Any, ...]) -> tuple[int, Reply]:
        reply = Reply()
        with self._lock:
            number = next(self._numbers)
            self._replies[number] = reply
        self._send(("ask", number, question))
        return number, reply

    def answered(self, upload: Upload) -> bool:
        """Whether the upload's receipt is there (told by the clerk, or from before)."""
        with self._lock:
            if upload.id in self._answered:
                return True
        return upload.receipt_path.exists()

    async def wait_answered(self, upload: Upload, seconds: float) -> bool:
        """Wait up to `seconds` for the upload's receipt, woken when the clerk says it is
        there (no polling: fifty pages waiting at once cost nothing meanwhile)."""
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            if upload.id in self._answered:
                return True
            self._waiters.setdefault(upload.id, []).append(future)
        try:
            if upload.receipt_path.exists():  # answered before this process started
                return True
            with suppress(TimeoutError):
                await asyncio.wait_for(future, seconds)
            return self.answered(upload)
        finally:
            with self._lock:
                waiting = self._waiters.get(upload.id, [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._waiters.pop(upload.id, None)

    # ------------------------------------------------------------------ what arrives

    def spool_upload(
        self,
        unit: str,
        period: Period,
        name: str,
        data: bytes,
        task_id: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> Upload:
        """Keep an upload (a report, evidence for `task_id`, or a `request` on it with its
        evidence or its own text as the file) before anything else happens."""
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
            "request": request,
        }
        (folder / "upload.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        self._send(("wake", [upload_id]))
        return Upload(upload_id, folder, file, unit, period, received, task_id, request)

    def upload(self, upload_id: str) -> Upload | None:
        return read_upload(self.spool, upload_id)

    def event(self, action: str, unit: str | None, period: Period | None, address: str,
              detail: str = "", user: str | None = None) -> None:  # fmt: skip
        """An audit event, kept at once in events.jsonl and handed to the clerk within a
        second. `user`: the dashboard's account that acted (None: a unit's link)."""
        line = json.dumps(
            {"at": self.now().isoformat(), "action": action, "unit": unit,
             "period": str(period) if period else None, "address": address[:64],
             "detail": detail[:200], "user": user},
            ensure_ascii=False,
        )  # fmt: skip
        with self._lock:
            if self._events is None:
                self._events = self.events_path.open("a", encoding="utf-8")
            self._events.write(line + "\n")
            self._events.flush()
            if self._handing is None:
                self._handing = threading.Timer(_EVENTS_EVERY, self._hand_over_events)
                self._handing.daemon = True
                self._handing.start()

    def _hand_over_events(self) -> None:
        """events.jsonl closed and renamed for the clerk (events-<n>.ready)."""
        with self._lock:
            self._handing = None
            if self._events is not None:
                self._events.close()
                self._events = None
            if not self.events_path.exists() or not self.events_path.stat().st_size:
                return
            self.events_path.replace(self.root / f"events-{time.time_ns()}.ready")
        with suppress(OSError):
            if self._process is not None:
                self._send(("wake", []))


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Reply:
    """The clerk's answer to a question, once `done`: `value` if `ok`, else it was busy."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None


class PageCopies:
    """Every unit's page data of a period, read from the clerk (`ask`: the question sent, its
    Reply) once for all units and kept for `fresh` seconds; one read at a time (fifty first
    views at once wait for one copy). A view waits up to `wait` seconds for the copy. When the
    clerk answers later than that (a large round of uploads before the question), the question
    is not asked again: the next view waits for the same answer, which is kept when it comes.
    Asked anew every time, the clerk would read the pages once per view that gave up, while
    uploads wait."""

    def __init__(self, ask: Callable[[str], Reply], fresh: float, wait: float) -> None:
        self.ask, self.fresh, self.wait = ask, fresh, wait
        self._copies: dict[str, tuple[float, dict[str, Any]]] = {}  # period → (read, pages)
        # period → the question out (answered late), and the period's drops when it was asked
        self._asking: dict[str, tuple[Reply, int]] = {}
        self._drops: dict[str, int] = {}
        self._reading = threading.Lock()

    def get(self, period: str) -> dict[str, Any] | None:
        """Every unit's page of the period: fresh, else read now, else the last copy (None:
        none yet, the database held or the clerk still reading)."""
        with self._reading:
            if not self.at_hand(period):
                asking = self._asking.get(period)
                if asking is None:
                    asking = self._asking[period] = (self.ask(period), self._drops.get(period, 0))
                reply, drops = asking
                if reply.done.wait(self.wait):
                    self._asking.pop(period, None)
                    if reply.ok:  # dropped since it was asked: shown, and read again next time
                        current = drops == self._drops.get(period, 0)
                        self._copies[period] = (time.monotonic() if current else -math.inf,
                                                reply.value)  # fmt: skip
            copy = self._copies.get(period)
        return copy[1] if copy else None

    def at_hand(self, period: str) -> bool:
        """Whether a fresh copy is kept (nothing to wait for)."""
        copy = self._copies.get(period)
        return copy is not None and time.monotonic() - copy[0] <= self.fresh

    def drop(self, period: str) -> None:
        """Read again at the next view (what it shows has changed); an answer to a question
        asked before is shown once, not kept."""
        self._drops[period] = self._drops.get(period, 0) + 1
        self._copies.pop(period, None)
