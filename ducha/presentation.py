"""What people read of the results: the CLI's summaries, the Prefect artifacts' tables and
texts, the words for outcomes. One place, so that the same numbers read the same everywhere."""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ducha.neutral import terminal
from ducha.vocabulary import KIND_ZH, STATUS_ZH

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


def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    value = round(float(value), digits)
    return (
        f"{int(value):,}" if value.is_integer() else f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    )


# ------------------------------------------------------------------ the command line's texts

Lines = list[str]


def units_lines(register: Any) -> Lines:
    from ducha.vocabulary import UNIT_KIND_ZH

    lines = []
    for kind, title in UNIT_KIND_ZH.items():
        members = register.of_kind(kind)
        lines.append(f"{title}（{len(members)}）：")
        for unit in members:
            alias = f"（又称 {'、'.join(unit.aliases)}）" if unit.aliases else ""
            lines.append(f"  {unit.name}{alias}")
    lines.append("集合词：")
    lines += [f"  {word}：{'、'.join(members)}" for word, members in register.groups.items()]
    return lines


def import_lines(result: Any, year: int) -> Lines:
    c = result.changes
    lines = [
        f"已导入 {year} 年目标任务 {result.tasks} 项（新增 {len(c['added'])}、"
        f"修改 {len(c['changed'])}、删除 {len(c['removed'])}、未变 {len(c['unchanged'])}）。",
        f"指标 {result.metrics} 个（已确认 {result.confirmed}，待确认 {result.metrics - result.confirmed}），"
        f"无量化指标的里程碑任务 {result.milestones} 项。",
    ]
    lines += [
        f"{label}的任务：{'、'.join(ids)}"
        for label, ids in (("修改", c["changed"]), ("删除", c["removed"]))
        if ids
    ]
    if result.needs_review:
        lines.append(f"内容已改动、指标需重新确认的任务：{'、'.join(result.needs_review)}")
    if result.related_pending:
        lines.append(
            f"“相关单位”尚未明确、暂由牵头单位报送的任务 {len(result.related_pending)} 项"
            f"（在 config/related_units.yaml 中明确）：{'、'.join(result.related_pending)}"
        )
    return lines


def preview_lines(preview: Any) -> Lines:
    from ducha.targets.tables import COLUMN_NAMES

    mapped = "；".join(
        f"{COLUMN_NAMES[key]} ← “{written}”" for key, written in preview.header.items()
    )
    absent = [COLUMN_NAMES[k] for k in ("goal", "leaders", "deadline") if k not in preview.header]
    summary = preview.to_dict()
    with_deadline = sum(1 for t in preview.tasks if t["deadline"])
    lines = [
        f"预览 {preview.file}（未写入数据库）",
        f"表头对应：{mapped}" + (f"（表中没有：{'、'.join(absent)}）" if absent else ""),
        f"任务 {summary['tasks']} 项，建议指标 {summary['metrics']} 个，"
        f"有完成时限的任务 {with_deadline} 项。",
    ]
    for t in preview.tasks:
        extra = [metric_text(m) + "）" for m in t["metrics"]]
        if t["deadline"]:
            extra.append(f"完成时限 {t['deadline']}")
        lead = "、".join(t["lead_units"])
        lines.append(f"{t['seq']}. {_short(t['content'])}｜牵头：{lead}" + (
            f"｜{'；'.join(extra)}" if extra else ""
        ))  # fmt: skip
    return lines


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def metric_text(m: dict[str, Any]) -> str:
    from ducha.vocabulary import BOUND_ZH, METRIC_KIND_ZH

    return (
        f"{m['label']} {BOUND_ZH[m['bound']]} {m['value']}{m['unit']}（{METRIC_KIND_ZH[m['kind']]}"
    )


def targets_lines(views: list[Any]) -> Lines:
    lines = []
    for view in views:
        task = view.task
        flags = ("（相关单位待明确）" if view.related_pending else "") + (
            "（内容已改动，指标待重新确认）" if view.needs_review else ""
        )
        lines.append(f"{task['id']} 【{task['goal']}】{task['content']}{flags}")
        lines.append(
            f"    分管领导：{'、'.join(task['leaders']) or '—'}；牵头单位：{'、'.join(task['lead_units'])}；"
            f"责任单位：{'、'.join(task['responsible_units'])}"
        )
        if not task["metrics"]:
            lines.append("    指标：无（里程碑任务）")
        for i, m in enumerate(task["metrics"], start=1):
            lines.append(
                f"    指标{i}：{metric_text(m)}，{'已确认' if m['confirmed'] else '待确认'}）"
            )
    return lines


def extract_lines(texts: list[str], results: list[list[dict[str, Any]]]) -> Lines:
    return [
        f"{n}. {'；'.join(metric_text(m) + '）' for m in metrics) or '无量化指标'}  ← {line[:40]}"
        for n, (line, metrics) in enumerate(zip(texts, results, strict=True), start=1)
    ]


