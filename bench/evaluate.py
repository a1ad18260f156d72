"""Benchmark: judging one period (ducha.evaluation.rules) against pandas and plain DuckDB SQL.

Run:  .venv/bin/python bench/evaluate.py [--units 1500] [--metrics 300] [--months 12]
                                         [--period-month 12] [--seed 2026] [--repeat 3]

Three variants evaluate the same period from the same DuckDB file, each in its own child
process, so the peak RSS reported belongs to that variant alone (imports included). The
time is wall seconds from an open read-only connection to the judgements in memory:
reading is included, storing is not (ducha's store is timed separately, on a scratch copy
of the file). Library imports (duckdb, pyarrow, and polars or pandas + numpy) happen before
the clock in every variant (before, pandas paid its 0.36 s import inside it and ducha and sql
paid pyarrow's 0.08 s on their first Arrow fetch). Each variant runs --repeat times,
interleaved; the best and the median are kept.

All three read the figures the same way (evaluation/latest_figures.sql): the evaluated month's
figures from the latest accepted files, and, only for the assigned (unit, task, metric)
rows that month lacks or left blank, the earlier months' figures of the year, the latest
non-blank one carried forward. Earlier months' stored judgements are never a source of
figures (a late or corrected file for an earlier month must count). Before this reading,
every variant aggregated all figures of the year (arg_max over ~4.9M rows; --profile
times that query next to the new one).

* ducha   ducha.evaluation.inputs.load_inputs + evaluate: small SQL files for the register, the
          assignments built in polars from the tasks' unit lists (the rows of the assignments
          view, not read from it: see assign_units), evaluation/latest_figures with those
          assignments registered as an Arrow table; the rules in polars on
          Enum / integer keys (one merge join of assignments and figures); store() timed
          apart.
* pandas  an idiomatic vectorised pandas implementation of the same rules: the tables it
          needs and the month's figures read with plain SELECTs (projection and row
          filters only) into pandas through Arrow (.to_arrow_table().to_pandas(): the same
          dtypes as .df(), much faster for millions of rows); the earlier figures of the
          rows it lacks through one SELECT semi-joined with a DataFrame of those rows.
          Latest accepted submission, which rows lack a figure, the latest earlier month
          and every judgement are done in pandas (merges, groupby, np.select).
* sql     the same rules as DuckDB SQL (temp tables of CTEs with CASE expressions; the
          figures as above, in SQL); the four results fetched as Arrow tables.

The rules (DESIGN §5, tests/evaluation/test_rules.py): cumulative metrics: district actual =
the lead unit's own figure if it reported one, else the sum of the responsible units'
latest figures up to the period (carried forward if older); expected = target × share (own
schedule or m/12); done / on_track / lagging / critical by the red threshold with the
"about" tolerance; growth / level against the target; unit judgements against allocation
or equal share; milestones by declared status; streak = previous + 1 when lagging or
critical; units: submission on_time / late / missing against the deadline, on-track share,
rank. Where a task lists several lead units, all three take the figure of the
first-listed lead unit that reported one (DESIGN §2: "the first listed leads");
--lead-order alphabetical makes the references choose by name instead (a diagnostic).

Checks (in a separate child process): pandas and sql must agree on everything; ducha is
compared with them on district statuses (task_id, position, status, streak), unit
statuses (unit, task_id, position, status), task statuses (+ streak, lagging / missing
units) and units (submission, judged, on_track, rank); numeric columns are compared too
and reported. A mismatch is explained (examples, and a re-run of the sql reference with
ducha's lead order) and makes the exit status 1 after the table is printed.

Input (synthetic, seeded, cached under bench/results/evaluate-cache/ keyed by the
parameters and the migrations; generation is never timed): a DuckDB file created with
ducha.db.connect (migrations), filled by bulk inserts of polars frames: N towns and
--depts departments; tasks with 1-3 metrics each up to --metrics metrics (about 75 %
cumulative, 13 % growth, 12 % level; bounds at_least / about / at_most), one milestone task
per 8 metric tasks; lead unit one department (7 % of tasks two, in list order), responsible
units all towns (94 %) or a subset, a few lead-only tasks and departments as responsible
units; allocations for 12 % and own schedules for 8 % of the cumulative metrics; --months
months of submissions: 2.5 % of unit-months missing (carry forward), some late, 7 % with an
earlier accepted file superseded by a corrected one (different figures: latest_submissions
matters), 1.5 % rejected files; progress_metrics rows per unit × metric × month (2 % of
cumulative figures blank: carried forward from the month before) and progress_tasks rows
(declared status and narrative) per unit × task × month. The months before the evaluated
one are evaluated and stored by ducha's evaluate_period during generation, so streaks
have history.

Peak RSS: VmHWM of the child (ru_maxrss is recorded too; on Linux it is carried across
fork + exec, so it can show the parent's peak; the parent here stays small).

Output: a table on stdout and bench/results/evaluate.json. Goals: pandas / ducha >= 3,
ducha / sql <= 2, ducha < 1 s. --profile adds a profile of ducha (each load query timed,
with the whole-year query it replaced; EXPLAIN ANALYZE of the two slowest; each step of the
rules; cProfile top functions; store() statement by statement).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
    import polars as pl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "evaluate-cache"
GENERATOR_VERSION = 4  # bump when the generator below changes what it writes
YEAR = 2026
VARIANTS = ("ducha", "pandas", "sql")
GOAL_PANDAS_OVER_DUCHA = 3.0
GOAL_DUCHA_OVER_SQL = 2.0
GOAL_DUCHA_SECONDS = 1.0
# Sources whose change changes the generated file.
SHAPING_SOURCES = tuple(
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "sql" / "migrations").glob("*.sql"))
)
BAD = ("lagging", "critical")
STATUS_ORDER = ("done", "on_track", "missing", "lagging", "critical")
SUBMISSION_ORDER = ("on_time", "late", "missing")
OUTPUTS = ("district", "unit_metrics", "tasks", "units")


@dataclass(frozen=True)
class Settings:
    """The judging thresholds (the defaults of ducha.evaluation.rules.Settings = config/evaluation.yaml)."""

    red_threshold: float = 0.20
    about_tolerance: float = 0.10
    unit_share: str = "equal"
    not_started_critical_month: int = 7


@dataclass(frozen=True)
class Params:
    units: int = 1500
    metrics: int = 300
    months: int = 12
    period_month: int = 12
    seed: int = 2026
    depts: int = 40

    def key(self) -> str:
        digest = hashlib.sha256(f"{GENERATOR_VERSION}:{sorted(asdict(self).items())}".encode())
        for name in SHAPING_SOURCES:
            digest.update((ROOT / name).read_bytes())
        return (
            f"u{self.units}-m{self.metrics}-mo{self.months}-p{self.period_month}-d{self.depts}"
            f"-s{self.seed}-{digest.hexdigest()[:10]}"
        )


@dataclass
class Spec:
    """What a child evaluates."""

    db: str
    year: int
    month: int
    deadline: str  # ISO date
    settings: dict[str, Any]
    lead_order: str = "first_listed"  # references only: first_listed / alphabetical
    out: str | None = None  # write the results here (parquet), untimed
    store: bool = False  # ducha: time store() on a scratch copy
    profile: bool = False  # ducha: profile instead of a plain run

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def previous(self) -> str:
        return f"{self.year:04d}-{self.month - 1:02d}" if self.month > 1 else ""

    @property
    def first(self) -> str:
        return f"{self.year:04d}-01"

    @property
    def deadline_end(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.deadline), datetime.max.time())


# ================================================================== dataset


def town_name(i: int) -> str:
    return f"测试镇{i:04d}"


def dept_name(j: int) -> str:
    return f"测试局{j:02d}"


PROGRESS_TEXTS = tuple(
    f"{verb}{thing}，本月召开推进会{n}次，完成阶段性工作{k}项，整体进度{pace}序时要求。"
    for verb, thing, n, k, pace in (
        (v, t, 1 + i % 4, 1 + (i * 7) % 9, ("符合", "快于", "略慢于")[i % 3])
        for i, (v, t) in enumerate(
            (v, t)
            for v in ("围绕年度目标", "对照任务清单", "按照工作方案", "聚焦重点项目", "结合实际")
            for t in ("持续推进", "压茬推进", "加快实施", "统筹推进", "全力攻坚", "稳步落实")
        )
    )
)
ISSUE_TEXTS = (
    "部分项目要素保障不足，审批手续办理周期较长。",
    "资金到位偏慢，影响施工进度。",
    "用地指标紧张，部分项目尚未开工。",
    "群众工作难度较大，征收进度滞后。",
)
STEP_TEXTS = ("加强协调调度，倒排工期，确保按期完成年度目标。", "强化督促检查，压实工作责任。")
SCHEDULES = (  # (month, share of the target due by its end)
    ((3, 0.2), (6, 0.5), (9, 0.75), (12, 1.0)),
    ((6, 0.3), (12, 1.0)),
    ((4, 0.5), (8, 0.9), (10, 1.0)),
    ((2, 0.1), (5, 0.4), (7, 0.6), (11, 0.9), (12, 1.0)),
)


@dataclass
class TaskSpec:
    task_id: str
    seq: int
    n_metrics: int
    leads: list[int]  # unit indices, in list order
    responsible: list[int]  # unit indices with the responsible role (leads excluded)
    responsible_listed: list[int]  # as written in responsible_units
    active: bool = True


@dataclass
class MetricSpec:
    task: int  # index into tasks
    position: int
    kind: str
    bound: str
    target: float
    label: str
    measure: str
    allocations: dict[int, float] = field(default_factory=dict)
    schedule: tuple[tuple[int, float], ...] = ()


def plan_register(p: Params, rng: np.random.Generator) -> tuple[list[TaskSpec], list[MetricSpec]]:
    n_towns = p.units
    depts = list(range(n_towns, n_towns + p.depts))
    counts: list[int] = []
    total = 0
    while total < p.metrics:
        k = min(int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.20])), p.metrics - total)
        counts.append(k)
        total += k
    counts += [0] * max(1, len(counts) // 8)
    rng.shuffle(counts)
    tasks: list[TaskSpec] = []
    metrics: list[MetricSpec] = []
    all_towns = list(range(n_towns))
    for i, k in enumerate(counts):
        n_leads = 2 if rng.random() < 0.07 and len(depts) > 1 else 1
        leads = sorted(int(d) for d in rng.choice(depts, size=n_leads, replace=False))
        if n_leads > 1 and rng.random() < 0.5:  # listed against the alphabet
            leads.reverse()
        others = [d for d in depts if d not in leads]
        roll = rng.random()
        if k > 0 and roll < 0.02:  # a department's own task: nobody else reports
            listed: list[int] = list(leads)
        elif (k > 0 and roll < 0.06) or (k == 0 and roll < 0.5):
            size = max(1, int(n_towns * rng.uniform(0.6, 0.95)))
            listed = sorted(int(t) for t in rng.choice(n_towns, size=size, replace=False))
        elif k == 0 and roll < 0.6:
            listed = [int(d) for d in rng.choice(others, size=min(3, len(others)), replace=False)]
        else:
            listed = list(all_towns)
        if k > 0 and listed != leads and rng.random() < 0.05 and others:
            listed = [*listed, int(rng.choice(others))]
        if rng.random() < 0.03 and listed != leads:  # the lead unit listed as responsible too
            listed = [*listed, leads[0]]
        responsible = [u for u in dict.fromkeys(listed) if u not in leads]
        task = TaskSpec(f"{YEAR}-{i + 1:03d}", i + 1, k, leads, responsible, listed)
        tasks.append(task)
        n_resp = len(responsible)
        for pos in range(1, k + 1):
            roll = rng.random()
            if roll < 0.75:
                kind = "cumulative"
                bound = str(rng.choice(["at_least", "about", "at_most"], p=[0.75, 0.18, 0.07]))
                target = (
                    float(max(5, round(n_resp * rng.uniform(2, 40))))
                    if n_resp
                    else float(rng.integers(20, 5000))
                )
                label, measure = f"新增项目{pos}", "个"
            elif roll < 0.88:
                kind = "growth"
                bound = str(rng.choice(["at_least", "about", "at_most"], p=[0.5, 0.45, 0.05]))
                target = round(float(rng.uniform(3, 12)), 1)
                label, measure = f"产值增长{pos}", "%"
            else:
                kind = "level"
                bound = str(rng.choice(["at_least", "about", "at_most"], p=[0.7, 0.15, 0.15]))
                target = (
                    float(rng.integers(60, 99))
                    if rng.random() < 0.6
                    else float(rng.integers(10_000, 100_000))
                )
                label, measure = f"覆盖水平{pos}", "%"
            metric = MetricSpec(i, pos, kind, bound, target, label, measure)
            if kind == "cumulative" and n_resp >= 2 and rng.random() < 0.12:
                share = target / n_resp
                chosen = rng.choice(responsible, size=max(1, int(n_resp * rng.uniform(0.3, 1.0))),
                                    replace=False)  # fmt: skip
                metric.allocations = {
                    int(u): float(max(1, round(share * rng.uniform(0.5, 1.5)))) for u in chosen
                }
            if kind == "cumulative" and rng.random() < 0.08:
                metric.schedule = SCHEDULES[int(rng.integers(len(SCHEDULES)))]
            metrics.append(metric)
    for j in range(2):  # removed tasks: their metrics must not be judged
        seq = len(tasks) + 1
        tasks.append(TaskSpec(f"{YEAR}-{seq:03d}", seq, 1, [depts[j]], all_towns, all_towns, False))
        metrics.append(MetricSpec(seq - 1, 1, "cumulative", "at_least", 100.0, "已删除", "个"))
    return tasks, metrics


def share_due(metric: MetricSpec, month: int) -> float:
    if not metric.schedule:
        return month / 12
    due = [s for m, s in metric.schedule if m <= month]
    return due[-1] if due else 0.0


def generate(p: Params, db_path: Path) -> dict[str, Any]:
    """Write the synthetic year into a new DuckDB file; returns the manifest."""
    import numpy as np
    import polars as pl

    from ducha.config import load_config
    from ducha.db import connect
    from ducha.evaluation.inputs import EvaluationSettings as DuchaSettings
    from ducha.evaluation.store import evaluate_period
    from ducha.periods import Period

    started = time.perf_counter()
    rng = np.random.default_rng(p.seed)
    names = [town_name(i) for i in range(1, p.units + 1)] + [
        dept_name(j) for j in range(1, p.depts + 1)
    ]
    n_names = len(names)
    name_series = pl.Series("unit", names)
    tasks, metrics = plan_register(p, rng)
    active = [t for t in tasks if t.active]
    calendar = load_config(ROOT / "config").calendar(lambda _m: None)
    schedule = load_config(ROOT / "config").schedule
    deadlines = {m: schedule.deadline(YEAR, m, calendar) for m in range(1, p.months + 1)}

    if db_path.exists():
        db_path.unlink()
    con = connect(db_path)
    now = datetime(YEAR, 1, 5, 9, 0)

    # ---- register
    units_frame = pl.DataFrame(
        {
            "name": names,
            "kind": ["town"] * p.units + ["dept"] * p.depts,
            "aliases": [[] for _ in names],
        },
        schema={"name": pl.String, "kind": pl.String, "aliases": pl.List(pl.String)},
    )
    insert(con, "units", units_frame)
    con.execute(
        "INSERT INTO imports VALUES (1, ?, 'bench-table.txt', ?, ?, ?, 0, 2, 0)",
        [YEAR, "0" * 64, now, len(tasks)],
    )
    tasks_frame = pl.DataFrame(
        {
            "task_id": [t.task_id for t in tasks],
            "year": [YEAR] * len(tasks),
            "seq": [t.seq if t.active else None for t in tasks],
            "goal": [f"目标{t.seq % 10}" for t in tasks],
            "content": [f"聚焦重点领域，推进第{t.seq}项重点工作，完善配套服务。" for t in tasks],
            "leaders": [["测试领导"] for _ in tasks],
            "lead_units": [[names[u] for u in t.leads] for t in tasks],
            "responsible_units": [[names[u] for u in t.responsible_listed] for t in tasks],
            "responsible_text": ["各镇" for _ in tasks],
            "related_pending": [False] * len(tasks),
            "content_hash": [hashlib.sha256(t.task_id.encode()).hexdigest() for t in tasks],
            "reviewed_hash": [hashlib.sha256(t.task_id.encode()).hexdigest() for t in tasks],
            "active": [t.active for t in tasks],
            "import_id": [1] * len(tasks),
        },
        schema_overrides={"seq": pl.Int32, "year": pl.Int32, "import_id": pl.Int32},
    )
    insert(con, "tasks", tasks_frame)
    metrics_frame = pl.DataFrame(
        {
            "task_id": [tasks[m.task].task_id for m in metrics],
            "position": [m.position for m in metrics],
            "label": [m.label for m in metrics],
            "value": [m.target for m in metrics],
            "measure": [m.measure for m in metrics],
            "kind": [m.kind for m in metrics],
            "bound": [m.bound for m in metrics],
            "confirmed": [True] * len(metrics),
        }
    )
    insert(con, "metrics", metrics_frame)
    allocations_frame = pl.DataFrame(
        [
            (tasks[m.task].task_id, m.position, names[u], v)
            for m in metrics
            for u, v in m.allocations.items()
        ],
        schema={"task_id": pl.String, "position": pl.Int32, "unit": pl.String, "value": pl.Float64},
        orient="row",
    )
    insert(con, "metric_allocations", allocations_frame)
    schedule_frame = pl.DataFrame(
        [(tasks[m.task].task_id, m.position, mo, s) for m in metrics for mo, s in m.schedule],
        schema={"task_id": pl.String, "position": pl.Int32, "month": pl.Int32, "share": pl.Float64},
        orient="row",
    )
    insert(con, "metric_schedule", schedule_frame)

    # ---- who reports what: responsible rows and lead rows per active metric
    live = [i for i, m in enumerate(metrics) if tasks[m.task].active]
    n_months = p.months
    share = np.array([[share_due(metrics[i], mo) for mo in range(1, n_months + 1)] for i in live])
    kind_code = np.array([("cumulative", "growth", "level").index(metrics[i].kind) for i in live])
    target = np.array([metrics[i].target for i in live])
    mu = np.clip(rng.normal(1.0, 0.15, len(live)), 0.5, 1.5)  # how well a metric goes overall
    row_metric: list[np.ndarray] = []
    row_unit: list[np.ndarray] = []
    row_own: list[np.ndarray] = []
    for j, i in enumerate(live):
        m = metrics[i]
        resp = np.array(tasks[m.task].responsible, dtype=np.int64)
        n_resp = len(resp)
        if not n_resp:
            continue
        own = np.array([m.allocations.get(int(u), m.target / n_resp) for u in resp])
        row_metric.append(np.full(n_resp, j))
        row_unit.append(resp)
        row_own.append(own)
    r_metric = np.concatenate(row_metric)
    r_unit = np.concatenate(row_unit)
    r_own = np.concatenate(row_own)
    n_rows = len(r_metric)
    values = _figures(rng, r_metric, r_own, kind_code, target, share, mu, spread=0.22)
    reported = np.ones(n_rows, dtype=bool)
    noncum = kind_code[r_metric] != 0
    reported[noncum] = rng.random(int(noncum.sum())) >= 0.12  # towns without a rate of their own
    blank = rng.random(values.shape) < 0.02  # a month left blank: carried forward
    cum_values = np.where(blank | ~reported[:, None], np.nan, values)
    month_values = np.diff(values, axis=1, prepend=0.0)
    month_values[noncum] = np.round(rng.normal(target[r_metric[noncum]][:, None], 3.0,
                                               (int(noncum.sum()), n_months)), 1)  # fmt: skip

    lead_metric: list[int] = []
    lead_unit: list[int] = []
    lead_pace: list[float] = []
    for j, i in enumerate(live):
        m = metrics[i]
        task = tasks[m.task]
        several = len(task.leads) > 1
        if m.kind != "cumulative":
            reports = rng.random() < 0.95
        elif not task.responsible:
            reports = True
        else:
            reports = several or rng.random() < 0.3
        if not reports:
            continue
        for order, u in enumerate(task.leads):
            lead_metric.append(j)
            lead_unit.append(u)
            lead_pace.append(1.0 if order == 0 else 0.7)  # two leads: different figures
    l_metric = np.array(lead_metric, dtype=np.int64)
    l_unit = np.array(lead_unit, dtype=np.int64)
    l_values = _figures(rng, l_metric, target[l_metric] * np.array(lead_pace), kind_code, target,
                        share, mu, spread=0.1)  # fmt: skip
    l_cum = np.where(rng.random(l_values.shape) < 0.02, np.nan, l_values)
    l_month = np.diff(l_values, axis=1, prepend=0.0)

    # ---- submissions: one accepted file per unit-month (3 % missing, 5 % corrected later)
    reporting = np.zeros(n_names, dtype=bool)
    for t in active:
        reporting[t.leads] = True
        reporting[t.responsible] = True
    present = (rng.random((n_names, n_months)) >= 0.025) & reporting[:, None]
    corrected = present & (rng.random((n_names, n_months)) < 0.07)
    rejected = (rng.random((n_names, n_months)) < 0.015) & reporting[:, None]
    subs: list[dict[str, Any]] = []
    for k in range(n_months):
        deadline = datetime.combine(deadlines[k + 1], datetime.min.time())
        first_day = datetime(*_month_after(YEAR, k + 1), 1, 8, 0)
        window = max(1.0, (deadline - first_day).total_seconds() / 86400 + 1)
        for u in np.flatnonzero(present[:, k]):
            roll = rng.random()
            if roll < 0.01:
                received = deadline + timedelta(hours=23, minutes=59, seconds=59)
            elif roll < 0.015:
                received = deadline + timedelta(days=1)
            elif roll < 0.13:
                received = deadline + timedelta(days=float(rng.uniform(1, 6)))
            else:
                received = first_day + timedelta(days=float(rng.uniform(0, window)) * 0.999)
                received = min(received, deadline + timedelta(hours=23))
            final = {"unit": int(u), "month": k + 1, "status": "accepted", "received_at": received,
                     "role": "final"}  # fmt: skip
            subs.append(final)
            if corrected[u, k]:
                earlier = received - timedelta(hours=float(rng.uniform(0.5, 72)))
                subs.append({"unit": int(u), "month": k + 1, "status": "accepted",
                             "received_at": earlier, "role": "superseded"})  # fmt: skip
        for u in np.flatnonzero(rejected[:, k]):
            subs.append({"unit": int(u), "month": k + 1, "status": "rejected",
                         "received_at": first_day + timedelta(hours=float(rng.uniform(0, 48))),
                         "role": "rejected"})  # fmt: skip
    for n in range(5):  # files nobody could identify
        subs.append({"unit": None, "month": None, "status": "rejected",
                     "received_at": datetime(YEAR, 2, 2 + n, 10), "role": "rejected"})  # fmt: skip
    subs.sort(key=lambda s: s["received_at"])
    final_id = np.zeros((n_names, n_months), dtype=np.int64)
    superseded_id = np.zeros((n_names, n_months), dtype=np.int64)
    for sid, s in enumerate(subs, start=1):
        s["submission_id"] = sid
        if s["role"] == "final":
            final_id[s["unit"], s["month"] - 1] = sid
        elif s["role"] == "superseded":
            superseded_id[s["unit"], s["month"] - 1] = sid
    for s in subs:
        u, mo = s["unit"], s["month"]
        s["supersedes"] = int(superseded_id[u, mo - 1]) or None if s["role"] == "final" else None
        s["superseded_by"] = int(final_id[u, mo - 1]) if s["role"] == "superseded" else None
    submissions_frame = pl.DataFrame(
        {
            "submission_id": [s["submission_id"] for s in subs],
            "sha256": [hashlib.sha256(str(s["submission_id"]).encode()).hexdigest() for s in subs],
            "file_name": [f"进展表-{s['submission_id']}.xlsx" for s in subs],
            "archive_path": [f"archive/{s['submission_id']:06d}.xlsx" for s in subs],
            "unit": [names[s["unit"]] if s["unit"] is not None else None for s in subs],
            "period": [f"{YEAR}-{s['month']:02d}" if s["month"] else None for s in subs],
            "status": [s["status"] for s in subs],
            "supersedes": [s["supersedes"] for s in subs],
            "superseded_by": [s["superseded_by"] for s in subs],
            "received_at": [s["received_at"] for s in subs],
            "ingested_at": [s["received_at"] + timedelta(minutes=1) for s in subs],
            "rows": [0] * len(subs),
            "reporter": ["张伟 13800000000"] * len(subs),
            "receipt": ["已接收" if s["status"] == "accepted" else "未通过" for s in subs],
        },
        schema_overrides={
            "submission_id": pl.Int32, "supersedes": pl.Int32, "superseded_by": pl.Int32,
            "rows": pl.Int32, "received_at": pl.Datetime("us"), "ingested_at": pl.Datetime("us"),
        },
    )  # fmt: skip
    insert(con, "submissions", submissions_frame)

    # ---- figures and declared statuses, month by month
    live_task_ids = pl.Series([tasks[metrics[i].task].task_id for i in live])
    live_positions = np.array([metrics[i].position for i in live], dtype=np.int32)
    task_rows_unit: list[int] = []
    task_rows_task: list[int] = []
    task_rows_milestone: list[bool] = []
    for t in active:
        for u in dict.fromkeys([*t.leads, *t.responsible]):
            task_rows_unit.append(u)
            task_rows_task.append(t.seq - 1)
            task_rows_milestone.append(t.n_metrics == 0)
    tr_unit = np.array(task_rows_unit, dtype=np.int64)
    tr_milestone = np.array(task_rows_milestone)
    tr_task_ids = pl.Series([tasks[i].task_id for i in task_rows_task])
    progress_series = pl.Series(PROGRESS_TEXTS)
    issue_series = pl.Series(ISSUE_TEXTS)
    step_series = pl.Series(STEP_TEXTS)
    status_series = pl.Series(["done", "on_schedule", "behind", "not_started"])
    n_metric_rows = n_task_rows = 0
    for k in range(n_months):
        period = f"{YEAR}-{k + 1:02d}"
        parts = []
        for ids, src_unit, src_metric, cum, month_v, scale in (
            (final_id, r_unit, r_metric, cum_values, month_values, 1.0),
            (superseded_id, r_unit, r_metric, cum_values, month_values, 0.6),
            (final_id, l_unit, l_metric, l_cum, l_month, 1.0),
            (superseded_id, l_unit, l_metric, l_cum, l_month, 0.6),
        ):
            sid = ids[src_unit, k]
            keep = np.flatnonzero(sid > 0)
            if not len(keep):
                continue
            c = cum[keep, k]
            if scale != 1.0:  # the first file had other figures
                c = np.where(kind_code[src_metric[keep]] == 0, np.round(c * scale), c + 1.5)
            parts.append(
                pl.DataFrame(
                    {
                        "submission_id": sid[keep].astype(np.int32),
                        "unit": name_series.gather(src_unit[keep]),
                        "period": pl.repeat(period, len(keep), eager=True),
                        "task_id": live_task_ids.gather(src_metric[keep]),
                        "position": live_positions[src_metric[keep]],
                        "month_value": month_v[keep, k],
                        "cumulative_value": c,
                        "row_no": (src_metric[keep] + 6).astype(np.int32),
                    },
                    nan_to_null=True,
                )
            )
        frame = pl.concat(parts).with_columns(
            pl.lit("进展表").alias("sheet"),
            pl.lit("task_id").alias("match_method"),
            pl.lit(100.0).alias("match_score"),
        )
        n_metric_rows += frame.height
        insert(con, "progress_metrics", frame)
        del frame, parts
        declared_parts = []
        for ids in (final_id, superseded_id):
            sid = ids[tr_unit, k]
            keep = np.flatnonzero(sid > 0)
            n = len(keep)
            milestone_status = rng.choice(5, size=n, p=[0.15, 0.55, 0.15, 0.10, 0.05])
            metric_status = rng.choice(5, size=n, p=[0.10, 0.70, 0.15, 0.02, 0.03])
            code = np.where(tr_milestone[keep], milestone_status, metric_status)
            status = status_series.gather(np.minimum(code, 3))
            status = pl.select(pl.when(pl.Series(code) < 4).then(status)).to_series()
            issues_pick = rng.integers(0, len(ISSUE_TEXTS), n)
            steps_pick = rng.integers(0, len(STEP_TEXTS), n)
            declared_parts.append(
                pl.DataFrame(
                    {
                        "submission_id": sid[keep].astype(np.int32),
                        "unit": name_series.gather(tr_unit[keep]),
                        "period": pl.repeat(period, n, eager=True),
                        "task_id": tr_task_ids.gather(keep),
                        "status": status,
                        "progress": progress_series.gather(rng.integers(0, len(PROGRESS_TEXTS), n)),
                        "issues": pl.select(
                            pl.when(pl.Series(rng.random(n) < 0.3)).then(issue_series.gather(issues_pick))
                        ).to_series(),
                        "next_steps": pl.select(
                            pl.when(pl.Series(rng.random(n) < 0.6)).then(step_series.gather(steps_pick))
                        ).to_series(),
                    }
                )
            )  # fmt: skip
        declared = pl.concat(declared_parts)
        n_task_rows += declared.height
        insert(con, "progress_tasks", declared)
        del declared, declared_parts
        print(f"  generated {period}: {n_metric_rows:,} metric rows", file=sys.stderr)
    con.execute("CHECKPOINT")
    data_seconds = time.perf_counter() - started

    # ---- history: ducha evaluates and stores the months before the benchmarked one
    history_started = time.perf_counter()
    if p.period_month > 1:
        evaluate_period(con, Period(YEAR, p.period_month - 1), settings=DuchaSettings(),
                        calendar=calendar, schedule=schedule)  # fmt: skip
    con.execute("CHECKPOINT")
    counts = {
        table: con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in ("units", "tasks", "metrics", "metric_allocations", "metric_schedule",
                      "submissions", "progress_metrics", "progress_tasks", "eval_metrics",
                      "eval_unit_metrics", "eval_tasks", "eval_units")
    }  # fmt: skip
    con.close()
    period = Period(YEAR, p.period_month)
    return {
        "params": asdict(p),
        "year": YEAR,
        "period": str(period),
        "deadline": deadlines[p.period_month].isoformat(),
        "rows": counts,
        "active_tasks": len(active),
        "milestone_tasks": sum(1 for t in active if t.n_metrics == 0),
        "two_lead_tasks": sum(1 for t in active if len(t.leads) > 1),
        "lead_only_tasks": sum(1 for t in active if t.n_metrics and not t.responsible),
        "metrics_by_kind": {
            k: sum(1 for i in live if metrics[i].kind == k)
            for k in ("cumulative", "growth", "level")
        },
        "allocated_metrics": sum(1 for i in live if metrics[i].allocations),
        "scheduled_metrics": sum(1 for i in live if metrics[i].schedule),
        "corrected_files": int(corrected.sum()),
        "missing_unit_months": int((~present & reporting[:, None]).sum()),
        "bytes": db_path.stat().st_size,
        "generation_seconds": round(data_seconds, 1),
        "history_seconds": round(time.perf_counter() - history_started, 1),
    }


def insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Bulk insert a polars frame (by column name) through Arrow."""
    con.register("bench_frame", frame.to_arrow())
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM bench_frame")
    finally:
        con.unregister("bench_frame")


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _figures(
    rng: np.random.Generator,
    row_metric: np.ndarray,
    own: np.ndarray,
    kind_code: np.ndarray,
    target: np.ndarray,
    share: np.ndarray,
    mu: np.ndarray,
    spread: float,
) -> np.ndarray:
    """Figures per row (one unit's metric) and month: cumulative counts (whole numbers,
    never decreasing), growth rates and levels (one decimal)."""
    import numpy as np

    n, months = len(row_metric), share.shape[1]
    pace = np.clip(mu[row_metric] + rng.normal(0, spread, n), 0, 2.5)
    kind = kind_code[row_metric]
    jitter = 1 + rng.normal(0, 0.06, (n, months))
    cumulative = np.round(own[:, None] * share[row_metric] * pace[:, None] * jitter)
    cumulative = np.maximum.accumulate(np.maximum(cumulative, 0), axis=1)
    tgt = target[row_metric][:, None]
    growth = np.round(tgt + rng.normal(-0.3, 2.5, n)[:, None] + rng.normal(0, 0.8, (n, months)), 1)
    level = np.round(tgt * np.clip(rng.normal(0.98, 0.1, n), 0.3, 1.6)[:, None]
                     * (1 + rng.normal(0, 0.02, (n, months))), 1)  # fmt: skip
    return np.where((kind == 0)[:, None], cumulative, np.where((kind == 1)[:, None], growth, level))


