"""Working days on real dates: the 2026 Spring Festival and National Day, make-up days, 2027 fallback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ducha.config import CALENDAR, load_config, read_section
from ducha.operations import due_today, reporting_period
from ducha.workdays import WorkCalendar
from ducha.workspace import Workspace
from tests.helpers import ROOT

D = dt.date


@pytest.fixture
def calendar() -> WorkCalendar:
    return load_config(ROOT / "config").calendar()


def test_spring_festival_2026(calendar: WorkCalendar) -> None:
    # 2026 春节：2月15日至23日放假；2月14日（周六）、2月28日（周六）上班
    assert calendar.is_workday(D(2026, 2, 14)) and calendar.is_workday(D(2026, 2, 28))
    assert not any(calendar.is_workday(D(2026, 2, d)) for d in range(15, 24))
    assert calendar.is_workday(D(2026, 2, 24))
    assert calendar.workday_number(D(2026, 2, 14)) == 11
    assert calendar.workday_number(D(2026, 2, 16)) is None
    assert calendar.workday_number(D(2026, 2, 24)) == 12
    schedule = load_config(ROOT / "config").schedule
    # period 2026-01 is reported in February: before the holiday
    assert schedule.day("templates", 2026, 1, calendar) == D(2026, 2, 2)
    assert schedule.deadline(2026, 1, calendar) == D(2026, 2, 6)
    assert schedule.day("evaluate", 2026, 1, calendar) == D(2026, 2, 9)


def test_national_day_2026_with_make_up_saturday(calendar: WorkCalendar) -> None:
    # 国庆、中秋：10月1日至7日放假；9月20日（周日）、10月10日（周六）上班
    assert calendar.is_workday(D(2026, 9, 20)) and calendar.is_workday(D(2026, 10, 10))
    assert not any(calendar.is_workday(D(2026, 10, d)) for d in range(1, 8))
    schedule = load_config(ROOT / "config").schedule
    assert schedule.day("templates", 2026, 9, calendar) == D(2026, 10, 8)
    assert schedule.day("reminder", 2026, 9, calendar) == D(2026, 10, 10)  # the make-up Saturday
    assert schedule.deadline(2026, 9, calendar) == D(2026, 10, 13)
    assert schedule.day("evaluate", 2026, 9, calendar) == D(2026, 10, 14)


@pytest.mark.parametrize(
    ("today", "period", "due"),
    [
        (D(2026, 10, 8), "2026-09", ["templates"]),
        (D(2026, 10, 10), "2026-09", ["reminder"]),
        (D(2026, 10, 13), "2026-09", ["deadline"]),
        (D(2026, 10, 14), "2026-09", ["overdue", "evaluate"]),  # units still missing: 逾期催报
        (D(2026, 10, 15), "2026-09", ["overdue"]),  # every working day after the deadline
        (D(2026, 10, 31), "2026-09", []),  # a Saturday: nothing
        (D(2026, 11, 2), "2026-10", ["templates"]),  # a new month: its first working day
        (D(2026, 10, 3), "2026-09", []),  # holiday: nothing due
        (D(2026, 10, 11), "2026-09", []),  # an ordinary Sunday
        (D(2026, 4, 8), "2026-03", ["deadline"]),  # after 清明 (4-6 April)
    ],
)
def test_due_today(today: dt.date, period: str, due: list[str]) -> None:
    got_period, got_due = due_today(load_config(Workspace.from_dir(ROOT)), today)
    assert (str(got_period), got_due) == (period, due)


def test_reporting_period_wraps_at_new_year() -> None:
    assert str(reporting_period(D(2027, 1, 5))) == "2026-12"
    assert str(reporting_period(D(2026, 3, 2))) == "2026-02"


def test_unknown_year_warns_and_falls_back_to_weekdays(tmp_path: Path) -> None:
    warnings: list[str] = []
    calendar = load_config(ROOT / "config").calendar(warnings.append)
    assert calendar.nth_workday(2027, 1, 1) == D(2027, 1, 1)  # a Friday: Monday-Friday fallback
    assert not calendar.is_workday(D(2027, 1, 2))
    assert len(warnings) == 1 and "2027" in warnings[0] and "calendar.yaml" in warnings[0]
    # the December period's deadline falls in 2027: a scheduled run must not crash
    assert load_config(ROOT / "config").schedule.deadline(2026, 12, calendar) == D(2027, 1, 7)


def test_a_new_year_added_by_hand(tmp_path: Path) -> None:
    (tmp_path / "calendar.yaml").write_text(
        "2027:\n  holidays: [2027-01-01]\n  workdays: [2027-02-06]\n", encoding="utf-8"
    )
    warnings: list[str] = []
    calendar = WorkCalendar.from_years(
        read_section(tmp_path / "calendar.yaml", CALENDAR), warnings.append
    )
    assert calendar.nth_workday(2027, 1, 1) == D(2027, 1, 4)
    assert calendar.is_workday(D(2027, 2, 6))  # a make-up Saturday
    assert warnings == []


def test_bad_calendar_file(tmp_path: Path) -> None:
    from ducha.errors import UserError

    (tmp_path / "calendar.yaml").write_text("2027:\n  holidays: [明年元旦]\n", encoding="utf-8")
    with pytest.raises(UserError, match="明年元旦"):
        read_section(tmp_path / "calendar.yaml", CALENDAR)
