"""A checked batch written in one transaction: accepted files with their figures, rejected files
with their receipts only; duplicate and superseded decided against the database.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ducha import clock
from ducha.db import sql, transaction

if TYPE_CHECKING:  # the worker processes that check files import neither (0.4 s of their start)
    import duckdb
    import polars as pl
from ducha.submissions.results import FileResult


def store_batch(con: duckdb.DuckDBPyConnection, batch: list[FileResult]) -> None:
    """Write a checked batch in one transaction: accepted files with their figures, rejected
    files with their receipts only. Decides duplicate / superseded against the database."""
    from ducha.submissions.receipts import render_receipt

    if not batch:
        return
    shas = sorted({r.sha256 for r in batch if r.sha256})
    known: dict[str, str] = {}
    if shas:
        for sha, status in con.execute(sql("submissions/known_hashes"), {"shas": shas}).fetchall():
            known[sha] = status
    with transaction(con):
        latest = {
            (u, p): sid for sid, u, p in con.execute(sql("submissions/latest_ids")).fetchall()
        }
        seen: dict[str, str] = {}
        stored: list[FileResult] = []  # the results that get a submission row, in order
        for result in batch:
            earlier = known.get(result.sha256) or seen.get(result.sha256)
            if result.status == "duplicate" or (result.ok and earlier == "accepted"):
                result.status = "duplicate"
            elif not result.ok:
                result.status = "rejected"
                if earlier != "rejected" and result.sha256:  # else its receipt is on file
                    seen[result.sha256] = "rejected"
                    stored.append(result)
            else:
                result.status = "accepted"
                seen[result.sha256] = "accepted"
                stored.append(result)
        ids = _next_ids(con, len(stored))
        replaced: list[int | None] = []
        replacements: list[list[int]] = []  # [new, old]: applied once both rows exist
        for submission_id, result in zip(ids, stored, strict=True):
            earlier_id = None
            if result.ok:
                key = (result.unit, result.period)
                earlier_id = latest.get(key)
                latest[key] = submission_id
                if earlier_id is not None:
                    result.status = "superseded"
                    replacements.append([submission_id, earlier_id])
            replaced.append(earlier_id)
        for result in batch:
            result.receipt = render_receipt(result)
        if stored:
            _insert(con, "submissions", _submission_table(ids, stored, replaced))
            problems = _problem_table(ids, stored)
            if problems.height:
                _insert(con, "submission_problems", problems)
        if replacements:
            con.executemany(
                "UPDATE submissions SET superseded_by = ? WHERE submission_id = ?", replacements
            )
        accepted = [(i, r) for i, r in zip(ids, stored, strict=True) if r.ok]
        metrics = _metric_table(accepted)
        if metrics.height:
            _insert(con, "progress_metrics", metrics)
        tasks = _task_table(accepted)
        if tasks.height:
            _insert(con, "progress_tasks", tasks)


def _insert(con: duckdb.DuckDBPyConnection, name: str, rows: pl.DataFrame) -> None:
    batch_rows = rows  # noqa: F841 - read by name in the statement
    con.execute(f"INSERT INTO {name} SELECT * FROM batch_rows")


def _next_ids(con: duckdb.DuckDBPyConnection, count: int) -> list[int]:
    """`count` new submission ids, in one query."""
    if not count:
        return []
    return sorted(
        int(i)
        for (i,) in con.execute(
            "SELECT nextval('submission_id_seq') FROM range($n)", {"n": count}
        ).fetchall()
    )


# Column types of the rows written (polars builds the columns from Python lists without
# importing pandas, which pyarrow's pa.array does on first use: 0.3 s of a small run).
# Column name -> "S" text, "I" integer, "F" number, "T" timestamp.
_SUBMISSION_SCHEMA = {
    "submission_id": "I", "sha256": "S", "file_name": "S", "archive_path": "S", "unit": "S",
    "period": "S", "status": "S", "supersedes": "I", "superseded_by": "I", "received_at": "T",
    "ingested_at": "T", "rows": "I", "reporter": "S", "receipt": "S",
}  # fmt: skip
_PROBLEM_SCHEMA = {
    "submission_id": "I", "seq": "I", "sheet": "S", "cell": "S", "severity": "S", "message": "S",
}  # fmt: skip
_METRIC_SCHEMA = {
    "submission_id": "I", "unit": "S", "period": "S", "task_id": "S", "position": "I",
    "month_value": "F", "cumulative_value": "F", "sheet": "S", "row_no": "I",
    "match_method": "S", "match_score": "F",
}  # fmt: skip
_TASK_SCHEMA = {
    "submission_id": "I", "unit": "S", "period": "S", "task_id": "S", "status": "S",
    "progress": "S", "issues": "S", "next_steps": "S",
}  # fmt: skip


def _submission_table(
    ids: list[int], stored: list[FileResult], replaced: list[int | None]
) -> pl.DataFrame:
    now = clock.now()
    columns = {
        "submission_id": ids,
        "sha256": [r.sha256 for r in stored],
        "file_name": [r.name for r in stored],
        "archive_path": [r.archive_path for r in stored],
        "unit": [r.unit for r in stored],
        "period": [r.period for r in stored],
        "status": ["accepted" if r.ok else "rejected" for r in stored],
        "supersedes": replaced,
        "superseded_by": [None] * len(ids),
        "received_at": [r.received_at for r in stored],
        "ingested_at": [now] * len(ids),
        "rows": [r.rows if r.ok else 0 for r in stored],
        "reporter": [r.reporter for r in stored],
        "receipt": [r.receipt for r in stored],
    }
    return _table(_SUBMISSION_SCHEMA, [], columns)


def _problem_table(ids: list[int], stored: list[FileResult]) -> pl.DataFrame:
    owners = [(i, r.problems) for i, r in zip(ids, stored, strict=True)]
    columns = {
        "submission_id": [i for i, problems in owners for _ in problems],
        "seq": [seq for _, problems in owners for seq in range(1, len(problems) + 1)],
    }
    return _table(_PROBLEM_SCHEMA, [p for _, problems in owners for p in problems], columns)


def _metric_table(accepted: list[tuple[int, FileResult]]) -> pl.DataFrame:
    return _table(_METRIC_SCHEMA, *_owned(accepted, lambda r: r.metrics))


def _task_table(accepted: list[tuple[int, FileResult]]) -> pl.DataFrame:
    return _table(_TASK_SCHEMA, *_owned(accepted, lambda r: r.tasks))


def _owned(
    accepted: list[tuple[int, FileResult]], items_of: Callable[[FileResult], list[Any]]
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The items of every accepted file, and their submission id, unit and period columns."""
    items: list[Any] = []
    columns: dict[str, list[Any]] = {"submission_id": [], "unit": [], "period": []}
    for submission_id, result in accepted:
        found = items_of(result)
        items += found
        columns["submission_id"] += [submission_id] * len(found)
        columns["unit"] += [result.unit] * len(found)
        columns["period"] += [result.period] * len(found)
    return items, columns


def _table(schema: dict[str, str], items: list[Any], columns: dict[str, list[Any]]) -> pl.DataFrame:
    """Rows in the schema's column order: each column from `columns`, else the attribute of
    that name of each of `items`."""
    import polars as pl

    types = {"S": pl.String, "I": pl.Int32, "F": pl.Float64, "T": pl.Datetime("us")}
    return pl.DataFrame(
        {
            name: columns[name] if name in columns else list(map(attrgetter(name), items))
            for name in schema
        },
        schema={name: types[kind] for name, kind in schema.items()},
    )
