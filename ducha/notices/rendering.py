"""A notice's text for a channel's format: plain text and Markdown from one template, HTML
(autoescaped) from another (templates/notices/).
"""

from __future__ import annotations

import jinja2

from ducha.notices.planning import Notice
from ducha.templating import environment


def _environment() -> jinja2.Environment:
    return environment("notices", trim=True)


def render(notice: Notice, body_format: str) -> str:
    """The body of a notice in text, markdown or html (html is autoescaped)."""
    suffix = "html" if body_format == "html" else "txt"
    template = _environment().get_template(f"{notice.kind}.{suffix}.j2")
    return template.render(**notice.context, recipient=notice.recipient, cc=notice.cc,
                           md=body_format == "markdown").strip() + "\n"  # fmt: skip
