"""Large batches checked by worker processes, the results yielded in order: python-calamine holds
the GIL, so threads would not help. Workers import neither DuckDB nor polars; each gets a frozen
copy of the context once, then chunks of files; this process checks from the tail of the queue
while it waits. The portal's clerk keeps its own children instead (ducha.submissions.checkers).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ducha.neutral import readable_name
from ducha.periods import Period
from ducha.sandbox import (
    FILE_SECONDS,
    Sandbox,
    allow_cpu_seconds,
    limit_this_process,
    quiet_errors,
)
from ducha.submissions.checking import Context, NeedsMain, check_file
from ducha.submissions.intake import Received, receive, take_in, worker_count
from ducha.submissions.limits import FileRejected
from ducha.submissions.results import FileResult
from ducha.submissions.spreadsheet import read_workbook

if TYPE_CHECKING:
    from ducha.submissions.checkers import Checkers


def checked_in_order(
    files: list[Path], ctx: Context, archive_dir: Path, unit: Expected[str],
    period: Expected[Period], changed: set[tuple[str | None, str | None]],
    sandbox: Sandbox, checkers: Checkers | None = None,
) -> Iterator[FileResult]:  # fmt: skip
    """Every file checked, in order: here (its cells read through ctx.read), or for a large
    batch in worker processes and, while this process waits for them, in `sandbox` (see
    _check_in_workers), or by `checkers` kept by the caller; the results are the same."""
    workers = worker_count(len(files))
    if checkers is not None:
        checked_files = checkers.checked(files, ctx, archive_dir, unit, period)
    elif not workers:
        yield from _checked_here(files, ctx, archive_dir, unit, period, sandbox)
        return
    else:
        checked_files = _check_in_workers(files, ctx, archive_dir, unit, period, workers, sandbox)
    for path, checked in checked_files:
        if checked is not None and checked.sha256 in ctx.accepted and checked.status != "duplicate":
            checked = None  # the same bytes were accepted earlier in this run
        elif checked is not None and checked.period and checked.unit:
            before = Period.parse(checked.period).previous()
            if before is not None and (checked.unit, str(before)) in changed:
                checked = None  # last month's figures changed since the worker's copy
        if checked is None:  # checked again here (a worker failed on it: in the sandbox)
            found = receive(path, archive_dir, ctx.accepted, read=ctx.read)
            checked = check_file(
                found, ctx, unit=expected(unit, path), period=expected(period, path)
            )
        yield checked


def _checked_here(
    files: list[Path], ctx: Context, archive_dir: Path, unit: Expected[str],
    period: Expected[Period], sandbox: Sandbox,
) -> Iterator[FileResult]:  # fmt: skip
    """Every file checked in this process, in order, the next one read meanwhile: file n+1
    is sent to the sandbox before file n is checked, so the child reads while this process
    checks (Sandbox.begin: no thread here, which would wait for the global lock)."""
    pending = _begin_reading(files[0], ctx, archive_dir, sandbox) if files else None
    try:
        for k, path in enumerate(files):
            assert pending is not None
            found, pending = pending(), None
            coming = files[k + 1] if k + 1 < len(files) else None
            # a file accepted when reading began but no longer is read in check_file, through
            # the sandbox, which must be free for it: the next file is sent after
            rereads = found.book is None and found.problem is None
            if coming is not None and not rereads:
                pending = _begin_reading(coming, ctx, archive_dir, sandbox)
            result = check_file(
                found, ctx, unit=expected(unit, path), period=expected(period, path)
            )
            if coming is not None and rereads:
                pending = _begin_reading(coming, ctx, archive_dir, sandbox)
            yield result
    finally:
        if pending is not None:  # the caller stopped early: the child's answer taken, unused
            pending()


def _begin_reading(
    path: Path, ctx: Context, archive_dir: Path, sandbox: Sandbox
) -> Callable[[], Received]:
    """Take the file in and send it to the sandbox to be read; the function returned waits for
    the cells (a file accepted before is not parsed)."""
    found, data = take_in(path, archive_dir)
    if data is None or found.sha256 in ctx.accepted:
        return lambda: found
    answer = sandbox.begin(read_workbook, readable_name(path.name), data)

    def read() -> Received:
        try:
            found.book = answer()
        except FileRejected as exc:
            found.problem = exc
        return found

    return read


T = TypeVar("T")
# The unit or period files must be of: one for all, or one per file (a mapping of path to value:
# the portal's uploads, each through its own unit's link); None: as the file says.
Expected = T | dict[Path, T] | None


def expected(option: Expected[T], path: Path) -> T | None:
    """The unit or period `path` must be of."""
    if isinstance(option, dict):
        return option[path] if path in option else option.get(path.resolve())
    return option


# Worker processes: each gets a frozen copy of the context once, then chunks of files.
CHUNK = 8
CHUNK_SECONDS = CHUNK * FILE_SECONDS  # the longest a chunk may take before its worker is ended
SERIAL_CHUNKS = 8  # checked here while the workers start (about 0.5 s)
_WORKER: dict[str, Any] = {}


def _init_worker(
    ctx: Context, archive_dir: Path, unit: Expected[str], period: Expected[Period], parent: int,
    memory: int,
) -> None:  # fmt: skip
    _WORKER.update(
        ctx=ctx, known=frozenset(ctx.accepted), archive_dir=archive_dir, unit=unit, period=period
    )
    gc.freeze()  # the context lives as long as the worker: collections need not walk it
    threading.Thread(target=_exit_with, args=(parent,), name="ducha-parent", daemon=True).start()
    limit_this_process(memory, cpu=None)  # a worker reads untrusted files: the sandbox's limits
    quiet_errors()


def _exit_with(parent: int) -> None:
    """End this worker once the process that started it is gone: killed, it shuts nothing
    down, and a worker waiting for work would wait for ever."""
    stat = Path(f"/proc/{parent}/stat")
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
            gone = stat.read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")  # killed, unreaped
        except ProcessLookupError:
            gone = True
        except OSError:  # no /proc: the signal test alone
            gone = False
        if gone:
            os._exit(1)


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's processes: every chunk they held fails, and is checked here instead."""
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(OSError):
            process.kill()


