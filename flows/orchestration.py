"""Prefect flows: thin wiring of the steps in flows.steps, with retries, names and artifacts.

`daily` runs every morning at 09:00 Asia/Shanghai and decides from the Chinese working-day
schedule what is due today; `monthly_supervision` chains ingest → evaluate → report → notify
for one period; `run_step` runs any single step by hand. Deployments are declared once, in
prefect.yaml: `prefect deploy --all` and `ducha serve` (deployments_from_yaml) both read it.

A run names its workspace by code, chosen from the configured workspaces (the project root,
workspaces/*, DUCHA_WORKSPACES). Two runs of one workspace never overlap: each holds the
workspace's slot in a Prefect global concurrency limit (ducha-<code>, limit 1) for its whole
length, so that a second run waits in the open (its log says so, and the limit's page in the
UI shows the slot taken) instead of inside DuckDB's lock.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

# The modules the steps use are loaded with this one, before a run starts (a worker loads the
# flow's module first): a missing or broken dependency fails the deployment at load time, before
# any step has written, and a run's time on the server is the month's work.
import fastapi.encoders  # noqa: F401 (Prefect encodes a flow's parameters with it, on the first call)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

import flows.evaluate
import flows.ingest
import flows.notices
import flows.outbox
import flows.report  # noqa: F401 (all five: loaded with this module, as said above)
from flows import steps
from flows.charts import STATUS_ZH
from flows.db import held, let_go
from flows.errors import DatabaseBusy, UserError
from flows.periods import Period
from flows.vocabulary import KIND_ZH, KindChoice, Step, StepChoice, kind_names
from flows.workspace import (
    PROJECT_ROOT,
    Workspace,
    configured_workspaces,
    read_yaml,
    workspace_by_code,
)

# ------------------------------------------------------------------ parameter types

PeriodText = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])]


class WorkspaceCode(str):
    """A configured workspace's code: a choice in the Prefect UI (the list as it was when the
    deployments were made), checked against the configured workspaces when a run starts."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls._known, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(configured_workspaces())}

    @staticmethod
    def _known(code: str) -> str:
        known = configured_workspaces()
        if code not in known:
            raise ValueError(f"工作区“{code}”未配置，应为 {'、'.join(sorted(known))} 之一")
        return code


def _ws(workspace: str | None) -> Workspace:
    return workspace_by_code(workspace)


def _period(ws: Workspace, period: str | None) -> Period:
    return Period.parse(period) if period else steps.reporting_period(steps.local_today(ws))


def _key(ws: Workspace, period: Period | None, what: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes only."""
    code = re.sub(r"[^a-z0-9-]+", "-", ws.code().lower()).strip("-") or "workspace"
    when = f"{period.year}-{period.month:02d}-" if period else ""
    return f"ducha-{code}-{when}{what}"


# ------------------------------------------------------------------ one run per workspace

_SLOTS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "ducha_slots", default=frozenset()
)
SLOT_WAIT_SECONDS = 6 * 3600  # a run that waits longer than this for another fails, and says so
LEASE_SECONDS = 300  # a run that dies holds its slot this long at most; a live one renews it


@contextmanager
def workspace_slot(ws: Workspace) -> Iterator[None]:
    """Hold the workspace's slot (global concurrency limit ducha-<code>-run, limit 1, made when
    missing) while a run works on it; a nested flow of the same run holds it already. Two calls
    to the server (take with a lease, give back), the lease renewed while the run lasts. With
    Prefect's temporary API (no PREFECT_API_URL: `ducha run` on its own) there is no server to
    queue on, nor one to free a dead run's slot: the database lock alone keeps runs apart."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    name = _key(ws, None, "run")
    if name in _SLOTS.get() or not PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        lease = _take_slot(client, name, ws)
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


def _take_slot(client: Any, name: str, ws: Workspace) -> Any:
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
                    ws.code(),
                    name,
                )
                said = True
            if time.monotonic() > deadline:
                raise UserError(
                    f"工作区 {ws.code()} 的另一次运行超过 {SLOT_WAIT_SECONDS // 3600} 小时仍未结束，本次未运行"
                ) from None
            time.sleep(min(max(float(response.headers.get("Retry-After") or 2), 0.5), 10))
            continue
        body = reply.json()
        if body.get("limits"):
            if said:
                get_run_logger().info("工作区 %s 的上一次运行已结束，本次开始", ws.code())
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
    A step that will be retried first lets go of the database the run holds (flows.db.held):
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
def templates_task(workspace: str | None, period: str, units: list[str] | None = None) -> int:
    return len(steps.send_templates(_ws(workspace), Period.parse(period), units))


