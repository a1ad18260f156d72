"""Chinese working days: statutory holidays and make-up working days.

chinesecalendar knows 2004-2026; later years are added by hand in
config/calendar.yaml once the State Council publishes them. For a year known to
neither, working days fall back to Monday-Friday with a warning, so a scheduled
run never crashes on 1 January.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import chinese_calendar
from pydantic import AfterValidator, Field, model_validator
from pydantic.dataclasses import dataclass as section

from ducha.clock import DEFAULT_TIMEZONE, zone
from ducha.errors import UserError
from ducha.sections import FILE_SECTION, Flag, Int

log = logging.getLogger("ducha.workdays")


@section(frozen=True, config=FILE_SECTION)
class CalendarYear:
    """One year of config/calendar.yaml."""

    holidays: list[dt.date] = Field(default_factory=list, description="放假的日期")
    workdays: list[dt.date] = Field(default_factory=list, description="调休上班的日期")


@dataclass
class WorkCalendar:
    holidays: set[dt.date] = field(default_factory=set)
    workdays: set[dt.date] = field(default_factory=set)
    configured_years: set[int] = field(default_factory=set)
    warn: Callable[[str], None] = log.warning
    _warned: set[int] = field(default_factory=set)

    @classmethod
    def from_years(
        cls, years: dict[int, CalendarYear] | None = None, warn: Callable[[str], None] | None = None
    ) -> WorkCalendar:
        """chinesecalendar with the years of config/calendar.yaml: their dates win."""
        calendar = cls(warn=warn or log.warning)
        for year, spec in (years or {}).items():
            calendar.holidays.update(spec.holidays)
            calendar.workdays.update(spec.workdays)
            calendar.configured_years.add(int(year))
        return calendar

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year in self.configured_years:
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                self.warn(
                    f"{day.year} 年的法定节假日尚未收录（chinesecalendar 与 config/calendar.yaml 均无），"
                    "暂按周一至周五计算工作日；请在 config/calendar.yaml 中补充该年放假安排"
                )
            return day.weekday() < 5

    def nth_workday(self, year: int, month: int, n: int) -> dt.date:
        """The n-th working day (1-based) of a month."""
        if n < 1:
            raise ValueError("n starts at 1")
        day = dt.date(year, month, 1)
        count = 0
        while day.month == month:
            if self.is_workday(day):
                count += 1
                if count == n:
                    return day
            day += dt.timedelta(days=1)
        raise UserError(f"{year}年{month}月没有第 {n} 个工作日")

    def workday_number(self, day: dt.date) -> int | None:
        """Which working day of its month `day` is (None on a day off)."""
        if not self.is_workday(day):
            return None
        first = day.replace(day=1)
        return sum(self.is_workday(first + dt.timedelta(days=i)) for i in range(day.day))


def month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


STEPS = ("templates", "reminder", "deadline", "evaluate")


def _timezone(value: str) -> str:
    try:
        zone(value)
    except UserError:
        raise ValueError(f"“{value}”不是有效的时区名，应如 Asia/Shanghai") from None
    return value


def _workday(default: int, what: str) -> Any:
    return Field(
        default, ge=1, le=15, description=what, json_schema_extra={"should": "1 到 15 之间的整数"}
    )


@section(frozen=True, config=FILE_SECTION)
class Schedule:
    """schedule.yaml: when each monthly step is due, as the n-th working day of the month after
    the period. After the deadline, a unit still missing is reminded on every following working
    day of that month (overdue_reminders)."""

    templates_workday: Int = _workday(1, "次月第几个工作日发出本月进展表模板")
    reminder_workday: Int = _workday(3, "次月第几个工作日催报未报送的单位")
    deadline_workday: Int = _workday(
        5, "次月第几个工作日为报送截止日（当日 24 时前收到为按时），当天再催报一次"
    )
    evaluate_workday: Int = _workday(6, "次月第几个工作日研判、生成通报、发送催办督办专报和通报")
    overdue_reminders: Flag = Field(
        True, description="截止日后每个工作日向仍未报送的单位发逾期催报"
    )
    link_grace_days: Int = Field(
        10, ge=0, le=60, json_schema_extra={"should": "0 到 60 之间的整数"},
        description="填报链接在报送期次月月底后还能使用的天数（迟报的单位仍可通过链接报送）",
    )  # fmt: skip
    timezone: Annotated[str, AfterValidator(_timezone)] = Field(
        DEFAULT_TIMEZONE, description="时区：截止日、收到时间都按这个时区计，与服务器本身的时区无关"
    )

    @model_validator(mode="after")
    def _in_order(self) -> Schedule:
        days = [(f"{s}_workday", getattr(self, f"{s}_workday")) for s in STEPS]
        for (a, x), (b, y) in zip(days, days[1:], strict=False):
            if x > y:
                raise ValueError(f"{a}（第 {x} 个工作日）不能晚于 {b}（第 {y} 个工作日）")
        if days[-1][1] == days[-2][1]:
            raise ValueError(
                "evaluate_workday 应在 deadline_workday 之后（截止日当天的报表还要收）"
            )
        return self

    def due(self, day: dt.date, calendar: WorkCalendar) -> list[str]:
        """The steps due on `day` for the period reported in its month: templates, reminder,
        deadline, overdue (a working day after the deadline) and evaluate."""
        n = calendar.workday_number(day)
        if n is None:
            return []
        due = [step for step in STEPS if getattr(self, f"{step}_workday") == n]
        if self.overdue_reminders and n > self.deadline_workday:
            due.insert(due.index("evaluate") if "evaluate" in due else len(due), "overdue")
        return due

    def day(self, step: str, year: int, month: int, calendar: WorkCalendar) -> dt.date:
        """The date of `step` for the reporting period year-month."""
        n = getattr(self, f"{step}_workday")
        return calendar.nth_workday(*month_after(year, month), n)

    def deadline(self, year: int, month: int, calendar: WorkCalendar) -> dt.date:
        return self.day("deadline", year, month, calendar)

    def links_expire(self, year: int, month: int) -> dt.date:
        """The last day a unit's link for the period works: the end of the month after the
        period (its collection window) plus the grace."""
        following = month_after(year, month)
        last = dt.date(*following, 1) + dt.timedelta(days=32)
        return last.replace(day=1) - dt.timedelta(days=1) + dt.timedelta(days=self.link_grace_days)
