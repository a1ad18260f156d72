"""Benchmark: the outbox delivering notices to group bots on 127.0.0.1, exactly once.

Run:  .venv/bin/python bench/notify.py [--notices 2000] [--bots 40] [--profile]

Everything goes to one real threaded HTTP server on 127.0.0.1 (tests.helpers.BotServer)
that answers like DingTalk (加签 checked), WeCom and Feishu group bots; nothing leaves the
machine. Every phase uses a fresh DuckDB file (ducha.db.connect applies the migrations).

1. throughput  --notices 催办 notices for distinct recipients, spread round-robin over --bots
               bots (dtalk:// / wxbot:// / fsbot:// in turn, each with its own access token as
               a ${ENV} reference resolved by ducha.notices.channels.Secrets), markdown. Timed apart:
               messages_for (rendering), enqueue (ledger insert), deliver (rate limit off:
               RateLimit(10**9, 60)). Verified: the receiver got exactly one message per
               notice (no duplicate by token + text, each recipient once, the right number
               per bot) and the ledger is all `sent` with one attempt each.
2. re-run      the same notices rendered and enqueued again, then deliver again: must add
               nothing, send nothing, and be fast.
3. rate limit  the same code with a scaled window, RateLimit(--rl-count, --rl-seconds)
               (default 20 per 2 s: the vendors' 20 per 60 s, 30× faster), --rl-bots bots ×
               --rl-per-bot messages. From the receiver's arrival timestamps: no bot ever got
               more than `count` messages in any `seconds` window (sliding), all delivered
               exactly once, and the achieved rate per bot against the limit. Run twice:
               `interleaved` (ledger order alternates between bots, as plan_notices makes
               it when recipients have one bot each) and `grouped` (each bot's messages
               consecutive in the ledger), which shows whether the other bots go on while
               one bot is at its limit (deliver sends to several bots at once). When
               delivery is too slow for any bot to reach count/seconds in the interleaved run
               (so it proves nothing), a third run widens the window until every bot waits.
4. across runs one bot, `count` messages by one deliver call and `count` more by a second
               call right after it (flows.daily.daily makes two such calls on an
               evaluation day): the receiver must still see <= count per window.
5. what-if     (skip with --no-what-if; not the measured code path) the throughput deliver
               with one bot at a time (concurrency 1: one commit per message, as before
               deliver sent to several bots at once), and with the channel call replaced by
               a no-op (what the ledger and the loop alone cost); and the ledger writes of a
               message (claim, then reply) committed one message per transaction, 16 per
               transaction (as deliver batches them), and all in one.

Output: a table on stdout and bench/results/notify.json. Goal: deliver >= 100 notices/s with
the rate limit off. `--profile` also runs the throughput deliver under cProfile and writes
the top functions to bench/results/notify-profile.txt (and a summary into the JSON).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from ducha.db import connect, transaction  # noqa: E402
from ducha.notices import outbox  # noqa: E402
from ducha.notices.channels import Channel, ChannelConfig, RateLimit  # noqa: E402
from ducha.notices.outbox import DeliveryReport, Message, deliver, enqueue, messages_for  # noqa: E402
from ducha.notices.planning import Notice  # noqa: E402
from ducha.notices.secrets import Secrets  # noqa: E402
from tests.helpers import BotServer, Received  # noqa: E402

# The loopback receiver stands in for the vendors' gateways, which accept many connections at
# once. http.server listens with a backlog of 5: with more bots sent to at once (deliver's
# `concurrency`), a busy receiver drops connection attempts, and each drop costs a 1 s SYN
# retry that measures the stand-in, not ducha. (tests.helpers.BotServer keeps the default.)
ThreadingHTTPServer.request_queue_size = 128

RESULTS = ROOT / "bench" / "results"
PERIOD = "2026-03"
GOAL_NOTICES_PER_S = 100.0
SCHEMES = ("dtalk", "wxbot", "fsbot")
ENV_PREFIX = "DUCHA_BENCH_BOT_"
DINGTALK_SECRET_ENV = "DUCHA_BENCH_DINGTALK_SECRET"
DINGTALK_SECRET = "SECbench0a1b2c3d4e5f60718293a4b5c6d7"
RECIPIENT = re.compile(r"测试单位\d{5}")
NO_LIMIT = RateLimit(count=10**9, seconds=60.0)


# ------------------------------------------------------------------ input


def token(bot: int) -> str:
    return f"bench-token-{bot:03d}-{(bot * 2654435761) % 2**32:08x}"


def bot_url(bot: int, port: int) -> str:
    """The configured URL of bot `bot`: the token stays a ${ENV} reference."""
    host = f"127.0.0.1:{port}"
    ref = f"${{{ENV_PREFIX}{bot:03d}}}"
    scheme = SCHEMES[bot % len(SCHEMES)]
    if scheme == "dtalk":
        return f"dtalk://{host}/robot/send?access_token={ref}&secret=${{{DINGTALK_SECRET_ENV}}}"
    if scheme == "wxbot":
        return f"wxbot://{host}/cgi-bin/webhook/send?key={ref}"
    return f"fsbot://{host}/open-apis/bot/v2/hook/{ref}"


def received_token(r: Received) -> str:
    if "/hook/" in r.path:
        return r.path.rsplit("/", 1)[-1]
    return r.query.get("access_token") or r.query.get("key") or ""


def set_tokens(bots: int) -> None:
    os.environ[DINGTALK_SECRET_ENV] = DINGTALK_SECRET
    for b in range(bots):
        os.environ[f"{ENV_PREFIX}{b:03d}"] = token(b)


def recipient(i: int) -> str:
    return f"测试单位{i:05d}"


def build_notices(n: int) -> list[Notice]:
    """n 催办 notices, one per distinct recipient, each listing 1-3 lagging tasks."""
    base = {
        "workspace": "基准区",
        "sender": "基准区人民政府督查室",
        "period_zh": "2026年3月",
        "period": PERIOD,
        "deadline": date(2026, 4, 8),
        "date": date(2026, 4, 10),
        "reply_by": date(2026, 4, 17),
    }
    notices = []
    for i in range(n):
        tasks = [
            {
                "task_id": f"T{i:05d}-{k}",
                "content": f"推进第{i}号单位第{k}项重点工程建设，完善配套服务",
                "status": "lagging" if k % 2 else "critical",
                "streak": 1 + k,
                "metrics": [
                    {
                        "label": "新建道路",
                        "target": 100 + i % 50,
                        "actual": 10 + k,
                        "expected": 25,
                        "gap": -12.5,
                        "measure": "公里",
                        "kind": "cumulative",
                        "carried": k == 2,
                    }
                ],
                "lagging_units": [],
                "missing_units": [],
                "issues": [(recipient(i), "资金拨付进度偏慢")],
            }
            for k in range(1 + i % 3)
        ]
        title = f"关于加快推进滞后目标任务的催办通知（2026年3月，{i:05d}）"
        notices.append(Notice("chase", recipient(i), title, {**base, "tasks": tasks}))
    return notices


def channel_config(n: int, bots: int, port: int, limit: RateLimit, grouped: bool) -> ChannelConfig:
    """Recipient i → bot i % bots (interleaved) or bot i // ceil(n / bots) (grouped)."""
    per_bot = math.ceil(n / bots)
    config = ChannelConfig(
        sender="基准区人民政府督查室", rate_limit=limit, max_attempts=3, backoff_seconds=0.0
    )
    for i in range(n):
        bot = i // per_bot if grouped else i % bots
        name = recipient(i)
        config.recipients[name] = [Channel(name, f"{name}群", bot_url(bot, port), "markdown")]
    return config


