"""Receipts (回执) for received files, rendered from templates/receipt.txt.j2."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import jinja2

from flows.periods import Period
from flows.templating import bytecode_cache
from flows.workspace import TEMPLATES_DIR

if TYPE_CHECKING:
    from flows.ingest import FileResult

OUTCOMES = {
    "accepted": "已接收",
    "superseded": "已接收，替代本单位本月此前报送的文件（以本次为准）",
    "duplicate": "已收到，与此前报送并已接收的文件完全相同，未重复入库",
    "rejected": "未接收",
}
# The same outcomes in a count ("已接收 48、重复 2"): short, and never ambiguous.
OUTCOMES_SHORT = {
    "accepted": "已接收", "superseded": "已接收并替代此前文件", "duplicate": "重复（未重复入库）",
    "rejected": "未接收",
}  # fmt: skip


def outcome_counts(counts: dict[str, int]) -> str:
    """{"accepted": 48, "rejected": 1} → "已接收 48、未接收 1"; nothing → "无新文件"."""
    parts = [f"{OUTCOMES_SHORT[k]} {counts[k]}" for k in OUTCOMES_SHORT if counts.get(k)]
    return "、".join(parts) or "无新文件"


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
