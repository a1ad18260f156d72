"""Notices through real receivers on 127.0.0.1: exactly once, failures retried, secrets never shown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

from ducha.config import load_config
from ducha.db import connect
from ducha.notices import outbox
from ducha.notices.channels import DEFAULT_CONCURRENCY, ChannelConfig, RateLimit
from ducha.notices.planning import Notice
from ducha.notices.secrets import Secrets
from ducha.notices.transports import lane, split_by_bytes
from tests.helpers import ROOT, BotServer, SmtpServer, Workspace, assert_user_error

TOKENS = {
    "DUCHA_TEST_DINGTALK": "dt-token-9f8e7d6c5b4a39281706",
    "DUCHA_TEST_DINGTALK_SECRET": "SECd1e2f3a4b5c6d7e8f9a0b1c2d3e4f5",
    "DUCHA_TEST_WECOM": "wc-key-0a1b2c3d4e5f60718293",
    "DUCHA_TEST_FEISHU": "fs-hook-5e6f7a8b9c0d1e2f3a4b",
    "DUCHA_TEST_SMTP": "smtp-pass-7q8w9e0r1t2y3u4i",
}
AS_OF = "2026-04-09"


def channels_yaml(bot: BotServer, smtp: SmtpServer | None = None, **extra: object) -> dict:
    host = f"127.0.0.1:{bot.port}"
    recipients = {
        "工信局": [{"name": "工信局钉钉群", "format": "markdown",
                    "url": f"dtalk://{host}/robot/send?access_token=${{DUCHA_TEST_DINGTALK}}&secret=${{DUCHA_TEST_DINGTALK_SECRET}}"}],
        "发改局": [{"name": "发改局企业微信群", "format": "markdown",
                    "url": f"wxbot://{host}/cgi-bin/webhook/send?key=${{DUCHA_TEST_WECOM}}"}],
        "住建局": [{"name": "住建局飞书群", "format": "text",
                    "url": f"fsbot://{host}/open-apis/bot/v2/hook/${{DUCHA_TEST_FEISHU}}"}],
    }  # fmt: skip
    if smtp is not None:
        recipients["孙益锋"] = [{
            "name": "孙益锋邮箱", "format": "html",
            "url": f"mailto://ducha:${{DUCHA_TEST_SMTP}}@127.0.0.1:{smtp.port}?from=ducha@wj.gov.cn&to=sunyf@wj.gov.cn",
        }]  # fmt: skip
    return {"sender": "武进区人民政府督查室", "reply_workdays": 5, "rate_limit": {"count": 100, "seconds": 60},
            "retry": {"max_attempts": 5, "backoff_seconds": 0}, "recipients": recipients, **extra}  # fmt: skip


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    return TOKENS


@pytest.fixture
def bot() -> BotServer:
    server = BotServer().start()
    server.dingtalk_secret = TOKENS["DUCHA_TEST_DINGTALK_SECRET"]  # every 加签 is checked
    yield server
    server.stop()


@pytest.fixture
def smtp() -> SmtpServer:
    server = SmtpServer("ducha", TOKENS["DUCHA_TEST_SMTP"]).start()
    yield server
    server.stop()


def configure(ws: Workspace, data: dict) -> None:
    (ws.config / "channels.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )


def notify(ws: Workspace, *args: str) -> dict:
    return json.loads(
        ws.ok("notify", "--period", "2026-03", "--as-of", AS_OF, "--format", "json", *args)
    )


def ledger(ws: Workspace) -> list[tuple]:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        return con.sql(
            "SELECT kind, recipient, channel, status, attempts, part, parts FROM outbox ORDER BY notice_id"
        ).fetchall()
    finally:
        con.close()


def test_each_recipient_gets_each_notice_exactly_once(
    evaluated: Workspace, env: dict, bot: BotServer, smtp: SmtpServer
) -> None:
    configure(evaluated, channels_yaml(bot, smtp))
    first = notify(evaluated)
    rows = ledger(evaluated)
    sent = [r for r in rows if r[3] == "sent"]
    assert first["sent"] == len(sent) == len(bot.received) + len(smtp.messages) > 0
    assert first["failed"] == 0
    by_channel = Counter(r[2] for r in sent)
    assert by_channel["工信局钉钉群"] >= 2  # its 回执 and 通报 at least
    # DingTalk with 加签: the receiver checked every signature
    assert all("sign" in r.query for r in bot.received if r.path == "/robot/send")
    # nothing is sent twice, however often notify runs
    second = notify(evaluated)
    assert second["new"] == 0 and second["sent"] == 0 and second["known"] == first["planned"]
    assert len(bot.received) + len(smtp.messages) == len(sent)
    keys = Counter(
        (r.path, r.query.get("access_token") or r.query.get("key"), r.text) for r in bot.received
    )
    assert max(keys.values()) == 1
    # everyone without a channel has the notice as a file
    files = [r for r in rows if r[3] == "unconfigured"]
    assert files and all(r[2] == "file" for r in files)
    assert len(list((evaluated.db.parent / "outbox" / "2026-03").iterdir())) == len(files)


def test_the_listing_shows_the_kinds_asked_for(evaluated: Workspace) -> None:
    """`notify --kind chase` after the receipts went out lists the chase notices only."""
    receipts = notify(evaluated, "--kind", "receipt")
    assert receipts["notices"] and {n["kind"] for n in receipts["notices"]} == {"receipt"}
    chase = notify(evaluated, "--kind", "chase")
    assert chase["notices"] and {n["kind"] for n in chase["notices"]} == {"chase"}
    assert len(chase["notices"]) == chase["planned"]
    assert {r[0] for r in ledger(evaluated)} == {"receipt", "chase"}


def test_html_mail_with_a_chinese_subject(
    evaluated: Workspace, env: dict, bot: BotServer, smtp: SmtpServer
) -> None:
    configure(evaluated, channels_yaml(bot, smtp))
    notify(evaluated, "--kind", "brief", "--kind", "bulletin")
    subjects = sorted(m["subject"] for m in smtp.messages)
    assert subjects == ["【专报】关于2026年3月目标任务滞后情况的专报",
                        "【通报】武进区2026年3月《政府工作报告》目标任务推进情况通报"]  # fmt: skip
    brief = next(m for m in smtp.messages if "专报" in m["subject"])
    html = brief.get_body(("html",)).get_content()
    assert "<table" in html and "孙益锋同志" in html and "武进区人民政府督查室" in html


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium prints the PDF")
def test_the_mailed_bulletin_carries_the_briefing_as_a_pdf(
    evaluated: Workspace, env: dict, bot: BotServer, smtp: SmtpServer
) -> None:
    configure(evaluated, channels_yaml(bot, smtp))
    evaluated.ok("report", "--period", "2026-03")
    notify(evaluated, "--kind", "bulletin")
    mail = next(m for m in smtp.messages if "通报" in m["subject"])
    pdfs = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content()[:5] == b"%PDF-"
    assert pdfs[0].get_filename().endswith("目标任务推进情况通报.pdf")
    # a bot's 通报 carries no file: it names the briefing (the dashboard's copy with a base_url)
    assert bot.received and all("%PDF" not in r.text for r in bot.received)


def test_errcode_is_not_delivered_and_retried_when_the_bot_recovers(
    evaluated: Workspace, env: dict, bot: BotServer
) -> None:
    configure(evaluated, channels_yaml(bot))
    bot.mode = "errcode"
    result = notify(evaluated, "--kind", "chase", "--kind", "bulletin")
    assert result["sent"] == 0 and result["failed"] > 0
    failed = [n for n in result["notices"] if n["status"] == "failed"]
    assert failed and all("310000" in n["error"] or "19021" in n["error"] for n in failed)
    # one failure per bot: its later messages wait behind the failed one, in ledger order
    waiting = [n for n in result["notices"] if n["status"] in ("failed", "pending")]
    assert len(failed) == 3 and result["deferred"] == len(waiting) - len(failed) > 0
    bot.mode = "ok"
    again = notify(evaluated, "--kind", "chase", "--kind", "bulletin")
    assert again["sent"] == len(waiting) and again["new"] == 0
    assert all(r[3] in ("sent", "unconfigured") for r in ledger(evaluated))
    assert len(bot.received) == len(waiting)  # each once


@pytest.mark.parametrize("mode", ["http500", "down", "slow"])
def test_a_receiver_down_for_one_run_gets_each_notice_once_later(
    evaluated: Workspace, env: dict, bot: BotServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(evaluated, channels_yaml(bot))
    if mode == "down":
        bot.stop()
    elif mode == "slow":
        import ducha.notices.transports

        monkeypatch.setattr(ducha.notices.transports, "TIMEOUT", 0.3)
        bot.delay = 1.0
    else:
        bot.mode = mode
    first = notify(evaluated, "--kind", "receipt")
    assert first["sent"] == 0 and first["failed"] == 3  # 工信局, 发改局, 住建局 each sent one file
    if mode == "down":
        bot.port, bot.received = bot.port, []
        bot.start()
    bot.mode, bot.delay = "ok", 0.0
    if mode == "slow":
        time.sleep(1.0)  # let the slow handlers of the first run finish
        bot.received.clear()  # what arrived after the client gave up does not count as delivered
    second = notify(evaluated, "--kind", "receipt")
    assert second["sent"] == 3
    assert Counter(r.path for r in bot.received) == Counter(
        {
            "/robot/send": 1,
            "/cgi-bin/webhook/send": 1,
            f"/open-apis/bot/v2/hook/{TOKENS['DUCHA_TEST_FEISHU']}": 1,
        }
    )
    attempts = (
        duckdb.connect(str(evaluated.db), read_only=True)
        .sql("SELECT count(*), count(*) FILTER (WHERE ok) FROM outbox_attempts")
        .fetchall()[0]
    )
    assert attempts == (6, 3)


def test_wecom_messages_split_by_bytes_at_line_boundaries(
    evaluated: Workspace, env: dict, bot: BotServer
) -> None:
    configure(evaluated, channels_yaml(bot))
    notify(evaluated, "--kind", "bulletin")
    parts = [r for r in bot.received if r.path == "/cgi-bin/webhook/send"]
    assert len(parts) >= 2  # the bulletin is longer than 2048 bytes
    assert all(len(r.text.encode()) <= 2048 for r in parts)
    n = len(parts)
    title = "【通报】武进区2026年3月《政府工作报告》目标任务推进情况通报"
    assert [r.text.split("\n")[0] for r in parts] == [
        f"**{title}（{i}/{n}）**" for i in range(1, n + 1)
    ]
    assert [r.text.split("\n")[1] for r in parts] == [f"（{i}/{n}）" for i in range(1, n + 1)]
    whole = "".join(r.text.split("\n", 2)[2] for r in parts)
    assert "部门、国有企业排名前列" in whole and "武进区人民政府督查室" in whole


def test_split_by_bytes() -> None:
    body = "".join(f"第{i}行：" + "滞后" * 40 + "\n" for i in range(60))
    parts = split_by_bytes(body, 2048)
    assert all(len(p.encode()) <= 2048 - 24 for p in parts) and "".join(parts) == body
    assert all(p.endswith("\n") for p in parts)  # cut at line boundaries
    long_line = "很长" * 2000
    assert "".join(split_by_bytes(long_line, 2048)) == long_line


def test_rate_limit_per_bot(evaluated: Workspace, env: dict, bot: BotServer) -> None:
    data = channels_yaml(bot, rate_limit={"count": 3, "seconds": 2})
    shared = data["recipients"]["工信局"][0]  # one group bot shared by five units: one limit
    data["recipients"] = {unit: [{**shared, "name": f"{unit}所在群"}] for unit in
                          ("工信局", "湖塘镇", "牛塘镇", "商务局", "高新区")}  # fmt: skip
    configure(evaluated, data)
    notify(evaluated, "--kind", "receipt", "--kind", "bulletin", "--kind", "chase")
    times = sorted(r.at for r in bot.received)
    assert len(times) >= 8
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 2.0 - 0.05) <= 3  # never more than 3 in any 2 s


def test_secrets_never_appear_anywhere(
    evaluated: Workspace, env: dict, bot: BotServer, smtp: SmtpServer, tmp_path: Path
) -> None:
    configure(evaluated, channels_yaml(bot, smtp))
    bot.mode, bot.echo_token = "errcode", True  # the gateway repeats the token in its error
    outputs = [evaluated.run("notify", "--period", "2026-03", "--as-of", AS_OF).out]
    outputs.append(json.dumps(notify(evaluated), ensure_ascii=False))
    bot.mode = "ok"
    outputs.append(evaluated.run("notify", "--period", "2026-03", "--as-of", AS_OF).out)
    outputs.append(evaluated.run("channels", "check", "--format", "json").out)
    outputs.append(json.dumps(notify(evaluated, "--dry-run"), ensure_ascii=False))
    outputs.append(repr(evaluated.state()))
    for path in evaluated.db.parent.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".txt", ".html", ".log"):
            outputs.append(path.read_text(encoding="utf-8"))
    everything = "\n".join(outputs)
    assert "invalid token ****" in everything  # the echoed token was masked, not dropped silently
    for value in TOKENS.values():
        assert value not in everything


def test_channels_check(
    evaluated: Workspace, env: dict, bot: BotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(evaluated, channels_yaml(bot))
    rows = json.loads(evaluated.ok("channels", "check", "--format", "json"))
    assert len(rows) == 3 and all(r["ok"] for r in rows)
    dingtalk = next(r for r in rows if r["recipient"] == "工信局")
    assert dingtalk["secrets"] == ["DUCHA_TEST_DINGTALK", "DUCHA_TEST_DINGTALK_SECRET"]
    monkeypatch.delenv("DUCHA_TEST_WECOM")
    line = assert_user_error(evaluated, ["channels", "check"], "DUCHA_TEST_WECOM")
    assert TOKENS["DUCHA_TEST_DINGTALK"] not in line
    data = channels_yaml(bot)
    data["recipients"]["火星局"] = [{"url": "json://127.0.0.1/x"}]
    configure(evaluated, data)
    assert_user_error(evaluated, ["channels", "check"], "火星局")
    data = channels_yaml(bot)
    data["recipients"]["工信局"][0]["url"] = (
        f"dtalk://127.0.0.1:{bot.port}/robot/send?access_token=abcdef0123456789abcdef0123456789"
    )
    configure(evaluated, data)
    assert_user_error(evaluated, ["channels", "check"], "直接写了密钥")
    configure(evaluated, channels_yaml(bot, concurrency=0))
    assert_user_error(evaluated, ["channels", "check"], "concurrency")


def test_dry_run_writes_and_sends_nothing(evaluated: Workspace, env: dict, bot: BotServer) -> None:
    configure(evaluated, channels_yaml(bot))
    before = evaluated.state()
    result = notify(evaluated, "--dry-run")
    assert result["planned"] > 0 and result["dry_run"]
    assert evaluated.state() == before and bot.received == []
    assert not (evaluated.db.parent / "outbox").exists()


def test_changed_content_is_a_new_notice(evaluated: Workspace, env: dict, bot: BotServer) -> None:
    configure(evaluated, channels_yaml(bot))
    notify(evaluated, "--kind", "chase")
    before = len(bot.received)
    data = channels_yaml(bot)
    data["sender"] = "武进区人民政府办公室督查室"  # the signature changes the text
    configure(evaluated, data)
    again = notify(evaluated, "--kind", "chase")
    assert (
        again["new"] >= again["sent"] > 0
    )  # new text, new notices (files for units without a channel)
    assert len(bot.received) == before + again["sent"]
    assert all("武进区人民政府办公室督查室" in r.text for r in bot.received[before:])


def test_notify_needs_an_evaluation_for_escalations(sample_months: Workspace) -> None:
    assert_user_error(
        sample_months, ["notify", "--period", "2026-03", "--kind", "chase"], "尚未研判"
    )
    assert_user_error(sample_months, ["notify", "--period", "2026-03", "--kind", "nag"], "nag")
    assert_user_error(
        sample_months, ["notify", "--period", "2026-03", "--as-of", "4月9日"], "4月9日"
    )


def many_bots(bot: BotServer, n: int) -> dict:
    """n units, each with a DingTalk group of its own (n bots)."""
    names = [u.name for u in load_config(ROOT / "config").units.units][:n]
    url = f"dtalk://127.0.0.1:{bot.port}/robot/send?access_token=bot-{{}}-4f3e2d1c0b"
    return {"rate_limit": {"count": 100, "seconds": 60}, "retry": {"max_attempts": 5, "backoff_seconds": 0},
            "recipients": {u: [{"name": f"{u}群", "url": url.format(i)}] for i, u in enumerate(names)}}  # fmt: skip


@pytest.mark.parametrize(
    ("bots", "concurrency"),
    [(3, 1), (3, None), (40, None)],
    ids=["one-at-a-time", "3-bots", "40-bots"],
)
def test_kill_9_mid_batch_repeats_at_most_the_messages_in_flight(
    evaluated: Workspace, env: dict, bot: BotServer, bots: int, concurrency: int | None,
    record_property: Callable[[str, object], None],
) -> None:  # fmt: skip
    """One bot at a time: at most the one message in flight is repeated. Several bots at once
    (the default): at most one message per bot, those marked `sending` when the process died, and
    never more than `concurrency` (32 by default: some 40 bots show the bound). The number repeated is
    measured and reported (printed, and recorded as a property of the test)."""
    data = channels_yaml(bot) if bots == 3 else many_bots(bot, bots)
    configure(evaluated, {**data, **({"concurrency": concurrency} if concurrency else {})})
    width = concurrency or DEFAULT_CONCURRENCY
    bot.delay = 0.15
    ducha = Path(sys.executable).with_name("ducha")
    command = [str(ducha), "--db", str(evaluated.db), "--config", str(evaluated.config), "notify",
               "--period", "2026-03", "--as-of", AS_OF]  # fmt: skip
    proc = subprocess.Popen(
        command, env={**os.environ}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while len(bot.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    delivered_before = len(bot.received)
    con = duckdb.connect(str(evaluated.db), read_only=True)
    sending = con.sql("SELECT channel_url FROM outbox WHERE status = 'sending'").fetchall()
    total = con.sql("SELECT count(*) FROM outbox WHERE channel <> 'file'").fetchall()[0][0]
    distinct = con.sql(
        "SELECT count(DISTINCT channel_url) FROM outbox WHERE channel <> 'file'"
    ).fetchall()[0][0]
    con.close()
    in_flight = len(sending)
    assert distinct > width if bots > width else distinct == bots  # more bots than senders
    assert 4 <= delivered_before < total, "the kill must interrupt the batch"
    assert len({url for (url,) in sending}) == in_flight  # never two in flight for one bot
    assert in_flight <= min(width, bots)
    bot.delay = 0.0
    time.sleep(0.3)  # the requests in flight when the process died have landed or not by now
    notify(evaluated)
    counts = Counter(
        (r.path, r.query.get("access_token") or r.query.get("key"), r.text) for r in bot.received
    )
    duplicates = [k for k, n in counts.items() if n > 1]
    resent = len(duplicates)
    print(f"\nkill -9 mid-batch, {distinct} bots, concurrency {width}: {in_flight} messages in flight "
          f"({delivered_before} of {total} delivered), {resent} sent again")  # fmt: skip
    record_property("in_flight", in_flight)
    record_property("resent", resent)
    assert resent <= in_flight  # at most the messages in flight are repeated
    assert resent <= width  # so never more than `concurrency`, one per bot at most
    assert all(n <= 2 for n in counts.values())  # and each of those at most once more
    assert sum(counts.values()) == total + resent
    assert all(r[3] in ("sent", "unconfigured") for r in ledger(evaluated))


def test_bots_are_sent_to_at_once_each_one_message_at_a_time_in_ledger_order(
    evaluated: Workspace, env: dict, bot: BotServer
) -> None:
    configure(evaluated, channels_yaml(bot))
    bot.delay = 0.1  # the receiver answers each message after 0.1 s
    result = notify(evaluated, "--kind", "receipt", "--kind", "bulletin", "--kind", "chase")
    assert result["failed"] == 0 and result["sent"] == len(bot.received) >= 6
    by_bot: dict[str, list] = {}
    for r in bot.received:
        by_bot.setdefault(r.path, []).append(r)
    assert len(by_bot) == 3
    for arrivals in by_bot.values():  # one at a time: a bot's replies are a full delay apart
        times = [r.at for r in arrivals]
        assert all(b - a >= 0.1 - 0.02 for a, b in zip(times, times[1:], strict=False))
    # … but different bots at once: some messages of different bots arrived together
    stamps = sorted((r.at, path) for path, arrivals in by_bot.items() for r in arrivals)
    assert any(
        b[0] - a[0] < 0.05 and a[1] != b[1] for a, b in zip(stamps, stamps[1:], strict=False)
    )
    # each bot got its messages in ledger order
    con = duckdb.connect(str(evaluated.db), read_only=True)
    rows = con.sql(
        "SELECT channel_url, body, title FROM outbox WHERE status = 'sent' ORDER BY notice_id"
    ).fetchall()
    con.close()
    for arrivals in by_bot.values():
        order = [
            next(i for i, row in enumerate(rows) if row[1].strip() in r.text) for r in arrivals
        ]
        assert order == sorted(order)
    # every attempt written when claimed and finished with its reply, in the batched commits
    con = duckdb.connect(str(evaluated.db), read_only=True)
    attempts = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE ok AND finished_at >= started_at), "
        "count(DISTINCT notice_id) FROM outbox_attempts"
    ).fetchall()[0]
    con.close()
    assert attempts == (len(rows), len(rows), len(rows))


def test_own_bot_schemes_send_what_apprise_would_send(env: dict, bot: BotServer) -> None:
    """ducha posts to its bots itself; the requests are those apprise's plugin path makes."""
    from ducha.notices.secrets import Secrets
    from ducha.notices.transports import _apprise, checked_url, send_resolved

    bot.dingtalk_secret = TOKENS["DUCHA_TEST_DINGTALK_SECRET"]
    urls = [c[0]["url"] for c in channels_yaml(bot)["recipients"].values()]
    secrets = Secrets()
    body = {"text": "第一行\n第二行 <b>不是标签</b>\n",
            "markdown": "**加粗**\n- 一项\n- 二项\n",
            "html": "<p>第一段</p><table><tr><td>甲</td><td>乙</td></tr></table>\n"}  # fmt: skip
    apprise = _apprise()
    for url in urls:
        resolved = secrets.resolve(checked_url(url))
        for fmt, text in body.items():
            bot.received.clear()
            assert send_resolved(resolved, "标题", text, fmt, secrets) == (True, None)
            sender = apprise.Apprise()
            assert sender.add(resolved)
            assert sender.notify(title="标题", body=text, body_format=apprise.NotifyFormat(fmt))
            ours, theirs = bot.received
            assert (ours.path, ours.payload) == (theirs.path, theirs.payload)
            drop = {"timestamp", "sign"}
            assert {k: v for k, v in ours.query.items() if k not in drop} == {
                k: v for k, v in theirs.query.items() if k not in drop
            }
    bot.mode = "errcode"
    ok, error = send_resolved(
        secrets.resolve(checked_url(urls[0])), "标题", "正文", "text", secrets
    )
    assert not ok and "310000" in error


