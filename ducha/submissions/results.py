"""What checking a file produces: its problems (sheet, cell, reason), the figures and narratives it
brings, and its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from ducha.neutral import readable_name
from ducha.periods import Period
from ducha.submissions.limits import cell_ref

ERROR, WARNING = "error", "warning"


@dataclass(slots=True)  # many thousands per run
class Problem:
    sheet: str | None
    cell: str | None
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "cell": self.cell,
            "severity": self.severity,
            "message": self.message,
        }

    def line(self) -> str:
        where = f"{self.sheet}!{self.cell}" if self.sheet and self.cell else (self.sheet or "")
        return f"{where}：{self.message}" if where else self.message


@dataclass(slots=True)  # many thousands per run
class MetricFigure:
    task_id: str
    position: int
    month_value: float | None
    cumulative_value: float | None
    sheet: str
    row_no: int
    match_method: str
    match_score: float


@dataclass(slots=True)  # many thousands per run
class TaskNarrative:
    task_id: str
    status: str | None
    progress: str | None
    issues: str | None
    next_steps: str | None


@dataclass
class FileResult:
    """What happened to one file; `status` is accepted / rejected / duplicate / superseded."""

    path: Path
    sha256: str
    unit: str | None = None
    period: str | None = None
    status: str = "rejected"
    problems: list[Problem] = field(default_factory=list)
    metrics: list[MetricFigure] = field(default_factory=list)
    tasks: list[TaskNarrative] = field(default_factory=list)
    reporter: str | None = None
    received_at: datetime = field(default_factory=datetime.now)  # set by ingest (arrival time)
    archive_path: str = ""
    receipt: str = ""
    moved_to: Path | None = None  # where the file goes when it is taken out of the inbox
    kept_as: str = ""  # the same, relative to the data folder (shown in the receipt)
    # pid of the process that checked it ahead of its turn (None: checked in its turn)
    worker: int | None = None

    @property
    def rows(self) -> int:
        return len(self.metrics) + len(
            {t.task_id for t in self.tasks} - {m.task_id for m in self.metrics}
        )

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    @property
    def name(self) -> str:
        """The file's name as shown and stored (a name that is not UTF-8 decoded as GBK)."""
        return readable_name(self.path.name)

    def add(
        self, severity: str, message: str, sheet: str | None = None, cell: str | None = None
    ) -> None:
        self.problems.append(Problem(sheet, cell, severity, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": readable_name(str(self.path)),
            "unit": self.unit,
            "period": self.period,
            "status": self.status,
            "rows": self.rows if self.status != "rejected" else 0,
            "problems": [p.to_dict() for p in self.problems],
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled compactly: worker processes send back about two hundred figures and
        narratives per file, and plain tuples pickle ten times faster than dataclasses."""
        state = dict(self.__dict__)
        state["metrics"] = list(map(_FIGURE_FIELDS, self.metrics))
        state["tasks"] = list(map(_NARRATIVE_FIELDS, self.tasks))
        return (_unpickled_result, (state,))


_FIGURE_FIELDS = attrgetter(*(f.name for f in fields(MetricFigure)))
_NARRATIVE_FIELDS = attrgetter(*(f.name for f in fields(TaskNarrative)))


def _unpickled_result(state: dict[str, Any]) -> FileResult:
    result = FileResult.__new__(FileResult)
    state["metrics"] = [MetricFigure(*values) for values in state["metrics"]]
    state["tasks"] = [TaskNarrative(*values) for values in state["tasks"]]
    result.__dict__.update(state)
    return result


@dataclass(slots=True)  # one per data row read
class Row:
    """A data row being read: its file's result, where it is (sheet, 0-based row), its cells
    and the sheet's columns (canonical key → column index)."""

    result: FileResult
    sheet: str
    r: int
    cells: list[Any]
    columns: dict[str, int]

    def cell(self, key: str) -> Any:
        """The cell of a canonical column ("" when the sheet has no such column)."""
        c = self.columns.get(key)
        return self.cells[c] if c is not None and c < len(self.cells) else ""

    def problem(self, severity: str, message: str, column: int = 0) -> None:
        """A problem with a cell of this row, on the receipt."""
        self.result.add(severity, message, self.sheet, cell_ref(self.r, column))


@dataclass(frozen=True, slots=True)
class Before:
    """What earlier months said: the period read, and each unit's cumulative figures of the
    month before it (unit, task, metric → figure)."""

    period: Period
    cumulative: dict[tuple[str, str, int], float]
