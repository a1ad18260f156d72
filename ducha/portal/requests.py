"""Requests from units (申请延期, 申请销号): what a unit's form may ask, checked as plain data
before anything is kept. The life cycle (pending → approved / rejected, by whom, when, why) is
in the `requests` table; evaluation reads the approved ones (ducha.evaluation.decisions)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ducha.vocabulary import REQUEST_KIND_ZH as KINDS

MAX_REASON = 500  # characters
LATEST_YEARS = 2  # a new date at most this many years after today


def checked(fields: dict[str, str], tasks: set[str], today: date) -> dict[str, Any] | str:
    """The request as kept ({task_id, kind, new_date, reason}), or what is wrong with the form,
    in a sentence for the unit."""
    task_id = fields.get("task", "").strip()
    kind = fields.get("kind", "").strip()
    reason = " ".join(fields.get("reason", "").split())
    if task_id not in tasks:
        return "请选择申请所涉及的任务。"
    if kind not in KINDS:
        return "请选择申请事项（申请延期或申请销号）。"
    if not reason:
        return "请写明申请理由。"
    if len(reason) > MAX_REASON:
        return f"申请理由不超过 {MAX_REASON} 字（现为 {len(reason)} 字）。"
    new_date = None
    if kind == "extension":
        text = fields.get("new_date", "").strip()
        try:
            new_date = date.fromisoformat(text)
        except ValueError:
            return "申请延期须填写延期后的完成日期（年-月-日）。"
        if new_date <= today:
            return "延期后的完成日期须晚于今天。"
        if new_date.year > today.year + LATEST_YEARS:
            return f"延期后的完成日期不能晚于 {today.year + LATEST_YEARS} 年底。"
    return {"task_id": task_id, "kind": kind, "reason": reason,
            "new_date": new_date.isoformat() if new_date else None}  # fmt: skip
