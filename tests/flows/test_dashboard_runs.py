"""A supervisor starts a run of a Prefect deployment from the dashboard (real Chromium, a real
`ducha portal`, a real Prefect server and worker): the run is created through Prefect's API with
the deployment's parameters, the page shows its state until the worker has finished it, with a
link to the Prefect UI, and the month's evaluation is in the workspace's database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PrefectServer, Workspace
from tests.portal.servers import PortalServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.xdist_group("prefect"),
    pytest.mark.skipif(CHROMIUM is None, reason="the Debian chromium package is not installed"),
]
NAME, PASSWORD = "督查员", "correct-horse-battery"


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_a_supervisor_starts_a_step_and_sees_it_finish(
    browser: object, prefect_server: PrefectServer, _sample_months_db: Path
) -> None:
    from playwright.sync_api import expect

    server = prefect_server
    root = server.workspace("board")
    shutil.copy(_sample_months_db, root / "data" / "ducha.duckdb")
    ws = Workspace(root, root / "config", root / "data" / "ducha.duckdb")
    ws.ok("users", "add", NAME, "--role", "supervisor", stdin=PASSWORD + "\n")
    assert not ws.state()["eval_runs"]
    if not server.workers:
        server.start_worker("worker-a")
    portal = PortalServer(root, env=server.env).start()
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(portal.base + "/")
        page.fill("#name", NAME)
        page.fill("#password", PASSWORD)
        page.click("form.login button")
        page.click("text=运行流程")
        page.select_option("#which", "step")
        page.select_option("#step", "研判")
        page.fill("#run-period", "2026-03")
        page.click("text=开始运行")
        page.wait_for_load_state()
        row = page.locator("table tr").nth(1)
        assert "研判" in row.inner_text() and "2026-03" in row.inner_text()
        link = row.locator("a").get_attribute("href")
        assert link.startswith(
            server.env["PREFECT_API_URL"].removesuffix("/api") + "/runs/flow-run/"
        )
        run_id = link.rsplit("/", 1)[1]
        run = server.api("GET", f"/flow_runs/{run_id}")
        assert run["parameters"] == {"period": "2026-03", "workspace": "t-board", "step": "研判"}
        assert "账号:" + NAME in run["tags"]
        # the page reloads itself every 5 s while a run is not finished
        expect(page.locator("table tr").nth(1)).to_contain_text("已完成", timeout=240_000)
        assert server.api("GET", f"/flow_runs/{run_id}")["state"]["type"] == "COMPLETED"
    finally:
        portal.stop()
    assert "2026-03" in [r[0] for r in ws.state()["eval_runs"]]  # evaluated by the worker