@_step("接收报表", "接收报表", retries=2, delays=[10, 60])
def ingest_task(workspace: str | None) -> dict[str, int]:
    results = steps.ingest_files(_ws(workspace))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


@_step("研判", "研判 {period}")
def evaluate_task(workspace: str | None, period: str) -> dict[str, Any]:
    logger = get_run_logger()
    return steps.evaluate(_ws(workspace), Period.parse(period), warn=logger.warning).to_json()


@_step("生成通报", "生成通报 {period}")
def report_task(workspace: str | None, period: str) -> str:
    html, _ = steps.report(_ws(workspace), Period.parse(period))
    return str(html.resolve())


@_step("发送通知", _notify_run_name, retries=2, delays=[30, 120])
def notify_task(workspace: str | None, period: str, kinds: list[str] | None, dry_run: bool,
                as_of: dt.date | None) -> dict[str, Any]:  # fmt: skip
    logger = get_run_logger()
    result = steps.notify(_ws(workspace), Period.parse(period), kinds=kinds, dry_run=dry_run, as_of=as_of,
                          warn=logger.warning)  # fmt: skip
    return result.to_dict()


@_step("备份数据库", "备份数据库", retries=1, delays=60)
def backup_task(workspace: str | None) -> str:
    made = steps.backup(_ws(workspace))
    return str(made.path)


# ------------------------------------------------------------------ what supervisors see


def briefing_link(ws: Workspace, briefing: str) -> str | None:
    """The briefing as an http(s) address where workspace.yaml gives the portal's base_url."""
    base = str(ws.settings().get("base_url") or "").strip()
    if not base.startswith(("http://", "https://")):
        return None
    return f"{base.rstrip('/')}/reports/{quote(Path(briefing).name)}"


def lagging_rows(
    evaluation: dict[str, Any], titles: dict[str, tuple[str, str]]
) -> list[dict[str, str]]:
    """The lagging and critical tasks as the artifact's table: the task's name and its lagging
    metrics (completed / expected by now / annual target), not only ids."""
    behind: dict[str, list[str]] = {}
    for m in evaluation["metrics"]:
        if m["status"] in ("lagging", "critical"):
            behind.setdefault(m["task_id"], []).append(
                f"{m['label']}：完成 {_n(m['actual'])}{m['unit']}，序时 {_n(m['expected'])}{m['unit']}，"
                f"目标 {_n(m['target'])}{m['unit']}"
            )
    rows = []
    for t in evaluation["tasks"]:
        if t["status"] not in ("lagging", "critical"):
            continue
        goal, content = titles.get(t["task_id"], ("", ""))
        rows.append({
            "任务编号": t["task_id"], "目标名称": goal, "工作内容": _short(content),
            "状态": STATUS_ZH[t["status"]], "牵头单位": "、".join(t["lead_units"]),
            "滞后指标": "；".join(behind.get(t["task_id"], [])) or "（里程碑任务）",
            "滞后单位": "、".join(t["lagging_units"]), "未报送单位": "、".join(t["missing_units"]),
        })  # fmt: skip
    return rows


