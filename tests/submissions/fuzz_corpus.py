"""The fuzz corpus: well over 1,000 broken or hostile progress files plus a few good ones.

`build_corpus` writes every file into one folder and returns a `Case` per file. Broken files
only use units outside GOOD_UNITS, so the good files' units must end up with exactly the good
files' rows whatever happens to the broken ones.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl

from ducha.submissions.templates import COL, HEADER, HEADER_ROW, MAIN_SHEET, META_SHEET
from tests.submissions.fuzz_files import (
    ACCEPT,
    ANY,
    PERIOD,
    REJECT,
    Case,
    Fill,
    Templates,
    corrupt,
    csv_bytes,
    lying_sizes,
    set_mtimes,
    template_sheets,
    write_xlsx,
    zip_bomb,
)

SEED = 20260315
GOOD_XLSX = ("湖塘镇", "科技局", "住建局", "中以园")
GOOD_CSV = {"商务局": "gbk", "发改局": "utf-8-sig"}
GOOD_UNITS = (*GOOD_XLSX, *GOOD_CSV)

# (待统计, 暂无数据 are empty marks: issue 17)
BAD_NUMBER_TEXTS = (
    "约三十", "abc", "1.2.3", "三十", "30左右", "见附件", "1..2", "1/2", "十二个",
    "0x1F", "1e5", "３０余", "approx 30", "2026-03-01", "--5", "+-3", ".", "%", "−7",
    "12个百分点多", "N/A?", "约 1.2 万", "1.2.3万", "五十",
)  # fmt: skip
HUGE_VALUES: tuple[Any, ...] = (1e15, "9" * 40, 1e300, "1" + "0" * 20, 9.99e14, "9" * 400)
NEGATIVE_VALUES: tuple[Any, ...] = (-1, -35.5, "-5", "－3", -0.01, "-1,200", "-2万")
BAD_STATUSES = ("差不多", "进行中", "OK", "完成了一半", "已完成?", "延期")
BAD_TASK_IDS = ("2025-{seq:03d}", "2027-001", "2026-1", "26-{seq:03d}", "2026–001", "2026-0001")


class Corpus:
    def __init__(self, templates: Templates, folder: Path, seed: int = SEED) -> None:
        self.t = templates
        self.folder = folder
        self.rng = random.Random(seed)
        self.cases: list[Case] = []
        self.counter = 0
        self.bad_units = [u for u in templates.units if u not in GOOD_UNITS]
        # Units with metrics of a kind the checks bound (cumulative / level, target > 0).
        self.bounded_units = [
            u for u in self.bad_units if templates.metric_lines(u, ("cumulative", "level"))
        ]
        self.cumulative_units = [
            u for u in self.bad_units if templates.metric_lines(u, ("cumulative",))
        ]
        self._bases: dict[str, tuple[bytes, Fill]] = {}

    # ------------------------------------------------------------------ helpers

    def name(self, unit: str | None, kind: str, suffix: str = ".xlsx") -> Path:
        self.counter += 1
        stem = f"{unit}-{PERIOD.zh}进展表" if unit else "progress"
        return self.folder / f"{stem}-{kind}-{self.counter:04d}{suffix}"

    def add(self, case: Case) -> None:
        self.cases.append(case)

    def pick(self, units: list[str] | None = None) -> str:
        """A unit for a broken file; the big templates (towns, zones: ~70 tasks) a quarter of
        the time, to keep the corpus quick to write."""
        units = units or self.bad_units
        small = [u for u in units if len(self.t.by_unit[u]) < 20]
        if small and self.rng.random() < 0.75:
            return self.rng.choice(small)
        return self.rng.choice(units)

    def openpyxl_case(
        self,
        kind: str,
        expect: str,
        edit: Callable[[openpyxl.Workbook, Fill], None] | None = None,
        *,
        unit: str | None = None,
        message: str | None = None,
        rows: bool = False,
        path: Path | None = None,
    ) -> Case:
        """A filled real template, broken by `edit` (openpyxl)."""
        unit = unit or self.pick()
        fill = self.t.fill(unit, self.rng, tag=f"{kind}:")
        path = path or self.name(unit, kind)
        self.t.write_filled(fill, path, (lambda book: edit(book, fill)) if edit else None)
        case = Case(path, kind, expect, unit, message=message)
        if rows:
            case.metrics, case.tasks = frozenset(fill.metrics), frozenset(fill.tasks)
        self.add(case)
        return case

    def base(self, unit: str) -> tuple[bytes, Fill]:
        """A filled template's bytes (the source of byte-level corruptions)."""
        if unit not in self._bases:
            fill = self.t.fill(unit, random.Random(f"base-{unit}"), tag="base:")
            path = self.folder.parent / f"base-{self.counter}-{len(self._bases)}.xlsx"
            self.t.write_filled(fill, path)
            self._bases[unit] = (path.read_bytes(), fill)
            path.unlink()
        return self._bases[unit]

    def raw(self, kind: str, data: bytes, suffix: str, expect: str = REJECT, **kw: Any) -> Case:
        unit = kw.pop("unit", None)
        path = self.name(unit, kind, suffix)
        path.write_bytes(data)
        case = Case(path, kind, expect, unit, **kw)
        self.add(case)
        return case

    # -------------------------------------------------------------- good files

    def good(self) -> None:
        for unit in GOOD_XLSX:
            fill = self.t.fill(unit, self.rng, tag="good:")
            path = self.folder / f"{unit}-{PERIOD.zh}进展表.xlsx"
            self.t.write_filled(fill, path)
            self.add(
                Case(path, "good", ACCEPT, unit, frozenset(fill.metrics), frozenset(fill.tasks))
            )
        for unit, encoding in GOOD_CSV.items():
            fill = self.t.fill(unit, self.rng, tag="good-csv:")
            rows, _ = self.t.filled_grid(fill)
            path = self.folder / f"{unit}-{PERIOD.zh}进展表.csv"
            path.write_bytes(csv_bytes(rows, encoding))
            self.add(
                Case(path, "good", ACCEPT, unit, frozenset(fill.metrics), frozenset(fill.tasks))
            )

    # ------------------------------------------------------------- byte level

    def corrupt_zip(self, n: int) -> None:
        units = self.rng.sample(self.bad_units, 6)
        made = 0
        while made < n:
            unit = self.rng.choice(units)
            data, fill = self.base(unit)
            broken = corrupt(data, self.rng)
            if broken == data:
                continue
            self.raw(
                "corrupt", broken, ".xlsx", ANY, unit=unit,
                metrics=frozenset(fill.metrics), tasks=frozenset(fill.tasks),
            )  # fmt: skip
            made += 1

    def truncated(self, n: int) -> None:
        units = self.rng.sample(self.bad_units, 5)
        for _ in range(n):
            unit = self.rng.choice(units)
            data, _ = self.base(unit)
            cut = self.rng.randrange(1, len(data) - 1)
            self.raw("truncated", data[:cut], ".xlsx", unit=unit)

    def random_bytes(self, n: int) -> None:
        prefixes = (
            b"",
            b"PK\x03\x04",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            b"\xef\xbb\xbf",
            b"PK\x05\x06",
        )
        for i in range(n):
            suffix = (".xlsx", ".xls", ".csv")[i % 3]
            size = self.rng.choice((1, 7, 64, 512, 4096, 20000))
            data = self.rng.choice(prefixes) + self.rng.randbytes(size)
            unit = self.pick() if i % 4 == 0 else None  # some carry a unit in their name
            self.raw("random", data, suffix, unit=unit)

    def empty(self) -> None:
        for suffix in (".xlsx", ".xls", ".csv", ".XLSX", ".Csv"):
            for unit in (None, self.pick()):
                self.raw("empty", b"", suffix, unit=unit, message="文件是空的")
        for data in (b"\n", b"   \r\n\r\n", b"\xef\xbb\xbf", b"\x00", b",,,\n,,,\n", b"\t\t\n"):
            self.raw("empty", data, ".csv", unit=self.pick())
            self.raw("empty", data, ".csv")
        for data in (b"\x00", b"P", b"PK", b"PK\x03\x04"):
            self.raw("empty", data, ".xlsx", unit=self.pick())
            self.raw("empty", data, ".xls")

    # ----------------------------------------------------------- limits, zips

    def limits(self) -> None:
        unit = self.pick()
        data, fill = self.base(unit)
        bomb = zip_bomb(data)
        self.raw("zip_bomb", bomb, ".xlsx", unit=unit, message="压缩炸弹")
        self.raw("zip_bomb_lying", lying_sizes(bomb), ".xlsx", unit=unit)
        # 2,001 tiny members
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(2001):
                archive.writestr(f"xl/media/m{i}.bin", b"")
        self.raw("zip_members", out.getvalue(), ".xlsx", unit=unit, message="文件过多")
        # a zip that is no workbook
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("readme.txt", "这不是表格")
            archive.writestr("data/进展.csv", "任务编号,本月完成\n2026-001,1\n")
        self.raw("zip_not_xlsx", out.getvalue(), ".xlsx", unit=unit, message="缺少工作簿结构")
        # the real workbook plus hostile member names (never extracted)
        out = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(data)) as src,
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
        ):
            for item in src.infolist():
                dst.writestr(item, src.read(item.filename))
            dst.writestr("../../../../tmp/ducha-evil.txt", "x")
            dst.writestr("/etc/ducha-evil.txt", "x")
        self.raw(
            "zip_traversal", out.getvalue(), ".xlsx", ANY, unit=unit,
            metrics=frozenset(fill.metrics), tasks=frozenset(fill.tasks),
        )  # fmt: skip
        self.huge_sheets()

    def huge_sheets(self) -> None:
        unit = self.pick()
        fill = self.t.fill(unit, self.rng, tag="rows:")
        main = self.t.filled_grid(fill)

        def rows_100k(sheet: Any, start: int) -> None:
            for r in range(start, 100_000):
                sheet.write_number(r, 0, r)

        path = self.name(unit, "rows_100k")
        write_xlsx(
            path, template_sheets(self.t, unit, main), constant_memory=True, extra_rows=rows_100k
        )
        self.add(Case(path, "rows_100k", REJECT, unit, message="上限"))

        def far_cell(sheet: Any, start: int) -> None:
            sheet.write_string(99_999, 3, "最后一行")

        path = self.name(unit, "rows_far")
        write_xlsx(path, template_sheets(self.t, unit, main), extra_rows=far_cell)
        self.add(Case(path, "rows_far", REJECT, unit, message="上限"))

        path = self.name(unit, "cols_wide")
        wide = [list(r) for r in main[0]]
        wide[HEADER_ROW] = wide[HEADER_ROW] + [""] * 230 + ["备注"]
        write_xlsx(path, template_sheets(self.t, unit, (wide, main[1])))
        self.add(Case(path, "cols_wide", REJECT, unit, message="上限"))

        path = self.name(unit, "many_sheets")
        sheets = template_sheets(self.t, unit, main)
        sheets += [(f"附表{i}", [["说明", i]], []) for i in range(30)]
        write_xlsx(path, sheets)
        self.add(Case(path, "many_sheets", REJECT, unit, message="上限"))

        rows = main[0] + [[f"{i}", "补充行"] for i in range(6000)]
        self.raw("csv_rows", csv_bytes(rows, "utf-8-sig"), ".csv", unit=unit, message="上限")
        rows = [list(r) + ["x"] * 240 for r in main[0]]
        self.raw("csv_cols", csv_bytes(rows, "gbk"), ".csv", unit=unit, message="上限")

    # ----------------------------------------------------- content (openpyxl)

    def _set(self, book: openpyxl.Workbook, r: int, c: int, value: Any) -> None:
        book[MAIN_SHEET].cell(r + 1, c + 1).value = value

    def text_in_numbers(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick(self.cumulative_units)
            lines = self.t.metric_lines(unit)
            chosen = self.rng.sample(lines, min(len(lines), self.rng.randint(1, 3)))
            texts = [self.rng.choice(BAD_NUMBER_TEXTS) for _ in chosen]
            cols = [self.rng.choice(("本月完成", "累计完成")) for _ in chosen]

            def edit(
                book: openpyxl.Workbook, fill: Fill, chosen=chosen, texts=texts, cols=cols
            ) -> None:
                for line, text, col in zip(chosen, texts, cols, strict=True):
                    self._set(book, line.row, COL[col], text)

            self.openpyxl_case("text_number", REJECT, edit, unit=unit, message="不是有效数字")

    def huge_values(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick(self.bounded_units)
            line = self.rng.choice(self.t.metric_lines(unit, ("cumulative", "level")))
            value = self.rng.choice(HUGE_VALUES)

            def edit(book: openpyxl.Workbook, fill: Fill, line=line, value=value) -> None:
                self._set(book, line.row, COL["累计完成"], value)

            too_long = isinstance(value, str) and len(value) > 308  # no float holds it
            message = "数值过大" if too_long else "超过年度目标"
            self.openpyxl_case("huge", REJECT, edit, unit=unit, message=message)

    def negatives(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick(self.bounded_units)
            line = self.rng.choice(self.t.metric_lines(unit, ("cumulative", "level")))
            value = self.rng.choice(NEGATIVE_VALUES)
            col = self.rng.choice(("本月完成", "累计完成"))

            def edit(book: openpyxl.Workbook, fill: Fill, line=line, value=value, col=col) -> None:
                self._set(book, line.row, COL[col], value)

            self.openpyxl_case("negative", REJECT, edit, unit=unit, message="负数")

    def month_over_cumulative(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick(self.cumulative_units)
            line = self.rng.choice(self.t.metric_lines(unit, ("cumulative",)))
            target = float(line.metric.target or 10)

            def edit(book: openpyxl.Workbook, fill: Fill, line=line, target=target) -> None:
                self._set(book, line.row, COL["本月完成"], round(target * 0.5, 2))
                self._set(book, line.row, COL["累计完成"], round(target * 0.1, 2))

            self.openpyxl_case(
                "month_gt_cumulative", REJECT, edit, unit=unit, message="大于累计完成"
            )

    def bad_status(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick()
            line = self.rng.choice([ln for ln in self.t.lines(unit) if ln.first])
            text = self.rng.choice(BAD_STATUSES)

            def edit(book: openpyxl.Workbook, fill: Fill, line=line, text=text) -> None:
                self._set(book, line.row, COL["完成状态"], text)

            self.openpyxl_case("bad_status", REJECT, edit, unit=unit, message="完成状态")

    def openpyxl_formulas(self, n: int) -> None:
        for i in range(n):
            unit = self.pick(self.cumulative_units)
            lines = self.t.metric_lines(unit)
            line = self.rng.choice(lines)
            col = COL[self.rng.choice(("本月完成", "累计完成"))]
            letter = openpyxl.utils.get_column_letter(col + 1)
            formula = self.rng.choice(
                (f"={letter}{line.row}+1", "=1+2", f"=SUM({letter}4:{letter}6)", "=ROUND(10/3,2)")
            )

            def edit(
                book: openpyxl.Workbook, fill: Fill, line=line, col=col, formula=formula
            ) -> None:
                self._set(book, line.row, col, formula)

            self.openpyxl_case("openpyxl_formula", REJECT, edit, unit=unit, message="公式")
            if i % 4 == 0:  # a formula in a text column: no figure at stake
                first = self.rng.choice([ln for ln in self.t.lines(unit) if ln.first])

                def text_formula(book: openpyxl.Workbook, fill: Fill, first=first) -> None:
                    self._set(book, first.row, COL["进展情况"], '="已完成"&"一半"')

                self.openpyxl_case("openpyxl_formula_text", ANY, text_formula, unit=unit)

    def sheets_and_headers(self, n: int) -> None:
        english = ("Task ID", "No.", "Goal", "Content", "Lead", "Role", "Metric No", "Metric",
                   "Target", "Unit", "Share", "Last month", "This month", "Cumulative", "Status",
                   "Progress", "Issues", "Next")  # fmt: skip

        def drop_main(book: openpyxl.Workbook, fill: Fill) -> None:
            book.remove(book[MAIN_SHEET])

        def blank_header(book: openpyxl.Workbook, fill: Fill) -> None:
            for c in range(len(HEADER)):
                self._set(book, HEADER_ROW, c, None)

        def english_header(book: openpyxl.Workbook, fill: Fill) -> None:
            for c, text in enumerate(english):
                self._set(book, HEADER_ROW, c, text)

        def header_far_down(book: openpyxl.Workbook, fill: Fill) -> None:
            book[MAIN_SHEET].insert_rows(1, 40)

        def no_report_columns(book: openpyxl.Workbook, fill: Fill) -> None:
            book[MAIN_SHEET].delete_cols(COL["本月完成"] + 1, 6)

        def rename_main(book: openpyxl.Workbook, fill: Fill) -> None:
            book[MAIN_SHEET].title = "Sheet1"

        def junk_sheets(book: openpyxl.Workbook, fill: Fill) -> None:
            for k in range(3):
                sheet = book.create_sheet(f"草稿{k}")
                for r in range(5):
                    sheet.append([f"随便写写{r}", r * 1.5, "本月完成" if r == 0 else None])

        def header_variants(book: openpyxl.Workbook, fill: Fill) -> None:
            self._set(book, HEADER_ROW, COL["本月完成"], "本月完成（数值）")
            self._set(book, HEADER_ROW, COL["累计完成"], " 累计 完成 ")
            self._set(book, HEADER_ROW, COL["完成状态"], "推进状态*")

        def meta_workspace(book: openpyxl.Workbook, fill: Fill) -> None:
            book[META_SHEET]["B2"].value = "changzhou"

        def meta_period(book: openpyxl.Workbook, fill: Fill) -> None:
            book[META_SHEET]["B4"].value = self.rng.choice(
                ("2026-13", "二〇二六年三月", "", "2026-3-1")
            )

        def anonymous(book: openpyxl.Workbook, fill: Fill) -> None:
            book.remove(book[META_SHEET])
            self._set(book, 0, 0, "目标任务进展情况表")
            self._set(book, 1, 0, "（黄色单元格为填报内容）")

        variants: list[tuple[str, str, Callable, str | None, bool]] = [
            ("no_main_sheet", REJECT, drop_main, "表头", False),
            ("blank_header", REJECT, blank_header, "表头", False),
            ("english_header", REJECT, english_header, "表头", False),
            ("header_far_down", REJECT, header_far_down, "表头", False),
            ("no_report_columns", REJECT, no_report_columns, "表头", False),
            ("renamed_sheet", ANY, rename_main, None, True),
            ("junk_sheets", ANY, junk_sheets, None, True),
            ("header_variants", ANY, header_variants, None, True),
            ("meta_workspace", REJECT, meta_workspace, "工作区", False),
            ("meta_period", REJECT, meta_period, "报送期", False),
        ]
        for i in range(n):
            kind, expect, edit, message, rows = variants[i % len(variants)]
            self.openpyxl_case(kind, expect, edit, message=message, rows=rows)
        for _ in range(max(1, n // 10)):
            path = self.folder / f"progress-anonymous-{self.counter:04d}.xlsx"
            self.counter += 1
            self.openpyxl_case("anonymous", REJECT, anonymous, message="无法确定", path=path)

    def unit_conflicts(self, n: int) -> None:
        for i in range(n):
            unit, other = self.rng.sample(self.bad_units, 2)
            variant = i % 5
            if variant == 0:  # the file name names another unit
                path = self.folder / f"{other}-{PERIOD.zh}进展表-name-{self.counter:04d}.xlsx"
                self.counter += 1
                self.openpyxl_case(
                    "unit_name_vs_meta", REJECT, None, unit=unit, path=path, message="不一致"
                )
            elif variant == 1:  # the title line names another unit

                def title(book: openpyxl.Workbook, fill: Fill, other=other) -> None:
                    self._set(book, 1, 0, f"填报单位：{other}　　报送期：{PERIOD.zh}")

                self.openpyxl_case("unit_title_vs_meta", REJECT, title, unit=unit, message="不一致")
            elif variant == 2:  # the metadata names another unit

                def meta(book: openpyxl.Workbook, fill: Fill, other=other) -> None:
                    book[META_SHEET]["B3"].value = other

                self.openpyxl_case("unit_meta_vs_title", REJECT, meta, unit=unit, message="不一致")
            elif variant == 3:  # two units in the name
                path = self.folder / f"{unit}和{other}-{PERIOD.zh}进展表-{self.counter:04d}.xlsx"
                self.counter += 1
                self.openpyxl_case(
                    "unit_two_in_name", REJECT, None, unit=unit, path=path, message="多个单位"
                )
            else:  # a unit not in the register

                def unknown(book: openpyxl.Workbook, fill: Fill) -> None:
                    book[META_SHEET]["B3"].value = "火星开发区管委会"

                self.openpyxl_case(
                    "unit_unknown", REJECT, unknown, unit=unit, message="不在单位名册中"
                )

    def period_conflicts(self, n: int) -> None:
        for i in range(n):
            unit = self.pick()
            variant = i % 3
            if variant == 0:
                path = self.folder / f"{unit}-2026年4月进展表-{self.counter:04d}.xlsx"
                self.counter += 1
                self.openpyxl_case(
                    "period_name_vs_meta", REJECT, None, unit=unit, path=path, message="不一致"
                )
            elif variant == 1:

                def title(book: openpyxl.Workbook, fill: Fill) -> None:
                    self._set(book, 0, 0, "2026年2月《政府工作报告》目标任务进展情况表")

                self.openpyxl_case(
                    "period_title_vs_meta", REJECT, title, unit=unit, message="不一致"
                )
            else:  # consistently another year, which has no tasks

                def year(book: openpyxl.Workbook, fill: Fill) -> None:
                    book[META_SHEET]["B4"].value = "2027-03"
                    self._set(book, 0, 0, "2027年3月《政府工作报告》目标任务进展情况表")
                    self._set(book, 1, 0, "填报单位：" + fill.unit + "　　报送期：2027年3月")

                path = self.folder / f"{unit}-2027年3月进展表-{self.counter:04d}.xlsx"
                self.counter += 1
                self.openpyxl_case(
                    "period_other_year",
                    REJECT,
                    year,
                    unit=unit,
                    path=path,
                    message="没有需要报送的任务",
                )

    def task_ids(self, n: int) -> None:
        all_ids = sorted({t.task_id for tasks in self.t.by_unit.values() for t in tasks})
        for i in range(n):
            unit = self.pick()
            line = self.rng.choice([ln for ln in self.t.lines(unit) if ln.first])
            if i % 4 == 3:  # a 2026 task of another unit
                own = {t.task_id for t in self.t.by_unit[unit]}
                value = self.rng.choice([t for t in all_ids if t not in own])
                message = "不是本单位"
            else:
                value = self.rng.choice(BAD_TASK_IDS).format(seq=line.task.seq)
                message = "任务编号"

            def edit(book: openpyxl.Workbook, fill: Fill, line=line, value=value) -> None:
                self._set(book, line.row, COL["任务编号"], value)

            self.openpyxl_case("task_id_year", REJECT, edit, unit=unit, message=message)

    def duplicated_rows(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick()
            lines = self.t.lines(unit)
            line = self.rng.choice(lines)
            below = lines[-1].row + 1  # the blank row between the table and 填报人

            def edit(book: openpyxl.Workbook, fill: Fill, line=line, below=below) -> None:
                sheet = book[MAIN_SHEET]
                task = line.task
                values = {
                    "任务编号": task.task_id, "序号": task.seq, "目标名称": task.goal,
                    "工作内容": task.content, "指标序号": line.metric.position or None,
                    "指标": line.metric.label, "本月完成": sheet.cell(line.row + 1, COL["本月完成"] + 1).value,
                    "累计完成": sheet.cell(line.row + 1, COL["累计完成"] + 1).value,
                    "完成状态": "序时推进",
                }  # fmt: skip
                for name, value in values.items():
                    self._set(book, below, COL[name], value)

            self.openpyxl_case("duplicated_row", REJECT, edit, unit=unit, message="出现了两次")

    def unfilled(self, n: int) -> None:
        for _ in range(n):
            unit = self.pick()
            path = self.name(unit, "unfilled")
            path.write_bytes(self.t.path(unit).read_bytes())
            self.add(Case(path, "unfilled", REJECT, unit, message="没有填报任何任务的进展"))

    # --------------------------------------------------- rebuilt (xlsxwriter)

    def xlsxwriter_formulas(self, n: int) -> None:
        for i in range(n):
            unit = self.pick(self.cumulative_units)
            fill = self.t.fill(unit, self.rng, tag="xf:")
            main = self.t.filled_grid(fill)
            formulas = {}
            variant = i % 3
            for line in self.t.metric_lines(unit):
                for name in ("本月完成", "累计完成"):
                    value = fill.cells.get((line.row, COL[name]))
                    if value is None or self.rng.random() < 0.5:
                        continue
                    cached = value if variant == 0 else ("" if variant == 1 else None)
                    formulas[(MAIN_SHEET, line.row, COL[name])] = (f"={value}*1", cached)
            if not formulas:
                continue
            kind, expect, message = (
                ("xlsxwriter_formula_cached", ACCEPT, None),
                ("xlsxwriter_formula_no_value", REJECT, "公式"),
                ("xlsxwriter_formula_zero", ANY, None),  # xlsxwriter caches 0: read as 0
            )[variant]
            path = self.name(unit, kind)
            write_xlsx(path, template_sheets(self.t, unit, main), formulas=formulas)
            case = Case(path, kind, expect, unit, message=message)
            if expect == ACCEPT:
                case.metrics, case.tasks = frozenset(fill.metrics), frozenset(fill.tasks)
            self.add(case)

    def merged_everywhere(self, n: int) -> None:
        for i in range(n):
            unit = self.pick()
            fill = self.t.fill(unit, self.rng, tag="merge:")
            rows, merges = self.t.filled_grid(fill)
            rows = [list(r) + [""] * 4 for r in rows]  # room on the right
            rows += [[""] * len(rows[0]) for _ in range(6)]
            taken = {
                (r, c) for (r0, c0), (r1, c1) in merges
                for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)
            }  # fmt: skip
            empty_only = i % 2 == 0  # merges over empty cells only: the data is unchanged
            extra = []
            for _ in range(self.rng.randint(20, 80)):
                r0 = self.rng.randrange(0, len(rows))
                c0 = self.rng.randrange(0, len(rows[0]))
                r1 = min(len(rows) - 1, r0 + self.rng.choice((0, 0, 1, 2, 5)))
                c1 = min(len(rows[0]) - 1, c0 + self.rng.choice((0, 1, 1, 3)))
                if (r0, c0) == (r1, c1):
                    continue
                cells = {(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}
                if cells & taken:
                    continue
                if empty_only and any(rows[r][c] not in ("", None) for r, c in cells):
                    continue
                taken |= cells
                extra.append(((r0, c0), (r1, c1)))
            kind = "merged_empty" if empty_only else "merged_random"
            path = self.name(unit, kind)
            write_xlsx(path, template_sheets(self.t, unit, (rows, merges + extra)))
            case = Case(path, kind, ANY, unit)
            if empty_only:
                case.metrics, case.tasks = frozenset(fill.metrics), frozenset(fill.tasks)
            self.add(case)

    # --------------------------------------------------------------------- CSV

    def csv_files(self, n: int) -> None:
        for i in range(n):
            unit = self.pick(self.cumulative_units)
            encoding = ("gbk", "utf-8-sig", "utf-8")[i % 3]
            fill = self.t.fill(unit, self.rng, tag="csv:")
            rows, _ = self.t.filled_grid(fill)
            rows = [list(r) for r in rows]
            lines = self.t.metric_lines(unit)
            variant = i % 8
            kw: dict[str, Any] = {}
            if variant == 0:  # text in a number cell
                line = self.rng.choice(lines)
                rows[line.row][COL["累计完成"]] = self.rng.choice(BAD_NUMBER_TEXTS)
                data, expect, kw = csv_bytes(rows, encoding), REJECT, {"message": "不是有效数字"}
            elif variant == 1:  # ragged rows: cells cut off or added at random
                for r in range(HEADER_ROW + 1, len(rows)):
                    if self.rng.random() < 0.3:
                        rows[r] = rows[r][: self.rng.randrange(1, len(rows[r]))]
                    elif self.rng.random() < 0.2:
                        rows[r] = rows[r] + ["多余", "列"]
                data, expect = csv_bytes(rows, encoding), ANY
            elif variant == 2:  # a NUL byte in the middle
                raw = csv_bytes(rows, encoding).split(b"\r\n")
                k = self.rng.randrange(1, len(raw))
                raw[k] = b"\x00" + raw[k]
                data, expect, kw = b"\r\n".join(raw), REJECT, {"message": "二进制"}
            elif variant == 3:  # the header row missing
                del rows[HEADER_ROW]
                data, expect, kw = csv_bytes(rows, encoding), REJECT, {"message": "表头"}
            elif variant == 4:  # one line in the other encoding
                raw = csv_bytes(rows, encoding).split(b"\r\n")
                k = self.rng.randrange(HEADER_ROW + 1, len(raw) - 1)
                other = "gbk" if encoding != "gbk" else "utf-8"
                raw[k] = raw[k].decode(encoding.replace("-sig", "")).encode(other)
                data, expect = b"\r\n".join(raw), ANY
            elif variant == 5:  # an unclosed quote swallowing the rows after it
                raw = csv_bytes(rows, encoding).split(b"\r\n")
                k = self.rng.randrange(HEADER_ROW + 1, max(HEADER_ROW + 2, len(raw) - 3))
                raw[k] = raw[k] + b',"' + "未闭合的引号".encode(encoding.replace("-sig", ""))
                data, expect = b"\r\n".join(raw), ANY
            elif variant == 6:  # other delimiters
                delimiter = self.rng.choice((";", "\t"))
                data, expect = csv_bytes(rows, encoding, delimiter=delimiter), ANY
                kw = {"metrics": frozenset(fill.metrics), "tasks": frozenset(fill.tasks)}
            else:  # truncated mid-file
                raw = csv_bytes(rows, encoding)
                data, expect = raw[: self.rng.randrange(1, len(raw))], ANY
            kind = (
                "csv_text_number", "csv_ragged_rows", "csv_nul_byte", "csv_no_header",
                "csv_mixed_encoding", "csv_unclosed_quote", "csv_other_delimiter", "csv_truncated",
            )[variant]  # fmt: skip
            self.raw(kind, data, ".csv", expect, unit=unit, **kw)

    def csv_conflict(self, n: int) -> None:
        for _ in range(n):
            unit, other = self.rng.sample(self.bad_units, 2)
            fill = self.t.fill(unit, self.rng, tag="csvc:")
            rows, _ = self.t.filled_grid(fill)
            path = self.folder / f"{other}-{PERIOD.zh}进展表-csvname-{self.counter:04d}.csv"
            self.counter += 1
            path.write_bytes(csv_bytes(rows, "gbk"))
            self.add(Case(path, "csv_unit_conflict", REJECT, unit, message="不一致"))


def build_corpus(templates: Templates, folder: Path, seed: int = SEED) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    c = Corpus(templates, folder, seed)
    c.good()
    c.corrupt_zip(120)
    c.truncated(100)
    c.random_bytes(120)
    c.empty()
    c.limits()
    c.text_in_numbers(70)
    c.huge_values(50)
    c.negatives(40)
    c.month_over_cumulative(20)
    c.bad_status(20)
    c.openpyxl_formulas(32)
    c.sheets_and_headers(70)
    c.unit_conflicts(50)
    c.period_conflicts(30)
    c.task_ids(40)
    c.duplicated_rows(40)
    c.unfilled(10)
    c.xlsxwriter_formulas(45)
    c.merged_everywhere(60)
    c.csv_files(96)
    c.csv_conflict(12)
    # Ingest order (modification times): shuffled, so good files land in different batches.
    order = [case.path for case in c.cases]
    c.rng.shuffle(order)
    set_mtimes(order)
    return c.cases
