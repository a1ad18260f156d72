"""Secrets in channel addresses, through the real SMTP and bot servers on 127.0.0.1: a value with
URL delimiters in it reaches its server exactly (encoded for its place in the URL), and no form of
it — raw, percent-encoded, escaped, or a piece of it — is ever stored or printed; a ${secret:…}
reference with no Prefect server configured is one line and nothing sent."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from contextlib import suppress
from pathlib import Path

import duckdb
import pytest
import yaml

from ducha.notices.secrets import Secrets
from tests.helpers import ROOT, BotServer, SmtpServer, Workspace

AS_OF = "2026-04-09"
# each holds @ / : # & % + (the characters that cut an unencoded value out of a URL), but two
SECRETS = {
    "DUCHA_S_SMTP": "P@ss/w:rd#&%+x",  # the P@ssw0rd, worse
    # every piece holds a letter beyond f: no piece can be part of a hex digest by chance
    "DUCHA_S_DINGTALK": "dt7c@/:#&%+9g8y",
    "DUCHA_S_DINGTALK_SIGN": "SEC4b@/:#&%+w1x2",
    "DUCHA_S_FEISHU": "fs5e@/:#&%+6g7z",  # a path segment: "/" must stay inside it
    "DUCHA_S_WECOM": "Q+",  # shorter than 4 characters
    "DUCHA_S_SMTP_SHORT": "#%",
}
SHORT = {v for v in SECRETS.values() if len(v) < 4}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


@pytest.fixture
def bot() -> BotServer:
    server = BotServer().start()
    server.dingtalk_secret = SECRETS["DUCHA_S_DINGTALK_SIGN"]  # every 加签 checked with it
    yield server
    server.stop()


@pytest.fixture
def smtp() -> SmtpServer:
    server = SmtpServer("ducha", SECRETS["DUCHA_S_SMTP"]).start()
    yield server
    with suppress(Exception):  # stopped by the test already
        server.stop()


@pytest.fixture
def smtp_short() -> SmtpServer:
    server = SmtpServer("ducha", SECRETS["DUCHA_S_SMTP_SHORT"]).start()
    yield server
    with suppress(Exception):
        server.stop()


def configure(ws: Workspace, bot: BotServer, smtp: SmtpServer, smtp_short: SmtpServer) -> None:
    host = f"127.0.0.1:{bot.port}"
    mail = "?from=ducha@wj.gov.cn&to={}@wj.gov.cn"
    recipients = {
        "工信局": [{"name": "工信局钉钉群", "format": "markdown", "url":
                    f"dtalk://{host}/robot/send?access_token=${{DUCHA_S_DINGTALK}}&secret=${{DUCHA_S_DINGTALK_SIGN}}"}],
        "发改局": [{"name": "发改局企业微信群", "format": "markdown",
                    "url": f"wxbot://{host}/cgi-bin/webhook/send?key=${{DUCHA_S_WECOM}}"}],
        "住建局": [{"name": "住建局飞书群", "format": "text",
                    "url": f"fsbot://{host}/open-apis/bot/v2/hook/${{DUCHA_S_FEISHU}}"}],
        # the README's own form: mailtos://user:${PASSWORD}@server?…
        "孙益锋": [{"name": "孙益锋邮箱", "format": "html",
                    "url": f"mailto://ducha:${{DUCHA_S_SMTP}}@127.0.0.1:{smtp.port}" + mail.format("sunyf")}],
        "王斐": [{"name": "王斐邮箱", "format": "html",
                  "url": f"mailto://ducha:${{DUCHA_S_SMTP_SHORT}}@127.0.0.1:{smtp_short.port}" + mail.format("wangf")}],
    }  # fmt: skip
    data = {"sender": "武进区人民政府督查室", "rate_limit": {"count": 100, "seconds": 60},
            "retry": {"max_attempts": 5, "backoff_seconds": 0}, "recipients": recipients}  # fmt: skip
    (ws.config / "channels.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )


def forms(value: str) -> set[str]:
    """What a value can look like in text: raw, percent-encoded as the usual functions encode it
    (hex in either case, twice), escaped for JSON and HTML; for a value of 4 characters or more,
    also every piece at least 4 long that a parser cutting at a delimiter leaves of it."""
    quoted = {
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value, safe="/:@!$&'()*+="),  # apprise's path quoting
        urllib.parse.urlencode({"k": value})[2:],
    }
    quoted |= {urllib.parse.quote(q, safe="") for q in quoted}  # twice
    quoted |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), q) for q in quoted}
    found = {value, json.dumps(value)[1:-1], html.escape(value), *quoted}
    if len(value) >= 4:
        cuts = [i for i, ch in enumerate(value) if ch in "@/:#&%+"]
        found |= {value[:i] for i in cuts} | {value[i + 1 :] for i in cuts}
        found = {f for f in found if len(f) >= 4}
    return found


def assert_nowhere(text: str) -> None:
    for name, value in SECRETS.items():
        for form in forms(value):
            assert form not in text, (
                f"{name}: {form!r} in {text[max(0, text.find(form) - 80) :][:200]!r}"
            )


def errors_stored(ws: Workspace) -> str:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        rows = con.sql("SELECT last_error FROM outbox WHERE last_error IS NOT NULL").fetchall()
        rows += con.sql("SELECT error FROM outbox_attempts WHERE error IS NOT NULL").fetchall()
        rows += con.sql("SELECT channel FROM outbox_attempts").fetchall()
    finally:
        con.close()
    return "\n".join(str(r[0]) for r in rows)


def test_secrets_with_url_delimiters_reach_their_servers_exactly_and_are_never_shown(
    evaluated: Workspace,
    env: dict[str, str],
    bot: BotServer,
    smtp: SmtpServer,
    smtp_short: SmtpServer,
) -> None:
    configure(evaluated, bot, smtp, smtp_short)
    printed = []
    check = evaluated.run("channels", "check", "--format", "json")
    assert check.code == 0, check.err
    assert all(r["ok"] for r in json.loads(check.out))
    printed += [check.out, check.err]

    sent = evaluated.run("notify", "--period", "2026-03", "--as-of", AS_OF, "--kind", "bulletin",
                         "--format", "json")  # fmt: skip
    assert sent.code == 0, sent.err
    result = json.loads(sent.out)
    printed += [sent.out, sent.err]
    assert result["failed"] == 0 and result["sent"] == len(bot.received) + 2 >= 5
    # the SMTP servers let ducha log in: each saw exactly its password (tests/helpers.py)
    assert len(smtp.messages) == 1 and len(smtp_short.messages) == 1
    by_path = {r.path: r for r in bot.received}
    dingtalk = by_path["/robot/send"]
    assert dingtalk.query["access_token"] == SECRETS["DUCHA_S_DINGTALK"]
    assert "sign" in dingtalk.query  # and the 加签 was checked with the exact signing secret
    assert by_path["/cgi-bin/webhook/send"].query["key"] == SECRETS["DUCHA_S_WECOM"]
    (feishu,) = [p for p in by_path if "/hook/" in p]
    assert urllib.parse.unquote(feishu) == "/open-apis/bot/v2/hook/" + SECRETS["DUCHA_S_FEISHU"]

    # now everything fails: the bots answer with the token in their error, the mail servers are down
    bot.mode, bot.echo_token = "errcode", True
    smtp.stop()
    smtp_short.stop()
    for args in (["--format", "json"], []):
        failed = evaluated.run("notify", "--period", "2026-03", "--as-of", AS_OF,
                               "--kind", "chase", "--kind", "brief", "--kind", "receipt", *args)  # fmt: skip
        assert failed.code == 0, failed.err
        printed += [failed.out, failed.err]
    assert "孙益锋邮箱" in failed.out and "失败" in failed.out  # the failures are shown
    check = evaluated.run("channels", "check")
    printed += [check.out, check.err]
    stored = errors_stored(evaluated)
    assert "invalid token ****" in stored  # the echoed tokens were masked, not dropped
    assert_nowhere("\n".join(printed))
    assert_nowhere(stored)


def test_every_form_of_a_secret_is_masked_and_ordinary_text_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a gateway, apprise or an HTTP library may write back: the value raw or encoded, a
    piece a parser cut off at a delimiter, a short token echoed alone or standing in its URL."""
    monkeypatch.setenv("DUCHA_S_LONG", "P@ssw0rd/x:y")
    monkeypatch.setenv("DUCHA_S_TOKEN", "ab")
    secrets = Secrets()
    secrets.resolve("mailtos://ducha:${DUCHA_S_LONG}@smtp.wj.gov.cn?to=a@wj.gov.cn")
    secrets.resolve("wxbots://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${DUCHA_S_TOKEN}")
    secrets.resolve("fsbots://open.feishu.cn/open-apis/bot/v2/hook/${DUCHA_S_TOKEN}")
    for text in [
        "login P@ssw0rd/x:y refused",
        "password=P%40ssw0rd%2fx%3Ay",  # lowercase hex
        "P%2540ssw0rd%252Fx%253Ay",  # encoded twice
        '{"password": "P@ssw0rd\\/x:y"}',
        "could not resolve host ssw0rd/x",  # what a parser cutting at "@" leaves
        "user P@ssw0rd, host x:y",
        "invalid token ab",
        "Max retries exceeded with url: /cgi-bin/webhook/send?key=ab (Caused by …)",
        "POST /open-apis/bot/v2/hook/ab failed",
        "mailtos://ducha:ab@smtp.wj.gov.cn",
    ]:
        masked = secrets.mask(text)
        assert "****" in masked, text
        for value in ("P@ssw0rd/x:y", "ssw0rd", "P%40ss", "P%2540", "ssw0rd\\/x"):
            assert value not in masked, (text, masked)
        assert " ab" not in masked and "=ab" not in masked and "/ab" not in masked, masked
    for text in ["HTTP 500 about a bad gateway", "errcode=310000 keywords not in content", "abc"]:
        assert secrets.mask(text) == text  # a two-letter secret inside words is not masked


