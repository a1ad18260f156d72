"""Untrusted files parsed in a child process under hard limits.

Whatever slips past the checks of what a file claims (ducha.submissions.containers) meets these:
the child process that parses it may use at most MEMORY_BYTES of address space and a file may
take at most FILE_SECONDS. A parser that aborts (a Rust allocation failure ends the process with
SIGABRT, no Python handler runs), hangs, or hits a limit rejects that one file with a Chinese
reason; the run goes on with a new child. The child is started once per run from the
forkserver (no DuckDB threads are forked) and reused for every file.

    with Sandbox() as sandbox:
        book = sandbox.call(read_workbook, name, data)   # FileRejected when the child fails
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from ducha.submissions.limits import FileRejected

# Memory a process may take to read one file, over what it holds before (its imports, and a
# worker's copy of the context): a month's largest real file needs well under 300 MB.
MEMORY_BYTES = 1024 * 1024 * 1024
FILE_SECONDS = 60.0  # wall time one file may take (a real file takes well under a second)
CPU_SECONDS = 3600  # CPU time of one child over its life: a backstop, never reached by real runs
PRELOAD = [
    "ducha.submissions.parallel",
    "ducha.submissions.checkers",
]  # imported once by the forkserver

_REASONS = {
    "memory": "文件过于复杂，读取时超出内存上限（{limit} MB），未处理；请检查是否有异常大的单元格内容或范围，另存后重新报送",
    "time": "文件过于复杂，{seconds:.0f} 秒内未能读完，未处理；请检查文件后重新报送",
    "crash": "文件无法安全读取（读取程序异常退出），未处理；请用 Excel 或 WPS 另存后重新报送",
}  # fmt: skip


def rejection(kind: str, memory: int = MEMORY_BYTES, seconds: float = FILE_SECONDS) -> FileRejected:
    """The reason a file is refused when its child failed."""
    return FileRejected(_REASONS[kind].format(limit=memory // 1024 // 1024, seconds=seconds))


def limit_this_process(memory: int = MEMORY_BYTES, cpu: int | None = CPU_SECONDS) -> None:
    """Hard limits on this process (a sandbox child, or an ingest worker): its address space
    may grow by `memory` from now on (never beyond a limit it was started under); cpu
    seconds over its life (None: no such limit, see allow_cpu_seconds)."""
    _, ceiling = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + memory
    if ceiling != resource.RLIM_INFINITY:
        limit = min(limit, ceiling)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort leaves no core file behind


def _address_space() -> int:
    """The address space this process uses now (VmSize), in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 512 * 1024 * 1024  # no /proc: what an interpreter with ducha's imports takes


def allow_cpu_seconds(seconds: float) -> None:
    """From now on, this process may use `seconds` more of CPU time before the kernel ends it
    (SIGXCPU): set before each file a worker reads, so a file that spins ends the worker
    instead of hanging the run."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def quiet_errors() -> None:
    """What a failing parser writes to stderr (a Rust allocation failure prints its backtrace)
    goes nowhere: the file's receipt says what happened."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _serve(conn: multiprocessing.connection.Connection, memory: int, cpu: int) -> None:
    """The child: one call at a time until the parent closes the pipe. The limits are set
    before the first call on untrusted data: a trusted call before it (Sandbox.prepare: a
    context unpickled, allocators set up, which reserve address space they do not use) runs
    without them, and the budget counts from what the child holds after it."""
    quiet_errors()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a run is stopped
    limited = False
    while True:
        try:
            function, args, trusted = conn.recv()
        except (EOFError, OSError):
            return
        if not (trusted or limited):
            limit_this_process(memory, cpu)
            limited = True
        try:
            reply: tuple[str, Any] = ("ok", function(*args))
        except FileRejected as exc:
            reply = ("rejected", (exc.message, exc.sheet, exc.cell))
        except MemoryError:
            reply = ("failed", "memory")
        except RecursionError:
            reply = ("failed", "crash")
        try:
            conn.send(reply)
        except MemoryError:  # the answer itself did not fit
            conn.send(("failed", "memory"))


