"""The daily round at 09:00 (deployment ducha-daily/daily): what is due today by Chinese working
days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.utilities.annotations import quote

from ducha import operations, presentation
from ducha.orchestration.tasks import (
    _key,
    _run_name,
    backup_task,
    ingest_task,
    notify_task,
    run_config,
    templates_task,
    workspace_slot,
)
from ducha.parameters import WorkspaceCode
from flows.monthly import monthly_supervision


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
    cfg = run_config(workspace)  # a config mistake stops the run before any step
    day = today or operations.local_today(cfg)
    period, due = operations.due_today(cfg, day, warn=logger.warning)
    plan = operations.daily_plan(due)
    logger.info(
        "%s：报送期 %s，今日应办：%s", day, period, "、".join(plan.labels) or "接收报表、发回执"
    )
    done: dict[str, Any] = {"date": str(day), "period": str(period), "due": due}
    q = quote(cfg)
    with workspace_slot(cfg):
        if plan.templates:
            done["templates"] = templates_task(q, str(period))
        if plan.monthly:  # ingest, evaluate, report and every notice due today
            done["monthly"] = monthly_supervision(
                str(period), dry_run=dry_run, workspace=workspace, as_of=day
            )
        else:
            done["ingested"] = ingest_task(q)
            done["notices"] = notify_task(q, str(period), list(plan.kinds), dry_run, day)[
                "per_kind"
            ]
        done["backup"] = backup_task(q)  # a copy after every daily run, newest backup_keep kept
    summary = presentation.daily_summary(cfg.name, day, period, plan.labels, done)
    create_markdown_artifact(summary, key=_key(cfg, None, "daily"), description="每日督查")
    return done
