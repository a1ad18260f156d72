"""A notice's text for a channel's format: plain text and Markdown from one template, HTML (autoescaped) from another (templates/notices/)."""

from __future__ import annotations

from functools import cache

import jinja2

from ducha.notices.planning import Notice
from ducha.reporting.briefing import STATUS_ZH, SUBMISSION_ZH, number
from ducha.templating import bytecode_cache
from ducha.vocabulary import KIND_ZH
from ducha.workspace import TEMPLATES_DIR


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "notices"),
        bytecode_cache=bytecode_cache(),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["date"] = lambda d: f"{d.year}年{d.month}月{d.day}日"
    env.globals.update(STATUS_ZH=STATUS_ZH, SUBMISSION_ZH=SUBMISSION_ZH, KIND_ZH=KIND_ZH)
    return env


def render(notice: Notice, body_format: str) -> str:
    """The body of a notice in text, markdown or html (html is autoescaped)."""
    suffix = "html" if body_format == "html" else "txt"
    template = _environment().get_template(f"{notice.kind}.{suffix}.j2")
    return template.render(**notice.context, recipient=notice.recipient, cc=notice.cc,
                           md=body_format == "markdown").strip() + "\n"  # fmt: skip
