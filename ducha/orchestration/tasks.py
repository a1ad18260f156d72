"""The month's steps as Prefect tasks, and what every ducha flow shares: the workspace a run is
for, one run per workspace at a time, and what supervisors see in the Prefect UI.

The steps themselves are plain functions (ducha.operations), tested without Prefect; here they
get Chinese names in the run graph, retries for what may work next time, and nothing else.

The modules the steps use are loaded with this one, before a run starts (a worker loads the
flow's module first): a missing or broken dependency fails the deployment at load time, before
any step has written, and a run's time on the server is the month's work.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import fastapi.encoders  # noqa: F401 (Prefect encodes a flow's parameters with it, on the first call)
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

import ducha.evaluation.rules
import ducha.notices.outbox
import ducha.notices.planning
import ducha.reporting.briefing
import ducha.submissions.ingest  # noqa: F401 (all five: loaded with this module, as said above)
from ducha import operations, presentation
from ducha.config import Config, load_config
from ducha.db import let_go
from ducha.errors import DatabaseBusy, UserError
from ducha.periods import Period
from ducha.reporting.files import briefing_url
from ducha.vocabulary import KIND_ZH, Step, kind_names
from ducha.workspace import workspace_by_code


def run_config(workspace: str | None) -> Config:
    """The configuration of the workspace a run is for (its code; None: the project root's),
    read and checked once at the start of the run: a mistake stops the run before any step.
    The tasks get it as it is (quote: Prefect neither copies nor inspects it)."""
    return load_config(workspace_by_code(workspace))


def _period(cfg: Config, period: str | None) -> Period:
    return (
        Period.parse(period) if period else operations.reporting_period(operations.local_today(cfg))
    )


def _key(cfg: Config, period: Period | None, what: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes only."""
    code = re.sub(r"[^a-z0-9-]+", "-", cfg.code.lower()).strip("-") or "workspace"
    when = f"{period.year}-{period.month:02d}-" if period else ""
    return f"ducha-{code}-{when}{what}"


# ------------------------------------------------------------------ one run per workspace

_SLOTS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "ducha_slots", default=frozenset()
)
SLOT_WAIT_SECONDS = 6 * 3600  # a run that waits longer than this for another fails, and says so
LEASE_SECONDS = 300  # a run that dies holds its slot this long at most; a live one renews it


@contextmanager
def workspace_slot(cfg: Config) -> Iterator[None]:
    """Hold the workspace's slot (global concurrency limit ducha-<code>-run, limit 1, made when
    missing) while a run works on it; a nested flow of the same run holds it already. Two calls
    to the server (take with a lease, give back), the lease renewed while the run lasts. With
    Prefect's temporary API (no PREFECT_API_URL: `ducha run` on its own) there is no server to
    queue on, nor one to free a dead run's slot: the database lock alone keeps runs apart."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    name = _key(cfg, None, "run")
    if name in _SLOTS.get() or not PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        lease = _take_slot(client, name, cfg.code)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lease, stop), name="ducha-slot", daemon=True)
    renewer.start()
    token = _SLOTS.set(_SLOTS.get() | {name})
    try:
        yield
    finally:
        _SLOTS.reset(token)
        stop.set()
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(lease)


def _take_slot(client: Any, name: str, code: str) -> Any:
    """The lease on the workspace's slot, once the slot is free (waiting in the open)."""
    import time
    from uuid import UUID

    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    deadline = time.monotonic() + SLOT_WAIT_SECONDS
    said = False
    while True:
        try:
            reply = client.increment_concurrency_slots_with_lease(
                [name], 1, "concurrency", LEASE_SECONDS
            )
        except Exception as exc:
            response = getattr(exc, "response", None)
            if response is None or response.status_code != 423:  # 423: the slot is taken
                raise
            if not said:
                get_run_logger().warning(
                    "工作区 %s 正在进行另一次运行，本次排队等待其结束（并发限制 %s）",
                    code,
                    name,
                )
                said = True
            if time.monotonic() > deadline:
                raise UserError(
                    f"工作区 {code} 的另一次运行超过 {SLOT_WAIT_SECONDS // 3600} 小时仍未结束，本次未运行"
                ) from None
            time.sleep(min(max(float(response.headers.get("Retry-After") or 2), 0.5), 10))
            continue
        body = reply.json()
        if body.get("limits"):
            if said:
                get_run_logger().info("工作区 %s 的上一次运行已结束，本次开始", code)
            return UUID(body["lease_id"])
        try:  # the first run of this workspace on this server: make its limit
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except Exception as exc:  # made by another run at the same moment
            if getattr(getattr(exc, "response", None), "status_code", None) != 409:
                raise


def _renew(lease: Any, stop: threading.Event) -> None:
    from prefect.client.orchestration import get_client

    while not stop.wait(LEASE_SECONDS / 3):
        try:
            with get_client(sync_client=True) as client:
                client.renew_concurrency_lease(lease, LEASE_SECONDS)
        except Exception:  # the server is away for a moment: try again at the next turn
            continue


