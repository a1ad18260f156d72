"""The monthly flow: receive → evaluate → report → notify, for one period (deployment
ducha-monthly/monthly).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow
from prefect.utilities.annotations import quote

from ducha.db import held
from ducha.parameters import PeriodText, WorkspaceCode
from flows.tasks import (
    _period,
    _run_name,
    evaluate_task,
    ingest_task,
    notify_task,
    publish_artifacts,
    report_task,
    run_config,
    workspace_slot,
)


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
    cfg = run_config(workspace)  # a config mistake stops the run before any step
    month = _period(cfg, period)
    q = quote(cfg)
    with workspace_slot(cfg), held(cfg.workspace.db_path):  # the steps on one open database
        ingested = ingest_task(q)
        evaluation = evaluate_task(q, str(month))
        briefing = report_task(q, str(month))
        notices = notify_task(q, str(month), None, dry_run, as_of)
        publish_artifacts(cfg, month, evaluation, briefing, notices, ingested)
    return {"period": str(month), "ingested": ingested, "briefing": briefing,
            "notices": {k: notices[k] for k in ("planned", "new", "sent", "failed", "dry_run")}}  # fmt: skip
