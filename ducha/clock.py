"""The time ducha goes by: the wall clock in the workspace's timezone (config/schedule.yaml).

Times are kept naive in that timezone (a deadline is "当日 24 时" there), whatever timezone
the server itself runs in. `now` is the one place the clock is read, so that a simulated
month can set it.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ducha.errors import UserError

DEFAULT_TIMEZONE = "Asia/Shanghai"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(f"时区“{name}”无效，应为如 Asia/Shanghai 的 IANA 时区名") from exc


def now(timezone: str = DEFAULT_TIMEZONE) -> dt.datetime:
    """The local time in `timezone`, naive."""
    return dt.datetime.now(zone(timezone)).replace(tzinfo=None)


def today(timezone: str = DEFAULT_TIMEZONE) -> dt.date:
    return now(timezone).date()


def local(timestamp: float, timezone: str = DEFAULT_TIMEZONE) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, zone(timezone)).replace(tzinfo=None)


def arrived(status: os.stat_result, timezone: str = DEFAULT_TIMEZONE) -> dt.datetime:
    """When a file came into its folder: the system sets its status-change time (ctime) when the
    file is written, copied, moved or unpacked there, and no sender can set it (unlike the
    modification time, which `touch -d`, zip and rsync carry from the sender). Never later than
    now; a file changed after it arrived reads as arriving then, never earlier."""
    return min(local(status.st_ctime, timezone), now(timezone))