def _n(value: Any) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def publish_artifacts(ws: Workspace, period: Period, evaluation: dict[str, Any], briefing: str | None,
                      notices: dict[str, Any] | None, ingested: dict[str, int] | None) -> None:  # fmt: skip
    """What supervisors see in the Prefect UI: a summary, the lagging tasks, the briefing."""
    from flows.receipts import outcome_counts

    tasks = evaluation["tasks"]
    counts = {s: sum(1 for t in tasks if t["status"] == s) for s in STATUS_ZH}
    units = evaluation["units"]
    missing = [u["unit"] for u in units if u["submission"] == "missing"]
    link = briefing_link(ws, briefing) if briefing else None
    lines = [
        f"# {steps.workspace_name(ws)} {period.zh}督查",
        "",
        "| 状态 | 任务数 |",
        "|---|---|",
        *[f"| {STATUS_ZH[s]} | {n} |" for s, n in counts.items()],
        "",
        f"报送单位 {len(units)} 个，未报送 {len(missing)} 个"
        + (f"：{'、'.join(missing)}" if missing else ""),
    ]
    if ingested is not None:
        lines.append(f"\n本次接收报表：{outcome_counts(ingested)}")
    if notices is not None:
        lines.append(
            f"\n通知：应发 {notices['planned']} 条，新写入 {notices['new']} 条，发送成功 {notices['sent']} 条，"
            f"失败 {notices['failed']} 条" + ("（演练，未发送）" if notices["dry_run"] else "")
        )
    if briefing and not link:
        lines.append(
            f"\n通报文件在运行本流程的服务器上：`{briefing}`"
            "（在 workspace.yaml 中设置 base_url 后，这里给出网页链接）"
        )
    titles = steps.task_titles(ws, period.year)
    rows = lagging_rows(evaluation, titles)
    calls: list[Callable[[], Any]] = [
        lambda: create_markdown_artifact(
            "\n".join(lines), key=_key(ws, period, "summary"), description="本期督查摘要"
        ),
        lambda: create_table_artifact(
            rows, key=_key(ws, period, "lagging"), description="滞后、严重滞后任务"
        ),
    ]
    if link:
        calls.append(
            lambda: create_link_artifact(
                link, link_text=f"{period.zh}通报", key=_key(ws, period, "briefing")
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


# ------------------------------------------------------------------ flows


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


@flow(name="ducha-monthly", log_prints=True, flow_run_name=_run_name("月度督查"))
def monthly_supervision(
    period: PeriodText | None = None,
    dry_run: bool = False,
    workspace: WorkspaceCode | None = None,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """本月督查：接收 → 研判 → 通报 → 通知。

    Args:
        period: 报送期，年-月，如 2026-03；不填为上个月
        dry_run: 演练：只列出应发的通知，不写发件箱、不发送
        workspace: 工作区代码；不填为项目根目录的工作区
        as_of: 按哪一天判断催报、逾期催报等（不填为当天）
    """
    ws = _ws(workspace)
    month = _period(ws, period)
    steps.check_config(ws)  # a config mistake stops the run before any step
    with workspace_slot(ws), held(ws.db_path):  # the steps follow one another on one open database
        ingested = ingest_task(workspace)
        evaluation = evaluate_task(workspace, str(month))
        briefing = report_task(workspace, str(month))
        notices = notify_task(workspace, str(month), None, dry_run, as_of)
        publish_artifacts(ws, month, evaluation, briefing, notices, ingested)
    return {"period": str(month), "ingested": ingested, "briefing": briefing,
            "notices": {k: notices[k] for k in ("planned", "new", "sent", "failed", "dry_run")}}  # fmt: skip


@flow(name="ducha-step", log_prints=True, flow_run_name=_run_name("单步"))
def run_step(
    step: StepChoice = Step.evaluate,
    period: PeriodText | None = None,
    workspace: WorkspaceCode | None = None,
    units: list[str] | None = None,
    kinds: list[KindChoice] | None = None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
) -> Any:
    """手动运行一个步骤。

    Args:
        step: 要运行的步骤：发模板、催报、接收报表、研判、生成通报、发送通知、备份
        period: 报送期，年-月，如 2026-03；不填为上个月
        workspace: 工作区代码；不填为项目根目录的工作区
        units: 只为这些单位发模板（单位名称，可多个；不填为全部报送单位）
        kinds: 发送通知时只发这些种类（可多选；不填为全部）
        dry_run: 演练：只列出应发的通知，不写发件箱、不发送
        as_of: 按哪一天判断催报、逾期催报等（不填为当天）
    """
    step = Step.parse(step)
    ws = _ws(workspace)
    month = str(_period(ws, period))
    names = list(kind_names(kinds)) if kinds else None
    with workspace_slot(ws):
        if step is Step.templates:
            return templates_task(workspace, month, units)
        if step is Step.reminder:
            return notify_task(workspace, month, ["reminder", "overdue"], dry_run, as_of)
        if step is Step.ingest:
            return ingest_task(workspace)
        if step is Step.evaluate:
            data = evaluate_task(workspace, month)
            return {s: sum(1 for t in data["tasks"] if t["status"] == s) for s in STATUS_ZH}
        if step is Step.report:
            return report_task(workspace, month)
        if step is Step.notify:
            return notify_task(workspace, month, names, dry_run, as_of)
        return backup_task(workspace)


@flow(name="ducha-daily", log_prints=True, flow_run_name=_run_name("每日督查"))
def daily(
    workspace: WorkspaceCode | None = None, today: dt.date | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """每天 9:00：按中国工作日判断今天该办什么（发模板、催报、截止日催报、逾期催报、研判与通知），每天接收报表、发回执，最后备份数据库。

    Args:
        workspace: 工作区代码；不填为项目根目录的工作区
        today: 按哪一天办理（不填为当天；用于补办或演练）
        dry_run: 演练：只列出应发的通知，不写发件箱、不发送
    """
    logger = get_run_logger()
    ws = _ws(workspace)
    steps.check_config(ws)  # a config mistake stops the run before any step
    day = today or steps.local_today(ws)
    period, due = steps.due_today(ws, day, warn=logger.warning)
    plan = steps.daily_plan(due)
    logger.info(
        "%s：报送期 %s，今日应办：%s", day, period, "、".join(plan.labels) or "接收报表、发回执"
    )
    done: dict[str, Any] = {"date": str(day), "period": str(period), "due": due}
    with workspace_slot(ws):
        if plan.templates:
            done["templates"] = templates_task(workspace, str(period))
        if plan.monthly:  # ingest, evaluate, report and every notice due today
            done["monthly"] = monthly_supervision(
                str(period), dry_run=dry_run, workspace=workspace, as_of=day
            )
        else:
            done["ingested"] = ingest_task(workspace)
            sent = notify_task(workspace, str(period), list(plan.kinds), dry_run, day)
            done["notices"] = sent["per_kind"]
        done["backup"] = backup_task(
            workspace
        )  # a copy after every daily run, newest backup_keep kept
    create_markdown_artifact(steps.daily_summary(ws, day, period, plan, done), key=_key(ws, None, "daily"),
                             description="每日督查")  # fmt: skip
    return done


# ------------------------------------------------------------------ deployments

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


def deployments_from_yaml(path: Path = PREFECT_YAML) -> list[Any]:
    """The deployments of prefect.yaml, to be served from this process (`ducha serve`): the
    same names, flows, parameters, descriptions and schedules that `prefect deploy --all`
    registers, read from the one declaration."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron, Interval

    data = read_yaml(path) or {}
    made = []
    for d in data.get("deployments") or []:
        file, _, function = str(d["entrypoint"]).partition(":")
        here = Path(__file__).resolve() == (path.parent / file).resolve()
        flow_obj = (
            globals()[function]
            if here
            else load_flow_from_entrypoint(str(path.parent / d["entrypoint"]))
        )
        schedules = []
        for s in d.get("schedules") or []:
            extra = {k: s[k] for k in ("timezone", "parameters", "active") if k in s}
            if "cron" in s:
                schedules.append(Cron(s["cron"], **extra))
            elif "interval" in s:
                schedules.append(Interval(s["interval"], **extra))
            else:
                raise UserError(f"{path}：部署 {d['name']} 的 schedules 只支持 cron 和 interval")
        made.append(flow_obj.to_deployment(
            name=d["name"], description=d.get("description"), parameters=d.get("parameters") or {},
            schedules=schedules, tags=d.get("tags"), concurrency_limit=d.get("concurrency_limit"),
        ))  # fmt: skip
    return made


def serve_deployments(path: Path = PREFECT_YAML) -> None:
    """Serve prefect.yaml's deployments from this process (`ducha serve`). Stopping it leaves the
    schedules as they are (Prefect would pause them through the server, which may be gone
    already, and an unattended installation must not come back with its schedule paused)."""
    from prefect import serve

    serve(*deployments_from_yaml(path), pause_on_shutdown=False)


def upcoming_runs(limit: int = 10, timezone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """The next runs the server has scheduled (what `ducha upcoming` shows): when, in local
    time, which deployment, for which workspace."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.clock import zone

    scheduled = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=scheduled, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=limit
        )
        names: dict[Any, str] = {}
        for run in runs:
            if run.deployment_id and run.deployment_id not in names:
                deployment = client.read_deployment(run.deployment_id)
                flow_name = client.read_flow(deployment.flow_id).name
                names[run.deployment_id] = f"{flow_name}/{deployment.name}"
    return [
        {
            "at": run.expected_start_time.astimezone(zone(timezone)).replace(tzinfo=None),
            "deployment": names.get(run.deployment_id, "—"),
            "workspace": (run.parameters or {}).get("workspace") or "默认工作区",
            "auto": run.auto_scheduled,
        }
        for run in runs
    ]
