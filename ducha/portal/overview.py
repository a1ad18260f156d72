"""What the dashboard shows, read from the database by the clerk (the web server never opens it):
plain functions of a connection, each returning plain data that crosses the clerk's pipe.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import duckdb

from ducha.db import sql
from ducha.errors import UserError
from ducha.periods import Period
from ducha.reporting.briefing import load_briefing

REPORTING = ("unit", "kind", "tasks", "opened_at", "received_at", "rows", "files", "refused",
             "evidence")  # fmt: skip


def _rows(con: duckdb.DuckDBPyConnection, name: str, columns: tuple[str, ...], **params: Any) -> list[dict[str, Any]]:  # fmt: skip
    return [
        dict(zip(columns, r, strict=True)) for r in con.sql(sql(name), params=params).fetchall()
    ]


def periods(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The evaluated periods, newest first."""
    return [p for (p,) in con.sql(sql("dashboard/evaluated_periods")).fetchall()]


def month(con: duckdb.DuckDBPyConnection, period: Period) -> dict[str, Any]:
    """The month at a glance: every reporting unit's standing (reported, opened but not
    reported, missing), and the period's judgement where it was evaluated (None: not yet)."""
    units = _rows(con, "dashboard/unit_reporting", REPORTING, period=str(period), year=period.year)
    for u in units:
        u["state"] = "reported" if u["received_at"] else "opened" if u["opened_at"] else "missing"
    try:
        briefing: dict[str, Any] | None = asdict(load_briefing(con, period, ""))
    except UserError:  # not evaluated yet: the reports as they come in
        briefing = None
    pending = sum(r["status"] == "pending" for r in requests(con, period))
    return {"period": str(period), "periods": periods(con), "units": units, "briefing": briefing,
            "pending": pending}  # fmt: skip


def task(con: duckdb.DuckDBPyConnection, period: Period, task_id: str) -> dict[str, Any] | None:
    """One task in the period: its register entry, the units' figures and statements, the
    evidence attached, and its metrics month by month over the year (None: no such task)."""
    found = con.sql(
        sql("dashboard/task_entry"), params={"task_id": task_id, "year": period.year}
    ).fetchall()
    if not found:
        return None
    names = ("task_id", "seq", "goal", "content", "leaders", "lead_units", "responsible_text")
    p = {"period": str(period), "task_id": task_id}
    judged = con.sql(sql("dashboard/task_judgement"), params=p).fetchall()
    return {
        **dict(zip(names, found[0], strict=True)),
        "period": str(period),
        "judged": dict(
            zip(("status", "streak", "lagging_units", "missing_units"), judged[0], strict=True)
        )
        if judged
        else None,  # fmt: skip
        "figures": _rows(
            con,
            "dashboard/task_unit_figures",
            ("unit", "position", "role", "target", "actual", "expected", "carried", "status"),
            **p,
        ),  # fmt: skip
        "statements": _rows(
            con,
            "dashboard/task_statements",
            ("unit", "status", "progress", "issues", "next_steps"),
            **p,
        ),  # fmt: skip
        "evidence": _rows(
            con,
            "dashboard/task_evidence",
            ("evidence_id", "unit", "file_name", "bytes", "received_at"),
            **p,
        ),  # fmt: skip
        "history": _rows(
            con,
            "dashboard/task_history",
            ("period", "position", "label", "measure", "target", "actual", "expected", "status"),
            task_id=task_id,
            first=str(Period(period.year, 1)),
            period=str(period),
        ),  # fmt: skip
    }


def unit(con: duckdb.DuckDBPyConnection, period: Period, name: str) -> dict[str, Any] | None:
    """One unit over the year up to the period: every file it sent and what became of it, and
    its record month by month (on time, late, missing; share on track; rank)."""
    found = con.sql(sql("dashboard/unit_kind"), params={"name": name}).fetchall()
    if not found:
        return None
    span = {"unit": name, "first": str(Period(period.year, 1)), "period": str(period)}
    return {
        "unit": name, "kind": found[0][0], "period": str(period),
        "submissions": _rows(con, "dashboard/unit_submissions", ("submission_id", "period",
                             "file_name", "status", "superseded", "received_at", "rows", "errors",
                             "warnings", "receipt"), **span),
        "record": _rows(con, "dashboard/unit_record", ("period", "submission", "received_at",
                        "judged", "on_track", "on_track_share", "rank"), **span),
    }  # fmt: skip


def notices(con: duckdb.DuckDBPyConnection, period: Period) -> list[dict[str, Any]]:
    """The period's notices in the ledger (outbox): sent, waiting and failed."""
    kinds = [k for (k,) in con.sql(sql("dashboard/notice_kinds")).fetchall()]
    return _rows(con, "notices/outbox_listing", ("kind", "recipient", "channel", "title", "status",
                 "file_path", "last_error"), p=str(period), kinds=kinds)  # fmt: skip


def account(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any] | None:
    """A dashboard account (with its password hash: for the web server's check only)."""
    found = con.sql(sql("dashboard/user_account"), params={"name": name}).fetchall()
    if not found:
        return None
    return dict(zip(("role", "leader", "password_hash", "disabled"), found[0], strict=True))


REQUEST = ("request_id", "unit", "period", "task_id", "content", "kind", "new_date", "reason",
           "evidence", "requested_at", "status", "decided_at", "decided_by", "decision_reason")  # fmt: skip


def requests(con: duckdb.DuckDBPyConnection, period: Period) -> list[dict[str, Any]]:
    """The year's requests from units, pending first."""
    return _rows(con, "dashboard/year_requests", REQUEST, first=str(Period(period.year, 1)),
                 last=str(Period(period.year, 12)))  # fmt: skip


def decide(
    con: duckdb.DuckDBPyConnection, request_id: int, approve: bool, reason: str, by: str,
    at: datetime,
) -> dict[str, Any] | None:  # fmt: skip
    """A pending request approved or rejected (None: no such request pending: decided already)."""
    found = con.execute(sql("dashboard/decide_request"), {
        "request_id": request_id, "status": "approved" if approve else "rejected",
        "decided_at": at, "decided_by": by, "decision_reason": reason,
    }).fetchall()  # fmt: skip
    names = ("request_id", "unit", "task_id", "kind", "new_date", "status")
    return dict(zip(names, found[0], strict=True)) if found else None


def evidence_file(con: duckdb.DuckDBPyConnection, evidence_id: int) -> tuple[str, str] | None:
    """(file name, archived path) of one piece of evidence (None: no such evidence)."""
    found = con.sql(sql("dashboard/evidence_file"), params={"evidence_id": evidence_id}).fetchall()
    return (found[0][0], found[0][1]) if found else None
