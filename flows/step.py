"""Any single step by hand (deployment ducha-step/step)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow
from prefect.utilities.annotations import quote

from ducha.orchestration.tasks import (
    _period,
    _run_name,
    backup_task,
    evaluate_task,
    ingest_task,
    notify_task,
    report_task,
    run_config,
    templates_task,
    workspace_slot,
)
from ducha.parameters import KindChoice, PeriodText, StepChoice, WorkspaceCode
from ducha.vocabulary import STATUS_ZH, Step, kind_names


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
    cfg = run_config(workspace)  # a config mistake stops the run before any step
    month = str(_period(cfg, period))
    names = list(kind_names(kinds)) if kinds else None
    q = quote(cfg)
    with workspace_slot(cfg):
        if step is Step.templates:
            return templates_task(q, month, units)
        if step is Step.reminder:
            return notify_task(q, month, ["reminder", "overdue"], dry_run, as_of)
        if step is Step.ingest:
            return ingest_task(q)
        if step is Step.evaluate:
            data = evaluate_task(q, month)
            return {s: sum(1 for t in data["tasks"] if t["status"] == s) for s in STATUS_ZH}
        if step is Step.report:
            return report_task(q, month)
        if step is Step.notify:
            return notify_task(q, month, names, dry_run, as_of)
        return backup_task(q)