@dataclass
class Dataset:
    root: Path
    manifest: dict[str, Any]

    @property
    def db(self) -> Path:
        return self.root / "bench.duckdb"


def build_dataset(p: Params) -> Dataset:
    root = CACHE / p.key()
    manifest = root / "manifest.json"
    if manifest.exists():
        print(f"input: cached {root.relative_to(ROOT)}", file=sys.stderr)
        return Dataset(root, json.loads(manifest.read_text(encoding="utf-8")))
    prefix = p.key().rsplit("-", 1)[0]
    for stale in CACHE.glob(f"{prefix}-*"):  # older generator or migrations, same parameters
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    print(f"input: generating {root.relative_to(ROOT)} (untimed)", file=sys.stderr)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "generate", "--spec",
           json.dumps({"params": asdict(p), "db": str(tmp / "bench.duckdb")})]  # fmt: skip
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"generation failed (exit {done.returncode})")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    (tmp / "manifest.json").write_text(json.dumps(data, ensure_ascii=False, indent=2),
                                       encoding="utf-8")  # fmt: skip
    tmp.rename(root)
    return Dataset(root, data)


# ================================================================== ducha


def run_ducha(spec: Spec) -> dict[str, Any]:
    import pyarrow  # noqa: F401 - imported before the clock (DuckDB's .pl() needs it)

    from ducha.db import connect
    from ducha.evaluation.inputs import EvaluationSettings as DuchaSettings
    from ducha.evaluation.inputs import load_inputs
    from ducha.evaluation.judgements import evaluate
    from ducha.evaluation.store import store
    from ducha.periods import Period

    settings = DuchaSettings(**spec.settings)
    period = Period(spec.year, spec.month)
    deadline = date.fromisoformat(spec.deadline)
    con = connect(Path(spec.db), read_only=True)
    start_rss = current_rss_mb()
    with Clock() as total:
        with Clock() as load:
            inputs = load_inputs(con, period, deadline)
        with Clock() as rules:
            result = evaluate(inputs, settings)
    con.close()
    figures: dict[str, Any] = {
        "seconds": total.seconds,
        "cpu_seconds": total.cpu,
        "phases": {"load": load.seconds, "rules": rules.seconds},
        "start_rss_mb": start_rss,
    }
    if spec.out:
        out = Path(spec.out)
        out.mkdir(parents=True, exist_ok=True)
        result.metrics.write_parquet(out / "district.parquet")
        result.unit_metrics.write_parquet(out / "unit_metrics.parquet")
        result.tasks.write_parquet(out / "tasks.parquet")
        result.units.write_parquet(out / "units.parquet")
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if spec.store:
        scratch = Path(tempfile.mkdtemp(prefix="bench-evaluate-store-"))
        try:
            copy = scratch / "copy.duckdb"
            shutil.copyfile(spec.db, copy)
            con = connect(copy)
            with Clock() as stored:
                store(con, result, settings)
            con.close()
            figures["store_seconds"] = stored.seconds
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return figures


