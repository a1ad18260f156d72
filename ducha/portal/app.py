"""The units' portal: each unit's page at its personal link, its template, its uploads and their
receipts; on its front page the supervisors' dashboard (ducha.portal.dashboard). Server-rendered Chinese HTML without JavaScript or external assets (a government
intranet, a phone 390 px wide). The web server never opens the database: the desk
(ducha.portal.desk) keeps what arrives and asks the clerk (ducha.portal.clerk), a process of its
own, for the rest.

Security: links are signed and checked on every request (ducha.portal.links) and a bad one shows
no unit data; uploads are limited while they stream (a request body over the limit is cut off
and answered 413), kept under a safe name and never served back; every form carries a token
bound to its link and cross-site posts are refused; requests are limited per link and per
address; every response has a CSP without script, no framing, no referrer (the link is the
credential), no sniffing; views, downloads, uploads and refusals are audited.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ducha.config import Config
from ducha.periods import Period
from ducha.portal import online, requests
from ducha.portal.desk import EVIDENCE_MAGIC, Busy, Desk, PageCopies, safe_file_name
from ducha.portal.links import Link, Links
from ducha.submissions.templates import STATUSES

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # as ducha ingest's limit for a file
_FORM_SLACK = 64 * 1024  # the form's other fields and multipart framing
RECEIPT_WAIT = 8.0  # seconds an upload's page waits for its receipt before it says 正在核验
PAGE_WAIT = 3.0  # seconds a view waits for the clerk's copy of the units' pages
# requests per window (seconds): a link is one clerk; an address may be a whole town hall's NAT
RATE = {"link": (60, 60.0), "address": (1200, 60.0)}
PAGES_FRESH = 300.0  # seconds a copy of the units' pages is shown before it is read again
MAX_FRAGMENTS = 2000  # rendered task lists kept (units with the same tasks share one)
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BodyLimit:
    """Cuts a request body off at the limit while it streams in: the app is never handed more,
    and the client gets 413 (a Content-Length over the limit is refused before any byte)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except _TooLarge:
            if not started:
                await _too_large(send)


class _TooLarge(Exception):
    pass


_TOO_LARGE = f"文件超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB 的上限，未接收。"


async def _too_large(send: Send) -> None:
    await _plain(send, 413, _TOO_LARGE)


class Guard:
    """Every response gets the security headers; an address over its rate gets 429 at once."""

    def __init__(self, app: ASGIApp, limits: RateLimit) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        count, window = RATE["address"]
        if not self.limits.allow(f"a:{client[0] if client else '-'}", count, window):
            await _plain(send, 429, "请求过于频繁，请稍后再试。")
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                named = {name.lower() for name, _ in own}  # a page's own policy stays (briefing)
                added = [(k, v) for k, v in _HEADER_BYTES if k not in named]
                message = {**message, "headers": [*own, *added]}
            await send(message)

        await self.app(scope, receive, with_headers)


_HEADER_BYTES = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]


async def _plain(send: Send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"), *_HEADER_BYTES,
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": text.encode()})


class RateLimit:
    """A sliding window of requests per key."""

    def __init__(self) -> None:
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, count: int, window: float) -> bool:
        now = time.monotonic()
        times = self.seen[key]
        while times and times[0] < now - window:
            times.popleft()
        if len(times) >= count:
            return False
        times.append(now)
        return True


