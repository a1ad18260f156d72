"""Parallel delivery at its edges (flows/outbox.py, flows/channels.lane): one bot written two
ways, mail servers, a crash during the last attempt, an interrupt with replies in hand, a bot's
order after a failure. Each test failed before its fix. No servers: the channel call is
replaced, as in test_notify.test_one_message_at_a_time_per_bot_and_per_mail_server."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from ducha.db import connect
from ducha.notices import outbox
from ducha.notices.channels import ChannelConfig, RateLimit
from ducha.notices.planning import Notice
from ducha.notices.secrets import Secrets
from ducha.notices.transports import lane


def _ledger(tmp_path: Path, urls: list[str], n: int):
    messages = [
        outbox.Message(f"k{i}", Notice("chase", f"单位{i}", "标题", {}), f"群{i}", urls[i % len(urls)],
                       "text", 1, 1, "标题", f"第{i}条", f"h{i}")
        for i in range(n)
    ]  # fmt: skip
    con = connect(tmp_path / "ducha.duckdb")
    outbox.enqueue(con, messages, "2026-03", tmp_path / "outbox")
    return con, messages


def test_one_bot_written_two_ways_is_one_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The apprise spelling and ducha's spelling of one DingTalk bot (two recipients in one group):
    one message in flight and one rate limit, not two."""
    monkeypatch.setenv("DUCHA_REVIEW_TOKEN", "tok-review")
    urls = ["dingtalk://${DUCHA_REVIEW_TOKEN}/",
            "dtalks://oapi.dingtalk.com/robot/send?access_token=${DUCHA_REVIEW_TOKEN}"]  # fmt: skip
    con, _ = _ledger(tmp_path, urls, 6)
    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    sent: Counter[str] = Counter()

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object):
        with lock:
            in_flight[url] += 1
            most[url] = max(most[url], in_flight[url])
            sent[url] += 1
        time.sleep(0.05)
        with lock:
            in_flight[url] -= 1
        return True, None

    monkeypatch.setattr(outbox, "send_resolved", fake_send)
    config = ChannelConfig(rate_limit=RateLimit(2, 60))
    outbox.deliver(con, config, Secrets(), max_wait=0)
    con.close()
    assert len(sent) == 1  # both spellings reach the same resolved URL
    assert max(most.values()) == 1, "two messages in flight to one bot"
    assert sum(sent.values()) <= 2, "the bot's rate limit (2 per 60 s) was counted twice"


def test_mail_lane_is_the_smtp_server() -> None:
    """apprise sends `mailto://user@domain?smtp=host` through `host`: two mailboxes on one SMTP
    server must share a lane (one message at a time per mail server)."""
    a = "mailtos://a:${P}@wj.gov.cn?smtp=mail.gov.cn&to=x@wj.gov.cn"
    b = "mailtos://b:${P}@jt.gov.cn?smtp=mail.gov.cn&to=y@jt.gov.cn"
    assert lane(a) == lane(b)


def test_a_crash_during_the_last_attempt_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row left `sending` by a kill during its last allowed attempt: sent again (as every
    `sending` row is) or at least counted as given up, never left `sending` for good."""
    con, _ = _ledger(tmp_path, ["wxbot://127.0.0.1:9/cgi-bin/webhook/send?key=bot0"], 1)
    con.execute("UPDATE outbox SET status = 'sending', attempts = 3")  # the kill, mid attempt 3
    monkeypatch.setattr(outbox, "send_resolved", lambda *a: (True, None))
    report = outbox.deliver(con, ChannelConfig(max_attempts=3), Secrets())
    status = con.sql("SELECT status FROM outbox").fetchall()
    con.close()
    assert status == [("sent",)] and report.sent == 1, "stuck in `sending`: never sent again"


def test_an_interrupt_records_the_replies_already_in_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or any exception in the main thread, after which Prefect retries notify_task in
    the same process): replies that came, and those the pool is waited for on the way out, are
    recorded; a message known to be delivered is not left `sending` to be sent again."""
    urls = [f"wxbot://127.0.0.1:9/cgi-bin/webhook/send?key=bot{b}" for b in range(4)]
    con, _ = _ledger(tmp_path, urls, 12)
    lock = threading.Lock()
    delivered: list[str] = []

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object):
        time.sleep(0.1)
        with lock:
            delivered.append(body)
        return True, None

    real_wait, calls = outbox.wait, [0]

    def interrupted_wait(*args, **kwargs):
        calls[0] += 1
        result = real_wait(*args, **kwargs)
        # the second wait, with replies in hand or messages in flight: three rounds (three
        # messages per bot) make at least three waits however the replies are timed (on a busy
        # machine the four replies of a round often come together, and no lingering wait follows)
        if calls[0] == 2:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(outbox, "send_resolved", fake_send)
    monkeypatch.setattr(outbox, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        outbox.deliver(con, ChannelConfig(), Secrets())
    sending = {b for (b,) in con.sql("SELECT body FROM outbox WHERE status = 'sending'").fetchall()}
    con.close()
    assert not sending & set(delivered), "delivered, yet `sending`: the next run repeats them"


def test_a_bot_gets_its_messages_in_ledger_order_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Part 1/3 fails once: parts 2/3 and 3/3 must not reach the bot before it."""
    con, _ = _ledger(tmp_path, ["wxbot://127.0.0.1:9/cgi-bin/webhook/send?key=bot0"], 3)
    failed_once: set[str] = set()
    arrived: list[str] = []

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object):
        if body == "第0条" and body not in failed_once:
            failed_once.add(body)
            return False, "errcode=-1 system busy"
        arrived.append(body)
        return True, None

    monkeypatch.setattr(outbox, "send_resolved", fake_send)
    config = ChannelConfig(backoff_seconds=0)
    for _ in range(3):
        outbox.deliver(con, config, Secrets())
    con.close()
    assert arrived == ["第0条", "第1条", "第2条"]