def bot_of(config: ChannelConfig, port: int, bots: int) -> dict[str, int]:
    """recipient → bot index (from the configured URL)."""
    index = {bot_url(b, port): b for b in range(bots)}
    return {name: index[chs[0].url] for name, chs in config.recipients.items()}


# ------------------------------------------------------------------ checks


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def verify_delivery(
    con: duckdb.DuckDBPyConnection,
    received: list[Received],
    notices: list[Notice],
    bots_of: dict[str, int],
    report: DeliveryReport,
) -> list[Check]:
    n = len(notices)
    checks = [
        Check("report", report.sent == n and report.failed == 0 and report.deferred == 0,
              f"sent {report.sent} failed {report.failed} deferred {report.deferred}"),
        Check("received count", len(received) == n, f"{len(received)} received, {n} expected"),
    ]  # fmt: skip
    by_key = Counter((received_token(r), r.text) for r in received)
    dups = sum(c - 1 for c in by_key.values() if c > 1)
    checks.append(Check("no duplicate (token+text)", dups == 0, f"{dups} duplicates"))
    found: Counter[str] = Counter()
    wrong_bot = 0
    for r in received:
        names = set(RECIPIENT.findall(r.text))
        if len(names) != 1:
            wrong_bot += 1
            continue
        (name,) = names
        found[name] += 1
        if received_token(r) != token(bots_of[name]):
            wrong_bot += 1
    expected = {nt.recipient for nt in notices}
    once = all(found[name] == 1 for name in expected) and set(found) == expected
    checks.append(Check("each recipient exactly once", once, f"{len(found)} distinct recipients"))
    checks.append(Check("right bot per recipient", wrong_bot == 0, f"{wrong_bot} misrouted"))
    status = dict(con.sql("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    attempts = con.sql(
        "SELECT count(*), coalesce(max(attempts), 0), "
        "(SELECT count(*) FROM outbox_attempts WHERE ok) FROM outbox"
    ).fetchall()[0]
    checks.append(Check("ledger all sent", status == {"sent": n}, json.dumps(status)))
    checks.append(
        Check(
            "one attempt each", attempts == (n, 1, n), f"rows/max attempts/ok attempts {attempts}"
        )
    )
    return checks


# ------------------------------------------------------------------ phases


@dataclass
class Run:
    db: Path
    server: BotServer
    config: ChannelConfig
    notices: list[Notice]
    con: duckdb.DuckDBPyConnection


def start(workdir: Path, name: str, n: int, bots: int, limit: RateLimit, grouped: bool) -> Run:
    server = BotServer(mode="ok", dingtalk_secret=DINGTALK_SECRET).start()
    config = channel_config(n, bots, server.port, limit, grouped)
    db = workdir / f"{name}.duckdb"
    return Run(db, server, config, build_notices(n), connect(db))


def render_and_enqueue(
    run: Run, outbox_dir: Path
) -> tuple[list[Message], dict[str, int], float, float]:
    t0 = time.perf_counter()
    messages = [m for nt in run.notices for m in messages_for(nt, PERIOD, run.config)]
    t1 = time.perf_counter()
    counts = enqueue(run.con, messages, PERIOD, outbox_dir)
    t2 = time.perf_counter()
    return messages, counts, t1 - t0, t2 - t1


class SleepLog:
    """deliver's `sleep`: really sleeps, and remembers when and how long (the limiter waiting)."""

    def __init__(self) -> None:
        self.sleeps: list[tuple[float, float]] = []  # (monotonic when the sleep ended, seconds)

    def __call__(self, seconds: float) -> None:
        time.sleep(seconds)
        self.sleeps.append((time.monotonic(), seconds))

    def waits_per_token(self, received: list[Received]) -> Counter[str]:
        """Each sleep belongs to the bot of the next message that arrived after it."""
        arrivals = sorted(received, key=lambda r: r.at)
        times = [r.at for r in arrivals]
        waits: Counter[str] = Counter()
        for ended, _ in self.sleeps:
            i = bisect.bisect_left(times, ended)
            if i < len(arrivals):
                waits[received_token(arrivals[i])] += 1
        return waits


def timed_deliver(
    run: Run, max_wait: float, sleep: SleepLog | None = None, concurrency: int | None = None
) -> tuple[DeliveryReport, float]:
    t0 = time.perf_counter()
    report = deliver(run.con, run.config, Secrets(), max_wait=max_wait, sleep=sleep or time.sleep,
                     concurrency=concurrency)  # fmt: skip
    return report, time.perf_counter() - t0


@contextmanager
def free_send() -> Iterator[None]:
    """What-if: the channel call costs nothing; what is left is the ledger and the loop."""
    original = outbox.send_resolved
    outbox.send_resolved = lambda *a, **k: (True, None)  # type: ignore[assignment]
    try:
        yield
    finally:
        outbox.send_resolved = original  # type: ignore[assignment]


def what_if(workdir: Path, n: int, bots: int, outbox_dir: Path) -> dict[str, Any]:
    """The throughput deliver with one bot at a time (concurrency 1, as before batching), and
    with the channel call free (the ledger and the loop alone); not the measured code path."""
    out: dict[str, Any] = {}
    variants: dict[str, tuple[Callable[[], AbstractContextManager[None]], int | None]] = {
        "one_bot_at_a_time": (contextlib.nullcontext, 1),
        "send_free_ledger_only": (free_send, None),
    }
    for name, (patch, concurrency) in variants.items():
        run = start(workdir, f"whatif-{name}", n, bots, NO_LIMIT, grouped=False)
        try:
            render_and_enqueue(run, outbox_dir)
            with patch():
                report, seconds = timed_deliver(run, max_wait=0, concurrency=concurrency)
            received = len(run.server.received)
        finally:
            run.con.close()
            run.server.stop()
        out[name] = {"deliver_s": round(seconds, 3), "per_s": round(n / seconds, 1),
                     "ms_per_message": round(1000 * seconds / n, 3), "sent": report.sent,
                     "received": received}  # fmt: skip
    out["ledger_statements"] = ledger_statements(workdir, min(n, 1000))
    return out


def ledger_statements(workdir: Path, n: int) -> dict[str, Any]:
    """The ledger writes of n messages (on a fresh ledger), committed three ways: one
    transaction per message (the reply of message i with the claim of message i + 1: one
    message in flight, as with concurrency 1), one transaction per batch of 16 replies and 16
    claims (deliver with 16 bots at once), and all n in one transaction (the statements alone)."""
    con = connect(workdir / "ledger.duckdb")
    now = datetime.now()
    con.execute(
        "INSERT INTO outbox SELECT i, 'k' || i, 'p', 'chase', 'r', []::VARCHAR[], 'c', 'u', "
        "'markdown', 1, 1, 't', 'b', 'h', 'pending', 0, $now, $now, NULL, NULL, NULL "
        "FROM range(1, $n) t(i)",
        {"now": now, "n": 3 * n + 2},
    )
    config = ChannelConfig()

    def claims(ids: range) -> list[Any]:
        return [outbox._Claim(i, 1, "bot", "u", "t", "b", "markdown", now) for i in ids]

    def replies(ids: range) -> list[Any]:
        return [outbox._Reply(c, True, None, now, time.time()) for c in claims(ids)]

    def timed(first: int, batch: int) -> float:
        report = DeliveryReport()
        in_flight = range(0)
        t0 = time.perf_counter()
        for i in range(first, first + n, batch):
            with transaction(con):
                outbox._record(con, config, report, replies(in_flight))
                in_flight = range(i, min(i + batch, first + n))
                outbox._claim(con, claims(in_flight))
        with transaction(con):
            outbox._record(con, config, report, replies(in_flight))
        assert report.sent == n
        return 1000 * (time.perf_counter() - t0) / n

    out = {
        "one_tx_per_message_ms": timed(1, 1),
        "one_tx_per_16_messages_ms": timed(n + 1, 16),
        "one_tx_for_all_ms": timed(2 * n + 1, n),
    }
    con.close()
    return {k: round(v, 3) for k, v in out.items()}


def profile_deliver(workdir: Path, n: int, bots: int, outbox_dir: Path) -> dict[str, Any]:
    """The throughput deliver again (fresh ledger), under cProfile."""
    run = start(workdir, "profile", n, bots, NO_LIMIT, grouped=False)
    try:
        render_and_enqueue(run, outbox_dir)
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
        profiler.enable()
        report = deliver(run.con, run.config, Secrets(), max_wait=0)
        profiler.disable()
        wall = time.perf_counter() - t0
    finally:
        run.con.close()
        run.server.stop()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    (RESULTS / "notify-profile.txt").write_text(out.getvalue(), encoding="utf-8")
    raw: Any = stats.stats  # type: ignore[attr-defined]
    # (label, file suffix, function, cumulative or own time). DuckDB's execute is invisible to
    # cProfile: its time shows as the own time of the Python function calling it.
    wanted = (
        ("send_resolved (ducha.notices.channels, pool threads)", "flows/channels.py", "send_resolved", "cum"),
        ("  _post (one bot post)", "flows/channels.py", "_post", "cum"),
        ("    urllib3 request", "urllib3/_request_methods.py", "request", "cum"),
        ("BEGIN/COMMIT (ducha.db.transaction)", "flows/db.py", "transaction", "own"),
        ("replies recorded (outbox._record)", "flows/outbox.py", "_record", "own"),
        ("claims written (outbox._claim)", "flows/outbox.py", "_claim", "own"),
        ("waiting for replies (futures.wait)", "concurrent/futures/_base.py", "wait", "cum"),
    )  # fmt: skip
    summary: dict[str, Any] = {"wall_s": round(wall, 3), "sent": report.sent}
    for label, file_end, func, kind in wanted:
        seconds = 0.0
        calls = 0
        for (file, _line, fn), (_cc, nc, tt, ct, _callers) in raw.items():
            if fn == func and file.endswith(file_end):
                # nested matches (Client.__init__ → BaseClient.__init__): keep the outer one
                seconds = max(seconds, ct) if kind == "cum" else seconds + tt
                calls = max(calls, nc) if kind == "cum" else calls + nc
        summary[label] = {"s": round(seconds, 3), "calls": calls,
                          "share": round(seconds / wall, 3) if wall else None}  # fmt: skip
    return summary


def window_analysis(
    received: list[Received], limit: RateLimit
) -> tuple[list[dict[str, Any]], int, float]:
    """Per bot: arrivals, span, rate; and the worst sliding-window count over all bots."""
    arrivals: dict[str, list[float]] = defaultdict(list)
    for r in received:
        arrivals[received_token(r)].append(r.at)
    rows = []
    worst = 0
    tightest = math.inf  # min over bots of at[i + count] - at[i]: must be >= seconds
    for tok, times in sorted(arrivals.items()):
        times.sort()
        n = len(times)
        j = 0
        most = 0
        for i in range(n):  # messages in [times[i], times[i] + seconds)
            j = max(j, i)
            while j < n and times[j] - times[i] < limit.seconds:
                j += 1
            most = max(most, j - i)
        for i in range(n - limit.count):
            tightest = min(tightest, times[i + limit.count] - times[i])
        span = times[-1] - times[0] if n > 1 else 0.0
        ideal = (math.ceil(n / limit.count) - 1) * limit.seconds
        rows.append({"token": tok, "messages": n, "max_in_window": most,
                     "span_s": round(span, 3), "ideal_span_s": ideal,
                     "rate_per_s": round((n - 1) / span, 2) if span else None,
                     # the fastest (n - 1) / span the limit allows: count at once, then count
                     # more every window
                     "max_rate_allowed_per_s": round((n - 1) / ideal, 2) if ideal else None})  # fmt: skip
        worst = max(worst, most)
    return rows, worst, tightest


def rate_limited_run(
    workdir: Path,
    outbox_dir: Path,
    args: argparse.Namespace,
    label: str,
    limit: RateLimit,
    grouped: bool,
) -> tuple[dict[str, Any], list[Check]]:
    n = args.rl_bots * args.rl_per_bot
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower())
    run = start(workdir, f"rl-{slug}", n, args.rl_bots, limit, grouped)
    sleeps = SleepLog()
    try:
        render_and_enqueue(run, outbox_dir)
        report, seconds = timed_deliver(run, max_wait=args.rl_max_wait, sleep=sleeps)
        bots_of = bot_of(run.config, run.server.port, args.rl_bots)
        checks = [
            Check(f"rate limit {label}: {c.name}", c.ok, c.detail)
            for c in verify_delivery(run.con, run.server.received, run.notices, bots_of, report)
        ]
        rows, worst, tightest = window_analysis(run.server.received, limit)
        waits = sleeps.waits_per_token(run.server.received)
    finally:
        run.con.close()
        run.server.stop()
    checks.append(Check(
        f"rate limit {label}: <= {limit.count} per {limit.seconds:g} s sliding, every bot",
        worst <= limit.count,
        f"worst window {worst}; tightest at[i+{limit.count}]-at[i] = {tightest:.4f} s",
    ))  # fmt: skip
    for row in rows:
        row["waits"] = waits.get(row["token"], 0)
    rates = [r["rate_per_s"] for r in rows if r["rate_per_s"]]
    needed = math.ceil(args.rl_per_bot / limit.count) - 1
    return {
        "limit": asdict(limit), "order": "grouped" if grouped else "interleaved",
        "deliver_s": round(seconds, 3), "sent": report.sent, "deferred": report.deferred,
        "sleeps": len(sleeps.sleeps), "slept_s": round(sum(d for _, d in sleeps.sleeps), 3),
        "waits_per_bot": sorted(r["waits"] for r in rows),
        # the limiter engaged: deliver slept, and every bot had `count` messages in a window
        # (a bot need not sleep itself: another bot's sleep may hold the loop long enough)
        "every_bot_at_limit": bool(sleeps.sleeps)
        and len(rows) == args.rl_bots
        and all(r["max_in_window"] == limit.count for r in rows),
        "windows_needed_per_bot": needed + 1,
        "worst_window": worst, "tightest_window_s": round(tightest, 4),
        "ideal_total_s_if_bots_in_parallel": needed * limit.seconds,
        "per_bot_rate_min": min(rates, default=None),
        "per_bot_rate_max": max(rates, default=None),
        "per_bot_rate_limit": round(limit.count / limit.seconds, 3),
        "per_bot_max_rate_allowed": rows[0]["max_rate_allowed_per_s"] if rows else None,
        "per_bot": rows,
    }, checks  # fmt: skip


