"""The jinja2 environment of every text ducha writes from templates/ (notices, receipts, the
briefing): one set of settings, filters and words, autoescaped for HTML, compiled templates
kept between runs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2


@cache
def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs: every flow run is a new process, and compiling
    the notice and briefing templates costs about 0.1 s each time. The directory is
    $DUCHA_TEMPLATE_CACHE, else jinja2's own per-user directory under the system temp
    directory (created private, refused if another user owns it). Entries are keyed by the
    template's path and checked against its source, so an edited template is compiled
    again. None (no cache) when no such directory can be used."""
    from ducha.environment import current

    configured = current().template_cache  # DUCHA_TEMPLATE_CACHE
    try:
        if configured:
            Path(configured).mkdir(parents=True, exist_ok=True)
            return jinja2.FileSystemBytecodeCache(configured)
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


@cache
def environment(folder: str = "", *, trim: bool = False) -> jinja2.Environment:
    """Templates of templates/<folder>. HTML templates (.html, .html.j2) are autoescaped, text
    and Markdown are not (their user text is neutralised before rendering). `trim`: block tags
    leave no blank line behind (the notices are written that way)."""
    from ducha.presentation import number
    from ducha.reporting.charts import COLORS
    from ducha.vocabulary import METRIC_KIND_ZH, STATUS_ZH, SUBMISSION_ZH
    from ducha.workspace import TEMPLATES_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / folder),
        bytecode_cache=bytecode_cache(),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=trim,
        lstrip_blocks=trim,
    )
    env.filters.update(
        num=number,
        pct=lambda v: "—" if v is None else f"{v:.0%}",
        date=lambda d: f"{d.year}年{d.month}月{d.day}日",
    )
    env.globals.update(
        STATUS_ZH=STATUS_ZH,
        SUBMISSION_ZH=SUBMISSION_ZH,
        METRIC_KIND_ZH=METRIC_KIND_ZH,
        COLORS=COLORS,
    )
    return env
