"""The outbox: a delivery ledger that sends every notice exactly once.

Each rendered message (notice × recipient channel × part) gets an idempotency
key: period | kind | recipient | channel | part | content hash. Enqueueing
inserts only keys the ledger does not hold, so a re-run renders the same text
and adds nothing; a notice whose content changed is a new notice.

Delivery sends to several bots at once (`concurrency` in channels.yaml, default
32) but never has more than one message in flight per bot, so each bot gets its
messages in ledger order and its rate limit holds as before. Channels other than
the group bots (e-mail, other apprise URLs) go one at a time per server
(ducha.notices.channels.lane). One thread (the
caller's) owns the database; a small pool of threads only does the sending.

A message is claimed before it is sent: its row becomes `sending`, with its
attempt written, and that is committed before the channel is called. Replies
are recorded in batches: a reply waits a moment (LINGER) for the others in
flight, then they are recorded in the same commit that claims the next messages,
or on their own before any pause and after the last reply. So a message is
`sending` in the ledger from before it leaves until after its reply is
recorded, and in the ledger at most one message per bot, and at most
`concurrency` in all, is ever `sending`. A crash (kill -9) can repeat only
those: the messages in flight, or whose reply had come but was not yet
recorded; with `concurrency: 1`, at most one message. On the next run a
`sending` row is sent again (also after its last allowed attempt), because
nobody knows whether its reply came. An interruption or a database error in
this thread records the replies that came before it is raised. A message
recorded as sent is never sent again, and none is lost. Failures are retried
with exponential backoff up to `max_attempts`, and stay visible; a bot's later
messages wait behind its failed one (ledger order holds, and a bot that is down
is not called once per message). A bot is one bot however its URL is written
(ducha.notices.channels.bot_identity).
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ducha.db import let_go, opened, sql, transaction
from ducha.notices.channels import ChannelConfig, RateLimit
from ducha.notices.planning import Notice
from ducha.notices.rendering import render
from ducha.notices.secrets import Secrets, masked_url, require_sources
from ducha.notices.transports import bot_identity, lane, resolve, send_resolved, split_by_bytes

SUFFIX = {"text": ".txt", "markdown": ".md", "html": ".html"}
# Seconds a reply waits for the other messages in flight, to be recorded in one commit with
# them (a commit costs a few ms, and while it runs the senders and the database slow each other).
LINGER = 0.05
# Added to a rate-limit wait between two rounds: the next round counts the window from the
# ledger's timestamps, which may put its end a few microseconds later than this round did.
WINDOW_MARGIN = 0.01
# The longest wait before a retry, however many attempts and however long the first backoff:
# a retry later than that is no retry in a monthly cycle (and a datetime cannot hold 2**1000 s).
MAX_RETRY_DELAY = 30 * 86400.0


@dataclass
class Message:
    """One row of the ledger before it is written."""

    key: str
    notice: Notice
    channel: str
    channel_url: str | None
    body_format: str
    part: int
    parts: int
    title: str
    body: str
    content_hash: str
    bot: str | None = None
    attachment: str | None = None  # a file sent with it (e-mail only)


def messages_for(notice: Notice, period: str, channels: ChannelConfig) -> list[Message]:
    """Render a notice for each of its recipient's channels (a file when there is none)."""
    configured = channels.channels_for(notice.recipient, notice.kind)
    targets: list[tuple[str, str | None, str, int | None, str | None]] = [
        (c.name, c.url, c.format, c.byte_limit, c.bot_key) for c in configured
    ] or [("file", None, "markdown", None, None)]
    out: list[Message] = []
    for name, url, fmt, limit, bot in targets:
        body = render(notice, fmt)
        # bots show the title as the message's first line: it counts against the size limit
        room = limit - len(f"{notice.title}（99/99）\n".encode()) if limit else None
        pieces = split_by_bytes(body, room) if room else [body]
        for i, piece in enumerate(pieces, start=1):
            text = piece if len(pieces) == 1 else f"（{i}/{len(pieces)}）\n{piece}"
            title = notice.title if len(pieces) == 1 else f"{notice.title}（{i}/{len(pieces)}）"
            digest = hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:16]
            key = "|".join(
                (period, notice.kind, notice.recipient, name, f"{i}/{len(pieces)}", digest)
            )
            attach = notice.context.get("attachment") if fmt == "html" and url else None
            out.append(
                Message(
                    key, notice, name, url, fmt, i, len(pieces), title, text, digest, bot, attach
                )  # fmt: skip
            )
    return out


