"""The monthly briefing (通报) for leadership: one offline HTML file and an .xlsx.

Every figure is read from the stored evaluation of the period (ducha.evaluation.rules);
nothing is retyped. The HTML has its charts as inline SVG and no external
resources; the workbook has the same tables, coloured red / yellow / green, and
all text is written as strings (no formula injection).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from ducha.db import sql
from ducha.errors import UserError
from ducha.periods import Period
from ducha.reporting import charts
from ducha.templating import bytecode_cache
from ducha.workspace import TEMPLATES_DIR

STATUS_ZH = charts.STATUS_ZH
SUBMISSION_ZH = {"on_time": "按时报送", "late": "逾期报送", "missing": "未报送"}
KIND_ZH = {"cumulative": "累计", "growth": "增速", "level": "水平"}
BAD = ("lagging", "critical")


@dataclass
class Briefing:
    workspace: str
    period: Period
    generated: datetime
    deadline: date
    tasks: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    units: list[dict[str, Any]]
    trend: list[tuple[str, dict[str, int]]]
    issues: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def task_counts(self) -> Counter[str]:
        return Counter(t["status"] for t in self.tasks)

    @property
    def metric_counts(self) -> Counter[str]:
        return Counter(m["status"] for m in self.metrics)

    @property
    def submission_counts(self) -> Counter[str]:
        return Counter(u["submission"] for u in self.units)

    def lagging(self) -> list[dict[str, Any]]:
        """Lagging and critical tasks, worst first, each with its metrics and stated problems."""
        metrics = defaultdict(list)
        for m in self.metrics:
            metrics[m["task_id"]].append(m)
        rows = [
            {
                **t,
                "metrics": metrics.get(t["task_id"], []),
                "issues": self.issues.get(t["task_id"], []),
            }
            for t in self.tasks
            if t["status"] in BAD
        ]
        return sorted(rows, key=lambda t: (t["status"] != "critical", -t["streak"], t["seq"]))

    def by(self, key: str) -> list[tuple[str, dict[str, int]]]:
        """Tasks by status grouped by goal / lead unit / leader (a task counts for each of its)."""
        groups: dict[str, Counter[str]] = {}
        for t in self.tasks:
            names = t[key] if isinstance(t[key], list) else [t[key]]
            for name in names or ["（未列明）"]:
                groups.setdefault(name, Counter())[t["status"]] += 1
        return [(name, dict(c)) for name, c in groups.items()]


def load_briefing(con: duckdb.DuckDBPyConnection, period: Period, workspace: str) -> Briefing:
    run = con.sql(
        "SELECT deadline FROM eval_runs WHERE period = $p", params={"p": str(period)}
    ).fetchall()
    if not run:
        raise UserError(f"{period.zh}尚未研判，请先运行 ducha evaluate --period {period}")
    p = {"period": str(period)}
    tasks = [
        dict(zip(("task_id", "seq", "goal", "content", "leaders", "lead_units", "status", "streak",
                  "lagging_units", "missing_units"), r, strict=True))
        for r in con.sql(sql("report_tasks"), params=p).fetchall()
    ]  # fmt: skip
    metrics = [
        dict(zip(("task_id", "position", "label", "kind", "bound", "measure", "target", "actual", "expected",
                  "completion", "gap", "source", "carried", "status", "streak"), r, strict=True))
        for r in con.sql(sql("report_metrics"), params=p).fetchall()
    ]  # fmt: skip
    units = [
        dict(zip(("rank", "unit", "kind", "submission", "received_at", "judged", "on_track", "on_track_share"),
                 r, strict=True))
        for r in con.sql(
            "SELECT rank, unit, kind, submission, received_at, judged, on_track, on_track_share FROM eval_units "
            "WHERE period = $period ORDER BY rank, unit", params=p,
        ).fetchall()
    ]  # fmt: skip
    trend: dict[str, dict[str, int]] = {}
    for month, status, n in con.sql(
        sql("report_trend"), params={"first": str(Period(period.year, 1)), "period": str(period)}
    ).fetchall():
        trend.setdefault(month, {})[status] = n
    issues: dict[str, list[tuple[str, str]]] = {}
    for task_id, unit, text in con.sql(sql("report_issues"), params=p).fetchall():
        issues.setdefault(task_id, []).append((unit, text))
    return Briefing(
        workspace=workspace, period=period, generated=datetime.now(), deadline=run[0][0], tasks=tasks,
        metrics=metrics, units=units, trend=sorted(trend.items()), issues=issues,
    )  # fmt: skip


# ------------------------------------------------------------------ HTML


def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    value = round(float(value), digits)
    return (
        f"{int(value):,}" if value.is_integer() else f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    )


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        bytecode_cache=bytecode_cache(),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "html.j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = number
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.0%}"
    env.globals.update(
        STATUS_ZH=STATUS_ZH, SUBMISSION_ZH=SUBMISSION_ZH, KIND_ZH=KIND_ZH, COLORS=charts.COLORS
    )
    return env


def render_html(b: Briefing) -> str:
    figures = {
        "by_goal": charts.stacked_bars("各目标任务推进情况（按目标名称）", b.by("goal")),
        "by_lead": charts.stacked_bars("各牵头单位任务推进情况", b.by("lead_units")),
        "by_leader": charts.stacked_bars("各分管领导联系任务推进情况", b.by("leaders"), 120),
        "trend": charts.trend(f"{b.period.year}年各月任务推进情况", b.trend),
        "ranking": charts.ranking(
            "报送单位排名（序时推进指标占比）",
            [(u["rank"], u["unit"], u["on_track_share"], u["submission"]) for u in b.units],
        ),
    }
    return _environment().get_template("briefing.html.j2").render(b=b, charts=figures)


# ------------------------------------------------------------------ xlsx

FILL = {
    "done": "#C6EFCE",
    "on_track": "#C6EFCE",
    "lagging": "#FFEB9C",
    "critical": "#FFC7CE",
    "missing": "#EDEDED",
}


def write_xlsx(b: Briefing, path: Path) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    head = book.add_format(
        {"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True, "valign": "top"}
    )
    title = book.add_format({"bold": True, "font_size": 14})
    fmt = {
        s: book.add_format({"bg_color": c, "border": 1, "text_wrap": True, "valign": "top"})
        for s, c in FILL.items()
    }
    num = {s: book.add_format({"bg_color": c, "border": 1, "num_format": "#,##0.##", "valign": "top"})
           for s, c in FILL.items()}  # fmt: skip
    pct = {s: book.add_format({"bg_color": c, "border": 1, "num_format": "0%", "valign": "top"})
           for s, c in FILL.items()}  # fmt: skip

    def table(
        name: str, heading: str, columns: list[tuple[str, int]], rows: list[tuple[str, list[Any]]]
    ) -> None:
        sheet = book.add_worksheet(name)
        sheet.write_string(0, 0, heading, title)
        for c, (label, width) in enumerate(columns):
            sheet.write_string(2, c, label, head)
            sheet.set_column(c, c, width)
        for r, (status, values) in enumerate(rows, start=3):
            for c, value in enumerate(values):
                if value is None:
                    sheet.write_blank(r, c, None, fmt[status])
                elif isinstance(value, float) and columns[c][0].endswith("比例"):
                    sheet.write_number(r, c, value, pct[status])
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value, num[status])
                else:
                    sheet.write_string(r, c, str(value), fmt[status])  # never a formula
        sheet.freeze_panes(3, 1)
        sheet.autofilter(2, 0, max(2, len(rows) + 2), len(columns) - 1)

    label = f"{b.workspace}{b.period.zh}"
    table(
        "滞后任务", f"{label}滞后、严重滞后任务",
        [("任务编号", 11), ("状态", 9), ("连续月数", 8), ("目标名称", 16), ("工作内容", 50), ("牵头单位", 16),
         ("指标", 40), ("滞后单位", 24), ("未报送单位", 20), ("存在问题", 40)],
        [(t["status"], [t["task_id"], STATUS_ZH[t["status"]], t["streak"], t["goal"], t["content"],
                        "、".join(t["lead_units"]),
                        "；".join(f"{m['label']}：完成{number(m['actual'])}/序时{number(m['expected'])}/目标"
                                 f"{number(m['target'])}{m['measure']}" for m in t["metrics"]),
                        "、".join(t["lagging_units"]), "、".join(t["missing_units"]),
                        "；".join(f"{u}：{text}" for u, text in t["issues"])])
         for t in b.lagging()],
    )  # fmt: skip
    table(
        "指标", f"{label}指标完成情况",
        [("任务编号", 11), ("指标", 30), ("类型", 6), ("单位", 6), ("年度目标", 12), ("累计完成", 12),
         ("序时目标", 12), ("完成比例", 10), ("差距（百分点）", 12), ("状态", 9), ("连续月数", 8)],
        [(m["status"], [m["task_id"], m["label"], KIND_ZH[m["kind"]], m["measure"], m["target"], m["actual"],
                        m["expected"], m["completion"], None if m["gap"] is None else round(m["gap"], 2),
                        STATUS_ZH[m["status"]], m["streak"]])
         for m in b.metrics],
    )  # fmt: skip
    table(
        "单位排名", f"{label}报送单位排名",
        [("排名", 6), ("单位", 18), ("报送情况", 10), ("考核指标数", 10), ("序时推进数", 10), ("序时推进比例", 12)],
        [(_unit_status(u), [u["rank"], u["unit"], SUBMISSION_ZH[u["submission"]], u["judged"], u["on_track"],
                            u["on_track_share"]])
         for u in b.units],
    )  # fmt: skip
    table(
        "全部任务", f"{label}全部任务推进情况",
        [("任务编号", 11), ("目标名称", 16), ("工作内容", 60), ("分管领导", 14), ("牵头单位", 16), ("状态", 9),
         ("连续月数", 8)],
        [(t["status"], [t["task_id"], t["goal"], t["content"], "、".join(t["leaders"]), "、".join(t["lead_units"]),
                        STATUS_ZH[t["status"]], t["streak"]])
         for t in b.tasks],
    )  # fmt: skip
    book.close()
    return path


def _unit_status(unit: dict[str, Any]) -> str:
    if unit["submission"] == "missing":
        return "critical"
    share = unit["on_track_share"]
    return "on_track" if share >= 0.8 else "lagging" if share >= 0.5 else "critical"


def write_briefing(b: Briefing, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{b.workspace}-{b.period}-目标任务推进情况通报"
    html = out_dir / f"{stem}.html"
    html.write_text(render_html(b), encoding="utf-8")
    return html, write_xlsx(b, out_dir / f"{stem}.xlsx")
