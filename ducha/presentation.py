"""What people read of the results: the CLI's summaries, the Prefect artifacts' tables and
texts, the words for outcomes. One place, so that the same numbers read the same everywhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ducha.reporting.charts import STATUS_ZH
from ducha.vocabulary import KIND_ZH
from ducha.workspace import Workspace

OUTCOMES = {
    "accepted": "已接收",
    "superseded": "已接收，替代本单位本月此前报送的文件（以本次为准）",
    "duplicate": "已收到，与此前报送并已接收的文件完全相同，未重复入库",
    "rejected": "未接收",
}
# The same outcomes in a count ("已接收 48、重复 2"): short, and never ambiguous.
OUTCOMES_SHORT = {
    "accepted": "已接收", "superseded": "已接收并替代此前文件", "duplicate": "重复（未重复入库）",
    "rejected": "未接收",
}  # fmt: skip


def outcome_counts(counts: dict[str, int]) -> str:
    """{"accepted": 48, "rejected": 1} → "已接收 48、未接收 1"; nothing → "无新文件"."""
    parts = [f"{OUTCOMES_SHORT[k]} {counts[k]}" for k in OUTCOMES_SHORT if counts.get(k)]
    return "、".join(parts) or "无新文件"


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


def monthly_summary(name: str, period: Any, evaluation: dict[str, Any], briefing: str | None,
                    link: str | None, notices: dict[str, Any] | None, ingested: dict[str, int] | None) -> str:  # fmt: skip
    """The month's run in Markdown (the Prefect summary artifact)."""
    tasks = evaluation["tasks"]
    counts = {s: sum(1 for t in tasks if t["status"] == s) for s in STATUS_ZH}
    units = evaluation["units"]
    missing = [u["unit"] for u in units if u["submission"] == "missing"]
    lines = [
        f"# {name} {period.zh}督查",
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
            f"\n通报文件在运行本流程的服务器上：`{briefing}`（在 workspace.yaml 中设置 base_url 后，这里给出网页链接）"
        )
    return "\n".join(lines)


def daily_summary(
    name: str, day: dt.date, period: Any, labels: tuple[str, ...], done: dict[str, Any]
) -> str:
    """The daily run in a few lines of Markdown (the Prefect artifact)."""
    lines = [f"# {name} {day:%Y-%m-%d} 每日督查（报送期 {period.zh}）", ""]
    lines.append(f"今日应办：{'、'.join(labels) or '接收报表、发回执'}")
    if "templates" in done:
        lines.append(f"- 发出进展表模板 {done['templates']} 份")
    monthly = done.get("monthly")
    ingested = monthly["ingested"] if monthly else done.get("ingested", {})
    lines.append(f"- 接收报表：{outcome_counts(ingested)}")
    if monthly:
        n = monthly["notices"]
        lines.append(
            f"- 研判并生成通报；通知应发 {n['planned']} 条，发送成功 {n['sent']} 条，失败 {n['failed']} 条"
        )
    else:
        sent = done.get("notices") or {}
        lines.append("- 通知：" + ("、".join(f"{KIND_ZH[k]} {n}" for k, n in sent.items()) or "无"))
    lines.append(f"- 数据库已备份：{Path(done['backup']).name}")
    return "\n".join(lines)
