"""Checkers: sandboxes that a caller keeps between runs (the portal's clerk), each reading and
checking files with a frozen copy of the caller's context: one file at a time while a run's
files are handed out, then, once every file of the run is with a child, the uploads that came
meanwhile, a share per child in one call, checked while the caller stores the run.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ducha.periods import Period
from ducha.sandbox import FILE_SECONDS, Sandbox, allow_cpu_seconds
from ducha.submissions.checking import Context, NeedsMain, check_file
from ducha.submissions.intake import receive, take_in
from ducha.submissions.limits import FileRejected
from ducha.submissions.parallel import _WORKER, Expected, _init_worker, expected
from ducha.submissions.results import FileResult
from ducha.submissions.spreadsheet import read_workbook

AHEAD_FILES = 16  # the most files a child is given in one call ahead of their run


class Checkers:
    """Sandboxes that read and check files with a frozen copy of a context, kept by a caller
    that checks files round after round while it holds the database (the portal's clerk):
    reading and checking are spread over the cores, and the caller only stores. Each child
    is given the caller's context frozen once (again when the caller's context is another,
    loaded again, or files of another month come); what the caller stored since, and a file
    the copy cannot check, are checked again by the caller (checked_in_order), so the
    results are those of one process checking every file in order. A file that ends a child
    (memory, time, a crash) is refused with the sandbox's reason, and a new child, given the
    same copy, takes the next one."""

    def __init__(self, count: int, memory: int) -> None:
        self.sandboxes = [Sandbox(memory=memory) for _ in range(max(1, count))]
        self.context: Context | None = None  # the context the children hold a copy of
        self.archive_dir: Path | None = None  # where the children archive what they take in
        self.periods: frozenset[Period] | None = None  # what the copy can check (None: all)
        # (unit, period) stored since the copy was made: a file of the month after is checked
        # again by the caller (set by ducha.submissions.ingest)
        self.changed: set[tuple[str | None, str | None]] = set()
        # the uploads that came after a run began: (path, unit, period) of each, oldest first
        # (set by the caller; None: none are begun ahead)
        self.upcoming: Callable[[], list[tuple[Path, str | None, Period | None]]] | None = None
        self._ahead: deque[_Call] = deque()  # calls begun for a later run, oldest first

    def start(self) -> None:
        for sandbox in self.sandboxes:
            sandbox.start()

    def close(self) -> None:
        for sandbox in self.sandboxes:
            sandbox.close()  # (a child still checking files begun ahead is killed)
        for call in self._ahead:
            with contextlib.suppress(Exception):  # their answers: none, the children are gone
                call.results()
        self._ahead.clear()
        self.context = None

    def renew(self) -> None:
        """Fresh children, given the copy the ones before them had."""
        self._drain()
        for sandbox in self.sandboxes:
            sandbox.restart()

    def ready(self, ctx: Context, archive_dir: Path, periods: frozenset[Period] | None) -> None:
        """The children hold a copy of `ctx` that checks files of `periods` (None: any): made
        now unless they hold one already (before a round, or ahead of the uploads a unit's
        page view announces)."""
        if self.context is not ctx:
            self._prepare(ctx, archive_dir, periods)
        elif self.periods is not None and (periods is None or not periods <= self.periods):
            # files of another month: a copy for it too (nothing stored since is lost: the
            # copy is made now, and `changed` starts again with it)
            self._prepare(ctx, archive_dir, None if periods is None else self.periods | periods)

    def _prepare(
        self, ctx: Context, archive_dir: Path, periods: frozenset[Period] | None
    ) -> None:  # fmt: skip
        """The children given a copy of `ctx` that checks files of `periods` (None: any), all
        at once: each unpickles it (about 0.1 s) while the others do."""
        self._drain()  # (checked with the copy before)
        frozen = ctx.frozen_copy(periods)
        setup = (_init_worker, frozen, archive_dir, None, None, os.getpid(), ctx.memory)
        with ThreadPoolExecutor(len(self.sandboxes), thread_name_prefix="ducha-prepare") as pool:
            for done in [pool.submit(s.prepare, *setup) for s in self.sandboxes]:
                done.result()
        self.context, self.periods, self.archive_dir = ctx, periods, archive_dir
        self.changed.clear()  # (the caller's run holds this set)

    def checked(
        self, files: list[Path], ctx: Context, archive_dir: Path, unit: Expected[str],
        period: Expected[Period],
    ) -> Iterator[tuple[Path, FileResult | None]]:  # fmt: skip
        """The files checked by the children, in order (None: the caller checks it). Each
        child has one file at a time, or files begun ahead (below); whenever the caller looks
        at a result, one child is free and reads a file checked again there (ctx.read).

        Once every file of the run is with a child, a child that is free takes the uploads
        that have come meanwhile (`upcoming`, set by the caller), a share of them in one call:
        it checks them while the caller stores this run, and the next run takes their results
        (checked like any other with the copy the children hold; a new copy drops them)."""
        wanted = {expected(period, path) for path in files}
        periods = None if None in wanted else frozenset(p for p in wanted if p is not None)
        self.ready(ctx, archive_dir, periods)
        position = {path: k for k, path in enumerate(files)}
        due = {path: (expected(unit, path), expected(period, path)) for path in files}
        calls, self._ahead = self._ahead, deque()  # oldest first; begun by runs before
        ahead = {f[0] for call in calls for f in call.files if due.get(f[0]) == f[1:]}
        queue = [(k, path) for k, path in enumerate(files) if path not in ahead]  # (a heap)
        busy = {id(call.sandbox) for call in calls}
        idle = [s for s in self.sandboxes if id(s) not in busy]
        done: dict[Path, FileResult | None] = {}

        def take() -> None:
            call = calls.popleft()
            idle.append(call.sandbox)
            results = call.results()
            if results is None:  # a child ended on one of them: each checked on its own
                for path, *_ in call.files:
                    if path in position and path not in done:
                        heapq.heappush(queue, (position[path], path))
                return
            for (path, *kept), result in zip(call.files, results, strict=True):
                if due.get(path) == tuple(kept) and path not in done:
                    done[path] = result

        finished = False
        try:
            for path in files:
                while path not in done:
                    if queue and idle:
                        while queue and idle:
                            _, coming = heapq.heappop(queue)
                            calls.append(self._begin(idle.pop(), ctx, archive_dir, [
                                (coming, *due[coming])]))  # fmt: skip
                    elif not (idle and self._begin_ahead(idle, calls)):
                        take()
                ctx.read = idle[-1].reader(read_workbook)
                yield path, done.pop(path)
            while idle and self._begin_ahead(idle, calls):
                pass
            finished = True
        finally:
            self._ahead = calls
            if not finished:  # the caller stopped early: the answers taken, unused
                self._drain()

    def _begin(
        self, sandbox: Sandbox, ctx: Context, archive_dir: Path,
        files: list[tuple[Path, str | None, Period | None]],
    ) -> _Call:  # fmt: skip
        """Files sent to a child to be checked: one on its own, or several in one call."""
        if len(files) == 1:
            answer = _begin_checking(files[0][0], ctx, archive_dir, *files[0][1:], sandbox)
            return _Call(sandbox, files, lambda: [answer()])
        reply = sandbox.begin(_check_paths, files, seconds=len(files) * FILE_SECONDS)

        def results() -> list[FileResult | None] | None:
            try:
                return reply()  # type: ignore[no-any-return]
            except FileRejected:
                return None

        return _Call(sandbox, files, results)

    def _begin_ahead(self, idle: list[Sandbox], calls: deque[_Call]) -> bool:
        """A free child given its share of the uploads that have come since the run began
        (those of months its copy checks, not begun already): False when there are none."""
        if self.upcoming is None or self.context is None:
            return False
        begun = {f[0] for call in calls for f in call.files}
        coming = [
            f for f in self.upcoming() if f[0] not in begun
            and (self.periods is None or f[2] in self.periods)
        ]  # fmt: skip
        if not coming:
            return False
        sharing = len(self.sandboxes) - sum(c.ahead for c in calls)  # (children without theirs)
        share = min(AHEAD_FILES, -(-len(coming) // max(1, sharing)))
        assert self.archive_dir is not None
        call = self._begin(idle.pop(), self.context, self.archive_dir, coming[:share])
        call.ahead = True
        calls.append(call)
        return True

    def _drain(self) -> None:
        """The answers of the calls begun ahead taken, unused (before the children are given
        a new copy or replaced)."""
        calls, self._ahead = self._ahead, deque()
        for call in calls:
            call.results()


@dataclass
class _Call:
    """Files sent to a child in one call, each with the unit and period it must be of; the
    function returned by `results` waits for their results (None: the child ended)."""

    sandbox: Sandbox
    files: list[tuple[Path, str | None, Period | None]]
    results: Callable[[], list[FileResult | None] | None]
    ahead: bool = False  # begun for a later run


def _begin_checking(
    path: Path, ctx: Context, archive_dir: Path, unit: str | None, period: Period | None,
    sandbox: Sandbox,
) -> Callable[[], FileResult | None]:  # fmt: skip
    """The file sent to the sandbox to be taken in, read and checked; the function returned
    waits for the result. A file that ends the child is refused with the sandbox's reason."""
    answer = sandbox.begin(_check_path, path, unit, period)

    def checked() -> FileResult | None:
        try:
            return answer()
        except FileRejected as exc:  # the child ended on it
            found, _ = take_in(path, archive_dir)
            if found.problem is None:
                found.problem = exc
            return check_file(found, ctx, unit=unit, period=period)

    return checked


def _check_path(path: Path, unit: str | None, period: Period | None) -> FileResult | None:
    """In a Checkers child: a file taken in, read and checked with the frozen context (None:
    the caller checks it, NeedsMain)."""
    allow_cpu_seconds(FILE_SECONDS)  # a file that spins ends the child (SIGXCPU)
    found = receive(path, _WORKER["archive_dir"], _WORKER["known"])
    try:
        result = check_file(found, _WORKER["ctx"], unit=unit, period=period)
    except NeedsMain:
        return None
    result.worker = os.getpid()
    return result


def _check_paths(
    files: list[tuple[Path, str | None, Period | None]],
) -> list[FileResult | None]:  # fmt: skip
    """In a Checkers child: files checked one after the other (_check_path), in one call."""
    return [_check_path(path, unit, period) for path, unit, period in files]
