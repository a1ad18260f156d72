"""Take received files in: read the bytes, keep them in the archive, parse them into cells.

Each file is archived unchanged under its SHA-256 before it is parsed. A file that cannot
be read or parsed comes back with the reason; only a failure to archive (disk full, no
permission) stops the batch, as it must: no submission is stored without its file. Large
batches are checked by worker processes (ducha.submissions.parallel; python-calamine holds the GIL, so
threads would not help); `worker_count` decides how many.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable, Container
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ducha.neutral import readable_name
from ducha.submissions.limits import MAX_FILE_BYTES, FileRejected
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


Reader = Callable[[str, bytes], Workbook]  # file name, bytes -> cells (read_workbook, sandboxed)

_NOT_A_FILE = "不是普通文件（{what}），为安全起见未读取；请直接报送表格文件本身"
_CHUNK = 1024 * 1024


def read_untrusted(path: Path) -> tuple[bytes, str, bool]:
    """The bytes of a file found in a folder others write to, their SHA-256, and whether they
    are all of it. A link is never followed, nor anything but a regular file opened (a
    device or a pipe would never end); a file over the size limit is hashed and kept no
    further than the limit (its hash is that of the first MAX_FILE_BYTES and its size, so
    that sending it again is recognised)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a link
            raise FileRejected(_NOT_A_FILE.format(what="是指向其他位置的链接")) from exc
        raise FileRejected(f"无法读取文件：{exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileRejected(_NOT_A_FILE.format(what="是目录、设备或管道"))
        if info.st_size <= MAX_FILE_BYTES:
            data = handle.read(MAX_FILE_BYTES + 1)
            if len(data) <= MAX_FILE_BYTES:  # (a file still being written may have grown)
                return data, hashlib.sha256(data).hexdigest(), True
        digest = hashlib.sha256(f"oversized:{info.st_size}:".encode())
        handle.seek(0)
        left = MAX_FILE_BYTES
        while left > 0 and (chunk := handle.read(min(_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
        return b"", digest.hexdigest(), False


def receive(
    path: Path, archive_dir: Path, known: Container[str] = frozenset(), read: Reader = read_workbook
) -> Received:
    """Read, hash, archive and parse one file; `known`: hashes accepted before (not parsed);
    `read`: how its cells are read (in a sandbox, in the process that stores)."""
    found, data = take_in(path, archive_dir)
    if data is None or found.sha256 in known:
        return found
    try:
        found.book = read(readable_name(path.name), data)
    except FileRejected as exc:
        found.problem = exc
    return found


def take_in(path: Path, archive_dir: Path) -> tuple[Received, bytes | None]:
    """Read, hash and archive one file: what was received, and the bytes to parse (None: a
    file that cannot be read, found.problem says why)."""
    try:
        data, sha, whole = read_untrusted(path)
        received_at = datetime.fromtimestamp(path.lstat().st_mtime)
    except FileRejected as exc:
        return Received(path, problem=exc), None
    except OSError as exc:
        return Received(path, problem=FileRejected(f"无法读取文件：{exc.strerror or exc}")), None
    if not whole:  # never archived: the limit is what ducha keeps of anyone's file
        problem = FileRejected(f"文件大小超过 {MAX_FILE_BYTES // 1024 // 1024} MB 的上限，未读取")
        return Received(path, sha, received_at, problem=problem), None
    kept = archive_file(data, sha, path.suffix or ".bin", archive_dir)
    return Received(path, sha, received_at, str(kept)), data


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
