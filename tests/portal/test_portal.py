"""The units' portal (issue 18) through a real server on 127.0.0.1: links, the unit's page, the
template, uploads checked at once with their receipts, the database shared with other
processes, and the security of a page that faces a district's network."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ducha.db import sql
from ducha.periods import Period
from ducha.portal.links import Links
from tests.helpers import ROOT, Workspace
from tests.portal.servers import DUCHA, PortalServer, links_of
from tests.submissions.fuzz_files import Templates

PERIOD = Period(2026, 3)
# a flow run's hold on the database: opened as ducha opens it (waiting its turn, and saying so
# beside the database, which makes the portal's clerk let go), then kept
HOLDER = (
    "import sys, time; from pathlib import Path; from ducha.db import connect; "
    "con = connect(Path(sys.argv[1]), wait=60); print('held', flush=True); "
)


# ------------------------------------------------------------------ links, without a server


def test_a_link_is_bound_to_its_unit_period_workspace_and_time(tmp_path: Path) -> None:
    links = Links(b"k" * 40, "wujin", tmp_path)
    later = datetime.now(UTC) + timedelta(days=30)
    token = links.token("湖塘镇", PERIOD, later)
    link = links.check(token, datetime.now(UTC))
    assert link is not None and (link.unit, link.period) == ("湖塘镇", PERIOD)
    body, mac = token.split(".")
    forged = Links(b"k" * 40, "wujin", tmp_path).token("牛塘镇", PERIOD, later).split(".")[0]
    assert links.check(f"{forged}.{mac}", datetime.now(UTC)) is None  # another unit's body
    assert links.check(f"{body}.{mac[:-2]}AA", datetime.now(UTC)) is None  # a changed signature
    assert links.check(token, later + timedelta(seconds=1)) is None  # expired
    assert Links(b"k" * 40, "changzhou", tmp_path).check(token, datetime.now(UTC)) is None
    assert Links(b"x" * 40, "wujin", tmp_path).check(token, datetime.now(UTC)) is None
    links.revoke("湖塘镇")
    assert links.check(token, datetime.now(UTC)) is None  # revoked
    assert links.check(links.token("湖塘镇", PERIOD, later), datetime.now(UTC)) is not None
    # the portal keeps what it read of links.json until the file changes: a revocation by
    # another process (`ducha links --revoke`) counts from the next request on
    portal = Links(b"k" * 40, "wujin", tmp_path)
    again = links.token("湖塘镇", PERIOD, later)
    assert portal.check(again, datetime.now(UTC)) is not None
    links.revoke("湖塘镇")
    assert portal.check(again, datetime.now(UTC)) is None
    # the same bytes spelt otherwise (base64's unused low bits of the last character)
    last = mac[-1]
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same = [c for c in twin if c != last and (twin.index(c) >> 2) == (twin.index(last) >> 2)]
    assert links.check(f"{body}.{mac[:-1]}{same[0]}", datetime.now(UTC)) is None
    for junk in ("", ".", "a.b", "x" * 2000, "..", "%00.%00"):
        assert links.check(junk, datetime.now(UTC)) is None


def test_the_key_is_made_once_private_and_never_printed(portal_ws: Workspace) -> None:
    out = portal_ws.ok("links", "--period", "2026-03", "--format", "json")
    key = portal_ws.db.parent / "portal" / "key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().strip() not in out
    again = portal_ws.ok("links", "--period", "2026-03", "--format", "json")
    assert again == out  # the same key, the same links
    rows = json.loads(out)
    assert {r["unit"] for r in rows} >= {"湖塘镇", "高新区"} and len(rows) == len(
        {r["url"] for r in rows}
    )


def test_pages_answered_late_are_kept_and_not_asked_for_again() -> None:
    """The clerk answers the pages question after the view stopped waiting (a large round of
    uploads came before it): the next views wait for that same answer and keep it; asked anew
    each time, the clerk would read every unit's pages once per view. A busy answer (a flow
    holds the database) is asked again at the next view, and the last copy is shown."""
    from ducha.portal.desk import PageCopies, Reply

    asked: list[Reply] = []

    def ask(period: str) -> Reply:
        asked.append(Reply())
        return asked[-1]

    def answer(ok: bool, value: Any = None, after: float = 0.0) -> None:  # as the desk's listener
        reply = asked[-1]

        def now() -> None:
            reply.ok, reply.value = ok, value
            reply.done.set()

        threading.Timer(after, now).start()

    copies = PageCopies(ask, fresh=60.0, wait=0.2)
    assert copies.get("2026-03") is None  # no answer within the wait
    assert copies.get("2026-03") is None and len(asked) == 1  # the same question still out
    pages = {"湖塘镇": {"tasks": []}}
    answer(True, pages, after=0.05)  # late
    assert copies.get("2026-03") == pages and len(asked) == 1  # that answer, kept
    assert copies.get("2026-03") == pages and copies.at_hand("2026-03") and len(asked) == 1

    copies.fresh = 0.0  # from now on every copy is stale: read again at each view
    real_ask, copies.ask = copies.ask, lambda period: (real_ask(period), answer(False))[0]
    assert copies.get("2026-03") == pages and len(asked) == 2  # busy: the last copy shown
    copies.ask = lambda period: (real_ask(period), answer(True, {}))[0]
    assert copies.get("2026-03") == {} and len(asked) == 3  # asked again, and read

    copies.fresh, copies.ask = 60.0, real_ask  # evidence came while a question was out:
    copies.drop("2026-03")
    assert copies.get("2026-03") is None and len(asked) == 4
    copies.drop("2026-03")
    answer(True, pages)
    assert copies.get("2026-03") == pages and not copies.at_hand("2026-03")  # shown once
    copies.ask = lambda period: (real_ask(period), answer(True, {}))[0]
    assert copies.get("2026-03") == {} and len(asked) == 5 and copies.at_hand("2026-03")


def test_links_name_only_units_that_report(portal_ws: Workspace) -> None:
    from tests.helpers import assert_user_error

    assert_user_error(
        portal_ws, ["links", "--period", "2026-03", "--unit", "不存在局"], "不在单位名册"
    )
    assert_user_error(portal_ws, ["links", "--period", "2026-03", "--revoke"], "--unit")
    assert_user_error(portal_ws, ["links", "--period", "2025-03"], "没有 2025 年的目标任务")


# ------------------------------------------------------------------ through the server


def test_the_page_shows_the_unit_its_tasks_and_a_form(portal: PortalServer) -> None:
    url = portal.link("湖塘镇")
    page = httpx.get(url)
    assert page.status_code == 200
    text = page.text
    assert "湖塘镇" in text and "2026年3月" in text and "报送截止" in text
    assert 'type="file"' in text and "<script" not in text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    template = httpx.get(url + "/template")
    assert template.status_code == 200 and template.content[:2] == b"PK"


def test_the_stylesheet_is_kept_by_the_browser_under_a_name_that_changes_with_it(
    portal: PortalServer,
) -> None:
    """Every page names the stylesheet with its version: the browser keeps it for a year
    instead of fetching it with every page view; the bare name is checked each time."""
    page = httpx.get(portal.link("湖塘镇")).text
    (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)
    style = (ROOT / "templates" / "portal" / "portal.css").read_bytes()
    assert href == f"/static/portal.css?v={hashlib.sha256(style).hexdigest()[:12]}"
    kept = httpx.get(portal.base + href)
    assert kept.status_code == 200 and kept.content == style
    assert kept.headers["content-type"].startswith("text/css")
    assert kept.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert kept.headers["x-content-type-options"] == "nosniff"
    for other in ("/static/portal.css", "/static/portal.css?v=0"):
        assert httpx.get(portal.base + other).headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("mangle", ["tamper", "other-key", "junk"])
def test_a_bad_link_shows_no_unit_data(portal: PortalServer, mangle: str) -> None:
    url = portal.link("湖塘镇")
    base, token = url.rsplit("/", 1)
    body, mac = token.split(".")
    bad = {
        "tamper": f"{body[:-3]}{'A' if body[-3] != 'A' else 'B'}{body[-2:]}.{mac}",
        "other-key": Links(b"z" * 40, portal.cfg_code, portal.root).token(
            "湖塘镇", PERIOD, datetime.now(UTC) + timedelta(days=9)
        ),
        "junk": "../../etc/passwd",
    }[mangle]
    for path in ("", "/template"):
        page = httpx.get(f"{base}/{bad}{path}")
        assert page.status_code == 404
        assert "湖塘镇" not in page.text and "2026-001" not in page.text


def test_an_upload_gets_its_receipt_at_once_and_is_stored(
    portal: PortalServer, templates: Templates, tmp_path: Path
) -> None:
    unit = "牛塘镇"
    fill = templates.fill(unit, random.Random(1))
    path = templates.write_filled(fill, tmp_path / "进展表.xlsx")
    started = time.monotonic()
    receipt = portal.upload(unit, path)
    assert time.monotonic() - started < 10
    assert "已接收" in receipt.text, receipt.text
    assert portal.stored(unit) == ["accepted"]
    # a corrected file supersedes it; the history is kept
    fill2 = templates.fill(unit, random.Random(2))
    again = portal.upload(unit, templates.write_filled(fill2, tmp_path / "进展表-改.xlsx"))
    assert "已接收" in again.text and "取代" in again.text
    assert portal.stored(unit) == ["superseded", "accepted"]


def test_a_broken_file_shows_each_cell_and_reason(
    portal: PortalServer, templates: Templates, tmp_path: Path
) -> None:
    from ducha.submissions.templates import COL

    unit = "洛阳镇"
    fill = templates.fill(unit, random.Random(3))
    line = next(ln for ln in templates.lines(unit) if ln.metric.position)
    fill.cells[(line.row, COL["累计完成"])] = "约三十"
    receipt = portal.upload(unit, templates.write_filled(fill, tmp_path / "进展表.xlsx"))
    assert "未接收" in receipt.text
    assert "约三十" in receipt.text and "<td>" in receipt.text  # the cell and its reason
    assert portal.stored(unit) == ["rejected"]


def test_another_units_file_through_this_link_is_refused(
    portal: PortalServer, templates: Templates, tmp_path: Path
) -> None:
    fill = templates.fill("雪堰镇", random.Random(4))
    path = templates.write_filled(fill, tmp_path / "雪堰镇-2026年3月进展表.xlsx")
    receipt = portal.upload("前黄镇", path)
    assert "未接收" in receipt.text and "雪堰镇" in receipt.text
    assert "与本链接的单位（前黄镇）不一致" in receipt.text  # (not the command's --unit)
    assert portal.query("SELECT status FROM submissions WHERE file_name = ?", [path.name]) == [
        ("rejected",)
    ]
    assert portal.stored("前黄镇") == [] and "accepted" not in portal.stored("雪堰镇")


def test_forms_need_their_token_and_other_sites_cannot_post(
    portal: PortalServer, templates: Templates, tmp_path: Path
) -> None:
    unit = "礼嘉镇"
    path = templates.write_filled(templates.fill(unit, random.Random(5)), tmp_path / "a.xlsx")
    url = portal.link(unit)
    before = portal.spooled()
    files = {"file": ("a.xlsx", path.read_bytes())}
    assert httpx.post(url + "/upload", files=files).status_code == 403
    assert httpx.post(url + "/upload?form=" + "x" * 43, files=files).status_code == 403
    other = portal.form_action("湖塘镇").split("?form=")[1]  # another link's form token
    assert httpx.post(url + "/upload?form=" + other, files=files).status_code == 403
    cross = httpx.post(portal.form_action(unit), files=files,
                       headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert cross.status_code == 403
    assert portal.stored(unit) == [] and portal.spooled() == before


def test_an_oversize_upload_is_cut_off_while_it_streams(portal: PortalServer) -> None:
    url = portal.form_action("嘉泽镇")
    before = portal.spooled()
    sent = 0

    def body():  # a file part that never ends, without Content-Length: the server counts
        nonlocal sent
        yield (b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.xlsx"\r\n'
               b"Content-Type: application/octet-stream\r\n\r\n")  # fmt: skip
        chunk = b"0" * (1024 * 1024)
        for _ in range(60):
            sent += len(chunk)
            yield chunk

    try:
        response = httpx.post(url, content=body(), headers={
            "Content-Type": "multipart/form-data; boundary=x"}, timeout=30)  # fmt: skip
        assert response.status_code == 413
    except httpx.HTTPError:
        pass  # the server closed the connection once it had answered
    assert sent < 60 * 1024 * 1024  # it stopped reading: the rest was never taken
    # a declared length over the limit is answered before a byte of the body is sent
    target = httpx.URL(url)
    with socket.create_connection((target.host, target.port), timeout=10) as raw:
        raw.sendall(
            f"POST {target.raw_path.decode()} HTTP/1.1\r\nHost: {target.host}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {30 * 1024 * 1024}\r\n\r\n".encode()
        )
        assert raw.recv(64).startswith(b"HTTP/1.1 413")
    assert portal.spooled() == before


def test_an_upload_while_a_flow_holds_the_database_is_kept_and_checked_later(
    portal: PortalServer, templates: Templates, tmp_path: Path
) -> None:
    unit = "湟里镇"
    path = templates.write_filled(templates.fill(unit, random.Random(6)), tmp_path / "b.xlsx")
    action = portal.form_action(unit)  # the page as the clerk opened it before
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER + "time.sleep(float(sys.argv[2]))", str(portal.db), "12"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        first = portal.upload(unit, path, action)
        assert "已收到，正在核验" in first.text and 'http-equiv="refresh"' in first.text
        assert first.url.path.split("/r/")[1] in {p.name for p in portal.spool.iterdir()}
    finally:
        holder.wait(timeout=60)
    later = portal.wait_for_receipt(first.url)
    assert "已接收" in later.text
    assert portal.stored(unit) == ["accepted"]


def test_views_downloads_and_uploads_are_audited(portal: PortalServer) -> None:
    unit = "南夏墅街道"
    url = portal.link(unit)
    httpx.get(url)
    httpx.get(url + "/template")
    httpx.get(url.rsplit("/", 1)[0] + "/bad.token")
    events = portal.events(timeout=20, want={("view", unit), ("download", unit), ("refused", None)})
    assert {("view", unit), ("download", unit), ("refused", None)} <= events
    logged = portal.log_text()  # (the access log is on: `ducha portal --access-log`)
    assert '"GET /u/… HTTP/1.1" 200' in logged  # the requests are there, without their token
    assert portal.token(unit) not in logged


def test_links_of_the_command_line_open_in_the_server(portal: PortalServer) -> None:
    rows = links_of(portal.ws, "--unit", "湖塘镇", "--unit", "高新区", "--base-url", portal.base)
    assert [r["unit"] for r in rows] == ["湖塘镇", "高新区"]
    for row in rows:
        assert row["url"].startswith(portal.base + "/u/")
        assert httpx.get(row["url"]).status_code == 200


def test_a_reminder_says_when_the_link_was_never_opened(portal: PortalServer) -> None:
    """已读: a unit that opened its link is not told it has not; one that never did is, and
    every reminder carries the unit's own link."""
    opened, unopened = "前黄镇", "雪堰镇"
    httpx.get(portal.link(opened))
    assert ("view", opened) in portal.events(timeout=20, want={("view", opened)})
    portal.ws.ok("notify", "--period", "2026-03", "--kind", "催报", "--as-of", "2026-04-03")
    outbox = portal.root / "data" / "outbox" / "2026-03"
    texts = {
        unit: next(outbox.glob(f"reminder-{unit}-*.md")).read_text(encoding="utf-8")
        for unit in (opened, unopened)
    }
    assert "尚未打开" not in texts[opened] and "尚未打开" in texts[unopened]
    links = Links(
        (portal.root / "data" / "portal" / "key").read_text().strip().encode(), portal.cfg_code,
        portal.root / "data",
    )  # fmt: skip
    in_the_window = datetime(2026, 4, 3, tzinfo=UTC)  # the notices' links last as long as it
    for unit, text in texts.items():
        (url,) = re.findall(r"专用填报链接（请勿转发）：(\S+)", text)
        link = links.check(url.rsplit("/", 1)[1], in_the_window)
        assert link is not None and (link.unit, link.period) == (unit, PERIOD)


