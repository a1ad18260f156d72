"""The files to take in, in the order they arrived, and the inbox emptied once their batch is
committed (data/received/, data/rejected/).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from ducha.errors import UserError
from ducha.neutral import readable_name, terminal
from ducha.submissions.limits import SUFFIXES
from ducha.submissions.results import FileResult


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files to ingest from files and folders, in the order they arrived (then by name).

    A folder is walked without following links: a link inside it (to a file or a folder
    elsewhere, say the office's secrets) is never opened. A link named like a spreadsheet is
    listed like a file, so that it is refused with a receipt (intake.read_untrusted) and
    moved out of the inbox (the link, not what it points at); a link to a folder is skipped.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for folder, dirs, names in os.walk(path, followlinks=False):
                dirs.sort()
                found += [
                    Path(folder, name) for name in sorted(names)
                    if Path(name).suffix.lower() in SUFFIXES and not name.startswith(("~$", "."))
                ]  # fmt: skip
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            raise UserError(f"找不到文件或目录 {terminal(readable_name(str(path)))}")
    # absolute, not resolved: a link stays the link (resolving it would read, and later move,
    # the file it points at)
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))

    def arrival(p: Path) -> tuple[float, float, str]:
        st = p.lstat()
        return st.st_ctime, st.st_mtime, str(p)

    return sorted(unique, key=arrival)


RECEIVED_DIR = "received"  # data/received/YYYY-MM-DD/: files taken in (accepted or duplicate)
REJECTED_DIR = "rejected"  # data/rejected/YYYY-MM-DD/: files refused, kept for the office


def plan_take_out(batch: list[FileResult], inbox: Path, day: date) -> None:
    """Where each of the batch's files under `inbox` will go once the batch is committed: beside
    the inbox, under received/ or rejected/ and the day, keeping its folders and name (a name
    taken already gets （2）, （3）…). Decided before the batch is stored, so that a rejected
    file's receipt can say where the file is kept."""
    root = Path(os.path.abspath(inbox))
    taken: set[Path] = set()
    for result in batch:
        try:
            inside = result.path.relative_to(root)
        except ValueError:  # named on the command line from elsewhere: the sender's own copy
            continue
        folder = REJECTED_DIR if not result.ok else RECEIVED_DIR
        target = root.parent / folder / day.isoformat() / inside
        n = 1
        while target in taken or target.exists():
            n += 1
            target = target.with_name(f"{Path(inside.name).stem}（{n}）{inside.suffix}")
        taken.add(target)
        result.moved_to = target
        result.kept_as = readable_name(target.relative_to(root.parent).as_posix())


def take_out(batch: list[FileResult], inbox: Path) -> None:
    """Move the batch's files out of the inbox, as planned: they are archived and their
    outcome is committed, so a later run neither reads them again nor answers a rejected
    draft every day. A move that fails leaves the file where it is (the next run finds it a
    duplicate, or a rejection already answered) and the run goes on."""
    root = Path(os.path.abspath(inbox))
    for result in batch:
        if result.moved_to is None:
            continue
        try:
            result.moved_to.parent.mkdir(parents=True, exist_ok=True)
            os.replace(result.path, result.moved_to)
        except OSError:
            result.moved_to, result.kept_as = None, ""
            continue
        folder = result.path.parent
        while folder != root and folder.is_relative_to(root):  # folders left empty
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
