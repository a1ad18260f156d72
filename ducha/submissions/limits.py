"""What a received spreadsheet may hold, and how its problems are named: the limits checked
before and while a file is read, the error that rejects a file, cell references (D12), and the
marks of the cells calamine reads as empty (formulas without a saved result, error cells)."""

from __future__ import annotations

from dataclasses import dataclass, field

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


MAX_CELL_TEXT_BYTES = 32_767 * 3  # Excel's limit, 32 767 characters a cell, in UTF-8 at most
MAX_TEXT_BYTES = (
    30 * 1024 * 1024
)  # all the text a file's cells show, shared strings counted as shown
TOO_MUCH_TEXT = (
    "文件中单元格文字的总量异常大（同一段长文字被大量单元格引用），未处理；请检查文件后重新报送"
)


@dataclass
class SheetMarks:
    """What calamine does not say about a worksheet's cells, from its XML (A1 refs)."""

    formulas: dict[str, bool] = field(default_factory=dict)  # formula cell -> has a cached value
    errors: dict[str, str] = field(default_factory=dict)  # error cell -> "#DIV/0!", "#N/A" …
