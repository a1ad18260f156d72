"""The portal's operations: the units' links for a period, and serving the portal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ducha.config import Config
from ducha.errors import UserError
from ducha.periods import Period

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def reporting_units(cfg: Config, period: Period) -> list[str]:
    """The units that report for the period (leads and responsible units of its tasks)."""
    from ducha.db import opened

    with opened(cfg.workspace.db_path, read_only=True) as con:
        rows = con.sql(
            "SELECT DISTINCT unit FROM assignments WHERE year = $year ORDER BY unit",
            params={"year": period.year},
        ).fetchall()
    return [r[0] for r in rows]


def unit_links(
    cfg: Config, period: Period, units: Sequence[str], base_url: str | None, *, revoke: bool = False
) -> list[dict[str, Any]]:
    """Each reporting unit's link for the period, in the register's order of names."""
    from ducha.portal.app import link_expiry
    from ducha.portal.links import Links, signing_key

    known = reporting_units(cfg, period)
    if not known:
        raise UserError(f"{period.zh}没有需要报送的单位：数据库中没有 {period.year} 年的目标任务")
    wanted = []
    for name in units:
        unit = cfg.units.resolve_unit(name)
        if unit is None:
            raise UserError(f"单位“{name}”不在单位名册中")
        if unit not in known:
            raise UserError(f"{unit}在 {period.zh}没有需要报送的任务")
        wanted.append(unit)
    if revoke and not wanted:
        raise UserError("--revoke 须与 --unit 一起使用，指明作废哪些单位的链接")
    data_dir = cfg.workspace.data_dir
    links = Links(signing_key(data_dir), cfg.code, data_dir)
    for unit in wanted if revoke else []:
        links.revoke(unit)
    base = portal_base(cfg, base_url)
    expires = link_expiry(cfg, period)
    return [
        {"unit": unit, "url": f"{base}/u/{links.token(unit, period, expires)}"}
        for unit in (wanted or known)
    ]


def portal_base(cfg: Config, given: str | None = None) -> str:
    """Where units reach the portal: the option, else workspace.yaml's base_url, else this host."""
    return (given or cfg.settings.base_url or DEFAULT_BASE_URL).rstrip("/")


def notice_links(cfg: Config, con: Any, period: Period) -> Callable[[str], str | None]:
    """unit → its link for the period, for the notices (None for a recipient that reports
    nothing). The link expires with the collection window, so a notice rendered again the next
    day is the same notice (its idempotency key holds its text)."""
    from datetime import datetime

    from ducha import clock
    from ducha.portal.links import Links, signing_key

    units = {r[0] for r in con.sql(
        "SELECT DISTINCT unit FROM assignments WHERE year = $year", params={"year": period.year}
    ).fetchall()}  # fmt: skip
    data_dir = cfg.workspace.data_dir
    links = Links(signing_key(data_dir), cfg.code, data_dir)
    last = cfg.schedule.links_expire(period.year, period.month)
    expires = datetime.combine(last, datetime.max.time()).replace(
        tzinfo=clock.zone(cfg.schedule.timezone)
    )
    base = portal_base(cfg)
    return lambda unit: f"{base}/u/{links.token(unit, period, expires)}" if unit in units else None


class _NoTokens(logging.Filter):
    """Access log lines without the links' tokens (a token is the unit's credential)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            path = str(record.args[2])
            if path.startswith("/u/"):
                record.args = (*record.args[:2], "/u/…", *record.args[3:])
        return True


def serve(
    cfg: Config, *, host: str, port: int, base_url: str | None, access_log: bool = False
) -> None:
    """Serve the portal with uvicorn until stopped (Ctrl-C). `access_log`: a line per request
    (about a sixth of the web process's CPU on deadline day; portal_events records every view,
    download, upload and refusal, and the reverse proxy keeps its own log)."""
    import uvicorn

    from ducha.db import require_database
    from ducha.portal.app import create_app

    require_database(cfg.workspace.db_path)
    logging.getLogger("uvicorn.access").addFilter(_NoTokens())
    app = create_app(cfg, base_url="")
    print(
        f"填报门户：{(base_url or f'http://{host}:{port}').rstrip('/')}/（Ctrl-C 停止）", flush=True
    )
    uvicorn.run(  # (with httptools and uvloop, dependencies of ducha: about 3 % less CPU)
        app, host=host, port=port, log_level="info", proxy_headers=True, server_header=False,
        access_log=access_log,
    )  # fmt: skip
