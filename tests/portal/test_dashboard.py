"""The supervisors' dashboard (issue 19) through a real `ducha portal` and the system's Chromium:
only a login form to strangers, a wrong password refused, a supervisor finds the month's lagging
tasks and a unit's figures and statements in a few clicks, logs out; a leader sees the tasks in
their charge first; an idle session ends; logins and pages are audited with the account's name.
Accounts and sessions are also tested as plain functions."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from tests.helpers import ROOT, Workspace, assert_user_error
from tests.portal.servers import PortalServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SUPERVISOR, SUPERVISOR_PASSWORD = "督查员", "correct-horse-battery"
LEADER, LEADER_PASSWORD = "yeqing", "leader-horse-battery"
LEADER_NAME = "叶青"  # as the tasks list the leader


def _make_root(root: Path, sample_db: Path, **settings: object) -> Workspace:
    shutil.copytree(ROOT / "config", root / "config")
    if settings:
        path = root / "config" / "workspace.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) | settings
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (root / "data").mkdir()
    shutil.copy(sample_db, root / "data" / "ducha.duckdb")
    ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    ws.ok("evaluate", "--period", "2026-03")
    ws.ok("users", "add", SUPERVISOR, "--role", "supervisor", stdin=SUPERVISOR_PASSWORD + "\n")
    ws.ok("users", "add", LEADER, "--role", "leader", "--leader", LEADER_NAME,
          stdin=LEADER_PASSWORD + "\n")  # fmt: skip
    return ws


@pytest.fixture(scope="module")
def board(
    tmp_path_factory: pytest.TempPathFactory, _sample_months_db: Path
) -> Iterator[PortalServer]:
    root = tmp_path_factory.mktemp("dashboard")
    _make_root(root, _sample_months_db)
    server = PortalServer(root).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("the Debian chromium package is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _log_in(page: object, base: str, name: str, password: str) -> None:
    page.goto(base + "/")  # type: ignore[attr-defined]
    page.fill("#name", name)  # type: ignore[attr-defined]
    page.fill("#password", password)  # type: ignore[attr-defined]
    page.click("form.login button")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def _audit(
    server: PortalServer, want: tuple[str, str] = ("logout", SUPERVISOR), seconds: float = 15
) -> list[tuple[str, str | None]]:
    """(action, account) of the dashboard's audit rows, once the desk has handed `want` over."""
    deadline = time.monotonic() + seconds
    while True:
        rows = server.query(
            "SELECT action, user_name FROM portal_events WHERE user_name IS NOT NULL "
            "OR action LIKE 'login%' ORDER BY happened_at")  # fmt: skip
        if want in rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


# ------------------------------------------------------------------ through the browser


