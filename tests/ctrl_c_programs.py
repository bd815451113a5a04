"""Run a program in a subprocess and press Ctrl-C at it, as a user at a terminal would.

For the Ctrl-C tests of the bridges and executors (those of threads are in test_ctrl_c.py).
A program prints "started" on stdout once it is where the Ctrl-C is to land.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tinyio

# As in test_ctrl_c.py: the programs run without coverage.py's measurement, which on CPython
# 3.11 makes cancellations of thread calls many times slower.
UNMEASURED = {
    name: value for name, value in os.environ.items() if name != "COVERAGE_PROCESS_CONFIG"
}


class Program:
    """A started program: `press()` sends it SIGINT, `wait_for(text)` reads its stderr."""

    def __init__(self, tmp_path: Path, source: str, *args: str) -> None:
        script = tmp_path / "program.py"
        script.write_text(source)
        self.process = subprocess.Popen(
            [sys.executable, str(script), *args],
            env=UNMEASURED,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._stdout = ""
        self._reader = threading.Thread(target=self._read, name="stderr reader", daemon=True)
        self._reader.start()
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if first != "started\n":
            self.kill()
            raise AssertionError(f"the program did not start: {first!r}\n{self.stderr}")

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def press(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def wait_for(self, text: str, timeout: float) -> bool:
        """Whether `text` shows on stderr within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while text not in "".join(self._lines):
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def finish(self, timeout: float) -> tuple[list[str], str]:
        """Its stdout lines and stderr, once it has ended (within `timeout` seconds; else it
        is killed, and the `TimeoutExpired` raised)."""
        try:
            self.process.wait(timeout)  # its output is short: no pipe fills meanwhile
        finally:
            self.kill()
        return self._stdout.splitlines(), self.stderr

    def kill(self) -> None:
        """End it (if it has not ended), and close what reads it (again: nothing more)."""
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        if self.process.stdout.closed:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._stdout = self.process.stdout.read()
        self.process.stdout.close()
        self._reader.join(10)
        self.process.stderr.close()


# `from_asyncio` or `from_trio` (argv[1]: "asyncio" or "trio") of a task whose cleanup, once it
# is cancelled, takes argv[2] seconds, beside a coroutine that cleans up at once.
BRIDGE_PROGRAM = """
import asyncio
import sys
import threading
import time

import trio

import tinyio

HOST, CLEANUP = sys.argv[1], float(sys.argv[2])


async def task():
    if HOST == "asyncio":
        try:
            print("started", flush=True)
            await asyncio.sleep(600)
        finally:
            await asyncio.sleep(CLEANUP)
            print("task cleaned up", flush=True)
    else:
        try:
            print("started", flush=True)
            await trio.sleep(600)
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(CLEANUP)
            print("task cleaned up", flush=True)


def other():
    try:
        yield tinyio.sleep(600)
    finally:
        print("other cleaned up", flush=True)


def main():
    bridge = tinyio.from_asyncio(task()) if HOST == "asyncio" else tinyio.from_trio(task)
    yield [other(), bridge]


start = time.monotonic()
try:
    tinyio.Loop().run(main())
except KeyboardInterrupt:  # a plain one: `except KeyboardInterrupt` does not catch a group
    print("KeyboardInterrupt after the cleanup:", time.monotonic() - start >= CLEANUP, flush=True)
    bridges = [t for t in threading.enumerate() if t.name.startswith("tinyio from_")]
    print("threads left, daemon:", [t.daemon for t in bridges], flush=True)
    raise
"""

# A thread call stuck in `time.sleep(argv[2])`, in a tinyio loop driven by asyncio or trio
# (argv[1]), whose Ctrl-Cs are theirs.
DRIVEN_PROGRAM = """
import asyncio
import sys
import threading
import time

import trio

import tinyio

HOST, SECONDS = sys.argv[1], float(sys.argv[2])
other_started = threading.Event()


def blocked():
    other_started.wait()
    print("started", flush=True)
    time.sleep(SECONDS)


def other():
    try:
        other_started.set()
        yield tinyio.sleep(SECONDS)
    finally:
        print("other cleaned up", file=sys.stderr, flush=True)


def main():
    yield [tinyio.run_in_thread(blocked), other()]


if HOST == "asyncio":
    asyncio.run(tinyio.to_asyncio(main()))
else:
    trio.run(tinyio.to_trio, main())
"""


def check_one_ctrl_c_waits_for_the_cleanup_and_says_so(tmp_path: Path, host: str) -> None:
    """One Ctrl-C: the loop waits for the async task's 3 s of cleanup, naming it on stderr
    after a second, then raises a plain KeyboardInterrupt."""
    program = Program(tmp_path, BRIDGE_PROGRAM, host, "3")
    try:
        program.press()
        stdout, stderr = program.finish(timeout=60)
    finally:
        program.kill()
    assert stdout == [
        "other cleaned up",  # at once: the others clean up first
        "task cleaned up",
        "KeyboardInterrupt after the cleanup: True",
        "threads left, daemon: []",
    ], stderr
    assert "tinyio: Ctrl-C: the loop is stopping, but 1 call is still running" in stderr
    assert f"<{host} call task() in its own thread, running for" in stderr
    assert "Press Ctrl-C again to abandon them" in stderr
    assert "\nKeyboardInterrupt\n" in stderr
    for unwanted in ("ExceptionGroup", "Warning", "Exception ignored", "abandoned"):
        assert unwanted not in stderr, stderr
    assert program.process.returncode == -signal.SIGINT


