"""One behaviour for every public library coroutine under errors and timeouts (docs: errors.md,
"Library coroutines under errors and timeouts").

Every public function and method of tinyio is listed below as giving a coroutine (with a way
to make it fail, and, for those running a tinyio thread, a way to run a given function) or
not; a new public name that is in neither list fails the first test, so that it cannot be
forgotten.
"""

import functools
import inspect
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import tinyio


class Failure(Exception):
    pass


def fail():
    raise Failure("failed")


def failing_coroutine():
    yield
    raise Failure("failed")


pool = tinyio.ThreadPool(max_threads=2)


# Public coroutines that run a function in one of tinyio's threads: each makes the coroutine
# that runs `fn()` there.
THREAD_CALLS = {
    "run_in_thread": lambda fn: tinyio.run_in_thread(fn),
    "ThreadPool.run_in_thread": lambda fn: pool.run_in_thread(fn),
    "ThreadPool.map": lambda fn: pool.map(lambda _: fn(), [0]),
}


def run_failing_in_executor():
    with ThreadPoolExecutor(max_workers=1) as executor:
        return (yield from tinyio.run_in_executor(executor, fail))


def failing_future():
    with ThreadPoolExecutor(max_workers=1) as executor:
        return (yield from tinyio.from_future(executor.submit(fail)))


async def failing_async():
    raise Failure("failed")


# Every other public coroutine that can fail: each makes one that raises `Failure`.
FAILING = {
    **{name: functools.partial(make, fail) for name, make in THREAD_CALLS.items()},
    "run_in_executor": run_failing_in_executor,
    "from_future": failing_future,
    "from_asyncio": lambda: tinyio.from_asyncio(failing_async()),
    "timeout": lambda: tinyio.timeout(failing_coroutine(), 10),
    "race": lambda: tinyio.race([failing_coroutine(), tinyio.sleep(10)]),
    "ThreadPool.call_with_timeout": lambda: pool.call_with_timeout(10, fail),
}

# Public coroutines whose failure is another coroutine's (they pass it on as the loop does),
# that cannot fail by themselves, or that are tested on their own pages.
OTHER_COROUTINES = {
    "sleep",
    "Event.wait",
    "Lock.__call__",
    "Semaphore.__call__",
    "Condition.__call__",
    "Condition.wait",
    "Condition.wait_for",
    "Barrier.wait",
    "Queue.get",
    "Queue.put",
    "Queue.join",
    "as_completed",
    "isolate",
    "copy",
    "settle",
    "cancel",
    "from_trio",
    "gather",
    "wait",
    "Loop.run",  # not a coroutine: listed here, as it runs them
    # Native I/O: tested in test_streams.py and test_descriptors.py
    "wait_readable",
    "wait_writable",
    "open_tcp_stream",
    "open_unix_stream",
    "open_tcp_listeners",
    "serve_tcp",
    "serve_listeners",
    "SocketStream.send_all",
    "SocketStream.send_eof",
    "SocketStream.receive_some",
    "SocketStream.receive_exactly",
    "SocketStream.receive_until",
    "SocketListener.accept",
    "Socket.recv",
    "Socket.recv_into",
    "Socket.recvfrom",
    "Socket.send",
    "Socket.sendto",
    "Socket.accept",
    "Socket.connect",
    # Subprocesses: tested in test_process.py (cancelling run_process stops the child)
    "run_process",
    "Process.wait",
    "PipeSendStream.send_all",
    "PipeSendStream.send_eof",
    "PipeReceiveStream.receive_some",
    "PipeReceiveStream.receive_exactly",
    "PipeReceiveStream.receive_until",
}

