"""The supervisors' dashboard (驾驶舱) on the portal's front page.

Behind a login (ducha.portal.accounts): to someone not logged in `/` shows only a login form.
Logged in, a supervisor or leader sees the month at a glance (who reported, who opened the
link but has not, who is missing; tasks by status, goal, lead unit and leader; lagging and
critical tasks), each task (metrics, the units' figures, their 存在问题 and evidence, its year in
a small chart), each unit (files sent, receipts, on-time record) and the notices' ledger. A
leader's tasks come first. Every login, failed login, logout and page is in the audit
(portal_events, with the account's name).

Like the units' pages, everything is read by the clerk (ducha.portal.overview) and rendered on
the server without script. Forms carry a token bound to the session (the login form: to a
cookie set with it) and cross-site posts are refused.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.concurrency import run_in_threadpool

from ducha.config import Config
from ducha.errors import UserError
from ducha.periods import Period
from ducha.portal.accounts import ROLES, Session, Sessions, dummy_hash, password_matches
from ducha.portal.desk import Busy, Desk
from ducha.portal.runs import DEPLOYMENTS, Prefect
from ducha.reporting import charts
from ducha.vocabulary import (
    BEHIND,
    DECLARED_ZH,
    KIND_ZH,
    REQUEST_KIND_ZH,
    REQUEST_STATUS_ZH,
    ROLE_ZH,
    STATUS_ZH,
    SUBMISSION_ZH,
    UNIT_KIND_ZH,
    Outcome,
    Step,
    labels,
)

OUTCOME_ZH = labels(Outcome)

SESSION_COOKIE = "ducha_session"
LOGIN_COOKIE = "ducha_login"
LOGIN_RATE = (10, 300.0)  # login attempts per account name and address per window (seconds)
ACCOUNT_RECHECK = 60.0  # seconds: a disabled account's sessions end within this
ASK_WAIT = 5.0
STATES = {"reported": "已报送", "opened": "已读未报", "missing": "未报送"}
WORDS = {"status": STATUS_ZH, "declared": DECLARED_ZH, "submission": SUBMISSION_ZH,
         "kind": UNIT_KIND_ZH, "role": ROLE_ZH, "notice": KIND_ZH, "account": ROLES,
         "outcome": OUTCOME_ZH, "state": STATES, "request": REQUEST_KIND_ZH,
         "request_status": REQUEST_STATUS_ZH}  # fmt: skip


def install(
    app: FastAPI, cfg: Config, desk: Desk, render: Callable[..., HTMLResponse],
    allow: Callable[[str, int, float], bool], address: Callable[[Request], str],
    now: Callable[[], datetime],
) -> None:  # fmt: skip
    """The dashboard's routes on the portal's app."""
    settings = cfg.settings
    sessions = Sessions(settings.session_idle_minutes * 60, settings.session_hours * 3600)
    secure = (settings.base_url or "").startswith("https://")
    key = secrets.token_bytes(32)  # the login form's tokens (sessions end with the process too)
    proxied: dict[str, Session] = {}

    def login_token(nonce: str) -> str:
        return hmac.new(key, b"login:" + nonce.encode(), "sha256").hexdigest()

    def account(name: str) -> dict[str, Any] | None:
        return desk.ask(("account", name), ASK_WAIT)  # type: ignore[no-any-return]

    def current(request: Request) -> Session | None:
        """The logged-in user: a trusted proxy's header (if configured), else the session
        cookie; an account disabled or removed meanwhile ends its session."""
        header = settings.trusted_user_header
        if header and address(request) in settings.trusted_proxies:
            name = proxied_name(request.headers.get(header, ""))
            if name:
                return proxy_user(name)
        sid = request.cookies.get(SESSION_COOKIE)
        session = sessions.get(sid)
        if session is not None and time.monotonic() - session.checked > ACCOUNT_RECHECK:
            try:
                found = account(session.user)
            except Busy:
                return session  # checked again on the next request
            if found is None or found["disabled"]:
                sessions.end(sid)
                return None
            session.checked = time.monotonic()
        return session

    def proxy_user(name: str) -> Session | None:
        session = proxied.get(name)
        if session is None or time.monotonic() - session.checked > ACCOUNT_RECHECK:
            try:
                found = account(name)
            except Busy:
                return session
            if found is None or found["disabled"]:
                proxied.pop(name, None)
                return None
            session = Session(name, found["role"], found["leader"], time.monotonic(),
                              time.monotonic())  # fmt: skip
            proxied[name] = session
        return session

    def audit(request: Request, action: str, user: str | None, detail: str = "",
              period: Period | None = None) -> None:  # fmt: skip
        desk.event(action, None, period, address(request), detail, user=user)

    def login_page(request: Request, status: int = 200, problem: str = "") -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        page = render("login.html.j2", status=status, token=login_token(nonce), problem=problem)
        page.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=secure,
                        max_age=3600)  # fmt: skip
        return page

    def period_of(request: Request, known: list[str] | None = None) -> Period:
        text = request.query_params.get("period", "")
        if text:
            with suppress(UserError):
                return Period.parse(text[:10])
        if known:
            return Period.parse(known[0])
        today = now()
        return (
            Period(today.year, today.month - 1) if today.month > 1 else Period(today.year - 1, 12)
        )

    def busy() -> HTMLResponse:
        return render("dashboard_busy.html.j2", status=503)

    def cross_site(request: Request) -> bool:
        return request.headers.get("sec-fetch-site") == "cross-site"

    @app.get("/", response_class=HTMLResponse)
    def front(request: Request) -> Response:
        user = current(request)
        if user is None:
            return login_page(request)
        try:
            known = desk.ask(("month", str(period_of(request))), ASK_WAIT)
            period = period_of(request, known["periods"])
            if str(period) != known["period"]:
                known = desk.ask(("month", str(period)), ASK_WAIT)
        except Busy:
            return busy()
        audit(request, "dashboard", user.user, "驾驶舱", period)
        return render("dashboard.html.j2", user=user, words=WORDS, **month_view(known, user))

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        if cross_site(request):
            return PlainTextResponse("拒绝来自其他网站的提交。", status_code=403)
        form = await request.form(max_files=0, max_fields=3, max_part_size=1024)
        name = str(form.get("name") or "").strip()[:40]
        password = str(form.get("password") or "")[:200]
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not hmac.compare_digest(login_token(nonce), str(form.get("token") or "")):
            return login_page(request, 403, "登录页面已过期，请重新输入。")
        count, window = LOGIN_RATE
        if not allow(f"login:{address(request)}:{name}", count, window):
            audit(request, "login_refused", name or None, "尝试过于频繁")
            return login_page(request, 429, "登录尝试过于频繁，请 5 分钟后再试。")
        try:
            found = await run_in_threadpool(account, name) if name else None
        except Busy:
            return busy()
        ok = await run_in_threadpool(  # argon2 takes tens of milliseconds: not on the event loop
            password_matches, found["password_hash"] if found else dummy_hash(), password
        )
        if not ok or found is None or found["disabled"]:
            audit(request, "login_failed", name or None, "账号或密码不正确" if not found or not ok
                  else "账号已停用")  # fmt: skip
            return login_page(request, 401, "账号或密码不正确，或账号已停用。")
        sid = sessions.start(name, found["role"], found["leader"])
        audit(request, "login", name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=secure)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        user = await run_in_threadpool(current, request)  # it may ask the clerk
        form = await request.form(max_files=0, max_fields=2, max_part_size=1024)
        if (
            user is None
            or cross_site(request)
            or not hmac.compare_digest(user.form, str(form.get("token") or ""))
        ):
            return RedirectResponse("/", status_code=303)
        sessions.end(request.cookies.get(SESSION_COOKIE))
        audit(request, "logout", user.user)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    def one_of(request: Request, kind: str, name: str | None, what: str,
               page: Callable[[Session, Any, Period], HTMLResponse]) -> Response:  # fmt: skip
        """A dashboard page of a period: logged in, read by the clerk ((kind, period[, name])),
        audited; a task or unit that is not there is a page saying so."""
        user = current(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        period = period_of(request)
        try:
            found = desk.ask((kind, str(period), *([name] if name is not None else [])), ASK_WAIT)
        except Busy:
            return busy()
        if found is None:
            return render("dashboard_missing.html.j2", status=404, user=user, words=WORDS,
                          what=what)  # fmt: skip
        audit(request, "dashboard", user.user, what if name is None else f"{what} {name}", period)
        return page(user, found, period)

    @app.get("/d/task/{task_id}", response_class=HTMLResponse)
    def task_page(request: Request, task_id: str) -> Response:
        return one_of(request, "task", task_id[:20], "任务", lambda user, found, _: render(
            "dashboard_task.html.j2", user=user, words=WORDS, **task_view(found)))  # fmt: skip

    @app.get("/d/unit/{unit}", response_class=HTMLResponse)
    def unit_page(request: Request, unit: str) -> Response:
        return one_of(request, "unit", unit[:60], "单位", lambda user, found, period: render(
            "dashboard_unit.html.j2", user=user, words=WORDS, u=found, period=period))  # fmt: skip

    @app.get("/d/notices", response_class=HTMLResponse)
    def notices_page(request: Request) -> Response:
        return one_of(request, "notices", None, "通知台账", lambda user, rows, period: render(
            "dashboard_notices.html.j2", user=user, words=WORDS, period=period, notices=rows,
            failed=[n for n in rows if n["status"] == "failed"]))  # fmt: skip

    @app.get("/d/briefing")
    def briefing(request: Request) -> Response:
        """The month's briefing as written by `ducha report` (HTML, or ?format=pdf)."""
        from ducha.reporting.files import briefing_stem

        user = current(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        period = period_of(request)
        pdf = request.query_params.get("format") == "pdf"
        path = cfg.workspace.data_dir / "reports" / (
            briefing_stem(cfg.name, period) + (".pdf" if pdf else ".html"))  # fmt: skip
        if not path.is_file():
            return render("dashboard_missing.html.j2", status=404, user=user, words=WORDS,
                          what=f"{period.zh}的通报{'（PDF）' if pdf else ''}")  # fmt: skip
        audit(request, "dashboard", user.user, "通报", period)
        if pdf:
            return FileResponse(path, media_type="application/pdf", content_disposition_type="inline",
                                filename=path.name)  # fmt: skip
        return HTMLResponse(path.read_text(encoding="utf-8"), headers={"Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        )})  # fmt: skip

    async def supervisors_form(
        request: Request, doing: str, fields: int, part: int
    ) -> tuple[Session, Any] | Response:
        """A form a supervisor sent: logged in, the session's token, from this site, and a
        supervisor's account (leaders only look)."""
        user = await run_in_threadpool(current, request)  # it may ask the clerk
        if user is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form(max_files=0, max_fields=fields, max_part_size=part)
        if cross_site(request) or not hmac.compare_digest(user.form, str(form.get("token") or "")):
            return PlainTextResponse("页面已过期，请刷新后重试。", status_code=403)
        if user.role != "supervisor":
            return PlainTextResponse(f"只有督查室账号可以{doing}。", status_code=403)
        return user, form

    @app.get("/d/evidence/{evidence_id}")
    def evidence(request: Request, evidence_id: int) -> Response:
        """A piece of evidence as a download (never shown in the page: a unit's file), from the
        archive only."""
        user = current(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        try:
            found = desk.ask(("evidence", evidence_id), ASK_WAIT)
        except Busy:
            return busy()
        archive = cfg.workspace.archive_dir.resolve()
        path = Path(found[1]).resolve() if found else None
        if path is None or not path.is_relative_to(archive) or not path.is_file():
            return render("dashboard_missing.html.j2", status=404, user=user, words=WORDS,
                          what="佐证材料")  # fmt: skip
        audit(request, "dashboard", user.user, f"佐证材料 {evidence_id}")
        return FileResponse(path, filename=found[0], media_type="application/octet-stream")

    @app.get("/d/runs", response_class=HTMLResponse)
    def runs_page(request: Request, problem: str = "", status: int = 200) -> Response:
        """Start a run of a Prefect deployment; the latest runs and their states."""
        user = current(request)
        if user is None:
            return RedirectResponse("/", status_code=303)
        prefect, runs = Prefect.configured(), []
        if prefect is not None:
            try:
                runs = prefect.recent()
            except UserError as exc:
                problem = problem or str(exc)
        audit(request, "dashboard", user.user, "运行流程")
        return render("dashboard_runs.html.j2", status=status, user=user, words=WORDS,
                      period=period_of(request), prefect=prefect, runs=runs,
                      deployments=DEPLOYMENTS, steps=[s.value for s in Step],
                      problem=problem)  # fmt: skip

    @app.post("/d/runs", response_class=HTMLResponse)
    async def start_run(request: Request) -> Response:
        """A supervisor starts the whole month or one step, as in the Prefect UI's run form."""
        sent = await supervisors_form(request, "运行流程", fields=5, part=256)
        if isinstance(sent, Response):
            return sent
        user, form = sent
        prefect = Prefect.configured()
        try:
            if prefect is None:
                raise UserError("未配置 Prefect 服务器（PREFECT_API_URL）")
            period = Period.parse(str(form.get("period") or "")[:10])
            run = await run_in_threadpool(
                prefect.start, str(form.get("which") or ""), str(form.get("step") or ""),
                period, cfg.code, user.user,
            )  # fmt: skip
        except UserError as exc:
            return await run_in_threadpool(runs_page, request, str(exc), 400)
        audit(request, "run", user.user, f"{run['name']} {run['parameters']}", period)
        return RedirectResponse(f"/d/runs?period={period}", status_code=303)

    @app.get("/d/requests", response_class=HTMLResponse)
    def requests_page(request: Request, problem: str = "", status: int = 200) -> Response:
        return one_of(request, "requests", None, "单位申请", lambda user, rows, period: render(
            "dashboard_requests.html.j2", status=status, user=user, words=WORDS, period=period,
            requests=rows, problem=problem))  # fmt: skip

    @app.post("/d/requests/{request_id}", response_class=HTMLResponse)
    async def decide(request: Request, request_id: int) -> Response:
        """A supervisor approves or rejects a unit's request, with a reason."""
        sent = await supervisors_form(request, "审核申请", fields=4, part=4096)
        if isinstance(sent, Response):
            return sent
        user, form = sent
        decision = str(form.get("decision") or "")
        reason = " ".join(str(form.get("reason") or "").split())[:500]
        if decision not in ("approve", "reject") or not reason:
            return await run_in_threadpool(
                requests_page, request, "请选择同意或不同意，并写明理由。", 400
            )
        try:
            done = await run_in_threadpool(desk.ask, ("decide", request_id, decision == "approve",
                                           reason, user.user, now().isoformat()), ASK_WAIT)  # fmt: skip
        except Busy:
            return busy()
        if done is None:
            return await run_in_threadpool(
                requests_page, request, f"申请 {request_id} 已经审核过，未再改动。", 409
            )
        audit(request, "decide", user.user,
              f"申请 {request_id} {'同意' if decision == 'approve' else '不同意'}：{reason}")  # fmt: skip
        return RedirectResponse(f"/d/requests?period={request.query_params.get('period', '')}",
                                status_code=303)  # fmt: skip


def proxied_name(value: str) -> str:
    """The account a proxy's header names: UTF-8 sent as it is, or percent-encoded (HTTP headers
    carry bytes; a Chinese name arrives either way)."""
    from urllib.parse import unquote

    with suppress(UnicodeError):
        value = value.encode("latin-1").decode("utf-8")
    return unquote(value).strip()[:40]


def month_view(month: dict[str, Any], user: Session) -> dict[str, Any]:
    """What the front page shows of a month, a leader's tasks first."""
    period = Period.parse(month["period"])
    units = month["units"]
    groups = {state: [u for u in units if u["state"] == state] for state in STATES}
    briefing = month["briefing"]
    view: dict[str, Any] = {"period": period, "periods": month["periods"], "groups": groups,
                            "briefing": briefing, "pending": month["pending"]}  # fmt: skip
    if briefing is None:
        return view
    tasks = briefing["tasks"]
    mine = [t for t in tasks if user.leader and user.leader in (t["leaders"] or [])]
    behind = [t for t in tasks if t["status"] in BEHIND]
    behind.sort(key=lambda t: (t["status"] != "critical", -t["streak"], t["seq"] or 0))
    view.update(
        mine=mine,
        behind=behind,
        counts={s: sum(t["status"] == s for t in tasks) for s in STATUS_ZH},
        by={title: _grouped(tasks, key) for title, key in
            (("按目标", "goal"), ("按牵头单位", "lead_units"), ("按分管领导", "leaders"))},
    )  # fmt: skip
    return view


def _grouped(tasks: list[dict[str, Any]], key: str) -> list[tuple[str, dict[str, int]]]:
    groups: dict[str, dict[str, int]] = {}
    for t in tasks:
        names = t[key] if isinstance(t[key], list) else [t[key]]
        for name in names or ["（未列明）"]:
            counts = groups.setdefault(name, {})
            counts[t["status"]] = counts.get(t["status"], 0) + 1
    return sorted(groups.items(), key=lambda g: (-sum(g[1].get(s, 0) for s in BEHIND), g[0]))


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """A task's page: its metrics' charts over the year, the units' figures with what they said."""
    charts_by_position: dict[int, list[tuple[int, float | None, float | None]]] = {}
    labels: dict[int, str] = {}
    for h in task["history"]:
        target = h["target"] or None
        month = int(h["period"][-2:])
        actual = None if h["actual"] is None or not target else h["actual"] / target * 100
        expected = None if h["expected"] is None or not target else h["expected"] / target * 100
        charts_by_position.setdefault(h["position"], []).append((month, actual, expected))
        labels[h["position"]] = h["label"]
    stated = {s["unit"]: s for s in task["statements"]}
    return {
        "t": task,
        "period": Period.parse(task["period"]),
        "charts": [
            charts.history(labels[p], points)
            for p, points in charts_by_position.items()
            if any(a is not None for _, a, _ in points)
        ],  # fmt: skip
        "stated": stated,
        "quote": quote,
    }
