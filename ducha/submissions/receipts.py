"""Receipts (回执) for received files, rendered from templates/receipt.txt.j2."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import jinja2

from ducha.periods import Period
from ducha.presentation import OUTCOMES
from ducha.templating import bytecode_cache
from ducha.workspace import TEMPLATES_DIR

if TYPE_CHECKING:
    from ducha.submissions.results import FileResult


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        bytecode_cache=bytecode_cache(),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render_receipt(result: FileResult) -> str:
    period_zh = Period.parse(result.period).zh if result.period else ""
    return (
        _environment()
        .get_template("receipt.txt.j2")
        .render(
            unit=result.unit,
            period_zh=period_zh,
            file=result.path.name,
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
