"""Who reports what, per unit: each unit's tasks and metrics for a year, with its role (lead or
responsible) and its own allocation, read once from the assignments view (which evaluation and
notices read too) and shared by templates and ingest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ducha.db import sql
from ducha.periods import Period

if TYPE_CHECKING:  # worker processes that check files read UnitTasks without DuckDB
    import duckdb


@dataclass
class MetricLine:
    position: int  # 0 = a task with no metric (milestone)
    label: str | None
    target: float | None
    measure: str | None
    kind: str | None
    allocation: float | None
    previous: float | None = None
    bound: str | None = None


@dataclass
class TaskLines:
    task_id: str
    seq: int
    goal: str
    content: str
    lead_units: list[str]
    role: str
    metrics: list[MetricLine] = field(default_factory=list)
    n_responsible: int = 0  # responsible units of the task (an equal share divides by it)

    def own_target(self, metric: MetricLine, unit_share: str) -> float | None:
        """本单位分解目标: the figure this unit is judged against on the metric where it is not
        the annual target (a responsible unit's allocation or equal share on a cumulative
        metric; ducha.evaluation.shares), else None: the template and the portal print it."""
        from ducha.evaluation.shares import unit_target

        if self.role != "responsible" or metric.kind != "cumulative":
            return None  # the annual target, printed as 年度目标
        return unit_target(metric.kind, metric.target, metric.allocation, self.role,
                           self.n_responsible, unit_share)  # fmt: skip


def unit_tasks(
    con: duckdb.DuckDBPyConnection, period: Period, units: Collection[str] | None = None
) -> UnitTasks:
    """Every reporting unit's tasks and metrics for the period's year, in table order; with
    `units`, only theirs (what a few files of known units need: the portal's uploads)."""
    params = {"year": period.year}
    chosen = None if units is None else sorted(units)
    assignments = con.sql(
        sql("submissions/assigned_metrics"), params=params | {"units": chosen}
    ).to_arrow_table()
    lines = con.sql(sql("submissions/task_lines"), params=params).to_arrow_table()
    previous: dict[tuple[str, str, int], float] = {}
    before = period.previous()
    if before is not None:
        for unit, task_id, position, value in con.sql(
            sql("submissions/period_figures"), params={"period": str(before)}
        ).fetchall():
            previous[(unit, task_id, position)] = value
    return UnitTasks(assignments, lines, previous)


class UnitTasks(Mapping[str, list[TaskLines]]):
    """unit -> its TaskLines, built per unit on first use from two Arrow tables: who reports
    what (submissions/assigned_metrics: unit, role, task, metric, allocation; ordered by unit)
    and the tasks' texts and targets (submissions/task_lines, once per task). Units with the same
    role and figures in a task share its TaskLines, and units with the same tasks share the
    list (a thousand towns responsible for the same tasks hold one copy): read them, never
    change them."""

    def __init__(
        self, assignments: pa.Table, lines: pa.Table, previous: dict[tuple[str, str, int], float]
    ) -> None:
        self._assignments = assignments
        self._lines = lines
        self._previous = previous
        self._rows: dict[str, tuple[int, int]] = {}  # unit -> (first row, row count)
        runs = pc.run_end_encode(assignments.column("unit").combine_chunks())
        start = 0
        for unit, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            self._rows[unit] = (start, end - start)
            start = end
        # What differs between units, as Python lists.
        self._roles, self._task_ids, self._positions, self._allocations = (
            assignments.column(name).to_pylist()
            for name in ("role", "task_id", "position", "allocation")
        )
        self._texts: dict[str, list[dict[str, Any]]] = {}  # task id -> its lines, one per metric
        for line in lines.to_pylist():
            self._texts.setdefault(line["task_id"], []).append(line)
        self._built: dict[str, list[TaskLines]] = {}
        self._shared: dict[tuple[Any, ...], TaskLines] = {}
        self._lists: dict[tuple[int, ...], list[TaskLines]] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled small (for worker processes): roles and task ids dictionary-encoded, the
        tasks' texts once, nothing built yet."""
        table = self._assignments
        for name in ("role", "task_id"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table.column(i).dictionary_encode())
        return (_unpickled_unit_tasks, (table, self._lines, self._previous))

    def __getitem__(self, unit: str) -> list[TaskLines]:
        tasks = self._built.get(unit)
        if tasks is None:
            tasks = self._built[unit] = self._build(unit, *self._rows[unit])
        return tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _build(self, unit: str, start: int, count: int) -> list[TaskLines]:
        end = start + count
        roles, task_ids = self._roles[start:end], self._task_ids[start:end]
        positions, allocations = self._positions[start:end], self._allocations[start:end]
        previous = [
            self._previous.get((unit, t, p)) for t, p in zip(task_ids, positions, strict=True)
        ]
        tasks: list[TaskLines] = []
        first = 0
        while first < count:  # a task's rows (one per metric) follow each other
            stop = first + 1
            while stop < count and task_ids[stop] == task_ids[first]:
                stop += 1
            key = (
                task_ids[first], roles[first], tuple(allocations[first:stop]),
                tuple(previous[first:stop]),
            )  # fmt: skip
            task = self._shared.get(key)
            if task is None:
                task = self._shared[key] = _task_lines(
                    self._texts[task_ids[first]], roles[first], allocations[first:stop],
                    previous[first:stop],
                )  # fmt: skip
            tasks.append(task)
            first = stop
        return self._lists.setdefault(tuple(map(id, tasks)), tasks)


def _unpickled_unit_tasks(
    assignments: pa.Table, lines: pa.Table, previous: dict[tuple[str, str, int], float]
) -> UnitTasks:
    """Roles and task ids decoded back to plain strings on arrival: reading a dictionary-encoded
    column into Python is ten times slower, and a worker reads every row once."""
    for i, column in enumerate(assignments.schema):
        if pa.types.is_dictionary(column.type):
            plain = pc.cast(assignments.column(i), column.type.value_type)
            assignments = assignments.set_column(i, column.name, plain)
    return UnitTasks(assignments, lines, previous)


def _task_lines(
    lines: list[dict[str, Any]], role: str, allocations: list[float | None],
    previous: list[float | None],
) -> TaskLines:  # fmt: skip
    """One task's TaskLines: its lines (one per metric) with the unit's role, allocations and
    last month's figures."""
    head = lines[0]
    task = TaskLines(
        head["task_id"], head["seq"], head["goal"], head["content"], list(head["lead_units"]),
        role, n_responsible=head.get("n_responsible") or 0,
    )  # fmt: skip
    for line, allocation, before in zip(lines, allocations, previous, strict=True):
        task.metrics.append(
            MetricLine(
                line["position"], line["label"], line["target"], line["measure"], line["kind"],
                allocation, before, line.get("bound"),
            )
        )  # fmt: skip
    return task