def enqueue(
    con: duckdb.DuckDBPyConnection, messages: list[Message], period: str, outbox_dir: Path
) -> dict[str, int]:
    """Insert the messages the ledger does not hold yet; write files for unconfigured ones."""
    if not messages:
        return {"new": 0, "known": 0}
    require_sources([m.channel_url for m in messages])  # before anything is written
    keys = [m.key for m in messages]
    known = {r[0] for r in con.sql(sql("notices/known_keys"), params={"k": keys}).fetchall()}
    fresh = [m for m in messages if m.key not in known]
    now = datetime.now()
    columns: dict[str, list[Any]] = {name: [] for name in _ENQUEUE_COLUMNS}
    for m in fresh:
        path = None
        status = "pending"
        if m.channel_url is None:
            path = _write_file(outbox_dir / period, m)
            status = "unconfigured"
        row = (m.key, period, m.notice.kind, m.notice.recipient, list(m.notice.cc), m.channel, m.channel_url,
               m.body_format, m.part, m.parts, m.title, m.body, m.content_hash, status, path,
               m.attachment)  # fmt: skip
        for name, value in zip(_ENQUEUE_COLUMNS, row, strict=True):
            columns[name].append(value)
    if fresh:
        # one statement for the batch (notices/enqueue.sql): the rows travel as list parameters
        with transaction(con):
            con.execute(sql("notices/enqueue"), {**columns, "now": now})
    return {"new": len(fresh), "known": len(known)}


# The list parameters of notices/enqueue.sql, one per column, in the order of Message rows.
_ENQUEUE_COLUMNS = ("idempotency_key", "period", "kind", "recipient", "cc", "channel", "channel_url",
                    "body_format", "part", "parts", "title", "body", "content_hash", "status", "file_path",
                    "attachment")  # fmt: skip


def _write_file(folder: Path, m: Message) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    safe = m.notice.recipient.replace("/", "／")
    suffix = "" if m.parts == 1 else f"-{m.part}"
    path = folder / f"{m.notice.kind}-{safe}{suffix}-{m.content_hash[:8]}{SUFFIX[m.body_format]}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_text(f"{m.title}\n\n{m.body}", encoding="utf-8")
        tmp.replace(path)
    return str(path)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0  # for the next run: held back by a bot's rate limit or a failed message
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claim:
    """A message taken out of the queue: `sending` in the ledger from now on."""

    notice_id: int
    attempt: int
    bot: str
    channel_url: str
    title: str
    body: str
    body_format: str
    started: datetime
    attachment: str | None = None


@dataclass(frozen=True)
class _Reply:
    claim: _Claim
    ok: bool
    error: str | None
    finished: datetime  # from `now`, for the ledger
    clock: float  # time.time() when the reply came, for the rate limiter


def deliver(
    con: duckdb.DuckDBPyConnection,
    channels: ChannelConfig,
    secrets: Secrets,
    *,
    period: str | None = None,
    max_wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = datetime.now,
    concurrency: int | None = None,
) -> DeliveryReport:
    """Send every due message: pending, failed and due for retry, or left `sending` by a crash.

    Up to `concurrency` bots at once (default: channels.concurrency), one message in flight
    per bot, each bot's messages in ledger order; this thread alone touches the database.
    `con` stays open while a bot's rate-limit window is waited for: a command that must leave
    the database to others meanwhile calls deliver_from."""
    return _deliver(lambda: nullcontext(con), channels, secrets, period=period, max_wait=max_wait,
                    sleep=sleep, now=now, concurrency=concurrency)  # fmt: skip


def deliver_from(
    path: Path,
    channels: ChannelConfig,
    secrets: Secrets,
    *,
    period: str | None = None,
    max_wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = datetime.now,
    concurrency: int | None = None,
) -> DeliveryReport:
    """deliver() on the database at `path`, open only while messages are claimed, sent and
    recorded. DuckDB locks the file for as long as a process has it open, and a rate-limit
    window can take minutes to open (20 messages a minute per bot): before sleeping one out,
    with every reply recorded and nothing in flight, the database is closed, and so is a run's
    hold on it (ducha.db.let_go: the run's later steps open it themselves), so that an ingest,
    a backup or another run can have it meanwhile; it is opened again (waiting for another
    writer as any step does, ducha.db.connect) when the window opens."""
    return _deliver(lambda: opened(path), channels, secrets, period=period, max_wait=max_wait,
                    sleep=sleep, now=now, concurrency=concurrency, release=True)  # fmt: skip


def _deliver(
    open_database: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    channels: ChannelConfig,
    secrets: Secrets,
    *,
    period: str | None,
    max_wait: float,
    sleep: Callable[[float], None],
    now: Callable[[], datetime],
    concurrency: int | None,
    release: bool = False,
) -> DeliveryReport:
    """Rounds of sending until nothing is due or only rate-limit windows are left to wait for;
    each window waited for between two rounds (the database let go when `release`), up to
    `max_wait` seconds in all. Each round reads the ledger again: what another process did
    meanwhile counts (its sends against the windows, its deliveries as done)."""
    report = DeliveryReport()
    failed_bots: set[str] = set()  # failed in this run: their later messages wait for the next
    waited = 0.0
    while True:
        with open_database() as con:
            pause = _round(con, channels, secrets, report, failed_bots, period=period,
                           budget=max_wait - waited, now=now, concurrency=concurrency)  # fmt: skip
        if pause is None:
            return report
        if release:
            let_go()
        sleep(pause)
        waited += pause