def test_rate_limit_holds_across_runs(evaluated: Workspace, env: dict, bot: BotServer) -> None:
    data = channels_yaml(bot, rate_limit={"count": 3, "seconds": 2})
    shared = data["recipients"]["工信局"][0]
    data["recipients"] = {unit: [{**shared, "name": f"{unit}所在群"}] for unit in
                          ("工信局", "湖塘镇", "牛塘镇", "商务局", "高新区")}  # fmt: skip
    configure(evaluated, data)
    notify(evaluated, "--kind", "receipt")  # a first run fills the window …
    notify(evaluated, "--kind", "bulletin")  # … and the next run, seconds later, must respect it
    times = sorted(r.at for r in bot.received)
    assert len(times) >= 8
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 2.0 - 0.05) <= 3


def test_duplicate_channel_names_are_rejected(
    evaluated: Workspace, env: dict, bot: BotServer
) -> None:
    data = channels_yaml(bot)
    data["recipients"]["工信局"].append(dict(data["recipients"]["工信局"][0]))
    configure(evaluated, data)
    assert_user_error(evaluated, ["channels", "check"], "工信局钉钉群", "重复")


def test_bot_urls_are_split_as_apprise_splits_them() -> None:
    """ducha splits plain bot URLs itself (no apprise import); the result is apprise's."""
    from apprise.utils.parse import parse_url

    from ducha.notices.transports import _PLAIN_URL, _meta

    urls = [
        "dtalks://oapi.dingtalk.com/robot/send?access_token=abc-123&secret=SEC0a9",
        "wxbot://127.0.0.1:8080/cgi-bin/webhook/send?key=k_1.x~",
        "fsbots://open.feishu.cn/open-apis/bot/v2/hook/tok-9",
        "dtalk://h/robot/send?Access_Token=X&&b",
        "dtalk://H.Example.COM:99",
        "dtalk://h/x?k=1&k=2&=v&j==v&e=",
        # not plain: apprise's parser
        "dtalk://h/robot/send/",
        "dtalk://h//x?k=a+b",
        "dtalk://h/x?k=a%2Fb;c=d",
        "dtalk://u:p@h/x",
        "dtalk://h/robot/send?",
    ]
    plain = [u for u in urls if _PLAIN_URL.fullmatch(u)]
    assert len(plain) == 6
    for url in urls:
        theirs = parse_url(url, verify_host=False, simple=True) or {}
        ours = _meta(url) or {}
        for key in ("host", "port", "fullpath", "qsd"):  # what the bot handlers read
            assert ours.get(key) == theirs.get(key), (url, key)


