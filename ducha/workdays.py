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
from pathlib import Path

import chinese_calendar

from ducha.clock import DEFAULT_TIMEZONE, zone
from ducha.errors import UserError
from ducha.workspace import read_yaml

log = logging.getLogger("ducha.workdays")


@dataclass
class WorkCalendar:
    holidays: set[dt.date] = field(default_factory=set)
    workdays: set[dt.date] = field(default_factory=set)
    configured_years: set[int] = field(default_factory=set)
    warn: Callable[[str], None] = log.warning
    _warned: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, config_dir: Path, warn: Callable[[str], None] | None = None) -> WorkCalendar:
        path = config_dir / "calendar.yaml"
        calendar = cls(warn=warn or log.warning)
        if not path.exists():
            return calendar
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise UserError(f"{path}：应为“年份: {{holidays: [...], workdays: [...]}}”")
        for year, spec in data.items():
            if not isinstance(spec, dict):
                raise UserError(f"{path}：{year} 年应写 holidays 和 workdays 两个日期列表")
            for key, target in (("holidays", calendar.holidays), ("workdays", calendar.workdays)):
                for value in spec.get(key) or []:
                    if not isinstance(value, dt.date):
                        raise UserError(
                            f"{path}：{year} 年 {key} 中的“{value}”不是日期（应写 2027-01-01）"
                        )
                    target.add(value)
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


@dataclass(frozen=True)
class Schedule:
    """When each monthly step is due: the n-th working day of the month after the period.
    After the deadline, a unit still missing is reminded on every following working day of
    that month (overdue_reminders)."""

    templates_workday: int = 1
    reminder_workday: int = 3
    deadline_workday: int = 5
    evaluate_workday: int = 6
    overdue_reminders: bool = True
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def load(cls, config_dir: Path) -> Schedule:
        path = config_dir / "schedule.yaml"
        if not path.exists():
            return cls()
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise UserError(f"{path}：应为键值表")
        values: dict[str, object] = {}
        for step in STEPS:
            key = f"{step}_workday"
            if key in data:
                n = data[key]
                if not isinstance(n, int) or not 1 <= n <= 15:
                    raise UserError(f"{path}：{key} 应为 1 到 15 之间的整数")
                values[key] = n
        if "overdue_reminders" in data:
            if not isinstance(data["overdue_reminders"], bool):
                raise UserError(f"{path}：overdue_reminders 应为 true 或 false")
            values["overdue_reminders"] = data["overdue_reminders"]
        if "timezone" in data:
            try:
                zone(str(data["timezone"]))
            except UserError as exc:
                raise UserError(f"{path}：timezone {exc.message}") from None
            values["timezone"] = str(data["timezone"])
        return cls(**values)  # type: ignore[arg-type]

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