def _round(
    con: duckdb.DuckDBPyConnection,
    channels: ChannelConfig,
    secrets: Secrets,
    report: DeliveryReport,
    failed_bots: set[str],
    *,
    period: str | None,
    budget: float,
    now: Callable[[], datetime],
    concurrency: int | None,
) -> float | None:
    """Send what is due now; the seconds to wait before the next round when every bot left
    waits for its rate-limit window (every reply recorded by then), else None."""
    limiter = RateLimiter(channels.rate_limit)
    params: dict[str, Any] = {"max": channels.max_attempts, "now": now(), "period": period or None}
    due = con.sql(sql("notices/due_messages"), params=params).fetchall()
    due = [row for row in due if _bot(row[1]) not in failed_bots]  # counted as deferred already
    if not due:
        return None
    require_sources([row[1] for row in due])  # nothing is claimed when no secret can be read
    _seed_limiter(con, limiter, channels, now())
    queues: dict[str, deque[tuple]] = {}
    lanes: dict[str, str] = {}  # bot → its lane: one message in flight per lane
    for row in due:  # one queue per bot, in ledger order
        queues.setdefault(_bot(row[1]), deque()).append(row)
        lanes.setdefault(_bot(row[1]), lane(row[1]))
    width = max(1, min(concurrency or channels.concurrency, len(queues)))
    urls: dict[str, tuple[str | None, str | None]] = {}  # resolved once per round
    busy: dict[Future[_Reply], str] = {}  # in flight → its bot
    replies: list[_Reply] = []  # came in, not yet recorded
    lingered = False  # whether the replies in hand have waited for the others in flight
    pause: float | None = None
    try:
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="ducha-send") as pool:
            while queues or busy:
                for future in [f for f in busy if f.done()]:
                    del busy[future]
                    reply = future.result()
                    # counted when the reply came: the bot saw it no later than that, so the
                    # window holds on its side
                    limiter.record(reply.claim.bot, reply.clock)
                    replies.append(reply)
                    if not reply.ok:
                        failed_bots.add(reply.claim.bot)
                        if reply.claim.bot in queues:  # the rest after it, later
                            report.deferred += len(queues.pop(reply.claim.bot))
                if not queues and not busy:
                    break
                if replies and busy and not lingered:
                    # gather the replies on their way into one commit, and let the senders finish
                    # before the database takes its turn (they would only slow each other down)
                    wait(busy, timeout=LINGER, return_when=ALL_COMPLETED)
                    lingered = True
                    continue
                taken = {lanes[bot] for bot in busy.values()}
                free = [bot for bot in queues if lanes[bot] not in taken]
                ready = []
                for bot in free:
                    room = len(busy) + len(ready) < width
                    if room and lanes[bot] not in taken and limiter.wait_time(bot) <= 0:
                        ready.append(bot)
                        taken.add(lanes[bot])
                if ready or (replies and busy):
                    claims = []
                    for bot in ready:
                        notice_id, url, title, body, body_format, attempts, attachment = queues[
                            bot
                        ].popleft()
                        if not queues[bot]:
                            del queues[bot]
                        claims.append(
                            _Claim(
                                notice_id,
                                attempts + 1,
                                bot,
                                url,
                                title,
                                body,
                                body_format,
                                now(),
                                attachment,
                            )  # fmt: skip
                        )
                    with transaction(con):  # the replies so far and the next claims: one commit
                        _record(con, channels, report, replies)
                        _claim(con, claims)
                    replies, lingered = [], False
                    for claim in claims:  # only now, committed as `sending`, do they leave
                        if claim.channel_url not in urls:
                            urls[claim.channel_url] = resolve(claim.channel_url, secrets)
                        target, error = urls[claim.channel_url]
                        busy[pool.submit(_send, claim, target, error, secrets, now)] = claim.bot
                    continue
                if busy:
                    timeout = None  # a reply frees a bot; so may a window opening for an idle one
                    if free and len(busy) < width:
                        timeout = min(limiter.wait_time(bot) for bot in free)
                    wait(busy, timeout=timeout, return_when=FIRST_COMPLETED)
                    continue
                # nothing in flight, and every bot with messages waits for its window
                pause = min(limiter.wait_time(bot) for bot in queues)
                if pause > budget:  # the rest waits for the next run
                    report.deferred += sum(len(q) for q in queues.values())
                    pause = None
                else:  # a moment more: the next round's limiter, read from the ledger, agrees
                    pause += WINDOW_MARGIN
                break
    except BaseException:
        # Interrupted, or a database error: the pool has been waited for on the way out, so
        # every message that left has its reply. Record them (messages known delivered must
        # not stay `sending`, to be sent again by a retry), without hiding the first error.
        replies += [
            f.result() for f in busy if f.done() and not f.cancelled() and not f.exception()
        ]
        if replies:
            with suppress(Exception), transaction(con):
                _record(con, channels, report, replies)
        raise
    if replies:  # nothing stays unrecorded while the next round waits, or after the last
        with transaction(con):
            _record(con, channels, report, replies)
    return pause


