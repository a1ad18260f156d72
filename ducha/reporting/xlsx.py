"""The briefing as an .xlsx workbook with the same numbers (user text written as text, never as a
formula).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ducha.presentation import number, print_on_a4, row_height
from ducha.reporting.briefing import Briefing
from ducha.vocabulary import BOUND_ZH, METRIC_KIND_ZH, STATUS_ZH, SUBMISSION_ZH

FILL = {
    "done": "#C6EFCE",
    "on_track": "#C6EFCE",
    "lagging": "#FFEB9C",
    "critical": "#FFC7CE",
    "missing": "#EDEDED",
}


def write_xlsx(b: Briefing, path: Path) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(
        str(path),
        {"strings_to_formulas": False, "strings_to_urls": False,
         "default_format_properties": {"font_name": "宋体", "font_size": 10}},
    )  # fmt: skip
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
            sheet.set_row(r, row_height(
                (v, columns[c][1]) for c, v in enumerate(values) if isinstance(v, str)
            ))  # fmt: skip
            for c, value in enumerate(values):
                if value is None or (isinstance(value, float) and not math.isfinite(value)):
                    sheet.write_blank(r, c, None, fmt[status])  # no number: an empty cell
                elif isinstance(value, float) and columns[c][0].endswith("比例"):
                    sheet.write_number(r, c, value, pct[status])
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value, num[status])
                else:
                    sheet.write_string(r, c, str(value), fmt[status])  # never a formula
        sheet.freeze_panes(3, 1)
        sheet.autofilter(2, 0, max(2, len(rows) + 2), len(columns) - 1)
        print_on_a4(sheet, 3, len(rows) + 3, len(columns))

    label = f"{b.workspace}{b.period.zh}"
    table(
        "滞后任务", f"{label}滞后、严重滞后任务",
        [("任务编号", 11), ("状态", 9), ("连续月数", 8), ("目标名称", 16), ("工作内容", 50), ("牵头单位", 16),
         ("指标", 40), ("滞后单位", 24), ("未报送单位", 20), ("存在问题", 40), ("佐证材料（份）", 10)],
        [(t["status"], [t["task_id"], STATUS_ZH[t["status"]], t["streak"], t["goal"], t["content"],
                        "、".join(t["lead_units"]),
                        "；".join(_figures(m) for m in t["metrics"]),
                        "、".join(t["lagging_units"]), "、".join(t["missing_units"]),
                        "；".join(f"{u}：{text}" for u, text in t["issues"]), t["evidence"]])
         for t in b.lagging()],
    )  # fmt: skip
    table(
        "指标", f"{label}指标完成情况",
        [("任务编号", 11), ("指标", 30), ("类型", 6), ("界限", 6), ("单位", 6), ("年度目标", 12),
         ("累计完成", 12), ("序时目标", 12), ("完成比例", 10), ("差距（百分点）", 12), ("状态", 9), ("连续月数", 8)],
        [(m["status"], [m["task_id"], m["label"], METRIC_KIND_ZH[m["kind"]], BOUND_ZH.get(m["bound"], m["bound"]),
                        m["measure"], m["target"], m["actual"], m["expected"], m["completion"],
                        None if m["gap"] is None else round(m["gap"], 2), STATUS_ZH[m["status"]], m["streak"]])
         for m in b.metrics],
    )  # fmt: skip
    table(
        "单位排名", f"{label}报送单位排名",
        [("排名类别", 16), ("名次", 8), ("单位", 18), ("报送情况", 10), ("考核内容数", 10), ("序时推进及已完成数", 14),
         ("比例", 10)],
        [(_unit_status(u), [title, "不排名" if u["rank"] is None else u["rank"], u["unit"],
                            SUBMISSION_ZH[u["submission"]], u["judged"], u["on_track"], u["on_track_share"]])
         for title, units in b.ranking_tables() for u in units],
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


def _figures(m: dict[str, Any]) -> str:
    """A lagging metric's figures in one phrase: done / due / target, or, for a ceiling (不超过,
    以内, 零事故), the figure against the ceiling."""
    if m["bound"] == "at_most":
        return f"{m['label']}：实际{number(m['actual'])}/上限{number(m['target'])}{m['measure']}"
    return (
        f"{m['label']}：完成{number(m['actual'])}/序时{number(m['expected'])}/目标"
        f"{number(m['target'])}{m['measure']}"
    )


def _unit_status(unit: dict[str, Any]) -> str:
    if unit["submission"] == "missing":
        return "critical"
    share = unit["on_track_share"] or 0.0
    return "on_track" if share >= 0.8 else "lagging" if share >= 0.5 else "critical"
