"""What units write never becomes the office's links, images, markup or terminal commands.

A unit reports its 存在问题 with a Markdown link, an auto-loading image, HTML, a javascript:
link, terminal escapes and a right-to-left override, and names its file the same way; the
month is judged and every notice goes out to real receivers (DingTalk Markdown bots, a Feishu
text bot, HTML e-mail through a real SMTP server). What arrives quotes the unit's words, and
none of them acts.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from ducha import neutral
from ducha.submissions.templates import COL
from tests.helpers import BotServer, SmtpServer, Workspace
from tests.submissions.fuzz_files import Templates, csv_bytes

HOSTILE = (
    "[点此查看整改要求](http://evil.example/phish) ![跟踪](http://evil.example/t.png) "
    "<img src=x onerror=alert(1)> javascript:alert(1) \x1b[31m红字\x1b[0m \u202e倒序\u202c "
    "www.evil.example\n# 冒充标题\n- 冒充列表 **加粗** `代码` > 引用"
)
HOSTILE_NAME = "[点我](evil.example)<img src=x onerror=alert(1)>javascript:alert(1).csv"
TOKENS = {"DUCHA_TEST_TOKEN": "tok-5f4e3d2c1b0a", "DUCHA_TEST_SMTP": "smtp-pass-neutral-1"}
# what must not reach anyone from the unit's text
ACTIVE = re.compile(
    r"\]\(|!\[|<img|javascript:|https?://|www\.evil|\x1b|\u202e|^#|^- 冒充|\*\*加粗|`代码`",
    re.MULTILINE,
)


INERT_TEXT = re.compile(r"javascript:|https?://|www\.evil|\x1b|\u202e")
# the office's own link to the unit's portal page: the one address a notice may carry
PORTAL_LINK = re.compile(r"专用填报链接（请勿转发）：http://127\.0\.0\.1:8000/u/[\w-]+\.[\w-]+")


def test_markdown_keeps_the_words_and_drops_every_device() -> None:
    md = neutral.markdown(HOSTILE)
    assert not ACTIVE.search(md), md
    for words in ("点此查看整改要求", "红字", "倒序", "冒充标题", "冒充列表", "加粗", "代码"):
        assert words in md
    plain = neutral.plain(HOSTILE)
    assert "http://" not in plain and "javascript:" not in plain and "\x1b" not in plain
    assert "[点此查看整改要求]" in plain  # plain text shows brackets as brackets
    assert neutral.terminal("名\n称\x1b[2K") == "名\\n称\\x1b[2K"
    assert neutral.quote("长" * 300, 200) == "长" * 199 + "…"


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)
    return TOKENS


def _recipients(ws: Workspace) -> tuple[list[str], list[str]]:
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        units = [u for (u,) in con.sql("SELECT name FROM units ORDER BY name").fetchall()]
        leaders = [
            p for (p,) in con.sql(
                "SELECT DISTINCT unnest(leaders) FROM tasks WHERE year = 2026 ORDER BY 1"
            ).fetchall()
        ]  # fmt: skip
    finally:
        con.close()
    return units, leaders


def test_a_units_words_reach_every_channel_without_acting(
    sample_months: Workspace, tokens: dict[str, str], tmp_path: Path
) -> None:
    ws = sample_months
    templates = Templates(ws.db, tmp_path / "templates")
    unit = next(u for u in templates.units if len(templates.by_unit[u]) >= 5)
    fill = templates.fill(unit, random.Random(7))
    for line in templates.lines(unit):
        if line.first:
            fill.cells[(line.row, COL["存在问题"])] = HOSTILE
        if line.metric.position:
            fill.cells[(line.row, COL["累计完成"])] = 0  # far behind: chased, issues quoted
            fill.cells[(line.row, COL["本月完成"])] = 0
    rows, _ = templates.filled_grid(fill)  # a CSV: it carries control characters as they are
    path = tmp_path / HOSTILE_NAME
    path.write_bytes(csv_bytes(rows, "utf-8"))
    ws.ok("ingest", str(path), "--received-at", "2026-04-03 10:00")
    ws.ok("evaluate", "--period", "2026-03")

    bot, smtp = BotServer().start(), SmtpServer("ducha", TOKENS["DUCHA_TEST_SMTP"]).start()
    try:
        host = f"127.0.0.1:{bot.port}"
        markdown_bot = {"format": "markdown",
                        "url": f"dtalk://{host}/robot/send?access_token=${{DUCHA_TEST_TOKEN}}"}  # fmt: skip
        text_bot = {
            "format": "text",
            "url": f"fsbot://{host}/open-apis/bot/v2/hook/${{DUCHA_TEST_TOKEN}}",
        }
        mail = {"format": "html",
                "url": f"mailto://ducha:${{DUCHA_TEST_SMTP}}@127.0.0.1:{smtp.port}?from=ducha@wj.gov.cn&to=office@wj.gov.cn"}  # fmt: skip
        units, leaders = _recipients(ws)
        recipients = {u: [dict(markdown_bot, name=f"{u}群")] for u in units}
        recipients[unit] = [dict(markdown_bot, name=f"{unit}群"), dict(mail, name=f"{unit}邮箱"),
                            dict(text_bot, name=f"{unit}飞书")]  # fmt: skip
        for i, leader in enumerate(leaders):
            way = (markdown_bot, text_bot, mail)[i % 3]
            recipients[leader] = [dict(way, name=f"{leader}渠道")]
        channels = {"sender": "武进区人民政府督查室", "reply_workdays": 5,
                    "rate_limit": {"count": 1000, "seconds": 1},
                    "retry": {"max_attempts": 2, "backoff_seconds": 0}, "recipients": recipients}  # fmt: skip
        (ws.config / "channels.yaml").write_text(
            yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8"
        )
        ws.ok("notify", "--period", "2026-03", "--as-of", "2026-04-09")
        mails = [
            f"{m['subject']}\n{m.get_body(preferencelist=('html', 'plain')).get_content()}"
            for m in smtp.messages
        ]
    finally:
        bot.stop()
        smtp.stop()

    markdown = [r.text for r in bot.received if r.path == "/robot/send"]
    text = [r.text for r in bot.received if r.path != "/robot/send"]
    assert markdown and text
    assert [t for t in markdown if "点此查看整改要求" in t], "no message quotes the problem"
    assert [t for t in markdown if "点我" in t], "no receipt names the file"
    assert any(PORTAL_LINK.search(t) for t in markdown + text)
    for body in markdown:
        assert not ACTIVE.search(PORTAL_LINK.sub("", body)), body[:2000]
    for body in text:  # brackets are only brackets in plain text; links, escapes are not
        assert not INERT_TEXT.search(PORTAL_LINK.sub("", body)), body[:2000]
    html_quoting = [m for m in mails if "点我" in m or "点此查看整改要求" in m]
    assert html_quoting, "no e-mail carries the unit's words"
    for body in mails:
        assert "<img src=x" not in body and "javascript:" not in body and "\x1b" not in body
    assert any("&lt;img src=x onerror=alert(1)&gt;" in m for m in html_quoting)
