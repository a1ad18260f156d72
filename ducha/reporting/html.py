"""The briefing as one offline HTML page (jinja2, autoescaped; charts inline as SVG)."""

from __future__ import annotations

import jinja2

from ducha.reporting import charts
from ducha.reporting.briefing import Briefing, Masthead
from ducha.templating import environment


def _environment() -> jinja2.Environment:
    return environment("")


def render_html(b: Briefing, masthead: Masthead | None = None) -> str:
    """The briefing page; with a masthead, as a document to issue (文号, 主送, 落款, date)."""
    figures = {
        "by_goal": charts.stacked_bars("各目标任务推进情况（按目标名称）", b.by("goal")),
        "by_lead": charts.stacked_bars("各牵头单位任务推进情况", b.by("lead_units")),
        "by_leader": charts.stacked_bars("各分管领导联系任务推进情况", b.by("leaders"), 120),
        "trend": charts.trend(f"{b.period.year}年各月任务推进情况", b.trend),
        "ranking": [
            charts.ranking(
                f"{title}排名（序时推进及已完成的考核内容占比）",
                [(u["rank"], u["unit"], u["on_track_share"], u["submission"]) for u in units],
            )
            for title, units in b.ranking_tables()
        ],
    }
    return (
        _environment()
        .get_template("briefing.html.j2")
        .render(b=b, charts=figures, masthead=masthead)
    )
