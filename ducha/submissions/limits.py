"""What a received spreadsheet may hold, and how its problems are named: the limits checked
before and while a file is read, the error that rejects a file, and cell references (D12)."""

from __future__ import annotations

MAX_FILE_BYTES = 20 * 1024 * 1024

MAX_UNZIPPED_BYTES = 100 * 1024 * 1024

MAX_SHEETS = 30

MAX_ROWS = 5_000

MAX_COLUMNS = 200

SUFFIXES = (".xlsx", ".xls", ".csv")

# Characters kept of one narrative cell (进展情况, 存在问题, 下步打算): a long paragraph; more is
# cut, with a warning on the receipt (two cells of 30,000 characters once made one 专报 of 529
# messages).
MAX_NARRATIVE_CHARS = 2_000


class FileRejected(Exception):
    """The whole file is unreadable or over a limit; the message is for the sender."""

    def __init__(self, message: str, sheet: str | None = None, cell: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sheet = sheet
        self.cell = cell


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def cell_ref(row: int, col: int) -> str:
    """0-based row and column to an A1 reference."""
    return f"{column_letter(col)}{row + 1}"
