"""Receipts (回执) for received files, rendered from templates/receipt.txt.j2."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2

from ducha.periods import Period
from ducha.presentation import OUTCOMES
from ducha.templating import environment

if TYPE_CHECKING:
    from ducha.submissions.results import FileResult


def _environment() -> jinja2.Environment:
    return environment("")


def render_receipt(result: FileResult) -> str:
    period_zh = Period.parse(result.period).zh if result.period else ""
    return (
        _environment()
        .get_template("receipt.txt.j2")
        .render(
            unit=result.unit,
            period_zh=period_zh,
            file=result.name,
            received=result.received_at.strftime("%Y-%m-%d %H:%M"),
            status=result.status,
            outcome=OUTCOMES[result.status],
            rows=result.rows,
            errors=[p.line() for p in result.problems if p.severity == "error"],
            warnings=[p.line() for p in result.problems if p.severity == "warning"],
            kept_as=result.kept_as if result.status == "rejected" else "",
        )
        .strip()
        + "\n"
    )
