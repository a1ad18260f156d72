"""Prefect flows: thin wiring of the steps in flows.steps, with retries and artifacts.

`daily` runs every morning at 09:00 Asia/Shanghai and decides from the Chinese
working-day schedule what is due today; `monthly_supervision` chains ingest →
evaluate → report → notify for one period; `run_step` runs any single step by
hand. A workspace is a directory holding config/ and data/ (the sample Wujin
workspace is the project root, others live under workspaces/).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

# The modules the steps use are loaded with this one, before a run starts (a worker loads the
# flow's module first): a missing or broken dependency fails the deployment at load time, before
# any step has written, and a run's time on the server is the month's work.
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
from flows.workspace import Workspace


def _ws(workspace: str) -> Workspace:
    return Workspace.from_dir(Path(workspace))


def _period(period: str | None) -> Period:
    return Period.parse(period) if period else steps.reporting_period(dt.date.today())


def _key(ws: Workspace, period: Period, what: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes."""
    return f"ducha-{ws.code()}-{period.year}-{period.month:02d}-{what}".lower()


def _step(name: str, retries: int = 0, delays: int | list[int] = 0) -> Any:
    """A step as a Prefect task: never answered from a cache (the steps change the database and
    send messages; NO_CACHE also spares Prefect hashing each task's inputs and source on every
    call), retried only for what may work the next time."""
    return task(name=name, retries=retries, retry_delay_seconds=delays, cache_policy=NO_CACHE,
                retry_condition_fn=_not_a_user_error)  # fmt: skip