def confirm_lines(result: Any) -> Lines:
    lines = [
        f"已确认 {result.year} 年任务 {result.confirmed_tasks} 项、指标 {result.confirmed_metrics} 个；"
        f"未确认 {result.skipped} 项。"
    ]
    if result.needs_review:
        lines.append(f"内容已改动、指标需重新确认的任务：{'、'.join(result.needs_review)}")
    return lines


def ingest_lines(results: list[Any], verbose: bool, where: str) -> Lines:
    if not results:
        return [f"{where} 中没有待接收的 .xlsx、.xls、.csv 文件。"]
    lines = []
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if not verbose and r.status in ("accepted", "superseded", "duplicate") and not r.problems:
            continue
        who = f"{r.unit or '未识别单位'} {r.period or ''}".strip()
        rows = r.rows if r.status != "rejected" else 0
        lines.append(
            f"{terminal(r.name)}：{OUTCOMES_SHORT[r.status]}（{terminal(who)}，{rows} 行）"
        )
        lines += [
            f"    {'错误' if p.severity == 'error' else '提示'} {terminal(p.line())}"
            for p in r.problems
        ]
        if r.status == "rejected" and r.kept_as:
            lines.append(f"    原文件已移至数据目录 {terminal(r.kept_as)}")
    lines.append(f"共 {len(results)} 个文件：{outcome_counts(counts)}。")
    moved = sum(1 for r in results if r.moved_to is not None)
    if moved:
        lines.append(
            f"收件目录中的 {moved} 个文件已处理并移出（已接收的在 received/，未接收的在 rejected/）。"
        )
    return lines


def evaluate_lines(result: Any, period: Any) -> Lines:
    from collections import Counter

    data = result.to_json()
    names = {
        "done": "已完成",
        "on_track": "序时推进",
        "lagging": "滞后",
        "critical": "严重滞后",
        "missing": "未报送",
    }
    metric_counts = Counter(m["status"] for m in data["metrics"])
    task_counts = Counter(t["status"] for t in data["tasks"])
    subs = Counter(u["submission"] for u in data["units"])
    lines = [
        f"{period.zh}研判结果（报送截止 {result.deadline:%Y-%m-%d}）：",
        "  指标 " + "、".join(f"{names[k]} {metric_counts[k]}" for k in names if metric_counts[k]),
        "  任务 " + "、".join(f"{names[k]} {task_counts[k]}" for k in names if task_counts[k]),
        f"  报送单位 {len(data['units'])} 个：按时 {subs['on_time']}、逾期 {subs['late']}、未报送 {subs['missing']}",
    ]
    lines += [
        f"  {names[m['status']]} {m['task_id']} {m['label']}：完成 {m['actual']}{m['unit']}，"
        f"序时 {m['expected']}{m['unit']}，目标 {m['target']}{m['unit']}，连续 {m['streak']} 个月"
        for m in data["metrics"]
        if m["status"] in ("lagging", "critical")
    ]
    return lines


def channels_lines(rows: list[dict[str, Any]], recipients: int) -> Lines:
    lines = [f"已配置渠道 {len(rows)} 个（{recipients} 个单位或领导）；未配置渠道的通知写入文件。"]
    for r in rows:
        state = "正常" if r["ok"] else f"有误：{r['problem']}"
        lines.append(f"  {r['recipient']} / {r['channel']}（{r['format']}）{r['url']}：{state}")
    return lines


def channels_problem(rows: list[dict[str, Any]]) -> str | None:
    bad = [r for r in rows if not r["ok"]]
    if not bad:
        return None
    return f"{len(bad)} 个渠道配置有误：" + "；".join(
        f"{r['channel']}：{r['problem']}" for r in bad[:3]
    )


def notify_lines(result: Any, period: Any) -> Lines:
    from ducha.vocabulary import KINDS

    counts = "、".join(
        f"{KIND_ZH[k]} {result.per_kind[k]}" for k in KINDS if result.per_kind.get(k)
    )
    lines = [f"{period.zh}应发通知 {result.planned} 条：{counts or '无'}"]
    lines += [f"  提示：{reason}" for reason in result.skipped]
    if result.dry_run:
        return lines + [
            f"  {KIND_ZH[i['kind']]} → {i['recipient']}（{i['channel']}）{i['title']}"
            for i in result.notices
        ]
    lines.append(f"  新写入发件箱 {result.new} 条，此前已有 {result.known} 条（不重复发送）")
    lines.append(
        f"  本次发送成功 {result.sent} 条，失败 {result.failed} 条（将按退避时间重试），"
        f"因频率限制或排在未发出的消息之后顺延 {result.deferred} 条"
    )
    files = [i for i in result.notices if i["status"] == "unconfigured"]
    if files:
        lines.append(f"  未配置渠道 {len(files)} 条，已写入 {Path(files[0]['file']).parent}")
    lines += [
        f"  失败：{KIND_ZH[i['kind']]} → {i['recipient']}（{i['channel']}）：{i['error']}"
        for i in result.notices
        if i["status"] == "failed"
    ]
    return lines