class Sandbox:
    """A child process that runs functions on untrusted bytes, one at a time, under limits."""

    def __init__(
        self, memory: int = MEMORY_BYTES, seconds: float = FILE_SECONDS, cpu: int = CPU_SECONDS
    ) -> None:
        self.memory, self.seconds, self.cpu = memory, seconds, cpu
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._starting: threading.Thread | None = None
        self._setup: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._calling = threading.Lock()
        self.failures: list[str] = []  # what went wrong, one word per failed file (for tests, logs)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the child now, in the background (the first start takes about 0.3 s, the
        forkserver importing what checking needs): call it early, and `call` waits for it."""
        if self._starting is None and not self._alive():
            self._starting = threading.Thread(target=self._start, name="ducha-sandbox-start")
            self._starting.start()

    def _alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, self.memory, self.cpu), name="ducha-sandbox", daemon=True
        )
        try:
            process.start()
        finally:
            child.close()
        self._process, self._conn = process, parent

    def _ready(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if not self._alive():
            self._start()
            if self._setup is not None:  # a new child: prepared as the one before it
                self._call(*self._setup, seconds=self.seconds, trusted=True)

    def prepare(self, function: Callable[..., Any], *args: Any) -> None:
        """Run function(*args) in the child now and in every child started after it (one
        that replaces a child a file killed): what later calls rely on, such as a context."""
        with self._calling:
            self._setup = None
            self._ready()
            self._setup = (function, args)
            self._call(function, args, seconds=self.seconds, trusted=True)

    def call(self, function: Callable[..., Any], *args: Any, seconds: float | None = None) -> Any:
        """function(*args) in the child; FileRejected when it refuses the file or fails.
        `seconds`: the wall time it may take (default: the sandbox's, for one file). One call
        at a time (see `begin` for one that returns while the child works)."""
        with self._calling:
            self._ready()
            return self._call(function, args, seconds=seconds or self.seconds)

    def begin(
        self, function: Callable[..., Any], *args: Any, seconds: float | None = None
    ) -> Callable[[], Any]:
        """function(*args) sent to the child now; the function returned waits for its result
        (FileRejected as with `call`), and must be called before anything else is asked of the
        sandbox. A caller that checks one file while the child reads the next one keeps both
        processes busy without a thread of its own: a thread waiting for the child needs
        Python's global lock from the one that checks, and waits up to 5 ms for it each time,
        so that reading and checking take turns instead of overlapping. `seconds`: the wall
        time it may take (default: the sandbox's, for one file)."""
        self._calling.acquire()
        refused: FileRejected | None = None  # said when the answer is asked for
        try:
            self._ready()
            assert self._conn is not None
            try:
                self._conn.send((function, args, False))
            except (EOFError, OSError, BrokenPipeError):
                self._fail(self._why_dead())
        except FileRejected as exc:
            refused = exc
        except BaseException:
            self._calling.release()
            raise
        answered = False

        def answer() -> Any:
            nonlocal answered
            if answered:
                raise RuntimeError("the sandbox's answer was taken already")
            answered = True
            try:
                if refused is not None:
                    raise refused
                return self._answer(seconds or self.seconds)
            finally:
                self._calling.release()

        return answer

    def _call(
        self, function: Callable[..., Any], args: tuple[Any, ...], *, seconds: float,
        trusted: bool = False,
    ) -> Any:  # fmt: skip
        assert self._conn is not None
        try:
            self._conn.send((function, args, trusted))
        except (EOFError, OSError, BrokenPipeError):
            self._fail(self._why_dead())
        return self._answer(seconds)

    def _answer(self, seconds: float) -> Any:
        """The child's answer to what was sent: its value, or FileRejected."""
        assert self._conn is not None
        try:
            if not self._conn.poll(seconds):
                self._fail("time")
            kind, value = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self._fail(self._why_dead())
        if kind == "ok":
            return value
        if kind == "rejected":
            message, sheet, cell = value
            raise FileRejected(message, sheet=sheet, cell=cell)
        self._fail(value)

    def _why_dead(self) -> str:
        process = self._process
        process.join(timeout=5)
        code = process.exitcode
        if code is not None and code < 0 and -code == signal.SIGXCPU:
            return "time"
        return (
            "memory"
            if code is not None
            and code < 0
            and -code in (signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV)
            else "crash"
        )

    def _fail(self, kind: str) -> Any:
        self.failures.append(kind)
        self._stop()
        raise rejection(kind, self.memory, self.seconds)

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            # the child ends by itself once its pipe is closed; one that does not (still parsing)
            # is killed, and one that ended meanwhile is no error
            self._process.join(timeout=0.2)
            if self._process.is_alive():
                with suppress(ProcessLookupError):
                    os.kill(self._process.pid, signal.SIGKILL)
            self._process.join(timeout=5)
            self._process = None

    def restart(self) -> None:
        """End the child: the next call starts a fresh one, prepared as the one before it."""
        with self._calling:
            if self._starting is not None:
                self._starting.join()
                self._starting = None
            self._stop()

    def close(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        self._stop()

    def reader(self, function: Callable[[str, bytes], Any]) -> Callable[[str, bytes], Any]:
        """function(name, data) run in the child: what ingest reads untrusted files with."""

        def read(name: str, data: bytes) -> Any:
            return self.call(function, name, data)

        return read