def test_evidence_is_archived_listed_and_checked_for_its_type(
    portal: PortalServer, tmp_path: Path
) -> None:
    """佐证材料 per task: archived by SHA-256, listed on the page; a file whose bytes are not
    what its suffix says, or a task not the unit's, is refused."""
    unit = "西湖街道"
    url = portal.link(unit)
    action, task = portal.task_form(unit, "evidence")
    pdf = b"%PDF-1.4\n% evidence\n" + b"0" * 2048
    done = httpx.post(action, data={"task": task}, files={"file": ("现场照片说明.pdf", pdf)},
                      follow_redirects=True)  # fmt: skip
    assert "已收到佐证材料" in done.text and task in done.text
    digest = hashlib.sha256(pdf).hexdigest()
    assert (portal.root / "data" / "archive" / "evidence" / f"{digest}.pdf").read_bytes() == pdf
    assert portal.query("SELECT unit, task_id, sha256 FROM evidence") == [(unit, task, digest)]
    assert "现场照片说明.pdf" in httpx.get(url).text  # listed on the unit's page
    fake = httpx.post(action, data={"task": task}, files={"file": ("a.pdf", b"<html>x</html>")})
    assert fake.status_code == 400 and "内容须与扩展名相符" in fake.text
    other = httpx.post(action, data={"task": "2099-001"}, files={"file": ("b.pdf", pdf)})
    assert other.status_code == 400 and "所属的任务" in other.text
    assert len(portal.query("SELECT * FROM evidence")) == 1
    # the briefing counts it for its task
    portal.ws.ok("evaluate", "--period", "2026-03")
    counted = portal.query(
        "SELECT task_id, evidence FROM (" + sql("reporting/task_judgements").strip().rstrip(";")
        + ") WHERE evidence > 0",
        {"period": "2026-03"},
    )  # fmt: skip
    assert counted == [(task, 1)]