def across_runs(
    workdir: Path, outbox_dir: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], list[Check]]:
    """One bot, `count` messages delivered, then `count` more by a second deliver call at once.

    The window is long enough (5 s) that both batches arrive within it at the current speed;
    a limiter that knew about the first run would make the second one wait."""
    limit = RateLimit(args.rl_count, 5.0)
    run = start(workdir, "across-runs", 2 * limit.count, 1, limit, grouped=False)
    try:
        first = Run(run.db, run.server, run.config, run.notices[: limit.count], run.con)
        second = Run(run.db, run.server, run.config, run.notices[limit.count :], run.con)
        render_and_enqueue(first, outbox_dir)
        report1, s1 = timed_deliver(first, max_wait=60.0)
        render_and_enqueue(second, outbox_dir)
        report2, s2 = timed_deliver(second, max_wait=60.0)
        _, worst, tightest = window_analysis(run.server.received, limit)
        received = len(run.server.received)
    finally:
        run.con.close()
        run.server.stop()
    summary = {"limit": asdict(limit), "first_s": round(s1, 3), "second_s": round(s2, 3),
               "sent": [report1.sent, report2.sent], "received": received,
               "worst_window": worst, "tightest_window_s": round(tightest, 4)}  # fmt: skip
    check = Check(
        f"rate limit across two deliver runs: <= {limit.count} per {limit.seconds:g} s",
        worst <= limit.count,
        f"worst window {worst} (runs took {s1:.2f} s + {s2:.2f} s; each deliver starts a new "
        "RateLimiter that does not know what the ledger sent moments ago)",
    )
    return summary, [check]