NOT_COROUTINES = {
    "named",
    "to_asyncio",
    "to_trio",
    "Loop.runtime",
    "Loop.snapshot",
    "Loop.time",
    "ThreadPool.max_threads",
    "Event.set",
    "Event.clear",
    "Event.is_set",
    "Lock.locked",
    "Semaphore.locked",
    "Semaphore.value",
    "Lock.value",
    "Condition.locked",
    "Condition.notify",
    "Condition.notify_all",
    "Queue.put_nowait",
    "Queue.get_nowait",
    "Queue.get_or",
    "Queue.qsize",
    "Queue.empty",
    "Queue.full",
    "Queue.maxsize",
    "Queue.shutdown",
    "Queue.task_done",
    "Queue.is_shut_down",
    "Queue.put_from_thread",  # blocking methods for threads, not coroutines
    "Queue.get_from_thread",
    "notify_closing",
    "SocketStream.close",
    "SocketStream.socket",
    "SocketListener.close",
    "SocketListener.socket",
    "socket",
    "Socket.socket",
    "Socket.close",
    "open_process",  # starts the child at once: a Process, not a coroutine
    "Process.args",
    "Process.pid",
    "Process.returncode",
    "Process.poll",
    "Process.send_signal",
    "Process.terminate",
    "Process.kill",
    "Process.stop_blocking",
    "Process.stdin",
    "Process.stdout",
    "Process.stderr",
    "PipeSendStream.close",
    "PipeSendStream.fileno",
    "PipeReceiveStream.close",
    "PipeReceiveStream.fileno",
}


def public_callables():
    names = set()
    for name in tinyio.__all__:
        obj = getattr(tinyio, name)
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            for member in vars(obj):
                if member == "__call__" or not member.startswith("_"):
                    names.add(f"{name}.{member}")
        elif callable(obj) and not isinstance(obj, type):
            names.add(name)
    names.discard("Coro")
    return names


def test_every_public_function_and_method_is_classified():
    known = set(FAILING) | OTHER_COROUTINES | NOT_COROUTINES
    missing = public_callables() - known
    assert not missing, f"say how these behave under errors and timeouts: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(FAILING))
def test_the_error_of_a_library_coroutine_is_catchable_around_yield_from(name):
    def main():
        try:
            yield from FAILING[name]()
        except Failure:
            return "caught"
        return "not raised"

    assert tinyio.Loop().run(main()) == "caught"


def start_a_worker():
    # A worker thread waits for the next call once this one ends: the call under test starts
    # at once, well within its timeout, even on a busy machine.
    yield from tinyio.run_in_thread(lambda: None)


# Run in a fresh interpreter without coverage.py's tracer (`pytest --cov` measures the tests'
# subprocesses through COVERAGE_PROCESS_CONFIG): on CPython 3.11, while a CancelledError sent to
# a thread stuck in one C call is pending, every Python call of a traced thread waits for its
# delivery, so under a tracer the timeout could only return once the thread does (see the
# threads page, "Under a debugger or a tracer").
STUCK_PROGRAM = """
import sys
import threading

import tinyio

pool = tinyio.ThreadPool(max_threads=2)
THREAD_CALLS = {
    "run_in_thread": lambda fn: tinyio.run_in_thread(fn),
    "ThreadPool.run_in_thread": lambda fn: pool.run_in_thread(fn),
    "ThreadPool.map": lambda fn: pool.map(lambda _: fn(), [0]),
}
release = threading.Event()
log = []


def stuck():
    log.append("thread started")
    try:
        release.wait(30)  # one blocking C call: a CancelledError lands once it returns
    finally:
        log.append("thread ended")


def main():
    # A worker thread waits for the next call once this one ends: the call under test starts
    # at once, well within its timeout, even on a busy machine.
    yield from tinyio.run_in_thread(lambda: None)
    result = yield from tinyio.timeout(THREAD_CALLS[sys.argv[1]](stuck), 0.2)
    log.append(("timeout gave", result))
    release.set()


tinyio.Loop().run(main())
print(log)
"""
UNTRACED = {name: value for name, value in os.environ.items() if name != "COVERAGE_PROCESS_CONFIG"}


@pytest.mark.parametrize("name", sorted(THREAD_CALLS))
def test_a_timeout_returns_on_time_while_the_thread_is_stuck_and_run_waits_for_it(name):
    assert set(THREAD_CALLS) == {"run_in_thread", "ThreadPool.run_in_thread", "ThreadPool.map"}
    completed = subprocess.run(
        [sys.executable, "-c", STUCK_PROGRAM, name],
        capture_output=True,
        text=True,
        timeout=25,  # under the thread's 30 s: a timeout that waited for the thread fails here
        check=False,
        env=UNTRACED,
    )
    assert completed.returncode == 0, completed.stderr
    expected = ["thread started", ("timeout gave", (None, False)), "thread ended"]
    assert completed.stdout == f"{expected}\n", completed.stderr


