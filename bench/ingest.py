"""Benchmark: ingest of monthly progress spreadsheets, ducha against two references.

Run:  .venv/bin/python bench/ingest.py [--files 1000] [--tasks 100] [--seed 2026] [--repeat 1]

Three variants read the same files, each in its own child process, so the peak RSS
reported (VmHWM of that child: its ru_maxrss would inherit the parent's peak across
fork + exec) belongs to that variant alone, imports included. Only the ingest itself is
timed, in wall seconds (the figures and ratios) and CPU seconds of the child (shown too:
they move less when other work shares the machine; the 1-minute load is recorded):

* ducha     ducha.submissions.ingest.ingest(...) into a fresh DuckDB file (migrations and the
            target table import happen first, untimed): archive under SHA-256,
            read with python-calamine, identify unit and period, map rows to tasks
            and metrics, check values, write a batch of files per transaction.
* baseline  what a simple script does: per file pandas.read_excel(..., engine="openpyxl"),
            keep the rows that report something, one INSERT (DuckDB scanning the
            DataFrame) and its autocommit per file.
* floor     fastexcel alone reading the same sheet of every file into Arrow and
            counting the reported rows; no checks, no database.

rows = data rows ingested: one per metric line carrying a figure plus one per task
without a metric that reports a status or narrative; every variant must count the
same number, and the ducha run is verified against what was written into the files
(all files accepted, progress_metrics + narrative-only progress_tasks = rows written,
the sums of the figures match). A benchmark of a broken run fails instead of printing.

Input (synthetic, reproducible from --seed, cached under bench/results/ingest-cache/
keyed by the parameters and the sources that shape the files; generation is never timed):

* config: a copy of config/ with units.yaml replaced by N towns 测试镇0001… (kind town),
  one department 测试局 (lead unit of every task) and one leader 测试领导; group
  镇 = all towns; workspace.yaml code "bench"; related_units.yaml emptied.
* table.txt: a decomposition table in the plain-text form ducha.targets.tables.read_text
  reads (each cell a line starting with TAB, six cells a row), --tasks tasks whose
  责任单位 is 各镇, so every town reports all of them. Task texts carry numbers, so most
  tasks get one metric (about 75% one count metric, 8% a growth rate, 5% two metrics
  in one task - merged task cells - and 12% none: milestone tasks reporting a status).
* files: for each town the real template, written by
  ducha.submissions.templates.write_template (layout, formats, validation, protection,
  guide sheet, hidden ducha sheet - byte-for-byte what units receive), with the yellow
  input cells filled just before the workbook is closed: xlsxwriter.Workbook is swapped
  for a subclass whose close() first writes 本月完成 / 累计完成 numbers, 完成状态,
  进展情况 (and some 存在问题 / 下步打算) and the 填报人 line into the same cells a
  person would type into. This is much faster than opening 1000 templates with openpyxl
  and keeps the file faithful to the template.

Output: a table on stdout and bench/results/ingest.json. Goals: baseline / ducha >= 5,
ducha / floor <= 3. `--profile` runs the ducha variant under cProfile instead (one run,
top functions by cumulative time on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ducha.submissions.assignments import TaskLines

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "ingest-cache"
GENERATOR_VERSION = 1  # bump when the generator below changes what it writes
YEAR, MONTH = 2026, 3
WORKSPACE_CODE = "bench"
LEAD_UNIT, LEADER = "测试局", "测试领导"
MAIN_SHEET = "进展表"  # ducha.submissions.templates.MAIN_SHEET (checked at generation)
REPORTED = ("本月完成", "累计完成", "完成状态", "进展情况")
VARIANTS = ("floor", "baseline", "ducha")
GOAL_BASELINE_OVER_DUCHA = 5.0
GOAL_DUCHA_OVER_FLOOR = 3.0
# Sources whose change changes the generated files or what they should yield.
SHAPING_SOURCES = (
    "ducha/targets/metrics.py",
    "ducha/submissions/assignments.py",
    "ducha/submissions/templates.py",
    "ducha/targets/register.py",
    "ducha/targets/tables.py",
    "ducha/units.py",
    "sql/migrations/007_shared_views.sql",  # the assignments view: who reports what
    "sql/submissions/assigned_metrics.sql",
    "sql/submissions/task_lines.sql",
)

# The code measured: every module of the ingest (another engineer may be changing it between runs).
MEASURED_SOURCES = tuple(
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "ducha" / "submissions").glob("*.py"))
)

# ------------------------------------------------------------------ dataset

GOALS = (
    "提振消费市场", "壮大先进制造", "培育创新动能", "推进城市更新", "建设美丽乡村",
    "优化营商环境", "改善生态环境", "增进民生福祉", "守牢安全底线", "提升治理效能",
)  # fmt: skip
AREAS = (
    "产业升级", "城乡融合", "科技创新", "民生改善", "绿色发展",
    "开放合作", "乡村振兴", "数字转型", "文旅融合", "社会治理",
)  # fmt: skip
NOUNS = (
    "智能制造", "口袋公园", "老旧小区", "专精特新", "农村公路", "充电设施", "养老服务",
    "托育机构", "污水管网", "高标准农田", "城市绿道", "公共停车", "社区食堂", "创新平台",
    "文旅项目", "邻里中心", "健康驿站", "零碳园区", "数字车间", "便民市场",
)  # fmt: skip
COUNT_PHRASES = (  # (text, range of the target)
    ("新增{noun}项目{k}个以上", (5, 60)),
    ("建成{noun}示范点{k}处", (3, 40)),
    ("完成{noun}改造{k}户", (100, 2000)),
    ("培育{noun}企业{k}家", (5, 80)),
    ("组织{noun}专题活动超{k}场", (10, 120)),
    ("新建{noun}配套道路{k}公里", (5, 150)),
)
GROWTH_PHRASE = "{noun}相关产值增长{p}%左右"
TWO_METRICS_PHRASE = "建成{noun}示范点{k}处、配套道路{k2}公里"
MILESTONE_PHRASES = (
    "推进{noun}建设，健全长效管理机制",
    "深化{noun}领域改革，形成可复制经验",
    "统筹推进{noun}工作，完善考核评价办法",
)
TAILS = ("，加快在建项目进度。", "，完善配套服务。", "，强化要素保障。", "。")


def task_texts(n_tasks: int, rng: random.Random) -> list[tuple[str, str]]:
    """(goal, content) of every task; contents are unique (area × noun pairs)."""
    pairs = [(a, n) for a in AREAS for n in NOUNS]
    if n_tasks > len(pairs):
        raise SystemExit(f"--tasks at most {len(pairs)}")
    rng.shuffle(pairs)
    tasks = []
    for i, (area, noun) in enumerate(pairs[:n_tasks]):
        roll = rng.random()
        if roll < 0.12:
            body = rng.choice(MILESTONE_PHRASES).format(noun=noun)
        elif roll < 0.20:
            body = GROWTH_PHRASE.format(noun=noun, p=rng.randint(3, 12))
        elif roll < 0.25:
            body = TWO_METRICS_PHRASE.format(noun=noun, k=rng.randint(3, 30), k2=rng.randint(5, 80))
        else:
            phrase, (low, high) = rng.choice(COUNT_PHRASES)
            body = phrase.format(noun=noun, k=rng.randint(low, high))
        tasks.append((GOALS[i * len(GOALS) // n_tasks], f"聚焦{area}，{body}{rng.choice(TAILS)}"))
    return tasks


def town_name(i: int) -> str:
    return f"测试镇{i:04d}"


def write_config(config: Path, n_files: int) -> None:
    import yaml

    shutil.copytree(ROOT / "config", config)
    units = [{"name": town_name(i), "kind": "town"} for i in range(1, n_files + 1)]
    units += [{"name": LEAD_UNIT, "kind": "dept"}, {"name": LEADER, "kind": "leader"}]
    data = {"units": units, "groups": {"镇": {"kinds": ["town"]}}}
    (config / "units.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    (config / "workspace.yaml").write_text(
        f"name: 基准测试区\ncode: {WORKSPACE_CODE}\ntask_match_threshold: 80\n", encoding="utf-8"
    )
    (config / "related_units.yaml").write_text("{}\n", encoding="utf-8")


def write_table(path: Path, tasks: Sequence[tuple[str, str]]) -> None:
    """The plain-text form of a Word table, as ducha.targets.tables.read_text reads it."""
    lines = [f"《{YEAR}年政府工作报告》目标任务分解表（基准测试）", ""]
    lines += [
        f"\t{h}" for h in ("序号", "目标名称", "工作内容", "区政府分管领导", "牵头单位", "责任单位")
    ]
    for seq, (goal, content) in enumerate(tasks, start=1):
        lines += [
            f"\t{seq}",
            f"\t{goal}",
            f"\t{content}",
            f"\t{LEADER}",
            f"\t{LEAD_UNIT}",
            "\t各镇",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def import_targets(db: Path, config: Path, table: Path) -> None:
    """Create the database (migrations) and import the target table, as `ducha targets import`."""
    from ducha.cli import main

    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = main(
            ["--db", str(db), "--config", str(config), "targets", "import", str(table),
             "--year", str(YEAR)]
        )  # fmt: skip
    if code != 0:
        raise SystemExit(f"targets import failed ({code}): {err.getvalue()}")


@dataclass
class CellFill:
    """What a person types into one template row (0-based sheet row)."""

    row: int
    month: float | None = None
    cumulative: float | None = None
    status: str | None = None
    progress: str | None = None
    issues: str | None = None
    next_steps: str | None = None


@dataclass
class FileFill:
    rows: list[CellFill]
    reporter_row: int
    reporter: str  # name, typed next to 填报人：
    phone: str  # typed next to 联系电话：
    metric_rows: int = 0  # metric lines with a figure
    narrative_only: int = 0  # tasks without a metric, reporting a status
    month_sum: float = 0.0
    cumulative_sum: float = 0.0


def plan_fill(unit: str, tasks: Sequence[TaskLines], seed: int) -> FileFill:
    """The figures and texts of one unit's file, laid out like write_template's rows."""
    from ducha.submissions.templates import HEADER_ROW, STATUSES

    rng = random.Random(f"{seed}:{unit}")
    fill = FileFill([], 0, "", "")
    r = HEADER_ROW + 1
    for task in tasks:  # every task has at least one line (position 0: no metric)
        lines = []
        for metric in task.metrics:
            cell = CellFill(r)
            if metric.position and metric.kind == "cumulative":
                target = metric.target or 10
                cell.cumulative = float(max(1, round(target * rng.uniform(0.05, 0.35))))
                cell.month = float(rng.randint(0, int(cell.cumulative)))
            elif metric.position:  # growth or level: the rate / level to date
                cell.cumulative = round(rng.uniform(-2.0, 12.0), 1)
            if metric.position:
                fill.metric_rows += 1
                fill.month_sum += cell.month or 0.0
                fill.cumulative_sum += cell.cumulative or 0.0
            else:
                fill.narrative_only += 1
            lines.append(cell)
            r += 1
        first = lines[0]  # task cells are merged down: the narrative goes in the top one
        first.status = rng.choice(STATUSES)
        first.progress = (
            f"{unit}围绕“{task.content[:12]}”持续推进，本月召开推进会{rng.randint(1, 4)}次，"
            f"完成阶段性工作{rng.randint(1, 9)}项，整体进度{rng.choice(('符合', '快于', '略慢于'))}序时要求。"
        )
        if rng.random() < 0.3:
            first.issues = "部分项目要素保障不足，审批手续办理周期较长。"
        if rng.random() < 0.6:
            first.next_steps = "加强协调调度，倒排工期，确保按期完成年度目标。"
        fill.rows += lines
    fill.reporter_row = r + 1
    fill.reporter = rng.choice("张王李赵陈刘杨黄") + rng.choice("伟芳敏静磊洋艳勇")
    fill.phone = f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}"
    return fill


def write_filled(path: Path, unit: str, tasks: Sequence[TaskLines], fill: FileFill) -> None:
    """write_template, with the input cells typed in just before the workbook is closed."""
    from unittest import mock

    import xlsxwriter

    from ducha.periods import Period
    from ducha.submissions import templates as template

    assert template.MAIN_SHEET == MAIN_SHEET
    COL = template.COL
    base = xlsxwriter.Workbook

    class FilledWorkbook(base):  # type: ignore[misc, valid-type]
        def close(self) -> None:
            sheet = self.get_worksheet_by_name(MAIN_SHEET)
            number = self.add_format(
                {"border": 1, "valign": "vcenter", "locked": False, "bg_color": "#FFF2CC",
                 "num_format": "#,##0.##"}
            )  # fmt: skip
            text = self.add_format(
                {"border": 1, "valign": "top", "text_wrap": True, "locked": False,
                 "bg_color": "#FFF2CC"}
            )  # fmt: skip
            for cell in fill.rows:
                for name, value in (("本月完成", cell.month), ("累计完成", cell.cumulative)):
                    if value is not None:
                        sheet.write_number(cell.row, COL[name], value, number)
                for name, value in (
                    ("完成状态", cell.status), ("进展情况", cell.progress),
                    ("存在问题", cell.issues), ("下步打算", cell.next_steps),
                ):  # fmt: skip
                    if value is not None:
                        sheet.write_string(cell.row, COL[name], value, text)
            sheet.write_string(fill.reporter_row, 1, fill.reporter, text)  # after 填报人：
            sheet.write_string(fill.reporter_row, 4, fill.phone, text)
            super().close()

    with mock.patch.object(xlsxwriter, "Workbook", FilledWorkbook):
        template.write_template(
            path, workspace=WORKSPACE_CODE, unit=unit, period=Period(YEAR, MONTH), tasks=tasks
        )


def _write_one(job: tuple[Path, str, list[TaskLines], int]) -> dict[str, Any]:
    path, unit, tasks, seed = job
    fill = plan_fill(unit, tasks, seed)
    write_filled(path, unit, tasks, fill)
    return {
        "file": path.name,
        "unit": unit,
        "rows": fill.metric_rows + fill.narrative_only,
        "metric_rows": fill.metric_rows,
        "narrative_only": fill.narrative_only,
        "month_sum": fill.month_sum,
        "cumulative_sum": fill.cumulative_sum,
    }


@dataclass
class Dataset:
    root: Path
    manifest: dict[str, Any]

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def table(self) -> Path:
        return self.root / "table.txt"

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def paths(self) -> list[Path]:
        return [self.files / f["file"] for f in self.manifest["files"]]

    @classmethod
    def open(cls, root: Path) -> Dataset:
        return cls(root, json.loads((root / "manifest.json").read_text(encoding="utf-8")))


def dataset_key(n_files: int, n_tasks: int, seed: int) -> str:
    digest = hashlib.sha256(f"{GENERATOR_VERSION}:{n_files}:{n_tasks}:{seed}".encode())
    for name in SHAPING_SOURCES:
        digest.update((ROOT / name).read_bytes())
    return f"f{n_files}-t{n_tasks}-s{seed}-{digest.hexdigest()[:10]}"


def build_dataset(n_files: int, n_tasks: int, seed: int) -> Dataset:
    """The workspace and the filled files, generated once per parameters (cached)."""
    root = CACHE / dataset_key(n_files, n_tasks, seed)
    if (root / "manifest.json").exists():
        print(f"input: cached {root.relative_to(ROOT)}", file=sys.stderr)
        return Dataset.open(root)
    from multiprocessing import Pool

    import duckdb

    from ducha.periods import Period
    from ducha.submissions.assignments import unit_tasks
    from ducha.submissions.templates import template_name

    started = time.perf_counter()
    for stale in CACHE.glob(f"f{n_files}-t{n_tasks}-s{seed}-*"):  # older sources, same parameters
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rng = random.Random(seed)
    write_config(tmp / "config", n_files)
    write_table(tmp / "table.txt", task_texts(n_tasks, rng))
    db = tmp / "seed.duckdb"
    import_targets(db, tmp / "config", tmp / "table.txt")
    con = duckdb.connect(str(db), read_only=True)
    try:
        by_unit = unit_tasks(con, Period(YEAR, MONTH))
    finally:
        con.close()
    db.unlink()
    towns = [town_name(i) for i in range(1, n_files + 1)]
    missing = [t for t in towns if t not in by_unit]
    if missing:
        raise SystemExit(f"generation: towns without tasks: {missing[:3]}")
    (tmp / "files").mkdir()
    jobs = [
        (tmp / "files" / template_name(t, Period(YEAR, MONTH)), t, by_unit[t], seed) for t in towns
    ]
    with Pool(os.cpu_count() or 1) as pool:
        files = pool.map(_write_one, jobs, chunksize=8)
    for i, job in enumerate(jobs):  # distinct mtimes, in town order (ingest sorts by mtime)
        os.utime(job[0], (1_770_000_000 + i, 1_770_000_000 + i))
    tasks = by_unit[towns[0]]
    manifest = {
        "files_count": n_files,
        "tasks": len(tasks),
        "metric_lines": sum(1 for t in tasks for m in t.metrics if m.position),
        "milestone_tasks": sum(1 for t in tasks if not any(m.position for m in t.metrics)),
        "seed": seed,
        "period": f"{YEAR}-{MONTH:02d}",
        "rows": sum(f["rows"] for f in files),
        "metric_rows": sum(f["metric_rows"] for f in files),
        "narrative_only": sum(f["narrative_only"] for f in files),
        "month_sum": sum(f["month_sum"] for f in files),
        "cumulative_sum": sum(f["cumulative_sum"] for f in files),
        "bytes": sum(j[0].stat().st_size for j in jobs),
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    tmp.rename(root)
    print(
        f"input: generated {n_files} files in {time.perf_counter() - started:.1f}s "
        f"-> {root.relative_to(ROOT)}",
        file=sys.stderr,
    )
    return Dataset.open(root)


# ------------------------------------------------------------------ variants


@dataclass
class Clock:
    """Wall and CPU seconds (CPU: this process, all threads) of a timed block."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    load: float = 0.0  # 1-minute load average when the block began (other work on the machine)


