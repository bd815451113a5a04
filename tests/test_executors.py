"""`tinyio.from_future` and `tinyio.run_in_executor` (docs: threads-and-executors.md).

With the standard library's executors, with any object that has `submit` (or, for futures,
`add_done_callback`, `result` and `cancel`), a process pool for CPU-bound work, and a real
Dask cluster.
"""

import asyncio
import concurrent.futures
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import traceback

import distributed
import pytest

import ctrl_c_programs
import tinyio


class Boom(Exception):
    pass


class RemoteError(Exception):
    pass


def crash_when(event):
    yield event.wait()
    raise Boom("crash")


class RecordingExecutor:
    """Any object with `submit`: passes calls on to `inner` and keeps the futures it made."""

    def __init__(self, inner):
        self.inner = inner
        self.futures = []

    def submit(self, fn, /, *args, **kwargs):
        future = self.inner.submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future


class DuckFuture:
    """The least a future needs for `from_future`: add_done_callback, result and cancel."""

    def __init__(self):
        self._callbacks = []
        self._value = None
        self.cancel_calls = 0

    def add_done_callback(self, fn):
        self._callbacks.append(fn)

    def result(self, timeout=None):
        return self._value

    def cancel(self):
        self.cancel_calls += 1
        return True

    def finish(self, value):  # from any thread
        self._value = value
        for fn in self._callbacks:
            fn(self)


@pytest.fixture
def one_busy_thread():
    """A one-thread executor kept busy until the test ends: what is submitted to it waits."""
    release = threading.Event()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    executor.submit(release.wait, 30)
    yield executor
    release.set()
    executor.shutdown(wait=True)


# --- from_future ----------------------------------------------------------------------------


def test_from_future_gives_the_result_of_a_thread_pool_future():
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:

        def main():
            return (yield tinyio.from_future(executor.submit(pow, 2, 10)))

        assert tinyio.Loop().run(main()) == 1024


def test_from_future_of_a_future_completed_from_another_thread_wakes_the_loop():
    future = concurrent.futures.Future()

    def complete():
        time.sleep(0.05)
        future.set_result("from a thread")

    def main():
        thread = threading.Thread(target=complete)
        thread.start()
        start = time.monotonic()
        result = yield tinyio.from_future(future)
        elapsed = time.monotonic() - start
        thread.join()
        return result, elapsed

    result, elapsed = tinyio.Loop().run(main())
    assert result == "from a thread"
    assert elapsed < 1


def test_from_future_of_a_future_completed_by_another_coroutine_of_the_loop():
    future = concurrent.futures.Future()

    def completer():
        yield
        future.set_result("from a coroutine")

    def main():
        return (yield [tinyio.from_future(future), completer()])

    assert tinyio.Loop().run(main()) == ["from a coroutine", None]


def test_from_future_of_a_future_already_done_gives_its_result_at_once():
    future = concurrent.futures.Future()
    future.set_result("already")

    def main():
        return (yield tinyio.from_future(future))

    assert tinyio.Loop().run(main()) == "already"


def test_from_future_does_not_block_the_loop():
    future = concurrent.futures.Future()
    steps = []

    def other():
        for i in range(3):
            steps.append(i)
            yield
        future.set_result("done")

    def main():
        return (yield [tinyio.from_future(future), other()])

    assert tinyio.Loop().run(main()) == ["done", None]
    assert steps == [0, 1, 2]


def failing_call():
    raise RemoteError("failed in the executor")  # failing_call: raise


def test_from_future_raises_the_error_of_the_future_with_its_frames():
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:

        def main():
            yield tinyio.from_future(executor.submit(failing_call))

        with pytest.raises(RemoteError, match="failed in the executor") as excinfo:
            tinyio.Loop().run(main())
    names = [frame.name for frame in traceback.extract_tb(excinfo.value.__traceback__)]
    assert "main" in names
    assert names[-1] == "failing_call"