# ------------------------------------------------------------------ steps as tasks


def _step(name: str, run_name: str | Callable[[], str], retries: int = 0,
          delays: int | list[int] = 0) -> Any:  # fmt: skip
    """A step as a Prefect task: never answered from a cache (the steps change the database and
    send messages; NO_CACHE also spares Prefect hashing each task's inputs and source on every
    call), retried only for what may work the next time, with a Chinese name in the run graph."""
    return task(name=name, task_run_name=run_name, retries=retries, retry_delay_seconds=delays,
                cache_policy=NO_CACHE, retry_condition_fn=_not_a_user_error)  # fmt: skip


def _not_a_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retries are for what may work next time (I/O, a database another run still holds); a
    user's mistake (a bad file in config/, a missing database) fails at once with its message.
    A step that will be retried first lets go of the database the run holds (ducha.db.held):
    the retry waits for up to minutes, and other runs may use the file meanwhile."""
    retry = not isinstance(state.data, UserError) or isinstance(state.data, DatabaseBusy)
    if retry:
        let_go()
    return retry


def _notify_run_name() -> str:
    from prefect.runtime import task_run

    kinds = task_run.parameters.get("kinds")
    shown = "、".join(KIND_ZH[k] for k in kind_names(kinds) or ()) or "全部"
    return f"发送通知（{shown}）"


@_step("发模板", "发模板 {period}", retries=1, delays=10)
def templates_task(cfg: Config, period: str, units: list[str] | None = None) -> int:
    return len(operations.send_templates(cfg, Period.parse(period), units))


@_step("接收报表", "接收报表", retries=2, delays=[10, 60])
def ingest_task(cfg: Config) -> dict[str, int]:
    results = operations.ingest_files(cfg)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


@_step("研判", "研判 {period}")
def evaluate_task(cfg: Config, period: str) -> dict[str, Any]:
    logger = get_run_logger()
    return operations.evaluate(cfg, Period.parse(period), warn=logger.warning).to_json()


@_step("生成通报", "生成通报 {period}")
def report_task(cfg: Config, period: str) -> str:
    html, _ = operations.report(cfg, Period.parse(period))
    return str(html.resolve())


@_step("发送通知", _notify_run_name, retries=2, delays=[30, 120])
def notify_task(cfg: Config, period: str, kinds: list[str] | None, dry_run: bool,
                as_of: dt.date | None) -> dict[str, Any]:  # fmt: skip
    logger = get_run_logger()
    result = operations.notify(cfg, Period.parse(period), kinds=kinds, dry_run=dry_run, as_of=as_of,
                          warn=logger.warning)  # fmt: skip
    return result.to_dict()


@_step("备份数据库", "备份数据库", retries=1, delays=60)
def backup_task(cfg: Config) -> str:
    made = operations.backup(cfg)
    return str(made.path)


# ------------------------------------------------------------------ what supervisors see


def publish_artifacts(cfg: Config, period: Period, evaluation: dict[str, Any], briefing: str | None,
                      notices: dict[str, Any] | None, ingested: dict[str, int] | None,
                      report_failed: str | None = None) -> None:  # fmt: skip
    """What supervisors see in the Prefect UI: a summary, the lagging tasks, the briefing (or why
    it could not be written: `report_failed`)."""
    link = briefing_url(cfg.settings.base_url, period) if briefing else None
    summary = presentation.monthly_summary(
        cfg.name, period, evaluation, briefing, link, notices, ingested
    )
    if report_failed:
        summary += (
            f"\n\n**通报未生成**：{report_failed}。除通报外的通知照常发送；"
            "通报生成后再发送通报类通知（ducha notify --kind 通报）。"
        )
    rows = presentation.lagging_rows(evaluation, operations.task_titles(cfg, period.year))
    calls: list[Callable[[], Any]] = [
        lambda: create_markdown_artifact(
            summary, key=_key(cfg, period, "summary"), description="本期督查摘要"
        ),
        lambda: create_table_artifact(
            rows, key=_key(cfg, period, "lagging"), description="滞后、严重滞后任务"
        ),
    ]
    if link:
        calls.append(
            lambda: create_link_artifact(
                link, link_text=f"{period.zh}通报", key=_key(cfg, period, "briefing")
            )
        )
    _together(calls)


def _together(calls: list[Callable[[], Any]]) -> None:
    """Independent API calls sent at once: each mostly waits for the server (15-50 ms)."""
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="ducha-artifact") as pool:
        # each call in its own copy of this run's context (flow run, client, settings)
        futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
    for future in futures:
        future.result()


def _run_name(what: str) -> Callable[[], str]:
    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters
        code = params.get("workspace") or "默认工作区"
        when = params.get("period") or params.get("today") or ""
        step = params.get("step")
        label = Step.parse(step).value if step else what
        return " ".join(str(p) for p in (code, label, when) if p)

    return name