@contextmanager
def timed() -> Iterator[Clock]:
    clock = Clock(load=os.getloadavg()[0])
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield clock
    finally:
        clock.seconds = time.perf_counter() - wall
        clock.cpu_seconds = time.process_time() - cpu


@dataclass
class Figures:
    variant: str
    seconds: float
    cpu_seconds: float
    files: int
    rows: int
    load: float = 0.0
    peak_rss_mb: float = 0.0
    start_rss_mb: float = 0.0  # RSS when the timed part began (interpreter + imports + setup)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def to_dict(self) -> dict[str, Any]:
        data = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}
        return data | {
            "files_per_s": round(self.files_per_s, 2),
            "rows_per_s": round(self.rows_per_s, 1),
        }


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """Peak RSS of this process image: VmHWM. ru_maxrss is not used where /proc is there:
    Linux carries it across fork + exec, so a child would report its parent's peak if
    that were larger (the parent holds the generator's data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ducha(ds: Dataset, work: Path, profile: bool = False) -> Figures:
    from ducha.config import load_config
    from ducha.db import connect
    from ducha.submissions.ingest import ingest
    from ducha.submissions.results import ERROR, WARNING

    for module in ("pandas", "polars"):  # imports are untimed (pyarrow imports pandas on first
        _import_if_installed(module)  # pa.array(); the batch write imports polars)
    db = work / "ducha.duckdb"
    import_targets(db, ds.config, ds.table)  # migrations + target register: not timed
    register = load_config(ds.config).units
    workspace = load_config(ds.config).code
    con = connect(db)
    start_rss = current_rss_mb()

    def run() -> list[Any]:
        return ingest(
            con, [ds.files], register=register, workspace=workspace, archive_dir=work / "archive"
        )

    from ducha.submissions.intake import worker_count

    workers = worker_count(len(ds.paths))
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with timed() as clock:
        results = _profiled(run) if profile else run()
    # Worker processes: their CPU seconds count too. They are children of the forkserver,
    # which hands their usage on to this process once it is stopped and reaped.
    if workers:
        import multiprocessing.forkserver

        multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    clock.cpu_seconds += workers_cpu

    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    errors = [(r.path.name, p.line()) for r in results for p in r.problems if p.severity == ERROR]
    warnings = sum(p.severity == WARNING for r in results for p in r.problems)
    m = ds.manifest
    check(statuses == {"accepted": m["files_count"]}, f"statuses {statuses}, errors {errors[:5]}")
    metric_rows, narrative_only, month_sum, cumulative_sum, submitted = stored_totals(con)
    con.close()
    rows = metric_rows + narrative_only
    check(rows == m["rows"], f"rows in the database {rows} != rows written {m['rows']}")
    check(metric_rows == m["metric_rows"], f"metric rows {metric_rows} != {m['metric_rows']}")
    check(submitted == (m["files_count"], m["rows"]), f"submissions {submitted}")
    check(math.isclose(month_sum, m["month_sum"], rel_tol=1e-9), "本月完成 sums differ")
    check(math.isclose(cumulative_sum, m["cumulative_sum"], rel_tol=1e-9), "累计完成 sums differ")
    return Figures(
        "ducha", clock.seconds, clock.cpu_seconds, len(results), rows, clock.load,
        start_rss_mb=start_rss,
        notes={
            "statuses": statuses, "warnings": warnings, "narrative_only": narrative_only,
            "worker_processes": workers, "workers_cpu_seconds": round(workers_cpu, 3),
            "worker_peak_rss_mb": round(children.ru_maxrss / 1024, 1) if workers else 0.0,
            "checked_by_workers": sum(r.worker not in (None, os.getpid()) for r in results),
            "checked_ahead_here": sum(r.worker == os.getpid() for r in results),
        },
    )  # fmt: skip


def _import_if_installed(module: str) -> None:
    import importlib

    with suppress(ImportError):
        importlib.import_module(module)


def _profiled(fn: Callable[[], list[Any]]) -> list[Any]:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(fn)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    return result


_PERIOD_IN_NAME = re.compile(r"(\d{4})年(\d{1,2})月")


def run_baseline(ds: Dataset, work: Path) -> Figures:
    """pandas + openpyxl per file, one INSERT and commit per file."""
    import duckdb
    import pandas as pd

    con = duckdb.connect(str(work / "baseline.duckdb"))
    con.execute(
        "CREATE TABLE progress (file VARCHAR, unit VARCHAR, period VARCHAR, task_id VARCHAR,"
        " metric_no DOUBLE, month_value DOUBLE, cumulative_value DOUBLE, status VARCHAR,"
        " progress VARCHAR, issues VARCHAR, next_steps VARCHAR)"
    )
    paths = ds.paths
    start_rss = current_rss_mb()
    with timed() as clock:
        for path in paths:
            df = pd.read_excel(path, sheet_name=MAIN_SHEET, header=2, engine="openpyxl")
            df["任务编号"] = df["任务编号"].ffill()  # merged task cells: only the top one has it
            df = df[df[list(REPORTED)].notna().any(axis=1)]
            unit = path.stem.split("-")[0]
            m = _PERIOD_IN_NAME.search(path.stem)
            period = f"{m.group(1)}-{int(m.group(2)):02d}" if m else None
            data = pd.DataFrame(  # noqa: F841 - read by DuckDB
                {
                    "file": path.name,
                    "unit": unit,
                    "period": period,
                    "task_id": df["任务编号"].astype(str),
                    "metric_no": pd.to_numeric(df["指标序号"], errors="coerce"),
                    "month_value": pd.to_numeric(df["本月完成"], errors="coerce"),
                    "cumulative_value": pd.to_numeric(df["累计完成"], errors="coerce"),
                    "status": df["完成状态"],
                    "progress": df["进展情况"],
                    "issues": df["存在问题"],
                    "next_steps": df["下步打算"],
                }
            )
            # One INSERT scanning the DataFrame; autocommit: one commit per file.
            con.execute("INSERT INTO progress SELECT * FROM data")
    rows, month_sum = con.sql(
        "SELECT count(*), coalesce(sum(month_value), 0) FROM progress"
    ).fetchall()[0]
    con.close()
    check(rows == ds.manifest["rows"], f"baseline rows {rows} != {ds.manifest['rows']}")
    check(math.isclose(month_sum, ds.manifest["month_sum"], rel_tol=1e-9), "baseline sums differ")
    return Figures(
        "baseline", clock.seconds, clock.cpu_seconds, len(paths), rows, clock.load,
        start_rss_mb=start_rss,
    )  # fmt: skip


def run_floor(ds: Dataset, work: Path) -> Figures:
    """fastexcel reading the same sheet into Arrow; counting the reported rows."""
    import logging

    import fastexcel
    import pyarrow.compute as pc

    # Empty columns (本单位分解目标, 上月累计) fall back to string, with a warning per file.
    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    paths = ds.paths
    start_rss = current_rss_mb()
    rows = 0
    with timed() as clock:
        for path in paths:
            sheet = fastexcel.read_excel(path).load_sheet_by_name(MAIN_SHEET, header_row=2)
            batch = sheet.to_arrow()
            reported = pc.is_valid(batch.column(REPORTED[0]))
            for name in REPORTED[1:]:
                reported = pc.or_(reported, pc.is_valid(batch.column(name)))
            rows += pc.sum(reported).as_py() or 0
    check(rows == ds.manifest["rows"], f"floor rows {rows} != {ds.manifest['rows']}")
    return Figures(
        "floor", clock.seconds, clock.cpu_seconds, len(paths), rows, clock.load,
        start_rss_mb=start_rss,
    )  # fmt: skip


RUNNERS: dict[str, Callable[[Dataset, Path], Figures]] = {
    "ducha": run_ducha,
    "baseline": run_baseline,
    "floor": run_floor,
}


def stored_totals(con: Any) -> tuple[int, int, float, float, tuple[int, int]]:
    """What a run stored, to check against what was written into the files: metric rows,
    narrative-only task rows, the sums of the month and cumulative figures, and (count, rows) of
    the accepted submissions."""
    metric_rows, narrative_only, month_sum, cumulative_sum = con.sql(
        """
        SELECT
            (SELECT count(*) FROM progress_metrics),
            (SELECT count(*) FROM progress_tasks t WHERE NOT EXISTS (
                SELECT 1 FROM progress_metrics p
                WHERE p.submission_id = t.submission_id AND p.task_id = t.task_id)),
            (SELECT coalesce(sum(month_value), 0) FROM progress_metrics),
            (SELECT coalesce(sum(cumulative_value), 0) FROM progress_metrics)
        """
    ).fetchall()[0]
    submitted = con.sql(
        "SELECT count(*), sum(rows) FROM submissions WHERE status = 'accepted'"
    ).fetchall()[0]
    return metric_rows, narrative_only, month_sum, cumulative_sum, submitted


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(f"verification failed: {message}")


def child(variant: str, root: Path, profile: bool) -> None:
    """One variant in this (child) process; prints its figures as the last stdout line."""
    ds = Dataset.open(root)
    work = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{variant}-"))
    try:
        if variant == "ducha":
            figures = run_ducha(ds, work, profile=profile)
        else:
            figures = RUNNERS[variant](ds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures.peak_rss_mb = peak_rss_mb()
    print(json.dumps(figures.to_dict(), ensure_ascii=False))


def run_variant(variant: str, ds: Dataset, profile: bool = False) -> Figures:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        variant,
        "--data",
        str(ds.root),
    ]
    if profile:
        cmd.append("--profile")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed (exit {done.returncode})")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("files_per_s", "rows_per_s"):
        data.pop(key)
    return Figures(**data)


# ------------------------------------------------------------------ report


def run_metadata(benchmark: str, ds: Dataset, sources: Sequence[str]) -> dict[str, Any]:
    """What a result file says about its run: when, on what machine, the code measured (a hash
    per source file: another engineer may be changing it between runs) and the input."""
    return {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "sources": {
            name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:12] for name in sources
        },
        "input": {k: v for k, v in ds.manifest.items() if k != "files"} | {"dataset": ds.root.name},
    }


def warm_cache(paths: Sequence[Path]) -> None:
    """Read every file once so no variant pays for cold disk reads."""
    for path in paths:
        path.read_bytes()


def _ratio(value: float, goal: float, higher_is_better: bool) -> dict[str, Any]:
    met = value >= goal if higher_is_better else value <= goal
    return {
        "value": round(value, 2),
        "goal": f"{'>=' if higher_is_better else '<='} {goal:g}",
        "met": met,
    }


def report(ds: Dataset, best: dict[str, Figures], repeat: int) -> dict[str, Any]:
    m = ds.manifest
    print(
        f"\n{m['files_count']} files × {m['tasks']} tasks ({m['metric_lines']} metric lines, "
        f"{m['milestone_tasks']} milestone tasks), {m['rows']} data rows, "
        f"{m['bytes'] / 1e6:.1f} MB; best of {repeat}, one process per variant"
    )
    print(
        f"{'variant':<9} {'seconds':>8} {'CPU s':>7} {'files/s':>8} {'rows/s':>8} "
        f"{'peak RSS':>9} {'load':>5}"
    )
    for name in ("ducha", "baseline", "floor"):
        f = best.get(name)
        if f is not None:
            print(
                f"{name:<9} {f.seconds:>8.2f} {f.cpu_seconds:>7.2f} {f.files_per_s:>8.1f} "
                f"{f.rows_per_s:>8.0f} {f.peak_rss_mb:>6.0f} MB {f.load:>5.1f}"
            )
    ratios: dict[str, Any] = {}
    pairs = (
        (
            "baseline_over_ducha",
            "baseline / ducha",
            "baseline",
            "ducha",
            GOAL_BASELINE_OVER_DUCHA,
            True,
        ),
        ("ducha_over_floor", "ducha / floor", "ducha", "floor", GOAL_DUCHA_OVER_FLOOR, False),
    )
    for key, label, top, bottom, goal, higher in pairs:
        if top not in best or bottom not in best:
            continue
        ratio = _ratio(best[top].seconds / best[bottom].seconds, goal, higher)
        ratio["cpu_value"] = round(best[top].cpu_seconds / best[bottom].cpu_seconds, 2)
        ratios[key] = ratio
        print(
            f"{label:<17} {ratio['value']:>6.2f}  (goal {ratio['goal']}: "
            f"{'met' if ratio['met'] else 'NOT met'}; on CPU seconds {ratio['cpu_value']:.2f})"
        )
    return {
        **run_metadata("ingest", ds, MEASURED_SOURCES),
        "repeat": repeat,
        "variants": {name: f.to_dict() for name, f in best.items()},
        "ratios": ratios,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="files (towns), default 1000")
    parser.add_argument("--tasks", type=int, default=100, help="tasks per file, default 100")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; best time kept")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list, e.g. ducha")
    parser.add_argument("--profile", action="store_true", help="cProfile the ducha variant")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.child:
        child(args.child, args.data, args.profile)
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    ds = build_dataset(args.files, args.tasks, args.seed)
    warm_cache(ds.paths)
    if args.profile:
        run_variant("ducha", ds, profile=True)
        return 0
    best: dict[str, Figures] = {}
    for _ in range(args.repeat):
        for variant in variants:
            figures = run_variant(variant, ds)
            print(
                f"{variant}: {figures.seconds:.2f}s, peak RSS {figures.peak_rss_mb:.0f} MB",
                file=sys.stderr,
            )
            kept = best.get(variant)
            if kept is None or figures.seconds < kept.seconds:
                if kept is not None:
                    figures.peak_rss_mb = max(figures.peak_rss_mb, kept.peak_rss_mb)
                best[variant] = figures
            else:
                kept.peak_rss_mb = max(figures.peak_rss_mb, kept.peak_rss_mb)
    data = report(ds, best, args.repeat)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "ingest.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