def backup_lines(made: Any) -> Lines:
    lines = [
        f"已备份数据库：{made.path}（{made.tables} 张表，{made.rows} 行，{made.size / 1e6:.1f} MB）"
    ]
    if made.removed:
        lines.append(f"已删除较早的备份 {len(made.removed)} 份")
    return lines


def run_lines(result: dict[str, Any], period: Any) -> Lines:
    n = result["notices"]
    return [
        f"{period.zh}督查流程已完成：接收报表 {outcome_counts(result['ingested'])}；通报 {result['briefing']}",
        f"通知：应发 {n['planned']} 条，新写入 {n['new']} 条，发送成功 {n['sent']} 条，失败 {n['failed']} 条",
    ]


def upcoming_lines(runs: list[dict[str, Any]]) -> Lines:
    weekdays = "一二三四五六日"
    return ["即将自动运行的流程（北京时间）："] + [
        f"  {r['at']:%Y-%m-%d %H:%M}（周{weekdays[r['at'].weekday()]}）{r['deployment']}，工作区 {r['workspace']}"
        for r in runs
    ]


# click's usage errors, whole templates in Chinese: what the user typed is kept as typed
_CLICK_PATTERNS = [
    (r"Got unexpected extra arguments? ?(?:\(s\))? \((?P<args>.*)\)", "多余的参数：{args}"),
    (r"No such option: (?P<opt>\S+) \(Possible options: (?P<alts>.*)\)", "没有这个选项：{opt}（可用的选项：{alts}）"),
    (r"No such option: (?P<opt>\S+) Did you mean (?P<alt>\S+)\?", "没有这个选项：{opt}（是否应为 {alt}？）"),
    (r"No such option: (?P<opt>\S+)", "没有这个选项：{opt}"),
    (r"No such command '(?P<cmd>.*)'\. Did you mean '(?P<alt>.*)'\?", "没有这个命令 '{cmd}'（是否应为 '{alt}'？）"),
    (r"No such command '(?P<cmd>.*)'\.", "没有这个命令 '{cmd}'"),
    (r"Missing option '(?P<opt>.*)'\.", "缺少选项 '{opt}'"),
    (r"Missing argument '(?P<arg>.*)'\.", "缺少参数 '{arg}'"),
    (r"Option '(?P<opt>.+?)' requires an argument\.", "选项 '{opt}' 后面需要一个值"),
    (r"Invalid value for '(?P<opt>.+?)': (?:Value error, )?(?P<value>'.*'|\".*\") is not one of (?P<choices>.+?)\.",
     "选项 '{opt}' 的值 {value} 无效，应为 {choices} 之一"),
    (r"Invalid value for '(?P<opt>.+?)': Input should be a valid integer.*", "选项 '{opt}' 的值应为整数"),
    (r"Invalid value for '(?P<opt>.+?)': Input should be a valid number.*", "选项 '{opt}' 的值应为数字"),
    (r"Invalid value for '(?P<opt>.+?)': (?P<why>.*)", "选项 '{opt}' 的值无效：{why}"),
]  # fmt: skip


def usage_message(text: str) -> str:
    """One of click's usage errors as a whole Chinese sentence; what the user typed kept as typed."""
    import re

    for pattern, chinese in _CLICK_PATTERNS:
        found = re.fullmatch(pattern, text, flags=re.DOTALL)
        if found:
            parts = found.groupdict()
            if "choices" in parts:
                parts["choices"] = parts["choices"].replace("', '", "'、'")
            return chinese.format(**parts)
    return text


# ---------------------------------------------------------------- printed spreadsheets

A4 = 9  # xlsxwriter's paper code
LINE_POINTS = 13.5  # one line of 10-point text in a spreadsheet row


def text_lines(text: object, width: float) -> int:
    """Lines a wrapped cell `width` characters wide needs for `text` (a Chinese character takes
    the room of two Latin ones)."""
    lines = 0
    for part in str(text or "").split("\n"):
        units = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in part)
        lines += max(1, math.ceil(units / max(width - 1.0, 1.0)))
    return lines


def row_height(cells: Iterable[tuple[object, float]], rows: int = 1) -> float:
    """The height in points of a row whose wrapped cells (text, column width) must show whole;
    `rows`: the cells are merged down that many rows, which share the height."""
    lines = max((text_lines(text, width) for text, width in cells), default=1)
    return max(LINE_POINTS + 4, (lines * LINE_POINTS + 4) / rows)


def print_on_a4(sheet: Any, header_rows: int, rows: int, columns: int) -> None:
    """An xlsxwriter sheet of `rows` × `columns` printed on A4 landscape, fit to the page's
    width, the first `header_rows` rows repeated on every page, pages numbered in the footer."""
    sheet.set_landscape()
    sheet.set_paper(A4)
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0, header_rows - 1)
    sheet.print_area(0, 0, max(rows, header_rows) - 1, columns - 1)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    sheet.set_footer("&C第 &P 页，共 &N 页")