# ------------------------------------------------------------------ main


def fmt_rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--notices", type=int, default=2000)
    ap.add_argument("--bots", type=int, default=40)
    ap.add_argument("--rl-bots", type=int, default=10)
    ap.add_argument("--rl-per-bot", type=int, default=60)
    ap.add_argument("--rl-count", type=int, default=20)
    ap.add_argument("--rl-seconds", type=float, default=2.0)
    ap.add_argument("--rl-max-wait", type=float, default=600.0)
    ap.add_argument("--skip-grouped", action="store_true", help="skip the grouped rate-limit run")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-what-if", action="store_true", help="skip the what-if deliver runs")
    args = ap.parse_args(argv)
    if not 0 < args.notices <= 20000 or not 0 < args.bots <= 500:
        ap.error("--notices 1..20000, --bots 1..500")
    if args.rl_bots * args.rl_per_bot > 5000 or args.rl_seconds > 10 or args.rl_count < 1:
        ap.error("rate-limit run bounded: rl-bots × rl-per-bot <= 5000, rl-seconds <= 10")
    RESULTS.mkdir(parents=True, exist_ok=True)
    set_tokens(max(args.bots, args.rl_bots))
    checks: list[Check] = []
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_1min": os.getloadavg()[0],
        "parameters": vars(args),
    }
    with tempfile.TemporaryDirectory(prefix="ducha-bench-notify-") as tmp:
        workdir = Path(tmp)
        outbox_dir = workdir / "outbox"

        # 1. throughput, rate limit off
        run = start(workdir, "throughput", args.notices, args.bots, NO_LIMIT, grouped=False)
        try:
            messages, counts, t_render, t_enqueue = render_and_enqueue(run, outbox_dir)
            assert counts == {"new": args.notices, "known": 0}, counts
            assert len(messages) == args.notices, "a notice was split into parts"
            report, t_deliver = timed_deliver(run, max_wait=0)
            bots_of = bot_of(run.config, run.server.port, args.bots)
            checks += [
                Check(f"throughput: {c.name}", c.ok, c.detail)
                for c in verify_delivery(run.con, run.server.received, run.notices, bots_of, report)
            ]
            # 2. the same again: nothing new, nothing sent
            before = len(run.server.received)
            _, counts2, t_render2, t_enqueue2 = render_and_enqueue(run, outbox_dir)
            report2, t_deliver2 = timed_deliver(run, max_wait=0)
            checks.append(Check(
                "re-run: nothing enqueued or sent",
                counts2 == {"new": 0, "known": args.notices} and report2.sent == 0
                and report2.failed == 0 and len(run.server.received) == before,
                f"enqueue {counts2}, sent {report2.sent}, receiver +{len(run.server.received) - before}",
            ))  # fmt: skip
        finally:
            run.con.close()
            run.server.stop()
        db_bytes = sum(p.stat().st_size for p in workdir.glob(f"{run.db.name}*"))
        result["throughput"] = {
            "notices": args.notices, "bots": args.bots, "messages": len(messages),
            "render_s": round(t_render, 3), "enqueue_s": round(t_enqueue, 3),
            "deliver_s": round(t_deliver, 3),
            "deliver_per_s": round(args.notices / t_deliver, 1),
            "enqueue_per_s": round(args.notices / t_enqueue, 1),
            "ms_per_message": round(1000 * t_deliver / args.notices, 3),
            "goal_per_s": GOAL_NOTICES_PER_S,
            "goal_met": args.notices / t_deliver >= GOAL_NOTICES_PER_S,
            "db_bytes": db_bytes,
        }  # fmt: skip
        result["rerun"] = {
            "render_s": round(t_render2, 3), "enqueue_s": round(t_enqueue2, 3),
            "deliver_s": round(t_deliver2, 4), "new": counts2["new"], "sent": report2.sent,
        }  # fmt: skip

        # 3. rate limit on, scaled window
        limit = RateLimit(count=args.rl_count, seconds=args.rl_seconds)
        result["rate_limit"] = {"bots": args.rl_bots, "per_bot": args.rl_per_bot, "runs": {}}
        plan = [(f"{limit.count}/{limit.seconds:g}s interleaved", limit, False)]
        if not args.skip_grouped:
            plan.append((f"{limit.count}/{limit.seconds:g}s grouped", limit, True))
        for label, lim, grouped in plan:
            summary, found = rate_limited_run(workdir, outbox_dir, args, label, lim, grouped)
            result["rate_limit"]["runs"][label] = summary
            checks += found
        runs = result["rate_limit"]["runs"]
        first = runs[plan[0][0]]
        if not first["every_bot_at_limit"]:
            # Delivery is slower than `bots × count / seconds`: interleaved, no bot ever reached
            # its limit, so that run proves nothing about the limiter. Widen the window until
            # every bot must wait (same code, same count; 3× margin for a busy machine; at
            # most 60 s per window).
            rate = min(args.notices / t_deliver, first["sent"] / first["deliver_s"])
            seconds = min(60.0, float(math.ceil(3 * limit.count * args.rl_bots / rate)))
            scaled = RateLimit(limit.count, seconds)
            label = f"{scaled.count}/{scaled.seconds:g}s interleaved (window widened)"
            summary, found = rate_limited_run(workdir, outbox_dir, args, label, scaled, False)
            runs[label] = summary
            checks += found
        engaged = [label for label, run in runs.items() if run["every_bot_at_limit"]]
        checks.append(Check(
            "rate limit: every bot reached its limit and deliver slept, in some run (else no proof)",
            bool(engaged), f"such runs: {engaged}",
        ))  # fmt: skip

        # 4. the limit across two deliver runs back to back (flows.daily.daily does this:
        #    receipts, then monthly_supervision's notices, each through a new deliver call)
        result["rate_limit"]["across_runs"], found = across_runs(workdir, outbox_dir, args)
        checks += found

        if not args.no_what_if:
            result["what_if"] = what_if(workdir, args.notices, args.bots, outbox_dir)
        if args.profile:
            result["profile"] = profile_deliver(workdir, args.notices, args.bots, outbox_dir)

    result["checks"] = [asdict(c) for c in checks]
    result["ok"] = all(c.ok for c in checks)
    (RESULTS / "notify.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print_table(result, checks)
    return 0 if result["ok"] else 1


def print_table(result: dict[str, Any], checks: list[Check]) -> None:
    t = result["throughput"]
    r = result["rerun"]
    rows = [
        ("render (messages_for)", f"{t['render_s']:.3f} s", fmt_rate(t["notices"], t["render_s"])),
        ("enqueue", f"{t['enqueue_s']:.3f} s", fmt_rate(t["notices"], t["enqueue_s"])),
        ("deliver, limit off", f"{t['deliver_s']:.3f} s",
         f"{t['deliver_per_s']:,.0f}/s (goal >= {GOAL_NOTICES_PER_S:.0f}: "
         f"{'met' if t['goal_met'] else 'NOT met'}), {t['ms_per_message']} ms/msg"),
        ("re-run render+enqueue", f"{r['render_s'] + r['enqueue_s']:.3f} s", f"new {r['new']}"),
        ("re-run deliver", f"{r['deliver_s']:.4f} s", f"sent {r['sent']}"),
    ]  # fmt: skip
    rl = result["rate_limit"]
    for label, run in rl["runs"].items():
        rows.append((
            f"deliver, {label}", f"{run['deliver_s']:.3f} s",
            f"{rl['bots']}×{rl['per_bot']} msgs, worst window {run['worst_window']}"
            f"/{run['limit']['count']}, waits/bot {min(run['waits_per_bot'], default=0)}"
            f"–{max(run['waits_per_bot'], default=0)}, rate/bot {run['per_bot_rate_min']}"
            f"–{run['per_bot_rate_max']}/s vs limit {run['per_bot_rate_limit']}/s, at most "
            f"{run['per_bot_max_rate_allowed']}/s for this burst "
            f"(all bots in parallel: {run['ideal_total_s_if_bots_in_parallel']:g} s)",
        ))  # fmt: skip
    x = rl["across_runs"]
    rows.append((
        f"2 deliver runs back to back, {x['limit']['count']}/{x['limit']['seconds']:g}s",
        f"{x['first_s'] + x['second_s']:.3f} s",
        f"1 bot, {x['sent']} sent, worst window {x['worst_window']}/{x['limit']['count']}",
    ))  # fmt: skip
    for name, w in result.get("what_if", {}).items():
        if name == "ledger_statements":
            rows.append(("ledger statements, ms/msg", "", ", ".join(f"{k.removesuffix('_ms')} {v}" for k, v in w.items())))  # fmt: skip
            continue
        rows.append((f"what-if {name}", f"{w['deliver_s']:.3f} s",
                     f"{w['per_s']:,.0f}/s, {w['ms_per_message']} ms/msg"))  # fmt: skip
    width = max(len(a) for a, _, _ in rows)
    print(f"notices {t['notices']}, bots {t['bots']}, load {result['load_1min']:.2f}")
    for a, b, c in rows:
        print(f"  {a:<{width}}  {b:>9}  {c}")
    if "profile" in result:
        print("profile of deliver (cumulative s, share of wall):")
        for label, v in result["profile"].items():
            if isinstance(v, dict):
                print(f"  {label:<42} {v['s']:>7.3f} s  {v['share']:>4.0%}  calls {v['calls']}")
    bad = [c for c in checks if not c.ok]
    print(f"checks: {len(checks) - len(bad)}/{len(checks)} ok")
    for c in bad:
        print(f"  FAILED {c.name}: {c.detail}")


if __name__ == "__main__":
    sys.exit(main())