def _send(
    claim: _Claim, url: str | None, error: str | None, secrets: Secrets, now: Callable[[], datetime]
) -> _Reply:
    """In a pool thread: the channel call and nothing else (no database)."""
    if url is None:  # its secret could not be had: nothing leaves
        ok = False
    else:
        ok, error = send_resolved(url, claim.title, claim.body, claim.body_format, secrets,
                                  claim.attachment)  # fmt: skip
    return _Reply(claim, ok, error, now(), time.time())


def _bot(url: str) -> str:
    return hashlib.sha256(bot_identity(url).encode()).hexdigest()[:12]


def _seed_limiter(
    con: duckdb.DuckDBPyConnection, limiter: RateLimiter, channels: ChannelConfig, now: datetime
) -> None:
    """Messages sent by earlier runs still count against a bot's window."""
    since = now - timedelta(seconds=channels.rate_limit.seconds)
    recent = con.sql(sql("notices/recent_sends"), params={"since": since}).fetchall()
    clock = time.time()
    for url, finished in recent:
        limiter.record(_bot(url), clock - (now - finished).total_seconds())


def _claim(con: duckdb.DuckDBPyConnection, claims: list[_Claim]) -> None:
    """Mark the claimed messages `sending` and write their attempts (inside the caller's transaction)."""
    if not claims:
        return
    ids = [c.notice_id for c in claims]
    attempts = [c.attempt for c in claims]
    # batched: the rows travel as list parameters (a notice is in at most one claim of a batch)
    con.execute(sql("notices/claim"), {"ids": ids, "attempts": attempts})
    con.execute(
        sql("notices/claim_attempts"),
        {"ids": ids, "attempts": attempts, "started": [c.started for c in claims],
         "channels": [masked_url(c.channel_url) for c in claims]},
    )  # fmt: skip


def _record(
    con: duckdb.DuckDBPyConnection,
    channels: ChannelConfig,
    report: DeliveryReport,
    replies: list[_Reply],
) -> None:
    """Mark messages sent, or failed with their next retry time (inside the caller's transaction)."""
    if not replies:
        return
    sent = [r for r in replies if r.ok]
    failed = [r for r in replies if not r.ok]
    if sent:
        con.execute(
            sql("notices/mark_sent"),
            {"ids": [r.claim.notice_id for r in sent], "at": [r.finished for r in sent]},
        )
    if failed:
        retry_at = [r.finished + timedelta(seconds=retry_delay(channels, r.claim.attempt))
                    for r in failed]  # fmt: skip
        con.execute(
            sql("notices/mark_failed"),
            {"ids": [r.claim.notice_id for r in failed], "retry": retry_at,
             "errors": [r.error for r in failed]},
        )  # fmt: skip
    con.execute(
        sql("notices/finish_attempts"),
        {"ids": [r.claim.notice_id for r in replies], "at": [r.finished for r in replies],
         "ok": [r.ok for r in replies], "errors": [r.error for r in replies],
         "attempts": [r.claim.attempt for r in replies]},
    )  # fmt: skip
    for r in replies:
        if r.ok:
            report.sent += 1
        else:
            report.failed += 1
            if r.claim.attempt >= channels.max_attempts:
                report.gave_up += 1
            report.errors.append(f"{r.claim.notice_id}: {r.error}")


def retry_delay(channels: ChannelConfig, attempt: int) -> float:
    """Seconds before the next try after failed attempt number `attempt` (1, 2, …): the backoff,
    doubled after each failure, never more than MAX_RETRY_DELAY."""
    return min(channels.backoff_seconds * 2.0 ** min(attempt - 1, 64), MAX_RETRY_DELAY)


class RateLimiter:
    """At most `count` messages per `seconds` to one bot (sliding window)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._sent: dict[str, deque[float]] = {}

    def wait_time(self, key: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        window = self._sent.setdefault(key, deque())
        while window and now - window[0] >= self.limit.seconds:
            window.popleft()
        if len(window) < self.limit.count:
            return 0.0
        return self.limit.seconds - (now - window[0])

    def record(self, key: str, now: float | None = None) -> None:
        self._sent.setdefault(key, deque()).append(time.time() if now is None else now)
