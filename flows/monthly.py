"""The monthly flow: receive → evaluate → report → notify, for one period (deployment
ducha-monthly/monthly).

A briefing that cannot be written (a reports folder that cannot be written, a full disk, a bug
in the report) does not cost the month its reminders and escalations: they are planned and sent
all the same, all but the bulletin (通报), whose text points to the briefing's file; then the run
ends failed with the report's error, so that it is seen. Re-running the report and `ducha notify`
later sends the bulletin; the outbox never sends the others twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from prefect import flow, get_run_logger
from prefect.utilities.annotations import quote

from ducha.db import held
from ducha.errors import UserError
from ducha.orchestration.tasks import (
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
from ducha.parameters import PeriodText, WorkspaceCode
from ducha.periods import Period
from ducha.vocabulary import KINDS

# The notices a month sends when its briefing could not be written: all but the bulletin.
WITHOUT_BRIEFING = tuple(k for k in KINDS if k != "bulletin")


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
        report = report_task(q, str(month), return_state=True)
        briefing = report.result() if report.is_completed() else None
        failure = None if report.is_completed() else report.result(raise_on_failure=False)
        # without a briefing, every notice but the bulletin (its text names the briefing's file)
        kinds = None if failure is None else list(WITHOUT_BRIEFING)
        notices = notify_task(q, str(month), kinds, dry_run, as_of)
        reason = None if failure is None else _reason(failure)
        publish_artifacts(cfg, month, evaluation, briefing, notices, ingested, reason)
    if failure is not None:
        _fail_after_sending(month, failure, notices)
    return {"period": str(month), "ingested": ingested, "briefing": briefing,
            "notices": {k: notices[k] for k in ("planned", "new", "sent", "failed", "dry_run")}}  # fmt: skip


def _reason(failure: BaseException) -> str:
    return (
        failure.message
        if isinstance(failure, UserError)
        else f"{type(failure).__name__}: {failure}"
    )


def _fail_after_sending(month: Period, failure: BaseException, notices: dict[str, Any]) -> NoReturn:
    """The run ends failed, so that a briefing that could not be written is seen (the Prefect UI,
    `ducha run`'s exit code), after the notices that do not need it went out. A user's mistake
    (a reports folder that cannot be written) is one Chinese line saying what was still done; a
    bug keeps its own exception and traceback."""
    if notices["dry_run"]:
        done = f"通知演练：应发 {notices['planned']} 条（未发送）"
    else:
        done = (
            f"其余通知照常发送：应发 {notices['planned']} 条，发送成功 {notices['sent']} 条，"
            f"失败 {notices['failed']} 条"
        )
    after = "通报类通知待通报生成后再发（先 ducha report，再 ducha notify --kind 通报）"
    if isinstance(failure, UserError):
        raise UserError(f"{month.zh}通报未生成：{failure.message}。{done}；{after}") from failure
    get_run_logger().error("%s通报未生成（%s）。%s；%s", month.zh, _reason(failure), done, after)
    raise failure