@pytest.mark.parametrize("name", sorted(THREAD_CALLS))
def test_a_timeout_raises_cancelled_error_in_the_thread_at_once(name):
    cancelled = threading.Event()

    def busy():
        try:
            while not cancelled.is_set():
                pass  # pure Python: a CancelledError lands at the next bytecode
        except tinyio.CancelledError:
            cancelled.set()
            raise

    def main():
        yield from start_a_worker()
        result = yield from tinyio.timeout(THREAD_CALLS[name](busy), 0.2)
        assert result == (None, False)

    tinyio.Loop().run(main())
    assert cancelled.is_set()


@pytest.mark.parametrize("name", sorted(THREAD_CALLS))
def test_a_crash_raises_cancelled_error_in_the_thread_and_run_waits_for_it(name):
    started = threading.Event()
    log = []

    def busy():
        started.set()
        try:
            while True:
                pass
        except tinyio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            log.append("thread ended")

    def crash_once_started():
        yield from tinyio.run_in_thread(started.wait)
        raise Failure("crash")

    def main():
        yield [THREAD_CALLS[name](busy), crash_once_started()]

    with pytest.raises(Failure, match="crash"):
        tinyio.Loop().run(main())
    assert log == ["cancelled", "thread ended"]


# Each makes a library coroutine whose work would go on for a minute, and a check that the
# work was stopped. Yielded plainly (`yield lib(...)`, not `yield from`) by a coroutine that is
# then timed out, cancelled or loses a race, it is stopped with it: nothing else holds it, so
# it runs as part of its yielder, as `yield from` would (`starts_at_once`).
class Work:
    def __init__(self) -> None:
        self.stopped = threading.Event()

    def busy(self):
        try:
            while True:
                pass  # pure Python: a CancelledError lands at the next bytecode
        except tinyio.CancelledError:
            self.stopped.set()
            raise

    def sleeper(self):
        try:
            yield tinyio.sleep(60)
        finally:
            self.stopped.set()

    async def async_sleeper(self):
        import asyncio

        try:
            await asyncio.sleep(60)
        finally:
            self.stopped.set()

    async def trio_sleeper(self):
        import trio

        try:
            await trio.sleep(60)
        finally:
            self.stopped.set()


def _never_done_future(work):
    import concurrent.futures

    future = concurrent.futures.Future()
    future.add_done_callback(lambda f: work.stopped.set() if f.cancelled() else None)
    return tinyio.from_future(future)


def _child_process(work):
    def run():
        try:
            yield tinyio.run_process([sys.executable, "-c", "import time; time.sleep(60)"])
        finally:
            work.stopped.set()

    return tinyio.isolate(run())  # the child is killed when isolate's inner loop is stopped


STOPPED_WITH_THEIR_YIELDER = {
    "run_in_thread": lambda w: tinyio.run_in_thread(w.busy),
    "ThreadPool.run_in_thread": lambda w: pool.run_in_thread(w.busy),
    "ThreadPool.call_with_timeout": lambda w: pool.call_with_timeout(60, w.busy),
    "ThreadPool.map": lambda w: pool.map(lambda _: w.busy(), [0]),
    "from_asyncio": lambda w: tinyio.from_asyncio(w.async_sleeper()),
    "from_trio": lambda w: tinyio.from_trio(w.trio_sleeper),
    "from_future": _never_done_future,
    "isolate": lambda w: tinyio.isolate(w.sleeper()),
    "timeout": lambda w: tinyio.timeout(w.sleeper(), 60),
    "race": lambda w: tinyio.race([w.sleeper()]),
    "settle": lambda w: tinyio.settle([w.sleeper()]),
    "run_process": _child_process,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stop", ["timeout", "cancel", "race"])
@pytest.mark.parametrize("name", sorted(STOPPED_WITH_THEIR_YIELDER))
def test_a_library_coroutine_yielded_plainly_is_stopped_with_its_yielder(name, stop):
    work = Work()

    def parent():
        yield STOPPED_WITH_THEIR_YIELDER[name](work)

    def main():
        yield from start_a_worker()
        if stop == "timeout":
            assert (yield tinyio.timeout(parent(), 0.1)) == (None, False)
        elif stop == "cancel":
            running = parent()
            yield {running}
            yield tinyio.sleep(0.1)
            yield tinyio.cancel(running)
        else:
            index, _ = yield tinyio.race([parent(), tinyio.sleep(0.1)])
            assert index == 1

    start = time.monotonic()
    tinyio.Loop().run(main())
    assert work.stopped.is_set()
    assert time.monotonic() - start < 30  # not the minute the work would take
