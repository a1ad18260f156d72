"""Workbooks laid out like real progress reports, filled with a Wujin unit's own tasks.

Each spec under data/real_layouts/ describes the layout of a progress table a government
published (title lines, 填报单位 line, header rows and merges, what each column holds, section
rows, footer lines, …). `build` writes that layout with openpyxl as a person would build it by
hand (no template data sheet), filled with one reporting unit's tasks and metrics for March
2026, and returns what it wrote: the figures per (task, metric) and the texts per task, so a
test can compare them with what ducha stores. Files of format xls are written as .xlsx and
converted by LibreOffice.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import yaml
from openpyxl.utils import get_column_letter, range_boundaries
from python_calamine import CalamineWorkbook

from ducha.submissions.assignments import MetricLine
from tests.submissions.fuzz_files import Line, Templates, figures

SPEC_DIR = Path(__file__).parent / "data" / "real_layouts"
COUNTED = set("个家项场条台人所户座处次件名套辆批")
NUMERALS = "一二三四五六七八九十"
TEXT_ROLES = ("progress", "issues", "next_steps")
PROGRESS = (
    "截至3月31日，已完成实施方案编制，正在组织推进",
    "3月10日召开专题推进会，各项工作按计划推进",
    "已完成前期调研，正在开展项目申报",
)
ISSUES = ("要素保障压力较大", "资金到位偏慢", "部分项目前期手续办理周期较长")
NEXT_STEPS = ("加快推进，确保按期完成", "加强调度，倒排工期", "强化督查，压实责任")

Figure = tuple[float | None, float | None]  # month, cumulative as written (None: not written)


@dataclass
class Built:
    """A written workbook and what it holds."""

    path: Path
    unit: str
    other: str | None  # the unit of the second sheet, when there is one
    figures: dict[tuple[str, int], Figure] = field(default_factory=dict)  # (task_id, position)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # task_id -> role -> text
    statuses: dict[str, str] = field(default_factory=dict)  # task_id -> status word
    sheets: list[tuple[str, list[list[Any]]]] = field(default_factory=list)  # as intended


def load_spec(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def spec_paths() -> list[Path]:
    return sorted(SPEC_DIR.glob("*.yaml"))


def _metric_count(templates: Templates, unit: str) -> int:
    return len(templates.metric_lines(unit))


def choose_unit(templates: Templates) -> str:
    """The unit with the most metric lines among those whose tasks have one metric at most:
    layouts without a metric column name a task's single figure by the task text alone."""
    single = [
        u
        for u in templates.units
        if _metric_count(templates, u)
        and all(sum(1 for m in t.metrics if m.position) <= 1 for t in templates.by_unit[u])
    ]
    return max(single, key=lambda u: (_metric_count(templates, u), u))


def other_unit(spec: dict[str, Any], templates: Templates, unit: str) -> str:
    """The second sheet's unit: the one the spec expects to be named, else another with metrics."""
    for word in spec["expected"].get("refusal_should_mention") or []:
        if word in templates.units and word != unit:
            return word
    return next(u for u in templates.units if u != unit and _metric_count(templates, u) >= 2)


def _figures(metric: MetricLine, rng: random.Random) -> Figure:
    """fuzz_files.figures, in whole numbers where things are counted (no one reports 0.57个)."""
    month, cumulative = figures(metric, rng)
    if metric.kind == "cumulative" and (metric.measure or "") in COUNTED:
        cumulative = float(max(round(cumulative or 0), 1))
        month = None if month is None else float(min(round(month), cumulative))
    return month, cumulative


def _plain(value: float | None) -> float | int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _with_unit(value: float | None, measure: str | None, spec: dict[str, Any]) -> Any:
    if value is None:
        return None
    if spec.get("figures_with_units") and measure:
        return f"{_plain(value)}{measure}"
    return _plain(value)


def _percent(cumulative: float | None, target: float | None) -> str | None:
    if cumulative is None or not target:
        return None
    return f"{round(cumulative / target * 100)}%"


