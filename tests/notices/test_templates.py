"""Every notice kind rendered from the sample data, compared with golden files reviewed by hand.

To accept a deliberate change of wording: UPDATE_GOLDEN=1 pytest tests/notices/test_templates.py,
then read the diff of tests/notices/golden/ before committing it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest

from ducha.config import load_config
from ducha.notices.planning import plan_notices
from ducha.notices.rendering import render
from ducha.periods import Period
from ducha.vocabulary import KINDS
from tests.helpers import ROOT, Workspace

SUFFIX = {"text": "txt", "markdown": "md", "html": "html"}
GOLDEN = Path(__file__).parent / "golden" / "notices"
# one recipient per kind: a unit that did not report, a receipt, a lead unit, a leader, a town
CASES = {
    "invite": "湖塘镇",
    "reminder": "嘉泽镇",
    "overdue": "嘉泽镇",
    "receipt": "湟里镇",
    "chase": "工信局",
    "supervise": "发改局",
    "brief": "孙益锋",
    "bulletin": "湖塘镇",
}


@pytest.fixture(scope="module")
def plan(_sample_months_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every notice of March: on the deadline (8 April), and 逾期催报 two working days after."""
    root = tmp_path_factory.mktemp("golden")
    ws = Workspace(root, ROOT / "config", root / "ducha.duckdb")
    ws.db.write_bytes(_sample_months_db.read_bytes())
    ws.ok("evaluate", "--period", "2026-03")
    cfg = load_config(ROOT / "config")
    con = duckdb.connect(str(ws.db), read_only=True)
    try:
        plans = [
            plan_notices(
                con, Period(2026, 3), workspace="武进区", channels=cfg.channels, calendar=cfg.calendar(), schedule=cfg.schedule,
                as_of=as_of, kinds=kinds, links=_link,
            )
            for as_of, kinds in ((dt.date(2026, 4, 8), KINDS), (dt.date(2026, 4, 10), ("overdue",)),
                                 (dt.date(2026, 4, 1), ("invite",)))
        ]  # fmt: skip
    finally:
        con.close()
    for later in plans[1:]:
        plans[0].notices += later.notices
    return plans[0]


def _link(unit: str) -> str | None:
    """A unit's portal link as the notices print it (a leader reports nothing: no link)."""
    return None if unit == "孙益锋" else f"https://ducha.example.gov.cn/u/{len(unit)}abc.def"


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize("kind", list(CASES))
def test_notice_matches_golden(plan, kind: str, fmt: str) -> None:
    notice = next(n for n in plan.notices if n.kind == kind and n.recipient == CASES[kind])
    text = f"{notice.title}\n\n{render(notice, fmt)}"
    path = GOLDEN / f"{kind}.{SUFFIX[fmt]}"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{path.name} differs: review and UPDATE_GOLDEN=1"
    )


def test_html_notices_escape_unit_text(plan) -> None:
    import copy

    notice = copy.deepcopy(next(n for n in plan.notices if n.kind == "chase"))
    notice.context["tasks"][0]["issues"] = [("湖塘镇", "<script>alert(1)</script>")]
    notice.context["tasks"][0]["content"] = "<b>加粗</b>"
    html = render(notice, "html")
    assert "<b>加粗</b>" not in html and "&lt;b&gt;加粗&lt;/b&gt;" in html
    text = render(notice, "text")
    assert "<b>加粗</b>" in text  # plain text is not HTML: nothing to escape


def test_compiled_templates_are_kept_between_processes(tmp_path: Path) -> None:
    """Every flow run is a new process: the compiled notice, receipt and briefing templates
    are kept in the bytecode cache ($DUCHA_TEMPLATE_CACHE here), and a second process renders
    the same from them."""
    import subprocess
    import sys

    cache_dir = tmp_path / "cache"
    code = (
        "from ducha.notices import rendering as notices\nfrom ducha.submissions import receipts\nfrom ducha.reporting import html as report\n"
        "print(notices._environment().get_template('chase.txt.j2').render.__name__)\n"
        "print(receipts._environment().get_template('receipt.txt.j2').filename)\n"
        "print(report._environment().get_template('briefing.html.j2').filename)\n"
    )
    env = {**os.environ, "DUCHA_TEMPLATE_CACHE": str(cache_dir)}

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout  # fmt: skip

    first = run()
    kept = sorted(p.name for p in cache_dir.iterdir())
    assert len(kept) >= 3  # chase (and its macros), receipt, briefing
    mtimes = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    assert run() == first
    again = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    assert again == mtimes  # read, not rewritten


def test_a_bulletin_tells_its_recipient_about_itself_first(plan) -> None:
    """Bulletins put the recipient's own part first: a unit its report, score, rank and the
    lagging tasks it is named on or leads; a leader the lagging tasks in their charge."""
    bulletins = {n.recipient: n for n in plan.notices if n.kind == "bulletin"}
    town = render(bulletins["湖塘镇"], "text")
    assert town.index("一、本单位情况") < town.index("二、全区情况")
    own = town[town.index("一、本单位情况") : town.index("二、全区情况")]
    context = bulletins["湖塘镇"].context
    named = [t["task_id"] for t, _ in context["own"]["tasks"]]
    assert named and all(task_id in own for task_id in named)
    assert "2026-047" in own and "在镇、开发区、街道中列第" in own
    leader = next(r for r, n in bulletins.items() if n.context["own"]["unit"] is None)
    text = render(bulletins[leader], "text")
    mine = text[text.index("一、分管任务情况") : text.index("二、全区情况")]
    for t, why in bulletins[leader].context["own"]["tasks"]:
        assert why == "分管" and leader in t["leaders"] and t["task_id"] in mine