def test_a_link_asking_too_often_is_told_to_wait(portal: PortalServer) -> None:
    """Requests are limited per link (a clerk) as well as per address."""
    from ducha.portal.app import RATE

    used = {"湖塘镇", "高新区", "牛塘镇", "洛阳镇", "雪堰镇", "前黄镇", "礼嘉镇", "嘉泽镇", "湟里镇",
            "南夏墅街道", "西湖街道"}  # fmt: skip
    unit = next(r["unit"] for r in links_of(portal.ws) if r["unit"] not in used)  # unopened
    url = portal.link(unit)
    count, _ = RATE["link"]
    with httpx.Client() as client:
        codes = [client.get(url).status_code for _ in range(count + 1)]
    assert codes[:count] == [200] * count and codes[-1] == 429
    assert "请求过于频繁" in httpx.get(url).text


def test_filling_in_online_is_checked_and_stored_like_a_file(portal: PortalServer) -> None:
    """The template's fields on a page: what is typed is checked by the same rules (a word where
    a number belongs is refused naming its cell), stored like a file, and the archive keeps the
    generated .xlsx as the original."""
    unit = "礼嘉镇"
    url = portal.link(unit)
    page = httpx.get(url + "/form")
    assert page.status_code == 200 and "在线填报" in page.text
    action = portal.base + re.search(r'action="([^"]+/form\?form=[^"]+)"', page.text).group(1)
    names = re.findall(r'name="([^"]+)"', page.text)
    figures = [n for n in names if n.endswith(":cumulative")]
    statuses = [n for n in names if n.endswith(":status")]
    assert figures and statuses
    typed = {n: "3" for n in figures} | {n.replace(":cumulative", ":month"): "1" for n in figures}
    typed |= {n: "序时推进" for n in statuses}
    typed[statuses[0].replace(":status", ":progress")] = "已召开推进会"
    bad = httpx.post(action, data=typed | {figures[0]: "约三十"}, follow_redirects=True)
    assert "未接收" in bad.text and "约三十" in bad.text
    good = httpx.post(action, data=typed, follow_redirects=True)
    assert "已接收" in good.text, good.text
    stored = portal.query(
        "SELECT archive_path FROM submissions WHERE unit = ? AND status = 'accepted'", [unit]
    )
    (archived,) = stored
    assert Path(archived[0]).read_bytes()[:2] == b"PK"  # the generated .xlsx, kept as sent
    figures_stored = portal.query(
        "SELECT count(*) FROM progress_metrics JOIN submissions USING (submission_id) "
        "WHERE submissions.unit = ? AND cumulative_value = 3", [unit],
    )  # fmt: skip
    assert figures_stored == [(len(figures),)]


