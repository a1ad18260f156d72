"""The outbox: a delivery ledger that sends every notice exactly once.

Each rendered message (notice × recipient channel × part) gets an idempotency
key: period | kind | recipient | channel | part | content hash. Enqueueing
inserts only keys the ledger does not hold, so a re-run renders the same text
and adds nothing; a notice whose content changed is a new notice.

Delivery writes the attempt (status `sending`) and commits before calling the
channel; the reply is recorded in the same commit that starts the next message
(one commit per message), or on its own after the last one. A crash can
therefore at most repeat one message: the one in flight, or the one whose reply
had come but was not yet recorded. On the next run a `sending` row is sent
again, because nobody knows whether its reply came. Failures are
retried with exponential backoff up to `max_attempts`, and stay visible.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from flows.channels import ChannelConfig, RateLimiter, Secrets, masked_url, send, split_by_bytes
from flows.db import transaction
from flows.notices import Notice, render

SUFFIX = {"text": ".txt", "markdown": ".md", "html": ".html"}


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
            out.append(
                Message(key, notice, name, url, fmt, i, len(pieces), title, text, digest, bot)
            )
    return out


def enqueue(
    con: duckdb.DuckDBPyConnection, messages: list[Message], period: str, outbox_dir: Path
) -> dict[str, int]:
    """Insert the messages the ledger does not hold yet; write files for unconfigured ones."""
    if not messages:
        return {"new": 0, "known": 0}
    keys = [m.key for m in messages]
    known = {
        r[0] for r in con.sql("SELECT idempotency_key FROM outbox WHERE idempotency_key IN (SELECT unnest($k))",
                              params={"k": keys}).fetchall()
    }  # fmt: skip
    fresh = [m for m in messages if m.key not in known]
    now = datetime.now()
    rows: list[list[Any]] = []
    for m in fresh:
        path = None
        status = "pending"
        if m.channel_url is None:
            path = _write_file(outbox_dir / period, m)
            status = "unconfigured"
        rows.append([
            m.key, period, m.notice.kind, m.notice.recipient, m.notice.cc, m.channel, m.channel_url,
            m.body_format, m.part, m.parts, m.title, m.body, m.content_hash, status, now, path,
        ])  # fmt: skip
    if rows:
        names = ("idempotency_key", "period", "kind", "recipient", "cc", "channel", "channel_url", "body_format",
                 "part", "parts", "title", "body", "content_hash", "status", "created_at", "file_path")  # fmt: skip
        fresh_rows = pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})  # noqa: F841
        with transaction(con):  # one statement for the batch (row-by-row inserts cost ~1 ms each)
            con.execute(
                "INSERT INTO outbox (notice_id, idempotency_key, period, kind, recipient, cc, channel, channel_url, "
                "body_format, part, parts, title, body, content_hash, status, attempts, created_at, "
                "next_attempt_at, sent_at, last_error, file_path) "
                "SELECT nextval('notice_id_seq'), idempotency_key, period, kind, recipient, cc, channel, channel_url, "
                "body_format, part, parts, title, body, content_hash, status, 0, created_at, created_at, NULL, NULL, "
                "file_path FROM fresh_rows"
            )
    return {"new": len(fresh), "known": len(known)}


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
    deferred: int = 0  # held back by a bot's rate limit, for the next run
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)


def deliver(
    con: duckdb.DuckDBPyConnection,
    channels: ChannelConfig,
    secrets: Secrets,
    *,
    period: str | None = None,
    max_wait: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = datetime.now,
) -> DeliveryReport:
    """Send every due message: pending, failed and due for retry, or left `sending` by a crash."""
    report = DeliveryReport()
    limiter = RateLimiter(channels.rate_limit)
    query = (
        "SELECT notice_id, channel_url, title, body, body_format, attempts FROM outbox "
        "WHERE status IN ('pending', 'failed', 'sending') AND attempts < $max AND next_attempt_at <= $now"
        + (" AND period = $period" if period else "")
        + " ORDER BY notice_id"
    )
    params: dict[str, Any] = {"max": channels.max_attempts, "now": now()}
    if period:
        params["period"] = period
    due = con.sql(query, params=params).fetchall()
    _seed_limiter(con, limiter, channels, now())
    queues: dict[str, deque[tuple]] = {}
    for row in due:  # one queue per bot, in ledger order; bots take turns
        queues.setdefault(_bot(row[1]), deque()).append(row)
    waited = 0.0
    outcome: tuple[int, int, bool, str | None, datetime] | None = None
    while queues:
        ready = [bot for bot in queues if limiter.wait_time(bot) <= 0]
        if not ready:
            pause = min(limiter.wait_time(bot) for bot in queues)
            if waited + pause > max_wait:  # the rest waits for the next run
                report.deferred += sum(len(q) for q in queues.values())
                break
            if outcome is not None:  # nothing stays unrecorded while we wait
                with transaction(con):
                    _record(con, channels, report, *outcome)
                outcome = None
            sleep(pause)
            waited += pause
            continue
        for bot in ready:
            notice_id, url, title, body, body_format, attempts = queues[bot].popleft()
            if not queues[bot]:
                del queues[bot]
            attempt = attempts + 1
            started = now()
            with transaction(con):  # the previous message's result and this one's start: one commit
                if outcome is not None:
                    _record(con, channels, report, *outcome)
                    outcome = None
                con.execute(
                    "UPDATE outbox SET status = 'sending', attempts = ? WHERE notice_id = ?",
                    [attempt, notice_id],
                )
                con.execute(
                    "INSERT INTO outbox_attempts VALUES (?, ?, ?, NULL, ?, NULL, NULL)",
                    [notice_id, attempt, started, masked_url(url)],
                )
            ok, error = send(url, title, body, body_format, secrets)
            # counted when the reply came: the bot saw it no later than that, so the window holds on its side
            limiter.record(bot)
            outcome = (notice_id, attempt, ok, error, now())
    if outcome is not None:
        with transaction(con):
            _record(con, channels, report, *outcome)
    return report


def _bot(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def _seed_limiter(
    con: duckdb.DuckDBPyConnection, limiter: RateLimiter, channels: ChannelConfig, now: datetime
) -> None:
    """Messages sent by earlier runs still count against a bot's window."""
    since = now - timedelta(seconds=channels.rate_limit.seconds)
    recent = con.sql(
        "SELECT o.channel_url, a.finished_at FROM outbox_attempts a JOIN outbox o USING (notice_id) "
        "WHERE a.finished_at >= $since AND o.channel_url IS NOT NULL ORDER BY a.finished_at",
        params={"since": since},
    ).fetchall()
    clock = time.time()
    for url, finished in recent:
        limiter.record(_bot(url), clock - (now - finished).total_seconds())


def _record(
    con: duckdb.DuckDBPyConnection,
    channels: ChannelConfig,
    report: DeliveryReport,
    notice_id: int,
    attempt: int,
    ok: bool,
    error: str | None,
    finished: datetime,
) -> None:
    """Mark a message sent, or failed with its next retry time (inside the caller's transaction)."""
    if ok:
        con.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE notice_id = ?",
            [finished, notice_id],
        )
    else:
        retry_at = finished + timedelta(seconds=channels.backoff_seconds * 2 ** (attempt - 1))
        con.execute(
            "UPDATE outbox SET status = 'failed', next_attempt_at = ?, last_error = ? WHERE notice_id = ?",
            [retry_at, error, notice_id],
        )
    con.execute(
        "UPDATE outbox_attempts SET finished_at = ?, ok = ?, error = ? WHERE notice_id = ? AND attempt = ?",
        [finished, ok, error, notice_id, attempt],
    )
    if ok:
        report.sent += 1
    else:
        report.failed += 1
        if attempt >= channels.max_attempts:
            report.gave_up += 1
        report.errors.append(f"{notice_id}: {error}")
