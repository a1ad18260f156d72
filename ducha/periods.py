"""Reporting periods: a month written YYYY-MM."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ducha.errors import UserError

_PERIOD = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def zh(self) -> str:
        return f"{self.year}年{self.month}月"

    def previous(self) -> Period | None:
        """The month before within the same year (None for January: targets are annual)."""
        return Period(self.year, self.month - 1) if self.month > 1 else None

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(str(text).strip())
        if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
            raise UserError(f"报送期“{text}”格式不正确，应为“年-月”，如 2026-03")
        return cls(int(m.group(1)), int(m.group(2)))