def test_one_message_at_a_time_per_bot_and_per_mail_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group bots are sent to at once, one message each; mail to one SMTP server (and any other
    non-bot channel on one host) goes one at a time, however many recipients it has."""
    import threading

    from ducha.db import connect
    from ducha.notices import outbox
    from ducha.notices.channels import ChannelConfig
    from ducha.notices.planning import Notice
    from ducha.notices.secrets import Secrets
    from ducha.notices.transports import lane

    urls = [f"wxbot://127.0.0.1:9/cgi-bin/webhook/send?key=bot{b}" for b in range(3)] + [
        f"mailtos://ducha:pw@smtp.example.gov.cn?to=u{m}@example.gov.cn" for m in range(4)
    ]
    assert len({lane(u) for u in urls}) == 4  # three bots, one mail server
    messages = []
    for i in range(28):
        url = urls[i % len(urls)]
        notice = Notice("chase", f"单位{i}", "标题", {})
        body = f"第{i}条"
        messages.append(
            outbox.Message(f"k{i}", notice, "群", url, "text", 1, 1, "标题", body, f"h{i}")
        )
    con = connect(tmp_path / "ducha.duckdb")
    outbox.enqueue(con, messages, "2026-03", tmp_path / "outbox")
    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    order: dict[str, list[str]] = {}

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object,
                  attachment: str | None = None):  # fmt: skip
        with lock:
            in_flight[lane(url)] += 1
            most[lane(url)] = max(most[lane(url)], in_flight[lane(url)])
            most["all"] = max(most["all"], sum(in_flight.values()))
            order.setdefault(url, []).append(body)
        time.sleep(0.05)
        with lock:
            in_flight[lane(url)] -= 1
        return True, None

    monkeypatch.setattr(outbox, "send_resolved", fake_send)
    report = outbox.deliver(con, ChannelConfig(), Secrets())
    assert report.sent == 28 and report.failed == 0
    assert most["all"] == 4  # the three bots and the mail server at once …
    assert all(most[lane(u)] == 1 for u in urls)  # … each one message at a time
    for url in urls:  # in ledger order
        assert order[url] == [m.body for m in messages if m.channel_url == url]
    con.close()


# ------------------------------------------------------------------ at the edges
# Parallel delivery at its edges (flows/outbox.py, flows/channels.lane): one bot written two
# ways, mail servers, a crash during the last attempt, an interrupt with replies in hand, a bot's
# order after a failure. Each test failed before its fix. No servers: the channel call is
# replaced, as in test_notify.test_one_message_at_a_time_per_bot_and_per_mail_server.


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

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object,
                  attachment: str | None = None):  # fmt: skip
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

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object,
                  attachment: str | None = None):  # fmt: skip
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

    def fake_send(url: str, title: str, body: str, body_format: str, secrets: object,
                  attachment: str | None = None):  # fmt: skip
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


def test_kinds_in_chinese_or_english(sample_months: Workspace) -> None:
    sample_months.ok("evaluate", "--period", "2026-03")
    base = [
        "notify",
        "--period",
        "2026-03",
        "--as-of",
        "2026-04-08",
        "--dry-run",
        "--format",
        "json",
    ]
    chinese = json.loads(sample_months.ok(*base, "--kind", "催报", "--kind", "通报"))
    english = json.loads(sample_months.ok(*base, "--kind", "reminder", "--kind", "bulletin"))
    assert chinese == english and set(chinese["per_kind"]) == {"reminder", "bulletin"}
    assert_user_error(
        sample_months, [*base, "--kind", "催促"], "通知种类“催促”无效", "逾期催报（overdue）"
    )


def test_after_the_deadline_reminders_say_overdue(sample_months: Workspace) -> None:
    """On the deadline 催报 says it is the last day; after it, a unit still missing gets
    逾期催报, dated the day, saying how many working days it is overdue — never “今天是截止日”."""
    base = ["notify", "--period", "2026-03", "--dry-run", "--format", "json"]
    on = json.loads(sample_months.ok(*base, "--as-of", "2026-04-08"))
    assert on["per_kind"].get("reminder") == 1 and "overdue" not in on["per_kind"]
    after = json.loads(
        sample_months.ok(*base, "--as-of", "2026-04-10", "--kind", "催报", "--kind", "逾期催报")
    )
    assert after["per_kind"] == {"overdue": 1}
    assert any(
        "已过" in s
        for s in json.loads(sample_months.ok(*base, "--as-of", "2026-04-10", "--kind", "催报"))[
            "skipped"
        ]
    )
    sample_months.ok("notify", "--period", "2026-03", "--as-of", "2026-04-10", "--kind", "overdue")
    (body,) = (sample_months.db.parent / "outbox" / "2026-03").glob("overdue-嘉泽镇-*")
    text = body.read_text(encoding="utf-8")
    assert "已逾期 2 个工作日" in text and "2026年4月10日" in text
    assert "今天是" not in text and "截止日（" not in text
