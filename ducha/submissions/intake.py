"""Take received files in: read the bytes, keep them in the archive, parse them into cells.

Each file is archived unchanged under its SHA-256 before it is parsed. A file that cannot
be read or parsed comes back with the reason; only a failure to archive (disk full, no
permission) stops the batch, as it must: no submission is stored without its file. Large
batches are checked by worker processes (ducha.submissions.parallel; python-calamine holds the GIL, so
threads would not help); `worker_count` decides how many.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Container
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ducha.submissions.limits import FileRejected
from ducha.submissions.spreadsheet import Workbook, read_workbook

# Worker processes pay off from about this many files (they take ~0.5 s to start); below,
# everything runs in the calling process. DUCHA_INGEST_WORKERS overrides the number of
# workers (0 or 1: none).
PARALLEL_FROM = 150
_STARTED = time.time()


@dataclass
class Received:
    """One file as read: its hash and archived copy, and its cells or why there are none.

    `book is None and problem is None` means the bytes were already accepted before (a
    duplicate), so they were not parsed."""

    path: Path
    sha256: str = ""
    received_at: datetime | None = None
    archive_path: str = ""
    book: Workbook | None = None
    problem: FileRejected | None = None


def archive_target(archive_dir: Path, sha: str, suffix: str) -> Path:
    return archive_dir / sha[:2] / f"{sha}{suffix.lower()}"


def archive_file(data: bytes, sha: str, suffix: str, archive_dir: Path) -> Path:
    """Keep the bytes unchanged under their SHA-256, written to a `.part` file and renamed
    (a crash leaves no half file under the final name). A `.part` of the same file left by
    a process killed before its rename is removed once the copy is in place."""
    target = archive_target(archive_dir, sha, suffix)
    if target.exists():
        return target
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for name in os.listdir(target.parent):
        if name.startswith(f"{target.name}.") and name.endswith(".part"):
            part = target.parent / name
            with suppress(OSError):  # gone already
                if part.stat().st_mtime < _STARTED:  # written before this process began: stale
                    part.unlink()
    return target


def receive(path: Path, archive_dir: Path, known: Container[str] = frozenset()) -> Received:
    """Read, hash, archive and parse one file; `known`: hashes accepted before (not parsed)."""
    try:
        data = path.read_bytes()
        received_at = datetime.fromtimestamp(path.stat().st_mtime)
    except OSError as exc:
        return Received(path, problem=FileRejected(f"无法读取文件：{exc.strerror or exc}"))
    sha = hashlib.sha256(data).hexdigest()
    kept = archive_file(data, sha, path.suffix or ".bin", archive_dir)
    found = Received(path, sha, received_at, str(kept))
    if sha in known:
        return found
    try:
        found.book = read_workbook(path.name, data)
    except FileRejected as exc:
        found.problem = exc
    return found


def worker_count(files: int) -> int:
    """How many worker processes read a batch of this many files (0: none)."""
    from ducha.environment import current  # here: worker processes import no pydantic

    configured = current().ingest_workers  # DUCHA_INGEST_WORKERS
    if configured is not None:
        return configured
    if files < PARALLEL_FROM:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # this process checks files too whenever it is not storing (ducha.submissions.parallel._check_in_workers)
    return min((cpus or 1) - 1, 4)
