"""The sandbox: a parser that aborts, hangs or eats memory rejects one file, and the next file
is read by a fresh child."""

from __future__ import annotations

import os
import time

import pytest

from ducha.sandbox import Sandbox
from ducha.submissions.limits import FileRejected


def _echo(value: object) -> object:
    return value


def _abort() -> None:
    os.abort()  # what a Rust allocation failure does: SIGABRT, no Python handler runs


def _allocate(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _spin() -> None:
    while True:
        pass


def _refuse() -> None:
    raise FileRejected("文件不对", sheet="表1", cell="B2")


def _pid() -> int:
    return os.getpid()


def test_a_call_returns_its_value_from_another_process() -> None:
    with Sandbox() as box:
        assert box.call(_echo, {"a": [1, "二"]}) == {"a": [1, "二"]}
        assert box.call(_pid) != os.getpid()


def test_an_abort_rejects_the_file_and_the_next_call_gets_a_new_child() -> None:
    with Sandbox() as box:
        first = box.call(_pid)
        with pytest.raises(FileRejected, match="异常退出|内存"):
            box.call(_abort)
        assert box.call(_echo, 3) == 3
        assert box.call(_pid) != first
        assert box.failures == ["memory"]  # SIGABRT: how a failed Rust allocation ends


def test_memory_over_the_limit_rejects_the_file() -> None:
    with Sandbox(memory=512 * 1024 * 1024) as box:
        assert box.call(_allocate, 64) == 64 * 1024 * 1024
        with pytest.raises(FileRejected, match="内存上限（512 MB）"):
            box.call(_allocate, 1024)
        assert box.call(_echo, "还在") == "还在"


def test_a_hang_is_stopped_at_the_time_limit() -> None:
    with Sandbox(seconds=1.0) as box:
        started = time.monotonic()
        with pytest.raises(FileRejected, match="1 秒内未能读完"):
            box.call(_sleep, 30)
        with pytest.raises(FileRejected, match="秒内未能读完"):
            box.call(_spin)
        assert time.monotonic() - started < 10
        assert box.call(_echo, 1) == 1
        assert box.failures == ["time", "time"]


def test_a_refusal_keeps_its_reason_and_place() -> None:
    with Sandbox() as box:
        with pytest.raises(FileRejected) as caught:
            box.call(_refuse)
        assert (caught.value.message, caught.value.sheet, caught.value.cell) == (
            "文件不对",
            "表1",
            "B2",
        )
        assert box.failures == []


def test_a_call_begun_runs_while_the_caller_works_and_answers_once() -> None:
    """`begin` returns at once: the child works while this process does (here: both sleep
    0.6 s, together well under 1.2 s); the answer is the call's value, or its refusal, and
    the sandbox takes the next call once it is taken."""
    with Sandbox() as box:
        box.call(_echo, 0)  # started
        started = time.monotonic()
        answer = box.begin(_sleep_then, 0.6, "读完")
        time.sleep(0.6)
        assert answer() == "读完"
        assert time.monotonic() - started < 1.1
        with pytest.raises(RuntimeError):
            answer()
        refused = box.begin(_abort)
        with pytest.raises(FileRejected, match="异常退出|内存"):
            refused()
        assert box.call(_echo, "还在") == "还在"
        assert box.failures == ["memory"]


def test_a_restarted_sandbox_prepares_its_new_child_as_before() -> None:
    with Sandbox() as box:
        box.prepare(_remember, "上下文")
        first = box.call(_pid)
        box.restart()
        assert box.call(_pid) != first
        assert box.call(_remembered) == "上下文"


def _sleep_then(seconds: float, value: str) -> str:
    time.sleep(seconds)
    return value


_KEPT: dict[str, str] = {}


def _remember(value: str) -> None:
    _KEPT["value"] = value


def _remembered() -> str:
    return _KEPT["value"]