@pytest.mark.xdist_group("browser")
def test_a_supervisor_logs_in_finds_a_lagging_task_and_a_units_figures_and_logs_out(
    browser: object, board: PortalServer
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(board.base + "/")
    text = page.inner_text("main")
    assert "登录督查驾驶舱" in text and "2026-0" not in text and "滞后" not in text

    _log_in(page, board.base, SUPERVISOR, "not-the-password")
    assert "账号或密码不正确" in page.inner_text("main")
    assert "任务研判" not in page.inner_text("main")

    _log_in(page, board.base, SUPERVISOR, SUPERVISOR_PASSWORD)
    assert "2026年3月目标任务督查" in page.inner_text("h1")
    lagging = board.query(
        "SELECT task_id FROM eval_tasks WHERE period = '2026-03' "
        "AND status IN ('lagging', 'critical') ORDER BY task_id")  # fmt: skip
    assert lagging, "the sample month has lagging tasks"
    heading = page.inner_text("h3")
    assert f"滞后和严重滞后的任务（{len(lagging)} 项）" == heading
    missing = board.query(
        "SELECT count(*) FROM (SELECT DISTINCT unit FROM assignments WHERE year = 2026) a "
        "WHERE unit NOT IN (SELECT unit FROM latest_submissions WHERE period = '2026-03')"
    )
    assert f"未报送 {missing[0][0]}" in page.inner_text(".tally")

    task_id = lagging[0][0]
    page.click(f"a:text-is('{task_id}') >> nth=0")  # click 1: the task
    page.wait_for_load_state()
    assert task_id in page.inner_text("h1")
    units = board.query(
        "SELECT DISTINCT unit FROM eval_unit_metrics WHERE period = '2026-03' AND task_id = ?",
        [task_id])  # fmt: skip
    figures = page.inner_text("main")
    assert all(u in figures for (u,) in units)
    stated = board.query(
        "SELECT unit, issues FROM latest_statements WHERE period = '2026-03' AND task_id = ? "
        "AND issues IS NOT NULL", [task_id])  # fmt: skip
    for _, issue in stated:
        assert issue.strip()[:20] in figures
    unit = units[0][0]
    page.click(f"a:text-is('{unit}') >> nth=0")  # click 2: one unit
    page.wait_for_load_state()
    assert page.inner_text("h1") == unit
    assert "报送的文件和回执" in page.inner_text("main")
    sent = board.query("SELECT count(*) FROM submissions WHERE unit = ?", [unit])[0][0]
    files = page.locator("section:nth-of-type(2) table tr:not(.receipt)")
    assert files.count() == sent + 1  # with the header
    receipt = board.query(
        "SELECT receipt FROM submissions WHERE unit = ? ORDER BY received_at DESC, "
        "submission_id DESC LIMIT 1", [unit])[0][0]  # fmt: skip
    page.locator("tr.receipt summary").first.click()  # the latest file's receipt, as sent
    assert receipt.splitlines()[0] in page.locator("tr.receipt pre").first.inner_text()

    page.click("text=退出登录")
    page.wait_for_load_state()
    assert "登录督查驾驶舱" in page.inner_text("main")
    page.goto(f"{board.base}/d/task/{task_id}?period=2026-03")
    assert "登录督查驾驶舱" in page.inner_text("main")  # sent back to the login form

    rows = _audit(board)
    assert ("login_failed", SUPERVISOR) in rows and ("login", SUPERVISOR) in rows
    assert ("dashboard", SUPERVISOR) in rows and ("logout", SUPERVISOR) in rows


@pytest.mark.xdist_group("browser")
def test_a_leader_sees_the_tasks_in_their_charge_first(
    browser: object, board: PortalServer
) -> None:
    theirs = {
        t for (t,) in board.query(
            "SELECT task_id FROM tasks WHERE active AND list_contains(leaders, ?)", [LEADER_NAME])
    }  # fmt: skip
    assert theirs
    page = browser.new_page()  # type: ignore[attr-defined]
    _log_in(page, board.base, LEADER, LEADER_PASSWORD)
    sections = page.locator("main section")
    first_after_reports = sections.nth(1)
    assert f"我分管的任务（{len(theirs)} 项）" in first_after_reports.inner_text()
    listed = set(first_after_reports.locator("td:first-child a").all_inner_texts())
    assert listed == theirs
    assert f"{LEADER}（领导：{LEADER_NAME}）" in page.inner_text("header")
    # a supervisor has no such section
    other = browser.new_page()  # type: ignore[attr-defined]
    _log_in(other, board.base, SUPERVISOR, SUPERVISOR_PASSWORD)
    assert "我分管的任务" not in other.inner_text("main")


@pytest.mark.xdist_group("browser")
def test_the_dashboard_fits_a_phone_and_a_desk(
    browser: object, board: PortalServer, tmp_path: Path
) -> None:
    for name, width in (("phone", 390), ("desk", 1280)):
        page = browser.new_page(viewport={"width": width, "height": 844})  # type: ignore[attr-defined]
        _log_in(page, board.base, SUPERVISOR, SUPERVISOR_PASSWORD)
        for path in ("/", "/d/task/2026-058?period=2026-03", "/d/unit/湖塘镇?period=2026-03",
                     "/d/notices?period=2026-03"):  # fmt: skip
            page.goto(board.base + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        page.goto(board.base + "/d/task/2026-058?period=2026-03")
        assert page.locator("svg.chart").count() >= 1  # the metric's year
        shot = tmp_path / f"dashboard-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000


@pytest.mark.xdist_group("browser")
def test_an_idle_session_ends(browser: object, tmp_path: Path, _sample_months_db: Path) -> None:
    _make_root(tmp_path, _sample_months_db, session_idle_minutes=0.05)  # 3 seconds
    server = PortalServer(tmp_path).start()
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        _log_in(page, server.base, SUPERVISOR, SUPERVISOR_PASSWORD)
        assert "任务研判" in page.inner_text("main")
        page.reload()
        assert "任务研判" in page.inner_text("main")  # within the idle time: still in
        time.sleep(4)
        page.reload()
        assert "登录督查驾驶舱" in page.inner_text("main")
    finally:
        server.stop()


# ------------------------------------------------------------------ forms and accounts, over HTTP


def test_the_login_form_needs_its_token_and_refuses_other_sites(board: PortalServer) -> None:
    import re

    with httpx.Client(base_url=board.base) as client:
        plain = client.post("/login", data={"name": SUPERVISOR, "password": SUPERVISOR_PASSWORD})
        assert plain.status_code == 403 and "ducha_session" not in plain.cookies
        token = re.search(r'name="token" value="([^"]+)"', client.get("/").text).group(1)
        crossed = client.post(
            "/login", data={"name": SUPERVISOR, "password": SUPERVISOR_PASSWORD, "token": token},
            headers={"Sec-Fetch-Site": "cross-site"},
        )  # fmt: skip
        assert crossed.status_code == 403 and "ducha_session" not in crossed.cookies
        good = client.post(
            "/login", data={"name": SUPERVISOR, "password": SUPERVISOR_PASSWORD, "token": token}
        )
        assert good.status_code == 303 and good.cookies.get("ducha_session")
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert SUPERVISOR_PASSWORD not in board.log_text()
        # a page of the dashboard without a session: back to the login form
    assert httpx.get(board.base + "/d/notices").status_code == 303


def test_users_are_added_with_argon2_and_mistakes_change_nothing(sample_months: Workspace) -> None:
    ws = sample_months
    ws.ok("users", "add", "张敏", "--role", "supervisor", stdin="long-enough-pass\n")
    (stored,) = ws.state()["users"]
    assert stored[0] == "张敏" and stored[3].startswith("$argon2id$")
    assert "long-enough-pass" not in repr(stored)
    before = ws.state()
    assert_user_error(
        ws, ["users", "add", "李四", "--role", "supervisor"], "密码至少", stdin="short\n"
    )
    assert_user_error(ws, ["users", "add", "张敏", "--role", "supervisor"], "已存在",
                      stdin="long-enough-pass\n")  # fmt: skip
    assert_user_error(ws, ["users", "add", "王五", "--role", "leader"], "没有由“王五”分管",
                      stdin="long-enough-pass\n")  # fmt: skip
    assert_user_error(ws, ["users", "add", "赵六", "--role", "boss"], "--role",
                      stdin="long-enough-pass\n")  # fmt: skip
    assert_user_error(ws, ["users", "add", "钱七", "--role", "supervisor"], "标准输入")
    assert ws.state() == before
    ws.ok("users", "disable", "张敏")
    assert "已停用" in ws.ok("users", "list")


def test_passwords_and_sessions_as_plain_functions() -> None:
    from ducha.portal.accounts import Sessions, hash_password, password_matches

    hashed = hash_password("a-password-1")
    assert password_matches(hashed, "a-password-1")
    assert not password_matches(hashed, "a-password-2")
    assert not password_matches("not a hash", "a-password-1")
    now = [0.0]
    sessions = Sessions(idle_seconds=30 * 60, max_seconds=10 * 3600, clock=lambda: now[0])
    sid = sessions.start("甲", "supervisor", None)
    assert sessions.get(sid).user == "甲"
    for _ in range(20):  # kept alive by use, a request every 29 minutes ...
        now[0] += 29 * 60
        assert sessions.get(sid) is not None
    now[0] += 29 * 60  # ... but not beyond ten hours in all
    assert sessions.get(sid) is None
    idle = sessions.start("乙", "leader", "叶青")
    now[0] += 30 * 60 + 1
    assert sessions.get(idle) is None
    ended = sessions.start("丙", "supervisor", None)
    assert sessions.end(ended) is not None and sessions.get(ended) is None
    assert sessions.get("forged") is None and sessions.get(None) is None


@pytest.mark.xdist_group("browser")
def test_a_unit_asks_for_an_extension_a_supervisor_approves_and_the_schedule_moves(
    browser: object, board: PortalServer
) -> None:
    """申请延期 through the unit's page, approved on the dashboard with a reason; the next
    evaluation (run while the portal runs) stretches the task's 序时 to the new date; the unit
    hears of it through its channel (here: the outbox folder); a leader cannot decide."""
    (task_id, unit, target, expected), *_ = board.query(
        "SELECT m.task_id, t.lead_units[1], m.target, m.expected FROM eval_metrics m "
        "JOIN tasks t USING (task_id) WHERE m.period = '2026-03' AND m.kind = 'cumulative' "
        "AND m.status IN ('lagging', 'critical') AND len(t.lead_units) = 1 AND m.task_id IN "
        "(SELECT task_id FROM eval_metrics WHERE period = '2026-03' GROUP BY task_id "
        "HAVING count(*) = 1) AND m.task_id NOT IN (SELECT task_id FROM metric_schedule) "
        "ORDER BY m.task_id")  # fmt: skip
    assert expected == pytest.approx(target * 3 / 12)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(board.link(unit))
    page.select_option("#request-task", task_id)
    page.select_option("#kind", "extension")
    page.fill("#new-date", "2027-03-31")
    page.fill("#reason", "受项目审批进度影响，申请延期至2027年3月底完成。")
    page.click("text=提交申请")
    page.wait_for_selector(".accepted")
    assert "已提交申请延期" in page.inner_text(".accepted")

    leader = browser.new_page()  # type: ignore[attr-defined]
    _log_in(leader, board.base, LEADER, LEADER_PASSWORD)
    leader.goto(board.base + "/d/requests?period=2026-03")
    assert task_id in leader.inner_text("main") and leader.locator("form.decide").count() == 0

    boss = browser.new_page()  # type: ignore[attr-defined]
    _log_in(boss, board.base, SUPERVISOR, SUPERVISOR_PASSWORD)
    assert "单位申请待审核" in boss.inner_text("main")
    boss.click("text=单位申请待审核")
    request = boss.locator(".request.pending").filter(has_text=task_id)
    request.locator("textarea").fill("同意延期至2027年3月31日。")
    request.locator("button[value=approve]").click()
    boss.wait_for_load_state()
    decided = boss.locator(".request").filter(has_text=task_id).inner_text()
    assert "已同意" in decided and SUPERVISOR in decided and "同意延期至2027年3月31日" in decided

    board.ws.ok("evaluate", "--period", "2026-03")  # while the portal runs
    ((now_expected,),) = board.query(
        "SELECT expected FROM eval_metrics WHERE period = '2026-03' AND task_id = ?", [task_id]
    )
    assert now_expected == pytest.approx(target * 3 / 15)
    boss.goto(f"{board.base}/d/task/{task_id}?period=2026-03")
    assert f"{target * 3 / 15:,.0f}".replace(",", "")[:3] in boss.inner_text("main").replace(
        ",", ""
    )

    board.ws.ok("notify", "--period", "2026-03", "--kind", "decision", "--as-of", "2026-04-09")
    answers = list((board.root / "data" / "outbox" / "2026-03").glob(f"decision-{unit}-*"))
    assert len(answers) == 1
    text = answers[0].read_text(encoding="utf-8")
    assert "同意" in text and task_id in text and "2027年3月31日" in text
    assert ("decide", SUPERVISOR) in _audit(board, ("decide", SUPERVISOR))


def test_a_trusted_proxy_may_name_the_user_and_nobody_else_may(
    tmp_path: Path, _sample_months_db: Path
) -> None:
    """trusted_user_header: the reverse proxy that authenticated the user names them; the
    header counts only from trusted_proxies, and only for an account ducha knows."""
    _make_root(tmp_path, _sample_months_db, trusted_user_header="X-Remote-User",
               trusted_proxies=["127.0.0.1"])  # fmt: skip
    server = PortalServer(tmp_path).start()
    try:
        for sent in (quote(SUPERVISOR), SUPERVISOR.encode()):  # percent-encoded, or UTF-8 bytes
            as_proxy = httpx.get(server.base + "/", headers={"X-Remote-User": sent})
            assert as_proxy.status_code == 200 and "任务研判" in as_proxy.text
            assert "登录督查驾驶舱" not in as_proxy.text
        unknown = httpx.get(server.base + "/", headers={"X-Remote-User": quote("不存在的人")})
        assert "登录督查驾驶舱" in unknown.text and "任务研判" not in unknown.text
        elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with elsewhere:
            forged = elsewhere.get(server.base + "/", headers={"X-Remote-User": quote(SUPERVISOR)})
        assert "登录督查驾驶舱" in forged.text and "任务研判" not in forged.text
    finally:
        server.stop()


def test_a_supervisor_opens_a_units_evidence_from_the_task(board: PortalServer) -> None:
    import re

    unit = "湖塘镇"
    action, task = board.task_form(unit, "evidence")
    pdf = b"%PDF-1.4\n% site photos\n" + b"1" * 4096
    sent = httpx.post(action, data={"task": task}, files={"file": ("验收报告.pdf", pdf)},
                      follow_redirects=True)  # fmt: skip
    assert "已收到佐证材料" in sent.text
    ((evidence_id,),) = board.query(
        "SELECT evidence_id FROM evidence WHERE unit = ? AND file_name = '验收报告.pdf'", [unit]
    )
    assert httpx.get(f"{board.base}/d/evidence/{evidence_id}").status_code == 303  # no session
    with httpx.Client(base_url=board.base) as client:
        token = re.search(r'name="token" value="([^"]+)"', client.get("/").text).group(1)
        client.post("/login", data={"name": SUPERVISOR, "password": SUPERVISOR_PASSWORD,
                                    "token": token})  # fmt: skip
        listed = client.get(f"/d/task/{task}?period=2026-03").text
        assert f'href="/d/evidence/{evidence_id}"' in listed and "验收报告.pdf" in listed
        got = client.get(f"/d/evidence/{evidence_id}")
        assert got.content == pdf and got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"].startswith("attachment")
        assert client.get("/d/evidence/999999").status_code == 404


def test_a_units_request_form_says_what_is_missing_and_keeps_nothing_wrong(
    board: PortalServer,
) -> None:
    unit = "牛塘镇"
    action, task = board.task_form(unit, "request")
    pdf = b"%PDF-1.4\n" + b"2" * 1024

    def ask(data: dict, files: dict | None = None) -> httpx.Response:
        return httpx.post(action, data=data, files=files, follow_redirects=True)

    cases = [
        ({"task": "2099-001", "kind": "extension", "reason": "理由"}, None, "所涉及的任务"),
        ({"task": task, "kind": "extension", "reason": "理由", "new_date": "2026-02-30"}, None,
         "延期后的完成日期"),
        ({"task": task, "kind": "extension", "reason": "理由", "new_date": "2020-01-01"}, None,
         "须晚于今天"),
        ({"task": task, "kind": "extension", "reason": " ", "new_date": "2027-01-31"}, None,
         "申请理由"),
        ({"task": task, "kind": "signoff", "reason": "已完成"}, None, "须附佐证材料"),
        ({"task": task, "kind": "signoff", "reason": "已完成"},
         {"file": ("证明.pdf", b"<html>not a pdf</html>")}, "内容须与扩展名相符"),
    ]  # fmt: skip
    for data, files, said in cases:
        refused = ask(data, files)
        assert refused.status_code == 400 and said in refused.text, (data, refused.text[-300:])
    assert board.query("SELECT count(*) FROM requests WHERE unit = ?", [unit]) == [(0,)]
    done = ask({"task": task, "kind": "signoff", "reason": "已全部完成"},
               {"file": ("验收证明.pdf", pdf)})  # fmt: skip
    assert "已提交申请销号" in done.text
    deadline = time.monotonic() + 15
    while not board.query("SELECT count(*) FROM requests WHERE unit = ?", [unit])[0][0]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    ((kind, status, evidence),) = board.query(
        "SELECT r.kind, r.status, e.file_name FROM requests r JOIN evidence e USING (evidence_id) "
        "WHERE r.unit = ?", [unit])  # fmt: skip
    assert (kind, status, evidence) == ("signoff", "pending", "验收证明.pdf")