def test_from_future_of_a_future_cancelled_by_someone_else_raises_its_cancelled_error():
    future = concurrent.futures.Future()
    future.cancel()

    def main():
        yield tinyio.from_future(future)

    with pytest.raises(concurrent.futures.CancelledError):
        tinyio.Loop().run(main())


def test_from_future_cancels_a_pending_future_when_the_loop_crashes(one_busy_thread):
    future = one_busy_thread.submit(pow, 2, 3)  # waits behind the busy call
    waiting = tinyio.Event()

    def waiter():
        waiting.set()
        return (yield tinyio.from_future(future))

    def main():
        yield [waiter(), crash_when(waiting)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert future.cancelled()


def test_from_future_cancels_the_future_when_timed_out(one_busy_thread):
    future = one_busy_thread.submit(pow, 2, 3)

    def main():
        return (yield tinyio.timeout(tinyio.from_future(future), 0.02))

    assert tinyio.Loop().run(main()) == (None, False)
    assert future.cancelled()


def test_from_future_accepts_any_object_with_the_three_methods():
    future = DuckFuture()

    def finisher():
        yield
        threading.Thread(target=future.finish, args=("duck",)).start()

    def main():
        return (yield [tinyio.from_future(future), finisher()])

    assert tinyio.Loop().run(main()) == ["duck", None]
    assert future.cancel_calls == 0


def test_from_future_calls_cancel_on_any_object_with_the_three_methods():
    future = DuckFuture()
    waiting = tinyio.Event()

    def waiter():
        waiting.set()
        yield tinyio.from_future(future)

    def main():
        yield [waiter(), crash_when(waiting)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert future.cancel_calls == 1


@pytest.mark.parametrize(
    ("not_a_future", "missing"),
    [
        (None, "add_done_callback, result, cancel"),
        (42, "add_done_callback, result, cancel"),
        (type("OnlyResult", (), {"result": lambda self: 1})(), "add_done_callback, cancel"),
    ],
    ids=["None", "int", "only result"],
)
def test_from_future_of_a_non_future_is_a_type_error_naming_what_is_missing(not_a_future, missing):
    with pytest.raises(TypeError, match="from_future needs a future") as excinfo:
        tinyio.from_future(not_a_future)
    assert missing in str(excinfo.value)


# --- run_in_executor ------------------------------------------------------------------------


def describe(a, b, *, fn, scale=1):
    return (a, b, fn, scale)


def test_run_in_executor_gives_the_result_and_passes_arguments_including_one_named_fn():
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:

        def main():
            return (yield tinyio.run_in_executor(executor, describe, 1, 2, fn="f", scale=3))

        assert tinyio.Loop().run(main()) == (1, 2, "f", 3)


def test_run_in_executor_submits_only_when_the_coroutine_first_runs():
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as inner:
        executor = RecordingExecutor(inner)
        coro = tinyio.run_in_executor(executor, pow, 3, 3)
        assert executor.futures == []

        def main():
            return (yield coro)

        assert tinyio.Loop().run(main()) == 27
        assert len(executor.futures) == 1

        never_run = tinyio.run_in_executor(executor, pow, 3, 3)
        never_run.close()
        assert len(executor.futures) == 1


def test_run_in_executor_cancels_the_future_when_the_loop_crashes(one_busy_thread):
    executor = RecordingExecutor(one_busy_thread)
    submitted = tinyio.Event()

    def waiter():
        call = tinyio.run_in_executor(executor, pow, 2, 3)
        yield {call}
        yield
        submitted.set()
        yield call

    def main():
        yield [waiter(), crash_when(submitted)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    [future] = executor.futures
    assert future.cancelled()


def test_run_in_executor_runs_many_calls_at_once():
    together = threading.Barrier(4, timeout=10)

    def meet(i):
        together.wait()
        return i

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:

        def main():
            return (yield [tinyio.run_in_executor(executor, meet, i) for i in range(4)])

        assert tinyio.Loop().run(main()) == [0, 1, 2, 3]


class NoSubmit:
    submit = "not callable"


@pytest.mark.parametrize("not_an_executor", [None, object(), NoSubmit()])
def test_run_in_executor_without_a_submit_method_is_a_type_error_at_the_call(not_an_executor):
    with pytest.raises(TypeError, match="executor"):
        tinyio.run_in_executor(not_an_executor, abs, 1)


def test_run_in_executor_of_a_non_callable_is_a_type_error_at_the_call():
    with (
        concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor,
        pytest.raises(TypeError, match="function"),
    ):
        tinyio.run_in_executor(executor, "abs", 1)


# --- A process pool for CPU-bound work ------------------------------------------------------


def count_primes_below(n):
    """Deliberately CPU-bound."""
    sieve = bytearray([1]) * n
    sieve[:2] = b"\x00\x00"
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve), os.getpid()


def fails_in_a_process(x):
    raise RemoteError(f"process failed on {x}")


@pytest.fixture
def process_pool():
    # "spawn": forking a process that runs threads is unsafe (and warns from Python 3.12).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
        yield executor


def test_a_process_pool_runs_cpu_bound_work_in_other_processes(process_pool):
    def main():
        return (
            yield [
                tinyio.run_in_executor(process_pool, count_primes_below, n)
                for n in (10, 100, 1000, 100_000)
            ]
        )

    results = tinyio.Loop().run(main())
    assert [count for count, _ in results] == [4, 25, 168, 9592]
    assert all(pid != os.getpid() for _, pid in results)


def test_an_error_in_a_process_is_raised_with_the_remote_traceback(process_pool):
    def main():
        yield tinyio.run_in_executor(process_pool, fails_in_a_process, 7)

    with pytest.raises(RemoteError, match="process failed on 7") as excinfo:
        tinyio.Loop().run(main())
    # The process pool chains the traceback from the other process as the cause.
    assert "fails_in_a_process" in str(excinfo.value.__cause__)


def test_the_loop_runs_on_while_a_process_works(process_pool):
    steps = []

    def other():
        while not done:
            steps.append("step")
            yield tinyio.sleep(0.001)

    done = False

    def main():
        nonlocal done
        result = yield tinyio.run_in_executor(process_pool, count_primes_below, 300_000)
        done = True
        return result

    def both():
        return (yield [main(), other()])

    [(count, _), _] = tinyio.Loop().run(both())
    assert count == 25997
    assert len(steps) > 1


# --- Dask: a distributed engine's executor --------------------------------------------------

dask_task_may_finish = threading.Event()  # module-level: Dask ships functions by reference


def slow_dask_task(x):
    dask_task_may_finish.wait(10)
    return x


def fails_on_a_dask_worker(x):
    raise RemoteError(f"dask worker failed on {x}")


@pytest.fixture
def dask_client():
    dask_task_may_finish.clear()
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        dask_task_may_finish.set()  # let a task left running end, so that the worker can stop
        client.close()
        cluster.close()


def test_dask_executor_gives_results(dask_client):
    executor = dask_client.get_executor()

    def main():
        return (yield [tinyio.run_in_executor(executor, pow, 2, n) for n in range(6)])

    assert tinyio.Loop().run(main()) == [1, 2, 4, 8, 16, 32]


def test_dask_executor_raises_the_error_of_a_task_on_a_worker(dask_client):
    executor = dask_client.get_executor()

    def main():
        yield tinyio.run_in_executor(executor, fails_on_a_dask_worker, 3)

    with pytest.raises(RemoteError, match="dask worker failed on 3") as excinfo:
        tinyio.Loop().run(main())
    names = [frame.name for frame in traceback.extract_tb(excinfo.value.__traceback__)]
    assert names[-1] == "fails_on_a_dask_worker"


def test_dask_executor_task_is_cancelled_when_the_loop_crashes(dask_client):
    executor = RecordingExecutor(dask_client.get_executor())
    submitted = tinyio.Event()

    def waiter():
        call = tinyio.run_in_executor(executor, slow_dask_task, 1)
        yield {call}
        yield
        submitted.set()
        yield call

    def main():
        yield [waiter(), crash_when(submitted)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    [future] = executor.futures
    assert future.cancelled()


def test_a_dask_future_is_cancelled_on_timeout(dask_client):
    future = dask_client.submit(slow_dask_task, 2)

    def main():
        return (yield tinyio.timeout(tinyio.from_future(future), 0.05))

    assert tinyio.Loop().run(main()) == (None, False)
    assert future.status == "cancelled"


@pytest.mark.timeout(30)
def test_a_running_executor_call_whose_coroutine_was_cancelled_is_waited_for_by_run():
    started = threading.Event()
    release = threading.Event()
    log = []

    def work():
        started.set()
        release.wait(5)
        time.sleep(0.2)  # run must not return during this
        log.append("work ended")

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # not shut down in run

    def main():
        call = tinyio.run_in_executor(executor, work)
        yield {call}
        yield tinyio.run_in_thread(started.wait, 5)
        yield tinyio.cancel(call)  # the coroutine goes on at once
        log.append("cancelled")
        release.set()

    tinyio.Loop().run(main())
    assert log == ["cancelled", "work ended"]
    executor.shutdown()


@pytest.mark.timeout(30)
def test_an_executor_call_that_never_started_is_cancelled_and_never_runs():
    release = threading.Event()
    ran = []

    def main():
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            blocker = executor.submit(release.wait, 5)
            result = yield tinyio.timeout(tinyio.run_in_executor(executor, ran.append, 1), 0.01)
            release.set()
            yield tinyio.from_future(blocker)
        return result

    assert tinyio.Loop().run(main()) == (None, False)
    assert ran == []


def test_a_crash_just_after_the_call_is_made_leaves_no_call_running_after_run():
    # The crash comes in the turn right after the executor call's first step: the call either
    # never starts, or `run` waits for it (it used to run on after `run` had returned).
    started, ended = threading.Event(), threading.Event()

    def work():
        started.set()
        time.sleep(0.2)
        ended.set()

    def failing():
        raise ValueError("boom")
        yield

    with concurrent.futures.ThreadPoolExecutor(1) as pool:

        def main():
            yield [tinyio.run_in_executor(pool, work), failing()]

        with pytest.raises(ValueError, match="boom"):
            tinyio.Loop().run(main())
        if started.wait(0.1):
            assert ended.is_set()


# ---------------------------------------------------------------- Ctrl-C (in a subprocess)


@pytest.mark.timeout(120)
def test_one_ctrl_c_with_running_executor_calls_names_them_and_waits_for_them(tmp_path):
    program = ctrl_c_programs.Program(tmp_path, ctrl_c_programs.EXECUTOR_PROGRAM, "3")
    try:
        program.press()
        stdout, stderr = program.finish(timeout=60)
    finally:
        program.kill()
    assert stdout == ["other cleaned up", "KeyboardInterrupt after the calls: True"], stderr
    # As for thread calls: after a second, stderr says what the loop waits for, once, naming
    # both calls.
    told = "tinyio: Ctrl-C: the loop is stopping, but 2 calls are still running outside it"
    assert stderr.count(told) == 1, stderr
    assert stderr.count("\n  <executor call work() in ThreadPoolExecutor, running") == 2, stderr
    assert "Press Ctrl-C again to abandon them" in stderr
    assert "\nKeyboardInterrupt\n" in stderr
    for unwanted in ("ExceptionGroup", "Warning", "abandoned"):
        assert unwanted not in stderr, stderr
    assert program.process.returncode == -signal.SIGINT


@pytest.mark.timeout(120)
def test_a_second_ctrl_c_abandons_running_executor_calls_at_once_in_one_note(tmp_path):
    program = ctrl_c_programs.Program(tmp_path, ctrl_c_programs.EXECUTOR_PROGRAM, "600")
    try:
        program.press()
        assert program.wait_for("Press Ctrl-C again to abandon them", 30), program.stderr
        program.press()
        stdout, stderr = program.finish(timeout=30)
    finally:
        program.kill()
    assert stdout == ["other cleaned up", "KeyboardInterrupt after the calls: False"], stderr
    # One note for both, at once (it was one per call, each after a poll of the last).
    note = "tinyio: a second Ctrl-C abandoned 2 calls still running outside the loop:"
    assert stderr.count(note) == 1, stderr
    named = stderr[stderr.index(note) :].splitlines()[1:3]
    assert all(line.startswith("  <executor call work() in ThreadPoolExecutor") for line in named)
    assert "abandoned an executor call" not in stderr
    for unwanted in ("ExceptionGroup", "Warning", "Exception ignored"):
        assert unwanted not in stderr, stderr
    assert program.process.returncode == -signal.SIGINT


# ------------------------------------------------- Ctrl-C (in-process, measured by coverage)


class _StderrWatch:
    """Stands in for sys.stderr: keeps what is written and sets `seen` once `text` is."""

    def __init__(self, text):
        self.text, self.written, self.seen = text, [], threading.Event()

    def write(self, data):
        self.written.append(data)
        if self.text in "".join(self.written):
            self.seen.set()
        return len(data)

    def flush(self):
        pass


@pytest.mark.timeout(60, method="thread")
def test_in_process_ctrl_c_names_a_running_executor_call_then_a_second_abandons_it(monkeypatch):
    # As the subprocess tests above, in this process (an executor call is never sent an
    # asynchronous exception, so a tracer changes nothing here): the note comes a second after
    # the first Ctrl-C, and the second Ctrl-C ends the run with KeyboardInterrupt at once.
    watch = _StderrWatch("Press Ctrl-C again to abandon them")
    monkeypatch.setattr(sys, "stderr", watch)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    release, started = threading.Event(), threading.Event()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    log = []

    def stuck():
        started.set()
        release.wait(60)

    def other():
        try:
            yield tinyio.sleep(600)
        finally:
            log.append("other cleaned up")

    def main():
        yield [other(), tinyio.run_in_executor(executor, stuck)]

    def press_twice():
        assert started.wait(10)
        os.kill(os.getpid(), signal.SIGINT)
        assert watch.seen.wait(30)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_twice)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            tinyio.Loop().run(main())
    finally:
        release.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
        executor.shutdown()
    written = "".join(watch.written)
    assert log == ["other cleaned up"]
    assert "1 call is still running outside it" in written, written
    assert "stuck() in ThreadPoolExecutor, running" in written, written


async def _async_work():
    return 1


def _generator_work():
    yield


async def _async_generator_work():
    yield


@pytest.mark.parametrize(
    ("fn", "said"),
    [
        (_async_work, "_async_work is an `async def`: calling it would only make its coroutine"),
        (_generator_work, "_generator_work is a generator function: its calls are tinyio"),
        (_async_generator_work, "_async_generator_work is an async generator function"),
    ],
    ids=["async def", "generator function", "async generator function"],
)
def test_a_function_that_makes_a_coroutine_is_refused_at_the_call(fn, said):
    # Run in the pool, it would hand back a coroutine object that never runs.
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        pytest.raises(TypeError, match=re.escape(said)) as info,
    ):
        tinyio.run_in_executor(pool, fn)
    assert info.traceback[-1].frame.code.name == "run_in_executor"  # raised at the call


def test_a_timed_out_wait_on_a_future_whose_callbacks_never_come_ends_the_run():
    # An asyncio future of a loop that is not running: cancelled, it is done, but its
    # callbacks wait for that loop. The run ended only if they came (it hung for ever).
    host = asyncio.new_event_loop()
    try:
        future = host.create_future()

        def main():
            return (yield tinyio.timeout(tinyio.from_future(future), 0.01))

        assert tinyio.Loop().run(main()) == (None, False)
        assert future.cancelled()
    finally:
        host.close()