def _not_a_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retries are for what may work next time (I/O, a database another run still holds); a
    user's mistake (a bad file in config/, a missing database) fails at once with its message.
    A step that will be retried first lets go of the database the run holds (flows.db.held):
    the retry waits for up to minutes, and other runs may use the file meanwhile."""
    retry = not isinstance(state.data, UserError) or isinstance(state.data, DatabaseBusy)
    if retry:
        let_go()
    return retry


@_step("发送进展表模板", retries=1, delays=10)
def templates_task(workspace: str, period: str, units: list[str] | None = None) -> int:
    return len(steps.send_templates(_ws(workspace), Period.parse(period), units))


@_step("接收进展表", retries=2, delays=[10, 60])
def ingest_task(workspace: str) -> dict[str, int]:
    results = steps.ingest_files(_ws(workspace))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


@_step("研判")
def evaluate_task(workspace: str, period: str) -> dict[str, Any]:
    logger = get_run_logger()
    return steps.evaluate(_ws(workspace), Period.parse(period), warn=logger.warning).to_json()


@_step("生成通报")
def report_task(workspace: str, period: str) -> str:
    html, _ = steps.report(_ws(workspace), Period.parse(period))
    return str(html.resolve())


@_step("发送通知", retries=2, delays=[30, 120])
def notify_task(
    workspace: str, period: str, kinds: list[str] | None, dry_run: bool, as_of: str | None
) -> dict[str, Any]:
    logger = get_run_logger()
    day = dt.date.fromisoformat(as_of) if as_of else None
    result = steps.notify(_ws(workspace), Period.parse(period), kinds=kinds, dry_run=dry_run, as_of=day,
                          warn=logger.warning)  # fmt: skip
    return result.to_dict()


@_step("备份数据库", retries=1, delays=60)
def backup_task(workspace: str) -> str:
    made = steps.backup(_ws(workspace))
    return str(made.path)


def publish_artifacts(ws: Workspace, period: Period, evaluation: dict[str, Any], briefing: str | None,
                      notices: dict[str, Any] | None, ingested: dict[str, int] | None) -> None:  # fmt: skip
    """What supervisors see in the Prefect UI: a summary, the lagging tasks, the briefing."""
    from flows.receipts import outcome_counts

    tasks = evaluation["tasks"]
    counts = {s: sum(1 for t in tasks if t["status"] == s) for s in STATUS_ZH}
    units = evaluation["units"]
    missing = [u["unit"] for u in units if u["submission"] == "missing"]
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
    calls: list[Callable[[], Any]] = [
        lambda: create_markdown_artifact(
            "\n".join(lines), key=_key(ws, period, "summary"), description="本期督查摘要"
        )
    ]
    metrics = {
        (m["task_id"]): m for m in evaluation["metrics"] if m["status"] in ("lagging", "critical")
    }
    rows = [
        {"任务编号": t["task_id"], "状态": STATUS_ZH[t["status"]], "牵头单位": "、".join(t["lead_units"]),
         "滞后单位": "、".join(t["lagging_units"]), "未报送单位": "、".join(t["missing_units"]),
         "指标": (f"{metrics[t['task_id']]['label']} {metrics[t['task_id']]['actual']}/"
                  f"{metrics[t['task_id']]['expected']}/{metrics[t['task_id']]['target']}")
         if t["task_id"] in metrics else ""}
        for t in tasks if t["status"] in ("lagging", "critical")
    ]  # fmt: skip
    calls.append(
        lambda: create_table_artifact(
            rows, key=_key(ws, period, "lagging"), description="滞后、严重滞后任务"
        )
    )
    if briefing:
        calls.append(
            lambda: create_link_artifact(
                Path(briefing).as_uri(),
                link_text=f"{period.zh}通报",
                key=_key(ws, period, "briefing"),
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


@flow(name="ducha-monthly", log_prints=True)
def monthly_supervision(
    period: str | None = None, dry_run: bool = False, workspace: str = ".", as_of: str | None = None
) -> dict[str, Any]:
    """本月督查：接收 → 研判 → 通报 → 通知。dry_run 时只列出应发通知，不发送。"""
    ws = _ws(workspace)
    month = _period(period)
    steps.check_config(ws)  # a config mistake stops the run before any step
    with held(ws.db_path):  # the steps follow one another on one open database
        ingested = ingest_task(workspace)
        evaluation = evaluate_task(workspace, str(month))
        briefing = report_task(workspace, str(month))
        notices = notify_task(workspace, str(month), None, dry_run, as_of)
    publish_artifacts(ws, month, evaluation, briefing, notices, ingested)
    return {"period": str(month), "ingested": ingested, "briefing": briefing,
            "notices": {k: notices[k] for k in ("planned", "new", "sent", "failed", "dry_run")}}  # fmt: skip


@flow(name="ducha-step", log_prints=True)
def run_step(
    step: str,
    period: str | None = None,
    workspace: str = ".",
    units: list[str] | None = None,
    kinds: list[str] | None = None,
    dry_run: bool = False,
    as_of: str | None = None,
) -> Any:
    """手动运行一个步骤：templates / reminder / ingest / evaluate / report / notify / backup。"""
    month = str(_period(period))
    if step == "templates":
        return templates_task(workspace, month, units)
    if step == "reminder":
        return notify_task(workspace, month, ["reminder"], dry_run, as_of)
    if step == "ingest":
        return ingest_task(workspace)
    if step == "evaluate":
        data = evaluate_task(workspace, month)
        return {s: sum(1 for t in data["tasks"] if t["status"] == s) for s in STATUS_ZH}
    if step == "report":
        return report_task(workspace, month)
    if step == "notify":
        return notify_task(workspace, month, kinds, dry_run, as_of)
    if step == "backup":
        return backup_task(workspace)
    raise ValueError(
        f"未知步骤“{step}”，应为 templates / reminder / ingest / evaluate / report / notify / backup"
    )


@flow(name="ducha-daily", log_prints=True)
def daily(workspace: str = ".", today: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """每天 9:00：按中国工作日判断今天该做什么（发模板、催报、截止日催报、研判与通知），其余日子只接收报表；最后备份数据库。"""
    logger = get_run_logger()
    ws = _ws(workspace)
    steps.check_config(ws)  # a config mistake stops the run before any step
    day = dt.date.fromisoformat(today) if today else dt.date.today()
    period, due = steps.due_today(ws, day, warn=logger.warning)
    logger.info("%s：报送期 %s，今日应办 %s", day, period, due or "无（仅接收报表）")
    done: dict[str, Any] = {"date": str(day), "period": str(period), "due": due}
    if "templates" in due:
        done["templates"] = templates_task(workspace, str(period))
    done["ingested"] = ingest_task(workspace)
    if "reminder" in due or "deadline" in due:
        done["reminders"] = notify_task(
            workspace, str(period), ["reminder", "receipt"], dry_run, str(day)
        )["planned"]
    else:
        done["receipts"] = notify_task(workspace, str(period), ["receipt"], dry_run, str(day))[
            "planned"
        ]
    if "evaluate" in due:
        result = monthly_supervision(
            str(period), dry_run=dry_run, workspace=workspace, as_of=str(day)
        )
        done["monthly"] = result
    done["backup"] = backup_task(workspace)  # a copy after every daily run, newest backup_keep kept
    return done


def serve_deployments(workspace: str) -> None:
    """Serve the daily schedule and the ad-hoc deployments from this process (`ducha serve`)."""
    from prefect import serve
    from prefect.schedules import Cron

    from flows.workdays import Schedule

    timezone = Schedule.load(_ws(workspace).config_dir).timezone
    serve(
        daily.to_deployment(
            name="daily",
            schedules=[Cron("0 9 * * *", timezone=timezone)],
            parameters={"workspace": workspace},
        ),
        monthly_supervision.to_deployment(name="monthly", parameters={"workspace": workspace}),
        run_step.to_deployment(name="step", parameters={"workspace": workspace}),
    )