WHOLE_YEAR_FIGURES = """
SELECT p.unit, p.task_id, p.position,
       arg_max(p.cumulative_value, p.period) AS value, max(p.period) AS last_period
FROM progress_metrics p
JOIN latest_submissions s USING (submission_id)
WHERE p.period BETWEEN $first AND $period AND p.cumulative_value IS NOT NULL
GROUP BY p.unit, p.task_id, p.position
"""  # what eval_latest_figures did before: arg_max over every figure of the year


def ducha_queries(spec: Spec) -> dict[str, tuple[str, dict[str, Any]]]:
    """The queries of ducha.evaluation.inputs.load_inputs, by name (eval_latest_figures needs
    eval_assigned registered), and the whole-year aggregate it replaced, for comparison."""
    from ducha.db import sql

    year = {"year": spec.year}
    period = {"period": spec.period}
    prev = {"period": spec.previous}
    figures = {"first": spec.first, "period": spec.period}
    return {
        "eval_tasks": (sql("evaluation/tasks"), year),
        "eval_metrics_register": (sql("evaluation/metrics"), year),
        "eval_allocations": (sql("evaluation/allocations"), year),
        "eval_schedule": (sql("evaluation/schedules"), year),
        "eval_latest_figures": (sql("evaluation/latest_figures"), figures),
        "(before) whole-year arg_max": (WHOLE_YEAR_FIGURES, figures),
        "eval_declared_status": (sql("evaluation/declared_statuses"), period),
        "eval_submissions": (sql("evaluation/first_received"), period),
        "units": ("SELECT name AS unit, kind FROM units", {}),
        "previous eval_metrics": (
            "SELECT task_id, position, streak FROM eval_metrics WHERE period = $period", prev),
        "previous eval_tasks": ("SELECT task_id, streak FROM eval_tasks WHERE period = $period", prev),
    }  # fmt: skip