def check_a_second_ctrl_c_abandons_the_task(tmp_path: Path, host: str) -> None:
    """A task whose cleanup never ends: named after a second, abandoned at a second Ctrl-C
    (its daemon thread runs on), and `loop.run` raises a plain KeyboardInterrupt at once."""
    program = Program(tmp_path, BRIDGE_PROGRAM, host, "600")
    try:
        program.press()
        assert program.wait_for("Press Ctrl-C again to abandon them", 30), program.stderr
        program.press()
        stdout, stderr = program.finish(timeout=30)  # far sooner than the 600 s
    finally:
        program.kill()
    assert stdout == [
        "other cleaned up",
        "KeyboardInterrupt after the cleanup: False",
        "threads left, daemon: [True]",
    ], stderr
    assert program.process.returncode == -signal.SIGINT
    assert "\nKeyboardInterrupt\n" in stderr
    for unwanted in ("ExceptionGroup", "Warning", "Exception ignored", "CancelledError"):
        assert unwanted not in stderr, stderr
    assert f"tinyio: a second Ctrl-C abandoned the thread of a tinyio.from_{host} call" in stderr
    assert f"on <{host} call task() in its own thread" in stderr  # the loop's report


def check_a_driven_loop_blames_no_internal_coroutine_at_two_ctrl_cs(
    tmp_path: Path, host: str, seconds: str = "600"
) -> None:
    """Under `to_asyncio`/`to_trio` the host handles Ctrl-C: the first cancels the loop, whose
    other coroutines clean up at once; a second, while it waits for a thread stuck in a C call
    for 600 s, abandons the thread and ends the program with KeyboardInterrupt, with no warning
    about tinyio's own coroutines (the host makes the KeyboardInterrupt it raises)."""
    program = Program(tmp_path, DRIVEN_PROGRAM, host, seconds)
    try:
        program.press()
        assert program.wait_for("other cleaned up", 30), program.stderr
        time.sleep(0.5)  # out of `other`'s frame: a Ctrl-C there would be its error
        program.press()  # the loop waits for the thread now
        stdout, stderr = program.finish(timeout=20)  # far sooner than the 600 s
    finally:
        program.kill()
    assert stdout == []
    assert "KeyboardInterrupt" in stderr
    for unwanted in ("Warning", "_run_in_thread", "did not respond", "Exception ignored"):
        assert unwanted not in stderr, stderr


# Two executor calls that take argv[1] seconds (a running one cannot be stopped), beside a
# coroutine that cleans up at once.
EXECUTOR_PROGRAM = """
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import tinyio

SECONDS = float(sys.argv[1])
running = threading.Barrier(3)
let_go = threading.Event()  # once loop.run has ended: then the interpreter may exit at once


def work():
    running.wait()
    let_go.wait(SECONDS)


def other():
    try:
        yield tinyio.sleep(600)
    finally:
        print("other cleaned up", flush=True)


def main(executor):
    yield [other(), tinyio.run_in_executor(executor, work), tinyio.run_in_executor(executor, work)]


def started():
    running.wait()
    print("started", flush=True)


executor = ThreadPoolExecutor(max_workers=2)
threading.Thread(target=started, daemon=True).start()
start = time.monotonic()
try:
    tinyio.Loop().run(main(executor))
except KeyboardInterrupt:
    print("KeyboardInterrupt after the calls:", time.monotonic() - start >= SECONDS, flush=True)
    raise
finally:
    let_go.set()
    executor.shutdown()
"""


def _blocks_in_the_wait_for_a_cancelled_thread(ident: int) -> bool:
    frame = sys._current_frames().get(ident)
    while frame is not None:
        if frame.f_code.co_name == "_wait_ended":
            return True
        frame = frame.f_back
    return False


def check_a_second_ctrl_c_abandons_a_thread_stuck_in_a_c_call(
    run: Callable[[Any], object],
) -> None:
    """In-process, under a host (`run(coro)` runs `coro` through a bridge): the first Ctrl-C
    cancels the loop, whose other coroutine cleans up at once; a second, while the loop waits
    for a thread stuck in a C call (a wait on a lock, which the thread's CancelledError cannot
    interrupt; released at the end so that the thread ends), abandons the thread, and the
    program ends with KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a program
    release = threading.Event()
    started = threading.Event()
    log: list[str] = []

    def stuck() -> None:
        started.set()
        release.wait()

    def other() -> tinyio.Coro[None]:
        try:
            yield tinyio.sleep(600)
        finally:
            log.append("other cleaned up")

    def main() -> tinyio.Coro[None]:
        yield [other(), tinyio.run_in_thread(stuck)]

    def press_twice(main_thread: int) -> None:
        assert started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)  # the host's first: it cancels its task
        deadline = time.monotonic() + 10
        while not _blocks_in_the_wait_for_a_cancelled_thread(main_thread):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGINT)  # the second: heard in the wait

    presser = threading.Thread(target=press_twice, args=(threading.get_ident(),))
    presser.start()
    try:
        try:
            run(main())
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("no KeyboardInterrupt")
        assert log == ["other cleaned up"]
        assert not release.is_set()  # abandoned: the run did not wait for it
    finally:
        release.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