class _Sheet:
    """One sheet's grid (0-based rows, as many columns as the spec has) and merges."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[list[Any]] = []
        self.merges: list[str] = []

    def add(self, row: list[Any]) -> int:
        self.rows.append(list(row) + [None] * (self.width - len(row)))
        return len(self.rows)  # 1-based row number

    def line(self, text: str, column: int = 0) -> int:
        row: list[Any] = [None] * self.width
        row[column] = text
        return self.add(row)


def _sheet(
    spec: dict[str, Any],
    templates: Templates,
    unit: str,
    rng: random.Random,
    built: Built | None,
    register_seq: bool = False,
) -> _Sheet:
    """The spec's layout filled with `unit`'s tasks; records what it wrote in `built`."""
    roles: list[str] = spec["columns"]
    header: list[list[Any]] = spec["header"]
    width = max(len(roles), *(len(r) for r in header))
    sheet = _Sheet(width)
    for title in spec["title"]:
        sheet.line(title.format(unit=unit))
    if spec.get("unit_line"):
        sheet.line(spec["unit_line"].format(unit=unit))
    header_start = len(sheet.rows) + 1
    for merge in spec.get("merges") or []:
        top = range_boundaries(merge)[1]
        assert top >= header_start, f"merge {merge} starts above the header (row {header_start})"
    metric_lines = templates.metric_lines(unit)
    names: dict[str, Any] = {}
    for n, ln in enumerate(metric_lines, start=1):
        names |= {f"goal_{n}": ln.task.goal, f"metric_{n}": ln.metric.label}
        names[f"measure_{n}"] = ln.metric.measure
    for row in header:
        sheet.add([c.format(**names) if isinstance(c, str) and "{" in c else c for c in row])
    sheet.merges.extend(spec.get("merges") or [])
    if any(isinstance(c, str) and "{metric_" in c for row in header for c in row):
        _across(spec, sheet, unit, metric_lines, rng, built)
    else:
        _down(spec, sheet, templates.lines(unit), rng, built, register_seq)
    for text in spec.get("footer") or []:
        sheet.line(text.format(unit=unit), spec.get("footer_column") or 0)
    return sheet


def _across(
    spec: dict[str, Any],
    sheet: _Sheet,
    unit: str,
    metric_lines: list[Line],
    rng: random.Random,
    built: Built | None,
) -> None:
    """Metrics run across the sheet in groups of columns; one data row, the unit's own name
    in column A (the published table's 地区 column)."""
    roles: list[str] = spec["columns"]
    row: list[Any] = [unit] + [None] * (len(roles) - 1)
    group, first = -1, roles[1]
    drawn: dict[int, Figure] = {}
    for c, role in enumerate(roles[1:], start=1):
        group += role == first
        line = metric_lines[group]
        metric = line.metric
        if group not in drawn:
            drawn[group] = _figures(metric, rng)
        cumulative = drawn[group][1]
        if role == "target":
            row[c] = _with_unit(metric.target, metric.measure, spec)
        elif role == "cumulative":
            row[c] = _with_unit(cumulative, metric.measure, spec)
            if built is not None:
                built.figures[(line.task.task_id, metric.position)] = (None, cumulative)
        elif role == "percent":
            row[c] = _percent(cumulative, metric.target)
    sheet.add(row)


def _down(
    spec: dict[str, Any],
    sheet: _Sheet,
    lines: list[Line],
    rng: random.Random,
    built: Built | None,
    register_seq: bool = False,
) -> None:
    """One row per task line (per metric), in table order, with section rows when asked."""
    roles: list[str] = spec["columns"]
    by_text = "content" in roles or "task_id" in roles
    if not by_text:  # rows named by their metric only: a milestone would be a nameless row
        lines = [ln for ln in lines if ln.metric.position]
    status_words = spec.get("status_words") or ["序时推进"]
    goal, sections, seq = None, 0, 0
    for line in lines:
        task, metric = line.task, line.metric
        if spec.get("section_rows") and task.goal != goal:
            goal = task.goal
            r = sheet.line(f"{NUMERALS[sections]}、{goal}")
            sections += 1
            sheet.merges.append(f"A{r}:{get_column_letter(sheet.width)}{r}")
        seq += 1
        first = line.first or not by_text
        month = cumulative = None
        if metric.position:
            month, cumulative = _figures(metric, rng)
        texts = {
            "progress": rng.choice(PROGRESS),
            "issues": rng.choice(ISSUES),
            "next_steps": rng.choice(NEXT_STEPS),
        }
        status = rng.choice(status_words)
        row: list[Any] = [None] * sheet.width
        written_month = written_cumulative = None
        for c, role in enumerate(roles):
            value: Any = None
            if role == "seq":  # the report's own numbering, or (diagnosis) the register's
                value = task.seq if register_seq else seq
            elif role == "task_id":
                value = task.task_id
            elif role == "goal":
                value = task.goal
            elif role == "content":
                value = ("★" if spec.get("starred") else "") + task.content
            elif role == "metric":
                value = metric.label
            elif role == "measure":
                value = metric.measure
            elif role == "target":
                value = _with_unit(metric.target, metric.measure, spec)
            elif role == "month":
                value = _with_unit(month, metric.measure, spec)
                written_month = month
            elif role in ("cumulative", "quarter_done"):
                value = _with_unit(cumulative, metric.measure, spec)
                written_cumulative = cumulative
            elif role == "percent":
                value = _percent(cumulative, metric.target)
            elif role == "quarter_plan":
                if metric.position and metric.target:  # a rate or level is planned as such
                    share = 0.25 if metric.kind == "cumulative" else 1.0
                    value = _plain(round(metric.target * share, 2))
            elif role == "status" and first:
                value = status
            elif role in TEXT_ROLES and first:
                value = texts[role]
            elif role == "lead":
                value = "、".join(task.lead_units) or None
            elif role == "deadline":
                value = "12月底前"
            row[c] = value
        sheet.add(row)
        if built is None:
            continue
        if written_month is not None or written_cumulative is not None:
            built.figures[(task.task_id, metric.position)] = (written_month, written_cumulative)
        if first:
            written = {r: texts[r] for r in TEXT_ROLES if r in roles}
            if written:
                built.texts[task.task_id] = written
            if "status" in roles:
                built.statuses[task.task_id] = status


def build(
    spec: dict[str, Any],
    templates: Templates,
    unit: str,
    out_dir: Path,
    *,
    seed: int | str = 0,
    register_seq: bool = False,
) -> Built:
    """Write the spec's workbook for `unit` (and, when the spec says so, a second sheet of
    another unit laid out the same) under `out_dir`, named as the spec says.

    序号 is the report's own numbering 1..n, as offices number their rows; register_seq=True
    writes the register's task numbers instead (for diagnosis only)."""
    rng = random.Random(f"{seed}-{unit}")
    name = spec["file_name"].format(unit=unit)
    other = other_unit(spec, templates, unit) if spec.get("second_sheet_other_unit") else None
    built = Built(out_dir / name, unit, other)
    sheets = [("Sheet1", _sheet(spec, templates, unit, rng, built, register_seq))]
    if other is not None:
        sheets.append(
            ("Sheet2", _sheet(spec, templates, other, random.Random(other), None, register_seq))
        )
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, grid in sheets:
        ws = book.create_sheet(title)
        for r, row in enumerate(grid.rows, start=1):
            for c, value in enumerate(row, start=1):
                if value not in (None, ""):
                    ws.cell(r, c).value = value
        for merge in grid.merges:
            ws.merge_cells(merge)
        built.sheets.append((title, grid.rows))
    fmt = spec.get("format", "xlsx")
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        book.save(built.path)
        return built
    assert fmt == "xls", fmt
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / (Path(name).stem + ".xlsx")
        book.save(source)
        convert_to_xls(source, work)
        shutil.move(work / (Path(name).stem + ".xls"), built.path)
    return built


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_xls(source: Path, out_dir: Path) -> None:
    """LibreOffice's conversion, with a profile of its own (no clash with a running office)."""
    exe = soffice()
    assert exe, "LibreOffice (soffice) is not installed"
    profile = out_dir / "lo-profile"
    subprocess.run(
        [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "xls",
            "--outdir",
            str(out_dir),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )


def _same(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def read_back(path: Path) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet of a written file as its values (read with calamine, for .xls too)."""
    book = CalamineWorkbook.from_path(str(path))
    out = []
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        out.append((name, [[_same(v) for v in row] for row in rows]))
    return out


def differences(built: Built) -> list[str]:
    """Where the file on disk differs from what the builder meant to write (empty: none)."""
    found = read_back(built.path)
    problems = []
    if [n for n, _ in found] != [n for n, _ in built.sheets]:
        problems.append(f"sheets {[n for n, _ in found]} != {[n for n, _ in built.sheets]}")
    for (name, got), (_, meant) in zip(found, built.sheets, strict=False):
        for r, row in enumerate(meant):
            for c, value in enumerate(row):
                have = got[r][c] if r < len(got) and c < len(got[r]) else None
                if have != _same(value):
                    problems.append(
                        f"{name}!{get_column_letter(c + 1)}{r + 1}: {have!r} != {value!r}"
                    )
    return problems
