"""Write the sample decomposition table as .docx and .xlsx next to the text form."""

from pathlib import Path

from demo.samples import write_docx, write_xlsx
from ducha.targets.tables import read_table

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"

if __name__ == "__main__":
    rows = read_table(SAMPLES / "wujin-2026-target-decomposition-table.txt").rows
    for path in (
        write_docx(rows, SAMPLES / "wujin-2026-target-decomposition-table.docx"),
        write_xlsx(rows, SAMPLES / "wujin-2026-target-decomposition-table.xlsx"),
    ):
        print(path.relative_to(SAMPLES.parents[1]))