def _check_chunk(paths: list[Path]) -> list[FileResult | None]:
    """A chunk of files checked in a worker; None: the caller checks that file itself."""
    done: list[FileResult | None] = []
    for path in paths:
        allow_cpu_seconds(FILE_SECONDS)  # a file that spins ends the worker (SIGXCPU)
        found = receive(path, _WORKER["archive_dir"], _WORKER["known"])
        try:
            result = check_file(
                found, _WORKER["ctx"], unit=expected(_WORKER["unit"], path),
                period=expected(_WORKER["period"], path),
            )  # fmt: skip
        except NeedsMain:
            done.append(None)
            continue
        result.worker = os.getpid()
        done.append(result)
    return done


def _check_ahead(chunk: list[Path], sandbox: Sandbox) -> list[FileResult | None]:
    """A chunk this process takes before its turn (their `worker` is this process), checked as
    a worker would check it, in the sandbox, which holds the workers' context (prepared by
    _check_in_workers). Like a worker's results, they are checked again in their turn if the
    run has since changed what they depend on; None: check that file in its turn (all of the
    chunk when one of its files ended the sandbox's child)."""
    try:
        done: list[FileResult | None] = sandbox.call(
            _check_chunk, chunk, seconds=len(chunk) * FILE_SECONDS
        )
    except FileRejected:
        return [None] * len(chunk)
    for result in done:
        if result is not None:
            result.worker = os.getpid()
    return done


def _check_in_workers(
    files: list[Path], ctx: Context, archive_dir: Path, unit: Expected[str],
    period: Expected[Period], workers: int, sandbox: Sandbox,
) -> Iterator[tuple[Path, FileResult | None]]:  # fmt: skip
    """Files checked by worker processes, yielded in order (None: check it here). Workers
    take about half a second to start (they import what checking needs): they are started
    on a thread while this process checks the first files itself. After that, whenever the
    next chunk is not back yet, this process takes the last chunk no worker has started
    and checks it itself (as a worker would, with its own context): it stores the batches
    too, and its idle time is spent on the files no one will reach soon."""
    context = multiprocessing.get_context("forkserver")  # never fork DuckDB's threads
    context.set_forkserver_preload(["ducha.submissions.parallel"])
    multiprocessing.forkserver.ensure_running()  # it imports ducha.submissions.parallel while the context loads
    frozen = ctx.frozen_copy()
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    own = min(len(chunks), SERIAL_CHUNKS)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker,
        initargs=(frozen, archive_dir, unit, period, os.getpid(), ctx.memory),
    )  # fmt: skip
    submitted: list[Future[list[FileResult | None]]] = []

    def submit_all() -> None:
        for chunk in chunks[own:]:
            submitted.append(pool.submit(_check_chunk, chunk))

    starter = threading.Thread(target=submit_all, name="ducha-ingest-workers", daemon=True)
    starter.start()
    try:
        # the sandbox checks what this process takes, as a worker would
        sandbox.prepare(_init_worker, frozen, archive_dir, unit, period, os.getpid(), ctx.memory)
        for chunk in chunks[:own]:
            checked = _check_ahead(chunk, sandbox)
            yield from zip(chunk, checked, strict=True)
        starter.join()
        if len(submitted) < len(chunks) - own:  # the pool failed to start
            raise RuntimeError("无法启动读取进展表的工作进程")
        stolen: dict[int, list[FileResult | None]] = {}
        tail = len(submitted) - 1  # the last chunk that may still be waiting for a worker
        for k, (chunk, future) in enumerate(zip(chunks[own:], submitted, strict=True)):
            if k in stolen:
                yield from zip(chunk, stolen.pop(k), strict=True)
                continue
            # Only chunks beyond those the workers may hold already; a chunk that can no
            # longer be cancelled has started, and so have all before it.
            while not future.done() and tail > k + workers and submitted[tail].cancel():
                stolen[tail] = _check_ahead(chunks[own + tail], sandbox)
                tail -= 1
            if not future.done():
                tail = -1
            try:
                checked = future.result(timeout=CHUNK_SECONDS)
            except TimeoutError:  # a worker that neither answers nor dies: ended
                _end_workers(pool)
                checked = [None] * len(chunk)
            except Exception:  # noqa: BLE001 - a worker died on a file (an abort, a limit)
                # This chunk and every one the broken pool still held are checked here, file
                # by file in the sandbox: the hostile file is refused, the others go on.
                checked = [None] * len(chunk)
            yield from zip(chunk, checked, strict=True)
    finally:
        starter.join()
        for future in submitted:
            future.cancel()
        pool.shutdown(wait=True)
