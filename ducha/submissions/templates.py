"""Monthly progress templates: one .xlsx per reporting unit.

Each template holds the unit's own tasks (locked), an input row per metric
(本月完成, 累计完成) and per task (完成状态, 进展情况, 存在问题, 下步打算), data
validation on the input cells, an instructions sheet, and a hidden sheet that
says whose file it is, so a renamed file still identifies itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ducha.periods import Period
from ducha.vocabulary import DeclaredStatus

if TYPE_CHECKING:  # worker processes that check files read UnitTasks without DuckDB
    import duckdb
from ducha.submissions.assignments import TaskLines, unit_tasks
from ducha.vocabulary import ROLE_ZH

META_SHEET = "ducha"
MAIN_SHEET = "进展表"
GUIDE_SHEET = "填报说明"
TEMPLATE_VERSION = 1
STATUSES = tuple(s.value for s in DeclaredStatus)  # the drop-down of 完成状态
HEADER = (
    "任务编号",
    "序号",
    "目标名称",
    "工作内容",
    "牵头单位",
    "本单位职责",
    "指标序号",
    "指标",
    "年度目标",
    "计量单位",
    "本单位分解目标",
    "上月累计",
    "本月完成",
    "累计完成",
    "完成状态",
    "进展情况",
    "存在问题",
    "下步打算",
)
COL = {name: i for i, name in enumerate(HEADER)}
TASK_COLUMNS = ("任务编号", "序号", "目标名称", "工作内容", "牵头单位", "本单位职责")
TASK_INPUTS = ("完成状态", "进展情况", "存在问题", "下步打算")
HEADER_ROW = 2  # 0-based: title, unit/period line, header
# column widths (characters): what A4 landscape holds at a readable scale when fit to its width
WIDTHS = (10, 5, 10, 30, 10, 6, 5, 18, 9, 7, 9, 9, 9, 9, 8, 20, 16, 16)
GUIDE_WIDTH = 100  # the guide sheet's one column
# 宋体, as documents of a government office are set; a computer without it shows its CJK font
FONT = {"font_name": "宋体", "font_size": 10}


def template_name(unit: str, period: Period) -> str:
    return f"{unit}-{period.zh}进展表.xlsx"


def write_template(
    path: Path, *, workspace: str, unit: str, period: Period, tasks: Sequence[TaskLines],
    unit_share: str = "equal",
) -> Path:  # fmt: skip
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"default_format_properties": FONT})
    book.set_properties(
        {
            "title": f"{period.zh}目标任务进展情况表",
            "subject": f"{unit} {period}",
            "author": "ducha",
            "keywords": f"ducha;{workspace};{unit};{period}",
        }
    )
    _main_sheet(book, workspace, unit, period, tasks, unit_share)
    _guide_sheet(book, unit, period)
    meta = book.add_worksheet(META_SHEET)
    for r, (key, value) in enumerate(
        (
            ("ducha-template", str(TEMPLATE_VERSION)),
            ("工作区", workspace),
            ("填报单位", unit),
            ("报送期", str(period)),
        )
    ):
        meta.write_string(r, 0, key)
        meta.write_string(r, 1, value)
    meta.protect()
    meta.hide()
    book.close()
    return path


def _main_sheet(
    book, workspace: str, unit: str, period: Period, tasks: Sequence[TaskLines], unit_share: str
) -> None:
    from ducha.presentation import print_on_a4, row_height

    sheet = book.add_worksheet(MAIN_SHEET)
    sheet.activate()
    title = book.add_format({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"})
    line = book.add_format({"font_size": 11, "valign": "vcenter"})
    head = book.add_format(
        {"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True,
         "align": "center", "valign": "vcenter"}
    )  # fmt: skip
    fixed = book.add_format(
        {"border": 1, "text_wrap": True, "valign": "vcenter", "bg_color": "#F2F2F2"}
    )
    fixed_num = book.add_format(
        {"border": 1, "valign": "vcenter", "bg_color": "#F2F2F2", "num_format": "#,##0.##"}
    )
    entry = book.add_format(
        {
            "border": 1,
            "valign": "vcenter",
            "locked": False,
            "bg_color": "#FFF2CC",
            "num_format": "#,##0.##",
        }
    )
    entry_text = book.add_format(
        {"border": 1, "valign": "top", "text_wrap": True, "locked": False, "bg_color": "#FFF2CC"}
    )
    last_col = len(HEADER) - 1
    sheet.merge_range(0, 0, 0, last_col, f"{period.zh}《政府工作报告》目标任务进展情况表", title)
    sheet.merge_range(
        1,
        0,
        1,
        last_col,
        f"填报单位：{unit}　　报送期：{period.zh}　　（黄色单元格为填报内容）",
        line,
    )
    sheet.write_row(HEADER_ROW, 0, HEADER, head)
    r = HEADER_ROW + 1
    for task in tasks:
        first = r
        task_cells = [(getattr(task, attr), WIDTHS[COL[name]]) for name, attr in
                      (("目标名称", "goal"), ("工作内容", "content"))]  # fmt: skip
        task_cells.append(("、".join(task.lead_units), WIDTHS[COL["牵头单位"]]))
        for metric in task.metrics:
            sheet.set_row(r, row_height(
                [*task_cells, (metric.label or "（无量化指标，填写完成状态）", WIDTHS[COL["指标"]])],
                rows=len(task.metrics),
            ))  # fmt: skip
            sheet.write_string(r, COL["任务编号"], task.task_id, fixed)
            sheet.write_number(r, COL["序号"], task.seq, fixed)
            sheet.write_string(r, COL["目标名称"], task.goal, fixed)
            sheet.write_string(r, COL["工作内容"], task.content, fixed)
            sheet.write_string(r, COL["牵头单位"], "、".join(task.lead_units), fixed)
            sheet.write_string(r, COL["本单位职责"], ROLE_ZH[task.role], fixed)
            if metric.position:
                sheet.write_number(r, COL["指标序号"], metric.position, fixed)
                sheet.write_string(r, COL["指标"], metric.label or "", fixed)
                sheet.write_number(r, COL["年度目标"], metric.target or 0, fixed_num)
                measure = metric.measure or ""
                if metric.kind == "growth":
                    measure = "%（同比增长）"
                sheet.write_string(r, COL["计量单位"], measure, fixed)
                # what the unit is judged against where it is not the annual target (its
                # allocation, or its equal share: DESIGN §5, ducha.evaluation.shares)
                own = task.own_target(metric, unit_share)
                _number_or_blank(sheet, r, COL["本单位分解目标"], own, fixed_num, fixed)
                _number_or_blank(sheet, r, COL["上月累计"], metric.previous, fixed_num, fixed)
                sheet.write_blank(r, COL["本月完成"], None, entry)
                sheet.write_blank(r, COL["累计完成"], None, entry)
            else:
                for name in ("指标序号", "年度目标", "计量单位", "本单位分解目标", "上月累计",
                             "本月完成", "累计完成"):  # fmt: skip
                    sheet.write_blank(r, COL[name], None, fixed)
                sheet.write_string(r, COL["指标"], "（无量化指标，填写完成状态）", fixed)
            for name in TASK_INPUTS:
                sheet.write_blank(r, COL[name], None, entry_text)
            r += 1
        if r - first > 1:  # one task, several metrics: merge the task's cells down
            for name in (*TASK_COLUMNS, *TASK_INPUTS):
                c = COL[name]
                fmt = entry_text if name in TASK_INPUTS else fixed
                value = {
                    "任务编号": task.task_id,
                    "序号": task.seq,
                    "目标名称": task.goal,
                    "工作内容": task.content,
                    "牵头单位": "、".join(task.lead_units),
                    "本单位职责": ROLE_ZH[task.role],
                }.get(name, "")
                sheet.merge_range(first, c, r - 1, c, "", fmt)
                if isinstance(value, int):
                    sheet.write_number(first, c, value, fmt)
                else:
                    sheet.write_string(first, c, value, fmt)
    last = max(r - 1, HEADER_ROW + 1)
    number_rule = {
        "validate": "decimal", "criteria": "between", "minimum": -1e12, "maximum": 1e12,
        "input_title": "填写数值", "input_message": "只填数字，不带单位；增速、比率填百分数，如 5.2",
        "error_title": "不是数字", "error_message": "请填写数字（不带单位），没有可留空",
    }  # fmt: skip
    for name in ("本月完成", "累计完成"):
        sheet.data_validation(HEADER_ROW + 1, COL[name], last, COL[name], number_rule)
    sheet.data_validation(
        HEADER_ROW + 1, COL["完成状态"], last, COL["完成状态"],
        {"validate": "list", "source": list(STATUSES), "error_title": "完成状态",
         "error_message": "请从下拉列表中选择：" + "、".join(STATUSES)},
    )  # fmt: skip
    r += 1
    sheet.write_string(r, 0, "填报人：", line)
    sheet.write_blank(r, 1, None, entry_text)
    sheet.write_string(r, 3, "联系电话：", line)
    sheet.write_blank(r, 4, None, entry_text)
    for c, width in enumerate(WIDTHS):
        sheet.set_column(c, c, width)
    sheet.set_row(HEADER_ROW, 32)
    print_on_a4(sheet, HEADER_ROW + 1, r + 1, len(HEADER))
    sheet.freeze_panes(HEADER_ROW + 1, 4)
    sheet.protect("", {"format_columns": True, "format_rows": True, "autofilter": True})


def _number_or_blank(sheet, r: int, c: int, value: float | None, fmt, blank_fmt) -> None:
    if value is None:
        sheet.write_blank(r, c, None, blank_fmt)
    else:
        sheet.write_number(r, c, value, fmt)


def _guide_sheet(book, unit: str, period: Period) -> None:
    from ducha.presentation import A4, row_height

    sheet = book.add_worksheet(GUIDE_SHEET)
    lines = [
        f"{period.zh}目标任务进展情况表填报说明（{unit}）",
        "1. 只在黄色单元格中填写，灰色单元格为任务信息，已锁定。",
        "2. 本月完成：本月新完成的数量；累计完成：1月至本月累计完成的数量。只填数字，不带单位；没有可留空。",
        "3. 本单位分解目标：本单位作为责任单位承担的数量，考核时以此为准；未单独下达分解数的，为年度目标按责任单位平均分配的数。"
        "牵头的任务和增速、水平类指标以年度目标为准。",
        "4. 增速类指标（计量单位为“%（同比增长）”）在“累计完成”填1月至本月的累计同比增速，如 5.2；比率类指标填百分数。",
        "5. 没有量化指标的任务，在“完成状态”下拉列表中选择：已完成 / 序时推进 / 滞后 / 未启动。",
        "6. 进展情况、存在问题、下步打算请简明填写；“本单位职责”为“牵头”的任务请填写全区情况。",
        "7. 请勿增删行列、修改工作表名称；文件可以改名，系统会根据文件中的信息识别填报单位和报送期。",
        "8. 报送后会收到回执；回执列出的问题改正后重新报送，以最后一次报送为准。",
    ]
    wrapped = book.add_format({"text_wrap": True, "valign": "top"})
    for r, text in enumerate(lines):
        sheet.write_string(r, 0, text, wrapped)
        sheet.set_row(r, row_height([(text, GUIDE_WIDTH)]))
    sheet.set_column(0, 0, GUIDE_WIDTH)
    sheet.set_paper(A4)
    sheet.fit_to_pages(1, 1)  # one A4 page


def write_templates(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    workspace: str,
    period: Period,
    units: Sequence[str] | None = None,
    unit_share: str = "equal",
) -> list[Path]:
    """Write the templates of the given units (default: every reporting unit); `unit_share`:
    evaluation.yaml's, which decides what a unit without an allocation is judged against."""
    from ducha.errors import UserError

    by_unit = unit_tasks(con, period, units or None)
    if not by_unit and not units:
        raise UserError(f"数据库中没有 {period.year} 年的目标任务，请先导入分解表")
    chosen = list(units) if units else sorted(by_unit)
    missing = [u for u in chosen if u not in by_unit]
    if missing:
        raise UserError(f"{'、'.join(missing)} 在 {period.year} 年没有需要报送的任务")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_template(
            out_dir / template_name(unit, period),
            workspace=workspace,
            unit=unit,
            period=period,
            tasks=by_unit[unit],
            unit_share=unit_share,
        )  # fmt: skip
        for unit in chosen
    ]