def create_app(
    cfg: Config, *, base_url: str = "", now: Callable[[], datetime] | None = None
) -> Any:
    """The portal as an ASGI app (uvicorn serves it: `ducha portal`)."""
    from ducha import clock
    from ducha.portal.links import signing_key
    from ducha.templating import environment
    from ducha.workspace import TEMPLATES_DIR

    clock_now = now or (lambda: clock.now(cfg.schedule.timezone))
    links = Links(signing_key(cfg.workspace.data_dir), cfg.code, cfg.workspace.data_dir)
    desk = Desk(cfg, clock_now)
    pages = environment("portal")
    # the stylesheet, kept in memory under a name that changes with it: a browser keeps it
    # (every page view fetched it again, about 2.6 ms of the server's CPU each time)
    style = (TEMPLATES_DIR / "portal" / "portal.css").read_bytes()
    style_version = hashlib.sha256(style).hexdigest()[:12]
    pages.globals["stylesheet"] = f"{base_url}/static/portal.css?v={style_version}"
    limits = RateLimit()
    copies = PageCopies(lambda period: desk.asked(("pages", period)), PAGES_FRESH, PAGE_WAIT)
    keeping = threading.Lock()  # held for a moment only: the rendered task lists
    fragments: dict[int, tuple[list[Any], dict[str, Markup]]] = {}  # id(tasks) → its parts
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.desk = desk

    @app.on_event("startup")
    def _start() -> None:
        desk.start()

    @app.on_event("shutdown")
    def _stop() -> None:
        desk.stop()

    def render(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(**values), status_code=status)

    def address(request: Request) -> str:
        return request.client.host if request.client else "-"

    def checked(request: Request, token: str) -> Link | Response:
        link = links.check(token, datetime.now(UTC))
        if link is None:
            desk.event("refused", None, None, address(request), "无效或过期的链接")
            return render("invalid.html.j2", status=404)
        count, window = RATE["link"]
        if not limits.allow(f"l:{link.unit}:{link.period}", count, window):
            return PlainTextResponse("请求过于频繁，请稍后再试。", status_code=429)
        return link

    def page_data(link: Link) -> dict[str, Any] | None:
        """The unit's tasks: every unit's pages of the period are read at once and kept for a
        few minutes (PageCopies); while a flow holds the database the last copy is shown."""
        pages = copies.get(str(link.period))
        return pages.get(link.unit) if pages else None

    def tasks_of(link: Link) -> set[str]:
        """The ids of the unit's tasks for the period (its forms may name only these)."""
        page = page_data(link)
        return {t["id"] for t in page["tasks"]} if page else set()

    def listed(page: dict[str, Any] | None) -> dict[str, Markup] | None:
        """The unit's task list and the evidence form's choices, rendered once per list of
        tasks: units with the same tasks (the towns, mostly) share the list, and a first
        view on deadline day costs the page around them only. Kept with the list itself (a
        new copy of the pages renders again)."""
        if page is None:
            return None
        tasks = page["tasks"]
        key = id(tasks)
        with keeping:
            found = fragments.get(key)
            if found is not None and found[0] is tasks:
                return found[1]
        parts = {
            name: Markup(pages.get_template(f"task_{name}.html.j2").render(tasks=tasks))
            for name in ("options", "list")
        }
        with keeping:
            fragments[key] = (tasks, parts)
            if len(fragments) > MAX_FRAGMENTS:
                fragments.pop(next(iter(fragments)))
        return parts

    def unit_view(link: Link, token: str, status: int = 200, **extra: Any) -> HTMLResponse:
        page = page_data(link)
        return render("unit.html.j2", status=status, link=link, token=token,
                      form=links.form_token(token), page=page, listed=listed(page),
                      max_mb=MAX_UPLOAD_BYTES // 1024 // 1024, **extra)  # fmt: skip

    def template_of(link: Link) -> Path:
        """The unit's template for the period (written by the clerk once)."""
        return Path(desk.ask(("template", link.unit, str(link.period)), PAGE_WAIT * 3))

    @app.get("/static/portal.css")
    async def css(v: str = "") -> Response:
        kept = "public, max-age=31536000, immutable" if v == style_version else "no-cache"
        return Response(style, media_type="text/css", headers={"Cache-Control": kept})

    def at_hand(period: Period) -> bool:
        """Whether the pages of the period are kept and fresh (nothing to wait for)."""
        return copies.at_hand(str(period))

    @app.get("/u/{token}", response_class=HTMLResponse)
    async def unit_page(request: Request, token: str) -> Response:
        link = checked(request, token)
        if isinstance(link, Response):
            return link
        desk.event("view", link.unit, link.period, address(request))
        if at_hand(link.period):  # rendered here: a thread costs more than the page
            return unit_view(link, token)
        return await run_in_threadpool(unit_view, link, token)  # may wait for the clerk

    @app.get("/u/{token}/template")
    def template(request: Request, token: str) -> Response:
        link = checked(request, token)
        if isinstance(link, Response):
            return link
        try:
            path = template_of(link)
        except Busy:
            return render("busy.html.j2", status=503, token=token)
        desk.event("download", link.unit, link.period, address(request), path.name)
        return FileResponse(path, filename=path.name, media_type=(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ))  # fmt: skip

    @app.post("/u/{token}/upload")
    async def upload(request: Request, token: str) -> Response:
        sent_form = await posted(request, token, files=1, fields=2, part=64 * 1024)
        if isinstance(sent_form, Response):
            return sent_form
        link, form = sent_form
        sent = form.get("file")
        if sent is None or isinstance(sent, str) or not sent.filename:
            return again(link, token, "请选择要上传的进展表文件。")
        name = safe_file_name(sent.filename, link.unit, link.period)
        if name is None:
            desk.event("refused", link.unit, link.period, address(request), "文件类型不支持")
            return again(link, token, "只接收 .xlsx、.xls 或 .csv 格式的进展表。")
        return received(request, link, token, name, await sent.read(), "upload", name)

    @app.get("/u/{token}/form", response_class=HTMLResponse)
    def online_form(request: Request, token: str) -> Response:
        """The template's fields on a page, for a unit that would rather fill in here."""
        link = checked(request, token)
        if isinstance(link, Response):
            return link
        page = page_data(link)
        if page is None:
            return render("busy.html.j2", status=503, token=token)
        desk.event("view", link.unit, link.period, address(request), "在线填报")
        return render("form.html.j2", link=link, token=token, form=links.form_token(token),
                      page=page, statuses=STATUSES, field=online.field)  # fmt: skip

    @app.post("/u/{token}/form")
    async def online_submit(request: Request, token: str) -> Response:
        sent_form = await posted(request, token, files=0, fields=4000, part=8 * 1024)
        if isinstance(sent_form, Response):
            return sent_form
        link, form = sent_form
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            template_path = template_of(link)
        except Busy:
            return render("busy.html.j2", status=503, token=token)
        data = online.filled_template(template_path, values)
        name = f"{link.unit}-{link.period}-在线填报.xlsx"
        return received(request, link, token, name, data, "upload", "在线填报")

    @app.post("/u/{token}/evidence")
    async def evidence(request: Request, token: str) -> Response:
        """佐证材料 for one of the unit's tasks: a PDF, an image, a Word or Excel file or a zip."""
        sent_form = await posted(request, token, files=1, fields=2, part=64 * 1024)
        if isinstance(sent_form, Response):
            return sent_form
        link, form = sent_form
        tasks = tasks_of(link)
        task_id, sent = str(form.get("task") or ""), form.get("file")

        if task_id not in tasks:
            return again(link, token, "请选择佐证材料所属的任务。")
        kept = await evidence_of(request, link, sent, "请选择要上传的佐证材料文件。")
        if isinstance(kept, str):
            return again(link, token, kept)
        name, data = kept
        copies.drop(str(link.period))  # the page lists it once it is in
        return received(request, link, token, name, data, "evidence", f"{task_id} {name}", task_id)

    @app.post("/u/{token}/request")
    async def ask_for(request: Request, token: str) -> Response:
        """申请延期 (a new date) or 申请销号 (the task done, its evidence attached) for one of the
        unit's tasks; a supervisor decides on the dashboard."""
        sent_form = await posted(request, token, files=1, fields=6, part=64 * 1024)
        if isinstance(sent_form, Response):
            return sent_form
        link, form = sent_form
        tasks = tasks_of(link)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        asked = requests.checked(fields, tasks, clock_now().date())
        if isinstance(asked, str):
            return again(link, token, asked)
        if asked["kind"] == "signoff":
            kept = await evidence_of(request, link, form.get("file"),
                                     "申请销号须附佐证材料（完成情况的证明文件）。")  # fmt: skip
            if isinstance(kept, str):
                return again(link, token, kept)
            name, data = kept
        else:
            name, data = "申请.json", json.dumps(asked, ensure_ascii=False).encode()
        copies.drop(str(link.period))  # the page lists it once it is in
        task_id = asked.pop("task_id")
        return received(request, link, token, name, data, "request",
                        f"{task_id} {requests.KINDS[asked['kind']]}", task_id, asked)  # fmt: skip

    async def evidence_of(
        request: Request, link: Link, sent: Any, missing: str
    ) -> tuple[str, bytes] | str:
        """An evidence file as sent (its safe name and bytes), or what is wrong with it: none
        chosen (`missing`), or bytes that are not what its suffix says (audited)."""
        if sent is None or isinstance(sent, str) or not sent.filename:
            return missing
        name = safe_file_name(sent.filename, link.unit, link.period, tuple(EVIDENCE_MAGIC))
        data = await sent.read()
        if name is None or not data.startswith(EVIDENCE_MAGIC[Path(name).suffix.lower()]):
            desk.event("refused", link.unit, link.period, address(request), "佐证材料类型不符")
            return "佐证材料只接收 PDF、JPG、PNG、Word、Excel 或 ZIP 文件，且内容须与扩展名相符。"
        return name, data

    async def posted(
        request: Request, token: str, files: int, fields: int, part: int
    ) -> tuple[Link, Any] | Response:
        """A form sent through a link: the link, the form's token and origin checked before the
        body is read; the body parsed within its limits (cut off at the upload limit)."""
        link = checked(request, token)
        if isinstance(link, Response):
            return link
        refused = _refused_post(request, link, token)
        if refused is not None:
            return refused
        try:
            form = await request.form(max_files=files, max_fields=fields, max_part_size=part)
        except _TooLarge:  # BodyLimit stopped the stream at the limit
            desk.event("refused", link.unit, link.period, address(request), "超过上限")
            return PlainTextResponse(_TOO_LARGE, status_code=413, headers={"Connection": "close"})
        return link, form

    def received(
        request: Request, link: Link, token: str, name: str, data: bytes, action: str,
        detail: str, task_id: str | None = None, asked: dict[str, Any] | None = None,
    ) -> Response:  # fmt: skip
        """What was sent, kept in the spool and audited; the browser is sent on to its receipt."""
        kept = desk.spool_upload(link.unit, link.period, name, data, task_id=task_id,
                                 request=asked)  # fmt: skip
        desk.event(action, link.unit, link.period, address(request), f"{kept.id} {detail}")
        return RedirectResponse(f"{base_url}/u/{token}/r/{kept.id}", status_code=303)

    def again(link: Link, token: str, problem: str) -> HTMLResponse:
        """The unit's page once more, saying what was wrong with what was sent."""
        return unit_view(link, token, status=400, problem=problem)

    def _refused_post(request: Request, link: Link, token: str) -> Response | None:
        if request.headers.get("sec-fetch-site") == "cross-site":
            desk.event("refused", link.unit, link.period, address(request), "跨站提交")
            return PlainTextResponse("拒绝来自其他网站的提交。", status_code=403)
        if not links.check_form_token(token, request.query_params.get("form", "")):
            desk.event("refused", link.unit, link.period, address(request), "表单令牌无效")
            return PlainTextResponse("页面已过期，请重新打开链接后再上传。", status_code=403)
        return None

    @app.get("/u/{token}/r/{upload_id}", response_class=HTMLResponse)
    async def receipt(request: Request, token: str, upload_id: str) -> Response:
        link = checked(request, token)
        if isinstance(link, Response):
            return link
        kept = desk.upload(upload_id)
        if kept is None or (kept.unit, kept.period) != (link.unit, link.period):
            return render("invalid.html.j2", status=404)
        await desk.wait_answered(kept, RECEIPT_WAIT)  # no thread held while waiting
        return render("receipt.html.j2", link=link, token=token, upload=kept,
                      receipt=kept.receipt())  # fmt: skip

    from ducha.portal import dashboard

    dashboard.install(app, cfg, desk, render, limits.allow, address, clock_now)
    return Guard(BodyLimit(app, MAX_UPLOAD_BYTES + _FORM_SLACK), limits)


def link_expiry(cfg: Config, period: Period) -> datetime:
    """When a unit's link for the period stops working: the end of the collection window plus
    the grace (schedule.yaml link_grace_days); a link issued later (a late report asked for)
    works for the grace from the day it is issued."""
    from datetime import timedelta

    from ducha import clock

    tz = cfg.schedule.timezone
    last = max(
        cfg.schedule.links_expire(period.year, period.month),
        clock.today(tz) + timedelta(days=cfg.schedule.link_grace_days),
    )
    return datetime.combine(last, datetime.max.time()).replace(tzinfo=clock.zone(tz))