def time_query(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any],
               n: int = 3) -> dict[str, Any]:  # fmt: skip
    """First (cold: this process has not read these blocks yet) and best time to polars."""
    times = []
    frame = None
    for _ in range(n):
        with Clock() as c:
            frame = con.sql(text, params=params).pl()
        times.append(c.seconds)
    assert frame is not None
    return {"first": round(times[0], 3), "best": round(min(times), 3), "rows": frame.height,
            "mb": round(frame.estimated_size("mb"), 1)}  # fmt: skip


def plan_operators(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any],
                   top: int = 5) -> dict[str, Any]:  # fmt: skip
    """EXPLAIN ANALYZE (JSON): the total and the operators that took longest."""
    plan = json.loads(
        con.execute("EXPLAIN (ANALYZE, FORMAT json) " + text, params).fetchall()[0][1]
    )
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        extra = node.get("extra_info") or {}
        detail = {k: extra[k] for k in ("Groups", "Aggregates", "Conditions", "Join Type",
                                        "Order By", "Table") if k in extra}  # fmt: skip
        found.append({"operator": node.get("type"), "seconds": round(node.get("timing", 0.0), 3),
                      "rows": node.get("intermediate_rows"), **detail})  # fmt: skip
        for child_node in node.get("children", []):
            walk(child_node)

    for node in plan.get("operator", []):
        walk(node)
    found.sort(key=lambda o: -o["seconds"])
    return {"operator_seconds": round(sum(o["seconds"] for o in found), 3), "top": found[:top]}


def profile_ducha(spec: Spec) -> dict[str, Any]:
    """Where ducha's time goes: each load query (cold and warm, plan operators of the two
    slowest), each step of the rules, cProfile; store() statement by statement."""
    import cProfile
    import io
    import pstats

    import polars as pl

    from ducha.db import connect, sql
    from ducha.evaluation import inputs as ev_inputs
    from ducha.evaluation import judgements as ev
    from ducha.evaluation.rules import prepare
    from ducha.periods import Period

    settings = ev_inputs.EvaluationSettings(**spec.settings)
    period = Period(spec.year, spec.month)
    deadline = date.fromisoformat(spec.deadline)
    con = connect(Path(spec.db), read_only=True)
    year = {"year": spec.year}
    tasks = con.sql(sql("evaluation/tasks"), params=year).pl()
    metrics = con.sql(sql("evaluation/metrics"), params=year).pl()
    allocations = con.sql(sql("evaluation/allocations"), params=year).pl()
    assignments = ev_inputs.assign_units(tasks, metrics, allocations)
    con.register("eval_assigned", assignments.filter(pl.col("position") > 0)
                 .select("unit", "task_id", "position").to_arrow())  # fmt: skip
    queries = ducha_queries(spec)
    load = {name: time_query(con, text, params) for name, (text, params) in queries.items()}
    con.unregister("eval_assigned")
    slowest = sorted((n for n in load if not n.startswith("(before)")),
                     key=lambda n: -load[n]["best"])[:2]  # fmt: skip
    con.register("eval_assigned", assignments.filter(pl.col("position") > 0)
                 .select("unit", "task_id", "position").to_arrow())  # fmt: skip
    plans = {name: plan_operators(con, *queries[name]) for name in slowest}
    con.unregister("eval_assigned")

    inputs = ev_inputs.load_inputs(con, period, deadline)
    steps: dict[str, dict[str, float]] = {}

    def note(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        with Clock() as c:
            result = fn(*args)
        entry = steps.setdefault(name, {"first": round(c.seconds, 3), "best": c.seconds})
        entry["best"] = round(min(entry["best"], c.seconds), 3)
        return result

    for _ in range(3):
        note("load: assign_units (polars)", ev_inputs.assign_units, tasks, metrics, allocations)
        note("load: latest_figures (DuckDB)", ev_inputs.latest_figures, con, period, assignments)
        prepared = note("prepare (keys, the one large join)", prepare, inputs)
        district = note("district_metrics", ev.district_metrics, inputs, settings, prepared)
        unit_rows = note("unit_metrics", ev.unit_metrics, inputs, settings, prepared, district)
        note("task_results", ev.task_results, inputs, prepared, district, unit_rows)
        note("unit_results", ev.unit_results, inputs, prepared, unit_rows)
        note("evaluate (all of the above but load)", ev.evaluate, inputs, settings)

    profiler = cProfile.Profile()
    profiler.enable()
    baseline = ev.evaluate(ev_inputs.load_inputs(con, period, deadline), settings)
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(12)
    con.close()
    return {
        "load_queries": load,
        "load_plans": plans,
        "steps": steps,
        "input_rows": {"assignments": inputs.assignments.height,
                       "figures": inputs.figures.height, "declared": inputs.declared.height,
                       "carried": int((inputs.figures["last_period"] < spec.period).sum())},
        "cprofile_tottime": buffer.getvalue(),
        "store": profile_store(spec, baseline, settings),
        "polars_version": pl.__version__,
    }  # fmt: skip


def profile_store(spec: Spec, result: Any, settings: Any) -> dict[str, Any]:
    """store() statement by statement on a scratch copy, then eval_unit_metrics' insert and
    commit again into a copy of the table without its PRIMARY KEY."""
    import polars as pl

    from ducha.db import connect

    period = spec.period
    frames = {
        "eval_metrics": result.metrics.select(
            pl.lit(period).alias("period"), "task_id", "position", "label", "kind", "bound",
            "measure", "target", "actual", "expected", "completion", "gap", "source", "carried",
            "status", "streak"),
        "eval_unit_metrics": result.unit_metrics.select(pl.lit(period).alias("period"), pl.all()),
        "eval_tasks": result.tasks.select(pl.lit(period).alias("period"), pl.all()),
        "eval_units": result.units.select(
            pl.lit(period).alias("period"), "unit", "kind", "submission", "received_at", "judged",
            "on_track", "on_track_share", "rank"),
    }  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="bench-evaluate-store-"))
    try:
        copy = scratch / "copy.duckdb"
        shutil.copyfile(spec.db, copy)
        con = connect(copy)
        existing = con.sql("SELECT count(*) FROM eval_unit_metrics").fetchall()[0][0]
        steps: dict[str, float] = {}

        def step(name: str, fn: Callable[[], Any]) -> None:
            with Clock() as c:
                fn()
            steps[name] = round(c.seconds, 3)

        step("BEGIN + eval_runs", lambda: (con.execute("BEGIN TRANSACTION"),
             con.execute("DELETE FROM eval_runs WHERE period = ?", [period]),
             con.execute("INSERT INTO eval_runs VALUES (?, ?, ?, ?)",
                         [period, datetime.now(), date.fromisoformat(spec.deadline), "{}"])))  # fmt: skip
        for table, frame in frames.items():
            arrow = frame.to_arrow()
            con.register("bench_arrow", arrow)
            step(f"DELETE {table}",
                 lambda t=table: con.execute(f"DELETE FROM {t} WHERE period = ?", [period]))  # fmt: skip
            step(f"INSERT {table} ({frame.height:,} rows)",
                 lambda t=table: con.execute(f"INSERT INTO {t} SELECT * FROM bench_arrow"))  # fmt: skip
            con.unregister("bench_arrow")
        step("COMMIT", lambda: con.execute("COMMIT"))
        con.execute("DELETE FROM eval_unit_metrics WHERE period = ?", [period])
        con.execute("CREATE TABLE eum_no_pk AS SELECT * FROM eval_unit_metrics")
        con.execute("CHECKPOINT")
        con.register("bench_arrow", frames["eval_unit_metrics"].to_arrow())
        no_pk: dict[str, float] = {}
        for table in ("eval_unit_metrics", "eum_no_pk"):
            con.execute("BEGIN TRANSACTION")
            with Clock() as ins:
                con.execute(f"INSERT INTO {table} SELECT * FROM bench_arrow")
            with Clock() as com:
                con.execute("COMMIT")
            no_pk[f"{table}: insert"] = round(ins.seconds, 3)
            no_pk[f"{table}: commit"] = round(com.seconds, 3)
        con.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"existing_eval_unit_metrics_rows": existing, "statements": steps,
            "with_and_without_primary_key": no_pk}  # fmt: skip


# ================================================================== pandas


