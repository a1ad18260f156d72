"""The jinja2 environment of every text ducha writes from templates/ (notices, receipts, the
briefing): one set of settings, filters and words, compiled templates kept between runs.

Every value a template prints is made safe for what it is printed into (ducha.neutral), the
way autoescaping does it for HTML: in HTML it is escaped, and no control character or web
address of a unit's text survives; in a Markdown notice (a template rendered with md=True) no
character Markdown gives a meaning to; in plain text no control character or web address.
What the office writes itself passes untouched: the template's own text, Markup (the
briefing's charts, an HTML macro's output) and what a template marks with `| keep` (a text
macro's output)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ducha.neutral import Trusted, markdown, plain, quote

# What the compiled code of a template depends on besides its source: the settings below
# (finalize, trim, autoescape) and jinja2's version. jinja2 keys cached code by the template's
# path and source only, so a change here must give the cache files another name (code compiled
# without _neutral would print users' text as it is).
_COMPILED_WITH = "neutral-1"


@cache
def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs: every flow run is a new process, and compiling
    the notice and briefing templates costs about 0.1 s each time. The directory is
    $DUCHA_TEMPLATE_CACHE, else jinja2's own per-user directory under the system temp
    directory (created private, refused if another user owns it). Entries are keyed by the
    template's path and checked against its source, and named after the settings and jinja2
    version they were compiled with (_COMPILED_WITH), so an edited template, or a ducha that
    compiles differently, compiles again. None (no cache) when no such directory can be used."""
    from ducha.environment import current

    configured = current().template_cache  # DUCHA_TEMPLATE_CACHE
    pattern = f"__ducha_{_COMPILED_WITH}_jinja2_{jinja2.__version__}_%s.cache"
    try:
        if configured:
            Path(configured).mkdir(parents=True, exist_ok=True)
            return jinja2.FileSystemBytecodeCache(configured, pattern)
        return jinja2.FileSystemBytecodeCache(pattern=pattern)
    except (OSError, RuntimeError):
        return None


@cache
def environment(folder: str = "", *, trim: bool = False) -> jinja2.Environment:
    """Templates of templates/<folder>. HTML templates (.html, .html.j2) are autoescaped;
    every value printed is neutralised for its format (_neutral). `trim`: block tags leave no
    blank line behind (the notices are written that way)."""
    from ducha.presentation import number
    from ducha.reporting.charts import COLORS
    from ducha.vocabulary import (
        METRIC_KIND_ZH,
        REQUEST_KIND_ZH,
        REQUEST_STATUS_ZH,
        STATUS_ZH,
        SUBMISSION_ZH,
    )
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
        finalize=_neutral,
    )
    env.filters.update(
        keep=Trusted,
        quote=quote,
        num=number,
        pct=lambda v: "—" if v is None else f"{v:.0%}",
        date=lambda d: f"{d.year}年{d.month}月{d.day}日",
        moment=lambda t: "—" if t is None else f"{t.month}月{t.day}日 {t:%H:%M}",
    )
    env.globals.update(
        STATUS_ZH=STATUS_ZH,
        SUBMISSION_ZH=SUBMISSION_ZH,
        METRIC_KIND_ZH=METRIC_KIND_ZH,
        COLORS=COLORS,
        REQUEST_KINDS=REQUEST_KIND_ZH,
        REQUEST_STATUSES=REQUEST_STATUS_ZH,
    )
    return env


@jinja2.pass_context
def _neutral(context: jinja2.runtime.Context, value: Any) -> Any:
    """What a template prints, made safe for where it is printed (see the module's doc)."""
    if not isinstance(value, str) or isinstance(value, (Markup, Trusted)):
        return value
    if context.eval_ctx.autoescape:
        return plain(value)  # escaped after, by jinja2
    return markdown(value) if context.get("md") else plain(value)