def test_a_prefect_secret_without_a_prefect_server_is_one_line_and_nothing_is_sent(
    evaluated: Workspace, bot: BotServer, tmp_path: Path
) -> None:
    """No PREFECT_API_URL: Prefect would start a temporary server of its own (10-15 s, and
    tracebacks) only to find no block. One line instead, exit 2, nothing sent nor written."""
    host = f"127.0.0.1:{bot.port}"
    data = {"recipients": {
        "工信局": [{"name": "工信局钉钉群", "url": f"dtalk://{host}/robot/send?access_token=dt-token-0123"}],
        "湖塘镇": [{"name": "湖塘镇钉钉群", "url": f"dtalk://{host}/robot/send?access_token=${{secret:hutang-token}}"}],
    }}  # fmt: skip
    (evaluated.config / "channels.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
    home = tmp_path / "prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    ducha = [str(Path(sys.executable).with_name("ducha")), "--db", str(evaluated.db), "--config",
             str(evaluated.config)]  # fmt: skip
    before = evaluated.state()
    for args in (["channels", "check"], ["notify", "--period", "2026-03", "--as-of", AS_OF]):
        started = time.monotonic()
        proc = subprocess.run([*ducha, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        took = time.monotonic() - started
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        line = proc.stderr.strip()
        assert "\n" not in line and "Traceback" not in line, line
        assert line.startswith("错误：") and "hutang-token" in line, line
        assert "没有配置 Prefect 服务器" in line and "PREFECT_API_URL" in line, line
        assert took < 8, f"{args}: {took:.1f} s (a temporary Prefect server was started?)"
        assert not list(home.iterdir()), "a temporary Prefect server was started"
    assert bot.received == []
    assert evaluated.state() == before
    assert not (evaluated.db.parent / "outbox").exists()