def run_pandas(spec: Spec) -> dict[str, Any]:
    import duckdb
    import numpy  # noqa: F401 - imported before the clock, like polars for ducha
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    con = duckdb.connect(spec.db, read_only=True)
    start_rss = current_rss_mb()
    with Clock() as total:
        with Clock() as read:
            frames = pandas_read(con, spec)
        earlier = EarlierFigures(con, spec)
        result = pandas_evaluate(frames, spec, earlier)
    con.close()
    load = read.seconds + earlier.seconds
    figures: dict[str, Any] = {
        "seconds": total.seconds,
        "cpu_seconds": total.cpu,
        "phases": {"load": load, "rules": total.seconds - load},
        "start_rss_mb": start_rss,
    }
    if spec.out:
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = Path(spec.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in result.items():
            pq.write_table(
                pa.Table.from_pandas(frame, preserve_index=False), out / f"{name}.parquet"
            )
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def pandas_read(con: duckdb.DuckDBPyConnection, spec: Spec) -> dict[str, pd.DataFrame]:
    """The tables the rules need, as they are (projection and row filters only)."""

    def q(text: str, params: list[Any] | None = None) -> pd.DataFrame:
        return con.sql(text, params=params or []).to_arrow_table().to_pandas()

    return {
        "tasks": q("SELECT task_id, lead_units, responsible_units FROM tasks "
                   "WHERE year = ? AND active", [spec.year]),
        "metrics": q("SELECT task_id, position, label, kind, bound, measure, "
                     "value AS target FROM metrics"),
        "allocations": q("SELECT task_id, position, unit, value AS allocation "
                         "FROM metric_allocations"),
        "schedule": q("SELECT task_id, position, month, share FROM metric_schedule"),
        "submissions": q("SELECT submission_id, unit, period, status, superseded_by, received_at "
                         "FROM submissions"),
        "current": q("SELECT submission_id, unit, task_id, position, cumulative_value "
                     "FROM progress_metrics WHERE period = ? AND cumulative_value IS NOT NULL",
                     [spec.period]),
        "declared": q("SELECT submission_id, unit, task_id, status FROM progress_tasks "
                      "WHERE period = ?", [spec.period]),
        "units": q("SELECT name AS unit, kind FROM units"),
        "previous_metrics": q("SELECT task_id, position, streak FROM eval_metrics "
                              "WHERE period = ?", [spec.previous]),
        "previous_tasks": q("SELECT task_id, streak FROM eval_tasks WHERE period = ?",
                            [spec.previous]),
    }  # fmt: skip


class EarlierFigures:
    """The earlier months' figures (this year, not blank) of the rows pandas lacks for the
    period: one SELECT semi-joined with a DataFrame of those rows, the reading ducha does in
    evaluation/latest_figures. Which file is the latest, and which month is the latest, is left to
    pandas. Times itself (reading, not the rules)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, spec: Spec) -> None:
        self.con, self.spec, self.seconds = con, spec, 0.0

    def __call__(self, lacking: pd.DataFrame) -> pd.DataFrame:
        with Clock() as c:
            self.con.register("lacking", lacking)
            try:
                frame = (
                    self.con.sql(
                        "SELECT p.submission_id, p.unit, p.period, p.task_id, p.position, "
                        "p.cumulative_value FROM progress_metrics p SEMI JOIN lacking l "
                        "ON l.unit = p.unit AND l.task_id = p.task_id AND l.position = p.position "
                        "WHERE p.period >= ? AND p.period < ? AND p.cumulative_value IS NOT NULL",
                        params=[self.spec.first, self.spec.period],
                    )
                    .to_arrow_table()
                    .to_pandas()
                )
            finally:
                self.con.unregister("lacking")
        self.seconds += c.seconds
        return frame


def pandas_judge(f: pd.DataFrame, s: Settings) -> np.ndarray:
    """Status from kind, bound, target, actual, expected (missing when actual is null)."""
    import numpy as np

    tol = np.where(f["bound"].eq("about"), s.about_tolerance, 0.0)
    red = s.red_threshold
    target = f["target"].to_numpy(dtype=float)
    actual = f["actual"].to_numpy(dtype=float)
    expected = f["expected"].to_numpy(dtype=float)
    at_most = f["bound"].eq("at_most").to_numpy()
    high, low = target * (1 + tol), target * (1 - tol)
    cumulative = np.select(
        [at_most & (actual > high), at_most, actual >= low, actual >= expected * (1 - tol),
         (expected - actual) <= red * target],
        ["critical", "on_track", "done", "on_track", "lagging"], "critical",
    )  # fmt: skip
    growth = np.select(
        [at_most & (actual <= high), at_most, actual >= low, actual >= 0],
        ["on_track", "lagging", "on_track", "lagging"], "critical",
    )  # fmt: skip
    level = np.select(
        [at_most & (actual <= high), at_most & ((actual - target) <= red * target), at_most,
         actual >= low, (target - actual) <= red * target],
        ["on_track", "lagging", "critical", "on_track", "lagging"], "critical",
    )  # fmt: skip
    kind = f["kind"]
    return np.select(
        [np.isnan(actual), kind.eq("cumulative").to_numpy(), kind.eq("growth").to_numpy()],
        ["missing", cumulative, growth], level,
    ).astype(object)  # fmt: skip


def pandas_worst(frame: pd.DataFrame, by: str) -> pd.Series:
    """The most severe status per group; missing only when nothing else is known."""
    import numpy as np

    rank = frame["status"].map({s: i for i, s in enumerate(STATUS_ORDER)})
    known = rank.where(frame["status"].ne("missing"))
    worst = known.groupby(frame[by]).max()
    return worst.map(lambda i: STATUS_ORDER[int(i)] if not np.isnan(i) else "missing")


def pandas_evaluate(f: dict[str, pd.DataFrame], spec: Spec,
                    earlier: Callable[[pd.DataFrame], pd.DataFrame]) -> dict[str, pd.DataFrame]:  # fmt: skip
    import numpy as np
    import pandas as pd

    s = Settings(**spec.settings)
    period, month = spec.period, spec.month
    key = ["task_id", "position"]

    # register: metrics of the year's active tasks, with the share due
    tasks = f["tasks"]
    metrics = f["metrics"].merge(tasks[["task_id"]], on="task_id")
    schedule = f["schedule"].merge(tasks[["task_id"]], on="task_id")
    due = (
        schedule[schedule["month"] <= month]
        .sort_values("month")
        .groupby(key, as_index=False)
        .last()[[*key, "share"]]
    )
    listed = schedule[key].drop_duplicates().assign(has_schedule=True)
    metrics = metrics.merge(listed, on=key, how="left").merge(due, on=key, how="left")
    metrics["share"] = np.where(
        metrics["has_schedule"].eq(True), metrics["share"].fillna(0.0), month / 12
    )
    metrics = metrics.drop(columns="has_schedule")

    # assignments: lead units (list order kept) and responsible units that are not leads
    lead = (
        tasks[["task_id", "lead_units"]]
        .explode("lead_units")
        .rename(columns={"lead_units": "unit"})
    )
    lead = lead.dropna(subset=["unit"])
    lead["lead_order"] = lead.groupby("task_id").cumcount()
    lead = lead.drop_duplicates(["task_id", "unit"]).assign(role="lead")
    resp = (
        tasks[["task_id", "responsible_units"]]
        .explode("responsible_units")
        .rename(columns={"responsible_units": "unit"})
        .dropna(subset=["unit"])
        .drop_duplicates()
        .merge(lead[["task_id", "unit"]], on=["task_id", "unit"], how="left", indicator=True)
    )
    resp = resp[resp["_merge"] == "left_only"].drop(columns="_merge").assign(role="responsible")
    pairs = pd.concat([lead, resp], ignore_index=True)
    assign = pairs.merge(metrics[key], on="task_id", how="left")
    assign["position"] = assign["position"].fillna(0).astype("int32")
    assign = assign.merge(f["allocations"], on=["unit", *key], how="left")

    # each unit's latest accepted figure per metric up to the period (carried forward if older)
    subs = f["submissions"]
    latest = subs.loc[subs["status"].eq("accepted") & subs["superseded_by"].isna(), "submission_id"]
    columns = ["unit", *key, "value", "last_period"]
    current = f["current"]
    current = current[current["submission_id"].isin(latest)].rename(
        columns={"cumulative_value": "value"}
    ).assign(last_period=period)[columns]  # fmt: skip
    wanted = assign.loc[assign["position"].gt(0), ["unit", *key]].drop_duplicates()
    lacking = wanted.merge(current[["unit", *key]], on=["unit", *key], how="left", indicator=True)
    lacking = lacking.loc[lacking["_merge"].eq("left_only"), ["unit", *key]]
    before = earlier(lacking)
    before = (
        before[before["submission_id"].isin(latest)]
        .sort_values("period", kind="stable")
        .drop_duplicates(["unit", *key], keep="last")
        .rename(columns={"cumulative_value": "value", "period": "last_period"})[columns]
    )  # fmt: skip
    figures = pd.concat([current, before], ignore_index=True)
    figures["carried"] = figures["last_period"] < period

    # district figure per metric
    with_roles = figures.merge(
        assign[["unit", "role", *key, "lead_order"]].drop_duplicates(), on=["unit", *key]
    )
    lead_sort = "lead_order" if spec.lead_order == "first_listed" else "unit"
    lead_fig = (
        with_roles[with_roles["role"].eq("lead")]
        .sort_values(lead_sort)
        .drop_duplicates(key)[[*key, "value", "carried"]]
        .rename(columns={"value": "lead_value", "carried": "lead_carried"})
    )
    units_fig = (
        with_roles[with_roles["role"].eq("responsible")]
        .groupby(key, as_index=False)
        .agg(units_value=("value", "sum"), units_carried=("carried", "any"))
    )
    d = metrics.merge(lead_fig, on=key, how="left").merge(units_fig, on=key, how="left")
    cumulative = d["kind"].eq("cumulative")
    has_lead = d["lead_value"].notna()
    d["actual"] = np.where(
        has_lead, d["lead_value"], np.where(cumulative, d["units_value"], np.nan)
    )
    d["carried"] = np.where(has_lead, d["lead_carried"].eq(True),
                            cumulative & d["units_carried"].eq(True))  # fmt: skip
    d["expected"] = np.where(cumulative, d["target"] * d["share"], d["target"])
    d["status"] = pandas_judge(d, s)
    d = d.merge(f["previous_metrics"].rename(columns={"streak": "previous"}), on=key, how="left")
    d["streak"] = np.where(d["status"].isin(BAD), d["previous"].fillna(0) + 1, 0).astype("int32")
    district = d[[*key, "kind", "bound", "target", "actual", "expected", "carried", "status",
                  "streak"]].sort_values(key, ignore_index=True)  # fmt: skip

    # each unit on each of its rows
    n_resp = (
        assign.loc[assign["role"].eq("responsible"), ["task_id", "unit"]]
        .drop_duplicates()
        .groupby("task_id")
        .size()
        .rename("n_responsible")
    )
    sub_period = subs[subs["status"].eq("accepted") & subs["period"].eq(period)]
    submitted = sub_period["unit"].dropna().unique()
    declared = f["declared"]
    declared = declared.loc[declared["submission_id"].isin(latest), ["unit", "task_id", "status"]]
    r = (
        assign.merge(metrics[[*key, "kind", "bound", "target", "share"]], on=key, how="left")
        .merge(n_resp, on="task_id", how="left")
        .merge(figures, on=["unit", *key], how="left")
        .merge(declared.rename(columns={"status": "declared"}), on=["unit", "task_id"], how="left")
        .merge(d[[*key, "status", "actual", "expected"]].rename(columns={
            "status": "district_status", "actual": "district_actual",
            "expected": "district_expected"}), on=key, how="left")
    )  # fmt: skip
    r["n_responsible"] = r["n_responsible"].fillna(0)
    r["submitted"] = r["unit"].isin(submitted)
    r["carried"] = r["carried"].eq(True)
    milestone = r["position"].eq(0)
    lead_role = r["role"].eq("lead")
    cum = r["kind"].eq("cumulative")
    others = r["n_responsible"] > 0
    on_district = lead_role  # lead units answer for the district figure
    metric_target = r["target"].to_numpy(dtype=float)
    allocation = r["allocation"].to_numpy(dtype=float)
    r["target"] = np.select(
        [~cum | lead_role, ~np.isnan(allocation), (s.unit_share == "equal") & others],
        [metric_target, allocation, metric_target / r["n_responsible"].clip(lower=1)],
        np.nan,
    )  # fmt: skip
    r["actual"] = r["value"]
    r["expected"] = np.where(cum, r["target"] * r["share"], r["target"])
    declared_status = np.select(
        [r["declared"].eq(x).to_numpy() for x in ("done", "on_schedule", "behind", "not_started")],
        ["done", "on_track", "lagging",
         "critical" if month >= s.not_started_critical_month else "lagging"], "missing",
    )  # fmt: skip
    judged = pandas_judge(r, s)
    r["status"] = np.select(
        [~r["submitted"], milestone, on_district, r["target"].isna(),
         ~cum & ~lead_role & r["actual"].isna()],
        [np.array("missing", dtype=object), declared_status.astype(object),
         r["district_status"].to_numpy(dtype=object), None, None],
        judged,
    )  # fmt: skip
    r["actual"] = np.where(on_district, r["district_actual"], r["actual"])
    r["expected"] = np.where(on_district, r["district_expected"], r["expected"])
    units = (
        r[r["status"].notna()][["unit", *key, "role", "target", "actual", "expected", "carried",
                                "status"]]
        .sort_values(["unit", *key], ignore_index=True)
    )  # fmt: skip

    # tasks: as bad as the worst metric (milestone tasks: the worst unit)
    all_tasks = pd.DataFrame({"task_id": assign["task_id"].unique()})
    from_metrics = pandas_worst(district, "task_id").rename("status")
    milestone_rows = units[units["position"].eq(0)]
    from_units = pandas_worst(milestone_rows, "task_id").rename("milestone_status")
    t = all_tasks.merge(from_metrics, on="task_id", how="left").merge(
        from_units, on="task_id", how="left"
    )
    t["status"] = t["status"].fillna(t["milestone_status"]).fillna("missing")
    bad_units = units[units["status"].isin(BAD) & units["role"].eq("responsible")]
    lagging = (
        bad_units.groupby("task_id")["unit"].agg(lambda x: sorted(set(x))).rename("lagging_units")
    )
    missing = units[units["status"].eq("missing")].groupby("task_id")["unit"].agg(
        lambda x: sorted(set(x))
    ).rename("missing_units")  # fmt: skip
    t = (
        t.merge(lagging, on="task_id", how="left")
        .merge(missing, on="task_id", how="left")
        .merge(f["previous_tasks"].rename(columns={"streak": "previous"}), on="task_id", how="left")
    )
    for col in ("lagging_units", "missing_units"):
        t[col] = [v if isinstance(v, list) else [] for v in t[col]]
    t["streak"] = np.where(t["status"].isin(BAD), t["previous"].fillna(0) + 1, 0).astype("int32")
    t = t.merge(tasks[["task_id", "lead_units"]], on="task_id", how="left")
    t["lead_units"] = [list(v) for v in t["lead_units"]]
    task_frame = t[
        ["task_id", "status", "streak", "lead_units", "lagging_units", "missing_units"]
    ].sort_values("task_id", ignore_index=True)

    # units: submission, share on track, rank
    received = sub_period.groupby("unit")["received_at"].min().rename("received_at")
    scores = (
        units.assign(ok=units["status"].isin(("on_track", "done")))
        .groupby("unit")
        .agg(judged=("ok", "size"), on_track=("ok", "sum"))
    )
    u = (
        pd.DataFrame({"unit": assign["unit"].unique()})
        .merge(f["units"], on="unit", how="left")
        .merge(received, on="unit", how="left")
        .merge(scores, on="unit", how="left")
    )
    u["kind"] = u["kind"].fillna("dept")
    u["submission"] = np.select(
        [u["received_at"].isna(), u["received_at"] <= pd.Timestamp(spec.deadline_end)],
        ["missing", "on_time"], "late",
    )  # fmt: skip
    u["judged"] = u["judged"].fillna(0).astype("int32")
    u["on_track"] = u["on_track"].fillna(0).astype("int32")
    u["on_track_share"] = np.where(u["judged"] > 0, u["on_track"] / u["judged"].clip(lower=1), 0.0)
    u["submission_order"] = u["submission"].map({x: i for i, x in enumerate(SUBMISSION_ORDER)})
    u = u.sort_values(["on_track_share", "submission_order", "unit"], ascending=[False, True, True],
                      ignore_index=True)  # fmt: skip
    new_key = u["on_track_share"].ne(u["on_track_share"].shift()) | u["submission_order"].ne(
        u["submission_order"].shift()
    )
    u["rank"] = (
        pd.Series(np.where(new_key, np.arange(1, len(u) + 1), np.nan)).ffill().astype("int32")
    )
    unit_frame = u[["unit", "kind", "submission", "received_at", "judged", "on_track",
                    "on_track_share", "rank"]]  # fmt: skip
    return {"district": district, "unit_metrics": units, "tasks": task_frame, "units": unit_frame}


# ================================================================== sql

SQL_SCRIPT = """
CREATE OR REPLACE TEMP MACRO judge(kind, bound, target, actual, expected, tol, red) AS
CASE
    WHEN actual IS NULL THEN 'missing'
    WHEN kind = 'cumulative' THEN CASE
        WHEN bound = 'at_most' AND actual > target * (1 + tol) THEN 'critical'
        WHEN bound = 'at_most' THEN 'on_track'
        WHEN actual >= target * (1 - tol) THEN 'done'
        WHEN actual >= expected * (1 - tol) THEN 'on_track'
        WHEN (expected - actual) <= red * target THEN 'lagging'
        ELSE 'critical' END
    WHEN kind = 'growth' THEN CASE
        WHEN bound = 'at_most' AND actual <= target * (1 + tol) THEN 'on_track'
        WHEN bound = 'at_most' THEN 'lagging'
        WHEN actual >= target * (1 - tol) THEN 'on_track'
        WHEN actual >= 0 THEN 'lagging'
        ELSE 'critical' END
    ELSE CASE
        WHEN bound = 'at_most' AND actual <= target * (1 + tol) THEN 'on_track'
        WHEN bound = 'at_most' AND (actual - target) <= red * target THEN 'lagging'
        WHEN bound = 'at_most' THEN 'critical'
        WHEN actual >= target * (1 - tol) THEN 'on_track'
        WHEN (target - actual) <= red * target THEN 'lagging'
        ELSE 'critical' END
END;

CREATE OR REPLACE TEMP MACRO worst(status) AS
CASE WHEN max(list_position(['done', 'on_track', 'missing', 'lagging', 'critical'], status))
          FILTER (WHERE status <> 'missing') IS NULL THEN 'missing'
     ELSE ['done', 'on_track', 'missing', 'lagging', 'critical'][
          max(list_position(['done', 'on_track', 'missing', 'lagging', 'critical'], status))
          FILTER (WHERE status <> 'missing')]
END;

CREATE OR REPLACE TEMP TABLE q_tasks AS
SELECT task_id, lead_units, responsible_units FROM tasks WHERE year = $year AND active;

CREATE OR REPLACE TEMP TABLE q_metrics AS
WITH sched AS (
    SELECT s.task_id, s.position,
           arg_max(s.share, s.month) FILTER (WHERE s.month <= $month) AS scheduled
    FROM metric_schedule s SEMI JOIN q_tasks t USING (task_id)
    GROUP BY ALL
)
SELECT m.task_id, m.position, m.kind, m.bound, m.value AS target,
       CASE WHEN sc.task_id IS NOT NULL THEN coalesce(sc.scheduled, 0.0::DOUBLE)
            ELSE $share END AS share,
       CASE WHEN m.bound = 'about' THEN $tol ELSE 0.0::DOUBLE END AS tol
FROM metrics m
SEMI JOIN q_tasks t USING (task_id)
LEFT JOIN sched sc USING (task_id, position);

CREATE OR REPLACE TEMP TABLE q_assign AS
WITH pairs AS (
    SELECT DISTINCT t.task_id, u.unit, 'lead' AS role
    FROM q_tasks t, unnest(t.lead_units) AS u(unit)
    UNION ALL
    SELECT DISTINCT t.task_id, u.unit, 'responsible' AS role
    FROM q_tasks t, unnest(t.responsible_units) AS u(unit)
    WHERE NOT list_contains(t.lead_units, u.unit)
)
SELECT p.unit, p.role, p.task_id, coalesce(m.position, 0) AS position, al.value AS allocation
FROM pairs p
LEFT JOIN q_metrics m USING (task_id)
LEFT JOIN metric_allocations al
       ON al.task_id = m.task_id AND al.position = m.position AND al.unit = p.unit;

CREATE OR REPLACE TEMP TABLE q_figures AS
WITH latest AS (
    SELECT submission_id FROM submissions WHERE status = 'accepted' AND superseded_by IS NULL
), cur AS (
    SELECT p.unit, p.task_id, p.position, p.cumulative_value AS value, p.period AS last_period
    FROM progress_metrics p SEMI JOIN latest s USING (submission_id)
    WHERE p.period = $period AND p.cumulative_value IS NOT NULL
), lacking AS (
    SELECT unit, task_id, position FROM q_assign a WHERE position > 0
    AND NOT EXISTS (SELECT 1 FROM cur c
                    WHERE c.unit = a.unit AND c.task_id = a.task_id AND c.position = a.position)
), earlier AS (
    SELECT p.unit, p.task_id, p.position,
           arg_max(p.cumulative_value, p.period) AS value, max(p.period) AS last_period
    FROM progress_metrics p
    SEMI JOIN latest s USING (submission_id)
    SEMI JOIN lacking l ON l.unit = p.unit AND l.task_id = p.task_id AND l.position = p.position
    WHERE p.period >= $first AND p.period < $period AND p.cumulative_value IS NOT NULL
    GROUP BY p.unit, p.task_id, p.position
)
SELECT *, last_period < $period AS carried FROM cur
UNION ALL
SELECT *, last_period < $period AS carried FROM earlier;

CREATE OR REPLACE TEMP TABLE q_district AS
WITH fr AS (
    SELECT f.*, a.role, list_position(t.lead_units, f.unit) AS lead_order
    FROM q_figures f
    JOIN (SELECT DISTINCT unit, role, task_id, position FROM q_assign) a
      USING (unit, task_id, position)
    JOIN q_tasks t USING (task_id)
), lead AS (
    SELECT task_id, position,
           arg_min(value, {lead_key}) AS lead_value,
           arg_min(carried, {lead_key}) AS lead_carried
    FROM fr WHERE role = 'lead' GROUP BY ALL
), units AS (
    SELECT task_id, position, sum(value) AS units_value, bool_or(carried) AS units_carried
    FROM fr WHERE role = 'responsible' GROUP BY ALL
), base AS (
    SELECT m.*,
           CASE WHEN l.lead_value IS NOT NULL THEN l.lead_value
                WHEN m.kind = 'cumulative' THEN u.units_value END AS actual,
           CASE WHEN l.lead_value IS NOT NULL THEN l.lead_carried
                WHEN m.kind = 'cumulative' THEN coalesce(u.units_carried, false)
                ELSE false END AS carried,
           CASE WHEN m.kind = 'cumulative' THEN m.target * m.share ELSE m.target END AS expected
    FROM q_metrics m
    LEFT JOIN lead l USING (task_id, position)
    LEFT JOIN units u USING (task_id, position)
), judged AS (
    SELECT *, judge(kind, bound, target, actual, expected, tol, $red) AS status FROM base
)
SELECT j.task_id, j.position, j.kind, j.bound, j.target, j.actual, j.expected, j.carried,
       j.status,
       CASE WHEN j.status IN ('lagging', 'critical') THEN coalesce(p.streak, 0) + 1
            ELSE 0 END::INTEGER AS streak
FROM judged j
LEFT JOIN (SELECT task_id, position, streak FROM eval_metrics WHERE period = $prev) p
       USING (task_id, position)
ORDER BY j.task_id, j.position;

CREATE OR REPLACE TEMP TABLE q_units AS
WITH n_resp AS (
    SELECT task_id, count(DISTINCT unit) AS n FROM q_assign WHERE role = 'responsible' GROUP BY ALL
), submitted AS (
    SELECT DISTINCT unit FROM submissions WHERE status = 'accepted' AND period = $period
), declared AS (
    SELECT p.unit, p.task_id, p.status
    FROM progress_tasks p
    JOIN submissions s
      ON s.submission_id = p.submission_id AND s.status = 'accepted' AND s.superseded_by IS NULL
    WHERE p.period = $period
), r AS (
    SELECT a.unit, a.role, a.task_id, a.position, a.allocation,
           m.kind, m.bound, m.target AS metric_target, m.share, m.tol,
           coalesce(n.n, 0) AS n_resp, f.value AS value,
           coalesce(f.carried, false) AS carried,
           sub.unit IS NOT NULL AS submitted, d.status AS declared,
           dm.status AS district_status, dm.actual AS district_actual,
           dm.expected AS district_expected,
           a.position = 0 AS milestone,
           a.role = 'lead' AS on_district
    FROM q_assign a
    LEFT JOIN q_metrics m USING (task_id, position)
    LEFT JOIN n_resp n USING (task_id)
    LEFT JOIN q_figures f USING (unit, task_id, position)
    LEFT JOIN submitted sub USING (unit)
    LEFT JOIN declared d USING (unit, task_id)
    LEFT JOIN q_district dm USING (task_id, position)
), own AS (
    SELECT *,
           CASE WHEN kind <> 'cumulative' OR role = 'lead' THEN metric_target
                WHEN allocation IS NOT NULL THEN allocation
                WHEN $equal AND n_resp > 0 THEN metric_target / n_resp END AS target
    FROM r
), judged AS (
    SELECT *,
           CASE WHEN kind = 'cumulative' THEN target * share ELSE target END AS expected0,
           CASE WHEN NOT submitted THEN 'missing'
                WHEN milestone THEN CASE declared
                    WHEN 'done' THEN 'done' WHEN 'on_schedule' THEN 'on_track'
                    WHEN 'behind' THEN 'lagging'
                    WHEN 'not_started' THEN $not_started ELSE 'missing' END
                WHEN on_district THEN district_status
                WHEN target IS NULL THEN NULL
                WHEN kind <> 'cumulative' AND role <> 'lead' AND value IS NULL THEN NULL
                ELSE judge(kind, bound, target, value,
                           CASE WHEN kind = 'cumulative' THEN target * share ELSE target END,
                           tol, $red)
           END AS status
    FROM own
)
SELECT unit, task_id, position, role, target,
       CASE WHEN on_district THEN district_actual ELSE value END AS actual,
       CASE WHEN on_district THEN district_expected ELSE expected0 END AS expected,
       carried, status
FROM judged
WHERE status IS NOT NULL
ORDER BY unit, task_id, position;

CREATE OR REPLACE TEMP TABLE q_task_results AS
WITH from_metrics AS (
    SELECT task_id, worst(status) AS status FROM q_district GROUP BY task_id
), from_units AS (
    SELECT task_id, worst(status) AS status FROM q_units WHERE position = 0 GROUP BY task_id
), lists AS (
    SELECT task_id,
           list(DISTINCT unit ORDER BY unit)
               FILTER (WHERE status IN ('lagging', 'critical') AND role = 'responsible')
               AS lagging_units,
           list(DISTINCT unit ORDER BY unit) FILTER (WHERE status = 'missing') AS missing_units
    FROM q_units GROUP BY task_id
), s AS (
    SELECT t.task_id, coalesce(fm.status, fu.status, 'missing') AS status
    FROM (SELECT DISTINCT task_id FROM q_assign) t
    LEFT JOIN from_metrics fm USING (task_id)
    LEFT JOIN from_units fu USING (task_id)
)
SELECT s.task_id, s.status,
       CASE WHEN s.status IN ('lagging', 'critical') THEN coalesce(p.streak, 0) + 1
            ELSE 0 END::INTEGER AS streak,
       t.lead_units,
       coalesce(l.lagging_units, []::VARCHAR[]) AS lagging_units,
       coalesce(l.missing_units, []::VARCHAR[]) AS missing_units
FROM s
LEFT JOIN lists l USING (task_id)
LEFT JOIN q_tasks t USING (task_id)
LEFT JOIN (SELECT task_id, streak FROM eval_tasks WHERE period = $prev) p USING (task_id)
ORDER BY s.task_id;

CREATE OR REPLACE TEMP TABLE q_unit_results AS
WITH reporting AS (
    SELECT DISTINCT a.unit, coalesce(u.kind, 'dept') AS kind
    FROM q_assign a LEFT JOIN units u ON u.name = a.unit
), received AS (
    SELECT unit, min(received_at) AS received_at
    FROM submissions WHERE status = 'accepted' AND period = $period GROUP BY unit
), scores AS (
    SELECT unit, count(*) AS judged,
           count(*) FILTER (WHERE status IN ('on_track', 'done')) AS on_track
    FROM q_units GROUP BY unit
), u AS (
    SELECT r.unit, r.kind, rc.received_at,
           CASE WHEN rc.received_at IS NULL THEN 'missing'
                WHEN rc.received_at <= $deadline_end THEN 'on_time' ELSE 'late' END AS submission,
           coalesce(sc.judged, 0)::INTEGER AS judged,
           coalesce(sc.on_track, 0)::INTEGER AS on_track
    FROM reporting r
    LEFT JOIN received rc USING (unit)
    LEFT JOIN scores sc USING (unit)
), shared AS (
    SELECT *, CASE WHEN judged > 0 THEN on_track / judged ELSE 0.0 END AS on_track_share,
           list_position(['on_time', 'late', 'missing'], submission) AS submission_order
    FROM u
)
SELECT unit, kind, submission, received_at, judged, on_track, on_track_share,
       rank() OVER (ORDER BY on_track_share DESC, submission_order)::INTEGER AS rank
FROM shared
ORDER BY on_track_share DESC, submission_order, unit;
"""


def sql_statements(spec: Spec) -> list[tuple[str, dict[str, Any]]]:
    s = Settings(**spec.settings)
    lead_key = "lead_order" if spec.lead_order == "first_listed" else "unit"
    values: dict[str, Any] = {
        "year": spec.year,
        "month": spec.month,
        "share": spec.month / 12,
        "tol": float(s.about_tolerance),
        "red": float(s.red_threshold),
        "first": spec.first,
        "period": spec.period,
        "prev": spec.previous,
        "equal": s.unit_share == "equal",
        "not_started": "critical" if spec.month >= s.not_started_critical_month else "lagging",
        "deadline_end": spec.deadline_end,
    }
    statements = []
    for text in SQL_SCRIPT.replace("{lead_key}", lead_key).split(";\n"):
        if not text.strip():
            continue
        used = {k: v for k, v in values.items() if f"${k}" in text}
        statements.append((text, used))
    return statements


def run_sql(spec: Spec) -> dict[str, Any]:
    import duckdb
    import pyarrow  # noqa: F401 - imported before the clock

    con = duckdb.connect(spec.db, read_only=True)
    statements = sql_statements(spec)
    start_rss = current_rss_mb()
    with Clock() as total:
        for text, params in statements:
            con.execute(text, params)
        result = {
            name: con.sql(f"SELECT * FROM {table}").to_arrow_table()
            for name, table in (("district", "q_district"), ("unit_metrics", "q_units"),
                                ("tasks", "q_task_results"), ("units", "q_unit_results"))
        }  # fmt: skip
    con.close()
    figures: dict[str, Any] = {
        "seconds": total.seconds,
        "cpu_seconds": total.cpu,
        "start_rss_mb": start_rss,
    }
    if spec.out:
        import pyarrow.parquet as pq

        out = Path(spec.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in result.items():
            pq.write_table(table, out / f"{name}.parquet")
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


# ================================================================== checks

KEYS = {
    "district": ["task_id", "position"],
    "unit_metrics": ["unit", "task_id", "position"],
    "tasks": ["task_id"],
    "units": ["unit"],
}
EXACT = {  # compared exactly: the judgements
    "district": ["status", "streak"],
    "unit_metrics": ["status"],
    "tasks": ["status", "streak", "lagging_units", "missing_units"],
    "units": ["submission", "judged", "on_track", "rank"],
}
NUMERIC = {  # compared within 1e-9 (relative): the figures behind them
    "district": ["target", "actual", "expected"],
    "unit_metrics": ["target", "actual", "expected"],
    "tasks": [],
    "units": ["on_track_share"],
}
OTHER = {  # reported, not part of the status check
    "district": ["carried"],
    "unit_metrics": ["role", "carried"],
    "tasks": ["lead_units"],
    "units": ["kind"],
}


def load_output(directory: Path, name: str) -> pl.DataFrame:
    import polars as pl

    frame = pl.read_parquet(directory / f"{name}.parquet")
    columns = KEYS[name] + EXACT[name] + NUMERIC[name] + OTHER[name]
    casts = {"position": pl.Int32, "streak": pl.Int32, "judged": pl.Int32, "on_track": pl.Int32,
             "rank": pl.Int32, "carried": pl.Boolean, "lagging_units": pl.List(pl.String),
             "lead_units": pl.List(pl.String),
             "missing_units": pl.List(pl.String)}  # fmt: skip
    return frame.select(
        [pl.col(c).cast(casts[c]) if c in casts else pl.col(c) for c in columns]
    ).sort(KEYS[name])


def compare_pair(a_dir: Path, b_dir: Path) -> dict[str, Any]:
    """Differences of b against a, per output: missing / extra keys, and per column."""
    import polars as pl

    report: dict[str, Any] = {}
    for name in OUTPUTS:
        a, b = load_output(a_dir, name), load_output(b_dir, name)
        keys = KEYS[name]
        joined = a.join(b, on=keys, how="full", coalesce=True, suffix="_b", nulls_equal=True)
        only_a = joined.filter(
            pl.col(f"{EXACT[name][0]}_b").is_null() & pl.col(EXACT[name][0]).is_not_null()
        )
        only_b = joined.filter(
            pl.col(EXACT[name][0]).is_null() & pl.col(f"{EXACT[name][0]}_b").is_not_null()
        )
        both = joined.filter(
            pl.col(EXACT[name][0]).is_not_null() & pl.col(f"{EXACT[name][0]}_b").is_not_null()
        )
        columns: dict[str, Any] = {}
        for col in EXACT[name] + OTHER[name]:
            differ = both.filter(pl.col(col).ne_missing(pl.col(f"{col}_b")))
            if differ.height:
                columns[col] = {
                    "rows": differ.height,
                    "examples": differ.select(*keys, col, f"{col}_b").head(5).to_dicts(),
                }
        for col in NUMERIC[name]:
            x, y = pl.col(col), pl.col(f"{col}_b")
            close = (x - y).abs() <= 1e-9 * pl.max_horizontal(x.abs(), y.abs(), pl.lit(1.0))
            differ = both.filter(
                ~((x.is_null() & y.is_null()) | (x.is_not_null() & y.is_not_null() & close))
            )
            if differ.height:
                columns[col] = {
                    "rows": differ.height,
                    "examples": differ.select(*keys, col, f"{col}_b").head(5).to_dicts(),
                }
        report[name] = {
            "rows": [a.height, b.height],
            "only_in_first": only_a.height,
            "only_in_second": only_b.height,
            "examples_only_in_first": only_a.select(keys).head(3).to_dicts(),
            "examples_only_in_second": only_b.select(keys).head(3).to_dicts(),
            "columns": columns,
        }
    return report


def statuses_equal(report: dict[str, Any]) -> bool:
    for name, r in report.items():
        if r["only_in_first"] or r["only_in_second"]:
            return False
        if any(col in r["columns"] for col in EXACT[name]):
            return False
    return True


def fully_equal(report: dict[str, Any]) -> bool:
    return statuses_equal(report) and not any(r["columns"] for r in report.values())


def explain_differences(db: str, ducha_dir: Path, spec: Spec) -> dict[str, Any]:
    """What the district mismatches have in common (lead units) and ducha's lead target
    column for lead units judged on the district figure."""
    import duckdb
    import polars as pl

    con = duckdb.connect(db, read_only=True)
    tasks = con.sql(
        "SELECT task_id, lead_units, len(lead_units) AS n_leads FROM tasks WHERE year = $y AND active",
        params={"y": spec.year},
    ).pl()
    metrics = con.sql("SELECT task_id, position, value AS metric_target FROM metrics").pl()
    con.close()
    units = pl.read_parquet(ducha_dir / "unit_metrics.parquet")
    district = pl.read_parquet(ducha_dir / "district.parquet")
    leads_on_district = (
        units.filter(pl.col("role") == "lead")
        .join(
            district.select(
                "task_id", "position", pl.col("actual").alias("d_actual"), pl.col("source")
            ),
            on=["task_id", "position"],
        )  # fmt: skip
        .join(metrics, on=["task_id", "position"])
        .filter(pl.col("actual").eq_missing(pl.col("d_actual")) & (pl.col("position") > 0))
    )
    odd_target = leads_on_district.filter(pl.col("target") != pl.col("metric_target"))
    return {
        "tasks_with_two_lead_units": tasks.filter(pl.col("n_leads") > 1).height,
        "lead_rows_target_not_district_target": odd_target.height,
        "lead_rows_target_examples": odd_target.select(
            "unit", "task_id", "position", "target", "metric_target", "actual", "expected", "status"
        ).head(3).to_dicts(),
    }  # fmt: skip


def status_counts(directory: Path) -> dict[str, dict[str, int]]:
    import polars as pl

    counts = {}
    for name, col in (("district", "status"), ("unit_metrics", "status"), ("tasks", "status"),
                      ("units", "submission")):  # fmt: skip
        frame = pl.read_parquet(directory / f"{name}.parquet")
        counts[name] = dict(sorted(frame.group_by(col).len().iter_rows()))
    return counts


def run_compare(spec_data: dict[str, Any]) -> dict[str, Any]:
    dirs = {k: Path(v) for k, v in spec_data["dirs"].items()}
    result: dict[str, Any] = {}
    if "pandas" in dirs and "sql" in dirs:
        result["sql_vs_pandas"] = compare_pair(dirs["sql"], dirs["pandas"])
    ref = "sql" if "sql" in dirs else "pandas" if "pandas" in dirs else None
    if ref and "ducha" in dirs:
        result["ducha_vs_reference"] = compare_pair(dirs[ref], dirs["ducha"])
        result["reference"] = ref
    if "sql_alphabetical" in dirs and "ducha" in dirs:
        result["ducha_vs_sql_alphabetical"] = compare_pair(dirs["sql_alphabetical"], dirs["ducha"])
    for variant in ("ducha", "sql", "pandas"):
        if variant in dirs:
            result["status_counts"] = status_counts(dirs[variant])
            result["status_counts_of"] = variant
            break
    if "ducha" in dirs:
        result["ducha_notes"] = explain_differences(
            spec_data["db"], dirs["ducha"], Spec(**spec_data["spec"])
        )
    return result


# ================================================================== child / parent plumbing


class Clock:
    def __enter__(self) -> Clock:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def current_rss_mb() -> float:
    return _status_mb("VmRSS:")


def peak_rss_mb() -> float:
    """VmHWM of this process image (ru_maxrss can carry the parent's peak across exec)."""
    return _status_mb("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field_name: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


CHILD_RUNNERS: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "ducha": run_ducha,
    "pandas": run_pandas,
    "sql": run_sql,
}


def child(kind: str, spec_json: str) -> None:
    """One job in this (child) process; prints a JSON line last on stdout."""
    data = json.loads(spec_json)
    if kind == "generate":
        result = generate(Params(**data["params"]), Path(data["db"]))
    elif kind == "compare":
        result = run_compare(data)
    elif kind == "profile":
        result = profile_ducha(Spec(**data))
    else:
        result = CHILD_RUNNERS[kind](Spec(**data))
    print(json.dumps(result, ensure_ascii=False, default=str))


def run_child(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--spec",
           json.dumps(payload, ensure_ascii=False)]  # fmt: skip
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if kind in VARIANTS:
        result["load_1min"] = load
    return result


def warm_cache(path: Path) -> None:
    """Read the file once so no variant pays for cold disk reads."""
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass


def _ratio(value: float, goal: float, higher_is_better: bool) -> dict[str, Any]:
    met = value >= goal if higher_is_better else value <= goal
    return {"value": round(value, 2), "goal": f"{'>=' if higher_is_better else '<='} {goal:g}",
            "met": met}  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    best = min(runs, key=lambda r: r["seconds"])
    summary: dict[str, Any] = {
        "seconds": round(best["seconds"], 3),
        "median_seconds": round(statistics.median(seconds), 3),
        "all_seconds": [round(x, 3) for x in seconds],
        "cpu_seconds": round(best["cpu_seconds"], 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "ru_maxrss_mb": round(max(r["ru_maxrss_mb"] for r in runs), 1),
        "start_rss_mb": round(best["start_rss_mb"], 1),
        "load_1min": [round(r["load_1min"], 2) for r in runs],
    }
    if "phases" in best:
        summary["phases"] = {k: round(v, 3) for k, v in best["phases"].items()}
    stores = [r["store_seconds"] for r in runs if "store_seconds" in r]
    if stores:
        summary["store_seconds"] = round(min(stores), 3)
        summary["store_median_seconds"] = round(statistics.median(stores), 3)
    return summary


def describe(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, r in report.items():
        if r["only_in_first"] or r["only_in_second"]:
            lines.append(
                f"  {name}: {r['only_in_first']} rows only in the reference "
                f"(e.g. {r['examples_only_in_first'][:2]}), {r['only_in_second']} only in the "
                f"other (e.g. {r['examples_only_in_second'][:2]})"
            )
        for col, d in r["columns"].items():
            lines.append(f"  {name}.{col}: {d['rows']} rows differ, e.g. {d['examples'][:2]}")
    return lines


def report(ds: Dataset, summary: dict[str, dict[str, Any]], checks: dict[str, Any],
           repeat: int) -> dict[str, Any]:  # fmt: skip
    m = ds.manifest
    rows = m["rows"]
    print(
        f"\n{m['period']}: {rows['units']} units, {m['active_tasks']} tasks "
        f"({m['milestone_tasks']} milestone), {sum(m['metrics_by_kind'].values())} metrics "
        f"{m['metrics_by_kind']}, {rows['progress_metrics']:,} progress_metrics rows, "
        f"{rows['progress_tasks']:,} progress_tasks rows, {m['bytes'] / 1e6:.0f} MB; "
        f"best of {repeat} (median shown too), one process per run"
    )
    print(f"{'variant':<7} {'best s':>7} {'median s':>9} {'CPU s':>6} {'load s':>7} "
          f"{'rules s':>8} {'peak RSS':>9} {'ru_maxrss':>10} {'1-min load avg':>15}")  # fmt: skip
    for name in VARIANTS:
        f = summary.get(name)
        if f is None:
            continue
        phases = f.get("phases", {})
        load = f"{phases['load']:.3f}" if "load" in phases else "-"
        rules = f"{phases['rules']:.3f}" if "rules" in phases else "-"
        print(
            f"{name:<7} {f['seconds']:>7.3f} {f['median_seconds']:>9.3f} {f['cpu_seconds']:>6.2f} "
            f"{load:>7} {rules:>8} {f['peak_rss_mb']:>6.0f} MB {f['ru_maxrss_mb']:>7.0f} MB "
            f"{min(f['load_1min']):>6.1f}-{max(f['load_1min']):.1f}"
        )
    if "ducha" in summary and "store_seconds" in summary["ducha"]:
        print(
            f"ducha store(): {summary['ducha']['store_seconds']:.3f} s (best; not in the time above)"
        )
    ratios: dict[str, Any] = {}
    if "ducha" in summary:
        d = summary["ducha"]["seconds"]
        if "pandas" in summary:
            ratios["pandas_over_ducha"] = _ratio(summary["pandas"]["seconds"] / d,
                                                 GOAL_PANDAS_OVER_DUCHA, True)  # fmt: skip
        if "sql" in summary:
            ratios["ducha_over_sql"] = _ratio(d / summary["sql"]["seconds"], GOAL_DUCHA_OVER_SQL,
                                              False)  # fmt: skip
        ratios["ducha_seconds"] = _ratio(d, GOAL_DUCHA_SECONDS, False)
    for key, r in ratios.items():
        print(
            f"{key:<18} {r['value']:>7.2f}  (goal {r['goal']}: {'met' if r['met'] else 'NOT met'})"
        )
    print()
    if "sql_vs_pandas" in checks:
        ok = fully_equal(checks["sql_vs_pandas"])
        print(f"pandas vs sql: {'identical' if ok else 'DIFFERENT'}")
        for line in describe(checks["sql_vs_pandas"]):
            print(line)
    if "ducha_vs_reference" in checks:
        r = checks["ducha_vs_reference"]
        ok = statuses_equal(r)
        print(f"ducha vs {checks['reference']}: statuses {'identical' if ok else 'DIFFERENT'}"
              f"{'' if fully_equal(r) else ' (see below)'}")  # fmt: skip
        for line in describe(r):
            print(line)
    if "ducha_vs_sql_alphabetical" in checks:
        r = checks["ducha_vs_sql_alphabetical"]
        print(
            "ducha vs sql with ducha's lead order (alphabetical instead of first listed): "
            f"statuses {'identical' if statuses_equal(r) else 'DIFFERENT'}"
        )
        for line in describe(r):
            print(line)
    if "status_counts" in checks:
        print(f"statuses ({checks['status_counts_of']}): "
              + "; ".join(f"{k} {v}" for k, v in checks["status_counts"].items()))  # fmt: skip
    notes = checks.get("ducha_notes", {})
    if notes.get("lead_rows_target_not_district_target"):
        print(
            f"note: {notes['lead_rows_target_not_district_target']} ducha unit rows of lead units "
            "judged on the district figure carry target = an equal share (target / n_responsible) "
            "next to the district actual / expected, e.g. "
            f"{notes['lead_rows_target_examples'][:1]}"
        )
    return {
        "benchmark": "evaluate",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 2),
        },  # fmt: skip
        "input": m | {"dataset": ds.root.name},
        "repeat": repeat,
        "variants": summary,
        "ratios": ratios,
        "checks": checks,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--units", type=int, default=1500, help="towns, default 1500")
    parser.add_argument("--metrics", type=int, default=300, help="metrics, default 300")
    parser.add_argument("--months", type=int, default=12, help="months of submissions, default 12")
    parser.add_argument("--period-month", type=int, default=12, help="month evaluated, default 12")
    parser.add_argument(
        "--depts", type=int, default=40, help="departments (lead units), default 40"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (best and median)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma list, e.g. ducha,sql")
    parser.add_argument("--lead-order", choices=("first_listed", "alphabetical"),
                        default="first_listed", help="references' choice among several lead units")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="also profile ducha (one run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.child:
        child(args.child, args.spec)
        return 0
    if not 1 <= args.period_month <= args.months <= 12:
        parser.error("need 1 <= --period-month <= --months <= 12")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    params = Params(args.units, args.metrics, args.months, args.period_month, args.seed, args.depts)
    ds = build_dataset(params)
    warm_cache(ds.db)
    out_root = Path(tempfile.mkdtemp(prefix="bench-evaluate-out-"))
    base = Spec(db=str(ds.db), year=YEAR, month=params.period_month,
                deadline=ds.manifest["deadline"], settings=asdict(Settings()),
                lead_order=args.lead_order)  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    try:
        for i in range(args.repeat):
            for variant in variants:
                spec = Spec(**asdict(base))
                if i == 0:
                    spec.out = str(out_root / variant)
                spec.store = variant == "ducha"
                figures = run_child(variant, asdict(spec))
                runs[variant].append(figures)
                extra = (
                    f", store {figures['store_seconds']:.3f}s" if "store_seconds" in figures else ""
                )
                print(f"{variant}: {figures['seconds']:.3f}s, peak RSS {figures['peak_rss_mb']:.0f} MB"
                      f"{extra}", file=sys.stderr)  # fmt: skip
        dirs = {v: str(out_root / v) for v in variants}
        compare_spec = {"dirs": dirs, "db": str(ds.db), "spec": asdict(base)}
        checks = run_child("compare", compare_spec)
        ducha_differs = "ducha_vs_reference" in checks and not statuses_equal(
            checks["ducha_vs_reference"]
        )
        if ducha_differs and args.lead_order == "first_listed":
            alt = Spec(**asdict(base))
            alt.lead_order = "alphabetical"
            alt.out = str(out_root / "sql_alphabetical")
            run_child("sql", asdict(alt))  # diagnostic, untimed
            dirs["sql_alphabetical"] = alt.out
            checks = run_child("compare", compare_spec)
        summary = {v: summarise(r) for v, r in runs.items()}
        data = report(ds, summary, checks, args.repeat)
        if args.profile:
            profile = run_child("profile", asdict(base))
            data["profile"] = profile
            print_profile(profile)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "evaluate.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n",
                   encoding="utf-8")  # fmt: skip
    print(f"\nwritten {out.relative_to(ROOT)}")
    bad = False
    if "sql_vs_pandas" in checks and not fully_equal(checks["sql_vs_pandas"]):
        print("FAILED: the two references disagree (a bug in this benchmark)", file=sys.stderr)
        bad = True
    if ducha_differs:
        print("FAILED: ducha's statuses differ from the references (see above)", file=sys.stderr)
        bad = True
    return 1 if bad else 0


def print_profile(profile: dict[str, Any]) -> None:
    print("\nducha profile (one process; first call / best of 3):")
    rows = profile["input_rows"]
    print(f"  inputs: {rows['assignments']:,} assignment rows, {rows['figures']:,} figures "
          f"({rows['carried']:,} carried forward), {rows['declared']:,} declared statuses")  # fmt: skip
    print("  load queries, seconds to a polars frame:")
    for name, q in sorted(profile["load_queries"].items(), key=lambda kv: -kv[1]["best"]):
        print(f"    {name:<30} {q['first']:>6.3f} / {q['best']:.3f} s {q['rows']:>9,} rows "
              f"{q['mb']:>6.1f} MB")  # fmt: skip
    for name, plan in profile["load_plans"].items():
        print(f"  EXPLAIN ANALYZE {name}: operators {plan['operator_seconds']:.3f} s, slowest:")
        for o in plan["top"][:4]:
            extra = "; ".join(f"{k} {v}" for k, v in o.items()
                              if k not in ("operator", "seconds", "rows"))  # fmt: skip
            print(f"    {o['operator']:<22} {o['seconds']:>6.3f} s {o['rows'] or 0:>10,} rows  "
                  f"{extra[:70]}")  # fmt: skip
    print("  steps:")
    for name, t in profile["steps"].items():
        print(f"    {name:<40} {t['first']:>6.3f} / {t['best']:.3f} s")
    lines = profile["cprofile_tottime"].splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print("  cProfile of load_inputs + evaluate, by own time:")
    for line in lines[start : start + 6]:
        print(f"    {line.strip()[:110]}")
    st = profile["store"]
    print(f"  store() statements ({st['existing_eval_unit_metrics_rows']:,} eval_unit_metrics rows "
          "already stored):")  # fmt: skip
    for name, sec in st["statements"].items():
        if sec >= 0.005:
            print(f"    {name:<50} {sec:>6.3f} s")
    print("  eval_unit_metrics insert + commit, with and without its PRIMARY KEY:")
    for name, sec in st["with_and_without_primary_key"].items():
        print(f"    {name:<50} {sec:>6.3f} s")


if __name__ == "__main__":
    sys.exit(main())
