"""The target register: resolve table rows, keep task ids stable, keep history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
from rapidfuzz import fuzz

from ducha.db import sql, transaction
from ducha.errors import UserError, first_problems
from ducha.targets.deadlines import deadline_in_text
from ducha.targets.metrics import extract_metrics
from ducha.targets.tables import RawRow
from ducha.targets.unknown_names import UnknownName, unknown_names_message
from ducha.units import RELATED_UNITS, UnitRegister, normalise_name, split_names

MIN_YEAR, MAX_YEAR = 2000, 2100


def parse_year(text: str | int) -> int:
    """A four-digit year such as 2026; anything else is a user error."""
    value = str(text).strip()
    if not (value.isdigit() and len(value) == 4 and MIN_YEAR <= int(value) <= MAX_YEAR):
        raise UserError(f"年份“{text}”格式不正确，应为四位数字的年份，如 2026")
    return int(value)


def content_hash(content: str) -> str:
    return hashlib.sha256(normalise_name(content).encode("utf-8")).hexdigest()[:16]


@dataclass
class Task:
    """A resolved task row, before it has an id."""

    seq: int
    where: str
    goal: str
    content: str
    leaders: list[str]
    lead_units: list[str]
    responsible_text: str
    responsible_units: list[str] = field(default_factory=list)
    related: bool = False  # the 责任单位 cell says 相关单位
    related_pending: bool = False
    task_id: str = ""
    deadline: date | None = None  # from the 完成时限 / 时间节点 column

    @property
    def hash(self) -> str:
        return content_hash(self.content)


def _resolve_people(names: list[str], register: UnitRegister) -> tuple[list[str], list[str]]:
    found, unknown = [], []
    for name in names:
        leader = register.resolve_leader(name)
        if leader:
            found.append(leader)
        else:
            unknown.append(name)
    return list(dict.fromkeys(found)), unknown


def resolve_rows(rows: list[RawRow], register: UnitRegister, source: str, year: int) -> list[Task]:
    """Resolve leaders and units of every row; any unknown name fails the whole table, and the
    message names each unknown name once with its rows and what to add to the register."""
    tasks: list[Task] = []
    problems: list[str] = []
    unknown: dict[tuple[str, str], UnknownName] = {}

    def not_found(name: str, role: str, where: str) -> None:
        unknown.setdefault((name, role), UnknownName(name, role)).rows.append(where)

    for seq, row in enumerate(rows, start=1):
        leaders, unknown_leaders = _resolve_people(split_names(row.leaders), register)
        for name in unknown_leaders:
            not_found(name, "leader", row.where)
        lead_units: list[str] = []
        lead_names = split_names(row.lead_units)
        for name, units in register.resolve_names(lead_names):
            if units is None:
                not_found(name, "lead", row.where)
            else:
                lead_units += units
        if not lead_names:
            problems.append(f"{source} {row.where}：没有填写牵头单位")
        task = Task(
            seq=seq,
            where=row.where,
            goal=row.goal,
            content=row.content,
            leaders=leaders,
            lead_units=list(dict.fromkeys(lead_units)),
            responsible_text=row.responsible_units,
            deadline=deadline_in_text(row.deadline, year),
        )
        names = split_names(row.responsible_units)
        task.related = RELATED_UNITS in names
        for name, units in register.resolve_names([n for n in names if n != RELATED_UNITS]):
            if units is None:
                not_found(name, "responsible", row.where)
            else:
                task.responsible_units += units
        tasks.append(task)
    if unknown:
        raise UserError(unknown_names_message(source, list(unknown.values()), register))
    if problems:
        raise UserError(first_problems(problems) + "。请改正表格后重新导入，本次未写入任何数据")
    return tasks


def apply_related(tasks: list[Task], related: dict[str, list[str]], register: UnitRegister) -> None:
    """Expand 相关单位 from the per-task lists in config; else the lead units report."""
    for task in tasks:
        if task.related:
            names = related.get(task.task_id)
            if names:
                for name in names:
                    unit = register.resolve_unit(name)
                    if unit is None:
                        raise UserError(
                            f"config/related_units.yaml 中 {task.task_id} 的单位“{name}”不在单位名册中"
                        )
                    task.responsible_units.append(unit)
            else:
                task.related_pending = True
                task.responsible_units = task.lead_units + task.responsible_units
        if not task.responsible_units:  # empty cell: the lead units do the work themselves
            task.responsible_units = list(task.lead_units)
        task.responsible_units = list(dict.fromkeys(task.responsible_units))


@dataclass(frozen=True)
class Existing:
    task_id: str
    content: str
    goal: str
    leaders: tuple[str, ...]
    lead_units: tuple[str, ...]
    responsible_units: tuple[str, ...]
    active: bool
    deadline: date | None = None


def match_tasks(
    tasks: list[Task], existing: list[Existing], year: int, threshold: float
) -> dict[str, list[str]]:
    """Give each new row an id: the same task keeps its id, new tasks get the next free one.

    Exact content first (in table order), then the most similar remaining
    task above `threshold` (rapidfuzz ratio, 0..100). Returns the ids per
    change kind; added and removed are filled here, changed and unchanged
    by `classify_changes` once units are final.
    """
    free = [e for e in existing if e.active]
    by_id = {e.task_id: e for e in existing}
    changes: dict[str, list[str]] = {"added": [], "changed": [], "unchanged": [], "removed": []}
    pending: list[Task] = []
    for task in tasks:
        key = normalise_name(task.content)
        hit = next((e for e in free if normalise_name(e.content) == key), None)
        if hit is None:
            pending.append(task)
        else:
            free.remove(hit)
            task.task_id = hit.task_id
    for task in pending:
        scored = [(fuzz.ratio(task.content, e.content), e) for e in free]
        best = max(scored, key=lambda s: s[0], default=None)
        if best is not None and best[0] >= threshold:
            free.remove(best[1])
            task.task_id = best[1].task_id
    numbers = [int(tid.split("-")[1]) for tid in by_id if tid.startswith(f"{year}-")]
    next_no = max(numbers, default=0) + 1
    for task in tasks:
        if not task.task_id:
            task.task_id = f"{year}-{next_no:03d}"
            next_no += 1
            changes["added"].append(task.task_id)
    changes["removed"] = [e.task_id for e in free]
    return changes


def classify_changes(
    tasks: list[Task], existing: list[Existing], changes: dict[str, list[str]]
) -> None:
    """Sort the kept tasks into changed / unchanged by comparing every field."""
    by_id = {e.task_id: e for e in existing}
    for task in tasks:
        old = by_id.get(task.task_id)
        if old is None or task.task_id in changes["added"]:
            continue
        same = old.active and (
            old.content == task.content
            and old.goal == task.goal
            and list(old.leaders) == task.leaders
            and list(old.lead_units) == task.lead_units
            and list(old.responsible_units) == task.responsible_units
            and old.deadline == task.deadline
        )
        changes["unchanged" if same else "changed"].append(task.task_id)


@dataclass
class ImportResult:
    year: int
    tasks: int
    changes: dict[str, list[str]]
    metrics: int
    confirmed: int
    milestones: int
    related_pending: list[str]
    needs_review: list[str]

    def to_dict(self) -> dict:
        return {
            "year": self.year,
            "tasks": self.tasks,
            "added": self.changes["added"],
            "changed": self.changes["changed"],
            "removed": self.changes["removed"],
            "unchanged": len(self.changes["unchanged"]),
            "metrics": self.metrics,
            "confirmed_metrics": self.confirmed,
            "milestone_tasks": self.milestones,
            "related_pending": self.related_pending,
            "needs_review": self.needs_review,
        }


def _existing(con: duckdb.DuckDBPyConnection, year: int) -> list[Existing]:
    rows = con.sql(sql("targets/known_tasks"), params={"year": year}).fetchall()
    return [
        Existing(r[0], r[1], r[2], tuple(r[3]), tuple(r[4]), tuple(r[5]), r[6], r[7]) for r in rows
    ]


def import_tasks(
    con: duckdb.DuckDBPyConnection,
    tasks: list[Task],
    *,
    year: int,
    source: Path,
    register: UnitRegister,
    related: dict[str, list[str]],
    threshold: float = 80,
) -> ImportResult:
    """Write the resolved table into the register, in one transaction."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    with transaction(con):
        existing = _existing(con, year)
        changes = match_tasks(tasks, existing, year, threshold)
        apply_related(tasks, related, register)
        classify_changes(tasks, existing, changes)
        row = con.sql("SELECT nextval('import_id_seq')").fetchall()[0]
        assert row is not None
        import_id = int(row[0])
        con.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                import_id,
                year,
                source.name,
                digest,
                datetime.now(),
                len(changes["added"]),
                len(changes["changed"]),
                len(changes["removed"]),
                len(changes["unchanged"]),
            ],
        )
        _sync_units(con, register)
        touched = set(changes["added"]) | set(changes["changed"])
        for task in tasks:
            con.execute(
                sql("targets/upsert_task"),
                [
                    task.task_id,
                    year,
                    task.seq,
                    task.goal,
                    task.content,
                    task.leaders,
                    task.lead_units,
                    task.responsible_units,
                    task.responsible_text,
                    task.related_pending,
                    task.hash,
                    import_id,
                    task.deadline,
                ],
            )
            if task.task_id in touched:
                change = "added" if task.task_id in changes["added"] else "changed"
                con.execute(
                    "INSERT INTO task_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        task.task_id,
                        import_id,
                        change,
                        task.goal,
                        task.content,
                        task.leaders,
                        task.lead_units,
                        task.responsible_units,
                        task.deadline,
                    ],
                )
        for task_id in changes["removed"]:
            con.execute(sql("targets/record_removed_task"), [import_id, task_id])
            con.execute("UPDATE tasks SET active = false, seq = NULL WHERE task_id = ?", [task_id])
        # Proposals for tasks nobody has reviewed yet; reviewed metrics are never overwritten.
        unreviewed = con.sql(
            "SELECT task_id, content FROM tasks WHERE year = $year AND active AND reviewed_hash IS NULL",
            params={"year": year},
        ).fetchall()
        for task_id, content in unreviewed:
            con.execute("DELETE FROM metrics WHERE task_id = ?", [task_id])
            for position, metric in enumerate(extract_metrics(content), start=1):
                con.execute(
                    "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, false)",
                    [
                        task_id,
                        position,
                        metric.label,
                        metric.value,
                        metric.unit,
                        metric.kind,
                        metric.bound,
                    ],
                )
        summary = con.sql(sql("targets/register_counts"), params={"year": year}).fetchall()[0]
        assert summary is not None
    return ImportResult(
        year=year,
        tasks=int(summary[0]),
        changes=changes,
        metrics=int(summary[1]),
        confirmed=int(summary[2]),
        milestones=int(summary[3]),
        related_pending=list(summary[4]),
        needs_review=list(summary[5]),
    )


def _sync_units(con: duckdb.DuckDBPyConnection, register: UnitRegister) -> None:
    con.execute("DELETE FROM units")
    con.executemany(
        "INSERT INTO units VALUES (?, ?, ?)",
        [[u.name, u.kind, list(u.aliases)] for u in register.units],
    )