@pytest.mark.xdist_group("prefect")
def test_the_key_may_come_from_a_prefect_secret_block(
    portal_ws: Workspace, prefect_server: object
) -> None:
    """Where the office keeps its secrets in Prefect: links are signed with the Secret block
    `ducha-portal-key`, and no key file is made."""
    import os

    env = {**os.environ, **prefect_server.env}  # type: ignore[attr-defined]
    env.pop("DUCHA_PORTAL_KEY", None)
    key = "k3y-" + "x" * 44
    subprocess.run(
        [sys.executable, "-c", "import sys; from prefect.blocks.system import Secret; "
         "Secret(value=sys.argv[1]).save('ducha-portal-key', overwrite=True)", key],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    out = subprocess.run(
        [DUCHA, "--db", str(portal_ws.db), "--config", str(portal_ws.config), "links",
         "--period", "2026-03", "--unit", "湖塘镇", "--format", "json"],
        env=env, check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    (row,) = json.loads(out)
    token = row["url"].rsplit("/", 1)[1]
    links = Links(key.encode(), "wujin", portal_ws.db.parent)
    assert links.check(token, datetime.now(UTC)) is not None
    assert not (portal_ws.db.parent / "portal" / "key").exists()
    assert key not in out


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _clerk(server: PortalServer) -> int:
    """The clerk's process: the server's child started by multiprocessing's spawn."""
    assert server.process is not None
    for pid in _children(server.process.pid):
        with suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    raise AssertionError("no clerk process")


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True  # ended, not yet reaped
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_the_clerk_is_restarted_and_nothing_spooled_is_lost_when_a_process_dies(
    portal_db: tuple[Path, Templates], templates: Templates, tmp_path: Path
) -> None:
    """The clerk (the portal's one process that opens the database) killed: the next upload
    starts it again. The web server killed with SIGKILL: the clerk ends by itself, and an
    upload that was only spooled (a flow held the database) is answered by the next portal."""
    root = tmp_path / "ws"
    shutil.copytree(ROOT / "config", root / "config")
    (root / "data").mkdir()
    shutil.copy(portal_db[0], root / "data" / "ducha.duckdb")
    server = PortalServer(root).start()
    try:
        unit = "牛塘镇"
        first = templates.write_filled(templates.fill(unit, random.Random(11)), tmp_path / "1.xlsx")
        assert "已接收" in server.upload(unit, first).text
        clerk = _clerk(server)
        os.kill(clerk, signal.SIGKILL)
        assert _gone(clerk, 10)
        second = templates.write_filled(
            templates.fill(unit, random.Random(12)), tmp_path / "2.xlsx"
        )
        assert "已接收" in server.wait_for_receipt(server.upload(unit, second).url).text
        assert server.stored(unit) == ["superseded", "accepted"]

        third = templates.write_filled(templates.fill(unit, random.Random(13)), tmp_path / "3.xlsx")
        action = server.form_action(unit)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER + "sys.stdin.readline()", str(server.db)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        pending = server.upload(unit, third, action)
        assert "已收到，正在核验" in pending.text
        clerk = _clerk(server)
        assert server.process is not None
        server.process.kill()
        server.process.wait(timeout=30)
        assert _gone(clerk, 15), "the clerk outlived the web server"
        holder.communicate("\n", timeout=30)
    finally:
        server.stop()
    again = PortalServer(root).start()
    try:
        url = again.base + pending.url.path
        assert "已接收" in again.wait_for_receipt(httpx.URL(url)).text
        assert again.stored(unit) == ["superseded", "superseded", "accepted"]
    finally:
        again.stop()
