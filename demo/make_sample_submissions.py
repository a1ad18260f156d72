"""Generate the sample workspace's submissions for some months and ingest each month.

Usage: python -m demo.make_sample_submissions --db data/demo.duckdb --config config \
           --inbox data/demo-inbox --months 2026-01 2026-02 2026-03

Months are handled in order: templates for a month carry last month's figures, so
each month is generated after the previous one has been ingested. With --leave-last the
last month's files are generated and left in the inbox, for `ducha ingest` to receive.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path

from demo.sample_progress import generate_month
from ducha.config import load_config
from ducha.db import opened
from ducha.periods import Period
from ducha.presentation import outcome_counts
from ducha.submissions.ingest import ingest
from ducha.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", default="config")
    parser.add_argument("--inbox", required=True)
    parser.add_argument("--months", nargs="+", required=True)
    parser.add_argument(
        "--leave-last", action="store_true", help="generate the last month but do not ingest it"
    )
    args = parser.parse_args()
    ws = Workspace.from_options(args.db, args.config)
    cfg = load_config(ws)
    register = cfg.units
    for n, text in enumerate(args.months, 1):
        period = Period.parse(text)
        folder = Path(args.inbox) / str(period)
        with opened(ws.db_path) as con:
            files = generate_month(con, period, folder, workspace=cfg.code)
            # when they arrived: spread over the first working days of the next month
            start = datetime(period.year + period.month // 12, period.month % 12 + 1, 2, 9, 0)
            arrival = {p.resolve(): start + timedelta(minutes=10 * i) for i, p in enumerate(files)}
            if args.leave_last and n == len(args.months):
                print(f"{period.zh}：生成 {len(files)} 个报送文件，留在 {folder} 待接收")
                break
            results = ingest(
                con,
                [folder],
                register=register,
                workspace=cfg.code,
                archive_dir=ws.data_dir / "archive",
                received_at=arrival.__getitem__,
            )
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        print(f"{period.zh}：生成 {len(files)} 个报送文件，{outcome_counts(counts)}")


if __name__ == "__main__":
    main()
