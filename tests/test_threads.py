"""`tinyio.run_in_thread`: blocking calls in reused worker threads (docs: threads-and-executors.md).

See docs/devdocs/threads.md for the decisions tested here: the workers belong to one run of
one loop, at most one thread is starting at a time, and a cancellation is raised inside the
thread only while the call it was meant for runs.
"""

import os
import pickle
import random
import signal
import sys
import threading
import time
import traceback
import warnings

import pytest

import tinyio
import tinyio._workers

LIBRARY_DIR = os.path.dirname(os.path.abspath(tinyio.__file__))


class Boom(Exception):
    pass


class ThreadError(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class OtherThreadError(Exception):
    pass


def crash_when(event):
    """A coroutine that raises `Boom` once `event` (a tinyio.Event) is set."""
    yield event.wait()
    raise Boom("crash")


def run_with_deadline(coro, seconds=20.0, **kwargs):
    """Run `coro` in a fresh loop in a daemon thread; fail (instead of hanging) past `seconds`.

    Returns ("returned", value) or ("raised", error).
    """
    outcome = []

    def target():
        try:
            outcome.append(("returned", tinyio.Loop().run(coro, **kwargs)))
        except BaseException as error:
            outcome.append(("raised", error))

    thread = threading.Thread(target=target, daemon=True, name="test loop")
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loop.run did not return within {seconds} s: it hangs"
    return outcome[0]


@pytest.fixture
def finished_jobs(monkeypatch):
    """A semaphore released each time a worker has finished a job (its outcome recorded),
    just before the worker wakes the waiting coroutine: lets a test hold the loop until threads
    have finished, so that it processes their outcomes in a known state."""
    finished = threading.Semaphore(0)
    execute = tinyio._workers.Workers._execute

    def execute_and_signal(self, ident, job):
        execute(self, ident, job)
        finished.release()

    monkeypatch.setattr(tinyio._workers.Workers, "_execute", execute_and_signal)
    return finished


@pytest.fixture
def workers_of_each_run(monkeypatch):
    """The list of the `_Workers` made by each run, to read `threads_started`."""
    made = []

    class RecordedWorkers(tinyio._workers.Workers):
        def __init__(self):
            super().__init__()
            made.append(self)

    monkeypatch.setattr(tinyio._workers, "Workers", RecordedWorkers)
    return made


@pytest.fixture
def frequent_thread_switches():
    """Make the interpreter switch threads far more often, to shake out races."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


# --- Results --------------------------------------------------------------------------------


def test_gives_the_return_value_of_the_function():
    def main():
        return (yield tinyio.run_in_thread(lambda: 42))

    assert tinyio.Loop().run(main()) == 42


def test_passes_positional_and_keyword_arguments_including_one_named_fn():
    def describe(a, b, *, fn, scale=1):
        return (a, b, fn, scale)

    def main():
        return (yield tinyio.run_in_thread(describe, 1, 2, fn="f", scale=3))

    assert tinyio.Loop().run(main()) == (1, 2, "f", 3)


def test_the_function_runs_in_another_thread():
    def main():
        return (yield tinyio.run_in_thread(threading.get_ident))

    assert tinyio.Loop().run(main()) != threading.get_ident()


def test_the_function_is_not_called_until_the_coroutine_runs():
    calls = []
    coro = tinyio.run_in_thread(calls.append, "called")
    assert calls == []

    def main():
        yield coro

    tinyio.Loop().run(main())
    assert calls == ["called"]


def test_a_coroutine_that_is_never_run_never_calls_the_function():
    calls = []
    coro = tinyio.run_in_thread(calls.append, "called")
    coro.close()
    assert calls == []


def test_gathered_calls_give_their_results_in_list_order_whatever_order_they_finish_in():
    # Each call waits for the next one to finish, so they finish in reverse order.
    finished = [threading.Event() for _ in range(5)]

    def work(i):
        if i + 1 < len(finished):
            assert finished[i + 1].wait(10)
        finished[i].set()
        return i * 10

    def main():
        return (yield [tinyio.run_in_thread(work, i) for i in range(5)])

    assert tinyio.Loop().run(main()) == [0, 10, 20, 30, 40]


def test_a_call_yielded_by_two_coroutines_runs_once_and_both_get_its_result():
    calls = []

    def work():
        calls.append("called")
        return "result"

    shared = tinyio.run_in_thread(work)

    def waiter():
        return (yield shared)

    def main():
        return (yield [waiter(), waiter()])

    assert tinyio.Loop().run(main()) == ["result", "result"]
    assert calls == ["called"]


def test_a_blocking_call_does_not_block_the_loop():
    released = threading.Event()
    steps = []

    def blocking():
        return released.wait(10)  # True only if the loop ran on meanwhile and released it

    def other():
        for i in range(3):
            steps.append(i)
            yield
        released.set()

    def main():
        return (yield [tinyio.run_in_thread(blocking), other()])

    assert tinyio.Loop().run(main()) == [True, None]
    assert steps == [0, 1, 2]


def test_a_thread_can_set_an_event_that_a_coroutine_waits_on():
    ready = tinyio.Event()

    def producer():
        ready.set()
        return "produced"

    def consumer():
        yield ready.wait()
        return "consumed"

    def main():
        return (yield [consumer(), tinyio.run_in_thread(producer)])

    assert tinyio.Loop().run(main()) == ["consumed", "produced"]


# --- Errors ---------------------------------------------------------------------------------


def fails_in_thread():
    raise ThreadError(7, "from the thread")  # fails_in_thread: raise


def test_an_error_in_the_thread_is_raised_out_of_run():
    def main():
        yield tinyio.run_in_thread(fails_in_thread)

    with pytest.raises(ThreadError) as excinfo:
        tinyio.Loop().run(main())
    assert excinfo.value.args == (7, "from the thread")


def test_an_error_in_the_thread_cancels_the_other_coroutines():
    log = []

    def bystander():
        try:
            yield tinyio.sleep(30)
        except tinyio.CancelledError:
            log.append("bystander cancelled")
            raise

    def main():
        yield [bystander(), tinyio.run_in_thread(fails_in_thread)]

    with pytest.raises(ThreadError):
        tinyio.Loop().run(main())
    assert log == ["bystander cancelled"]


def test_the_traceback_holds_the_frames_of_the_function_in_the_thread():
    def main():
        yield tinyio.run_in_thread(fails_in_thread)

    with pytest.raises(ThreadError) as excinfo:
        tinyio.Loop().run(main())
    frames = traceback.extract_tb(excinfo.value.__traceback__)
    names = [frame.name for frame in frames]
    assert names[0] == "test_the_traceback_holds_the_frames_of_the_function_in_the_thread"
    assert names[-2:] == ["main", "fails_in_thread"]
    assert frames[-1].line == 'raise ThreadError(7, "from the thread")  # fails_in_thread: raise'
    library = [frame.name for frame in frames if frame.filename.startswith(LIBRARY_DIR + os.sep)]
    assert library in ([], ["run"]), "no frame of the library but loop.run's"


def test_the_traceback_holds_the_nested_calls_made_in_the_thread():
    def inner():
        raise ValueError("deep")

    def outer():
        return inner()

    def main():
        yield tinyio.run_in_thread(outer)

    with pytest.raises(ValueError, match="deep") as excinfo:
        tinyio.Loop().run(main())
    names = [frame.name for frame in traceback.extract_tb(excinfo.value.__traceback__)]
    assert names[-3:] == ["main", "outer", "inner"]


def test_an_error_from_the_thread_keeps_its_cause_and_context():
    def explicit():
        try:
            raise KeyError("first")
        except KeyError as error:
            raise ValueError("second") from error

    def implicit():
        try:
            raise KeyError("first")
        except KeyError:
            raise ValueError("second")  # noqa: B904 -- the implicit context is the point

    for fn, suppressed in [(explicit, True), (implicit, False)]:

        def main(fn=fn):
            yield tinyio.run_in_thread(fn)

        with pytest.raises(ValueError, match="second") as excinfo:
            tinyio.Loop().run(main())
        error = excinfo.value
        assert isinstance(error.__context__, KeyError)
        assert error.__suppress_context__ is suppressed
        if suppressed:
            assert error.__cause__ is error.__context__
        else:
            assert error.__cause__ is None
        # The chained error keeps its own traceback from the thread.
        chained = traceback.extract_tb(error.__context__.__traceback__)
        assert chained[-1].name == fn.__name__


def test_an_error_from_the_thread_still_pickles():
    def main():
        yield tinyio.run_in_thread(fails_in_thread)

    with pytest.raises(ThreadError) as excinfo:
        tinyio.Loop().run(main())
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert type(copy) is ThreadError
    assert (copy.code, copy.detail) == (7, "from the thread")


def test_a_base_exception_in_the_thread_is_raised_out_of_run():
    class Fatal(BaseException):
        pass

    def fatal():
        raise Fatal("stop")

    def main():
        yield tinyio.run_in_thread(fatal)

    with pytest.raises(Fatal, match="stop"):
        tinyio.Loop().run(main())


# --- Cancellation ---------------------------------------------------------------------------


def test_cancellation_raises_cancelled_error_inside_the_thread_and_run_waits_for_it():
    started = tinyio.Event()
    log = []

    def work():
        started.set()
        try:
            while True:  # Python bytecode, so the CancelledError is raised promptly
                time.sleep(0.001)
        except BaseException as error:
            log.append(type(error))
            raise
        finally:
            time.sleep(0.1)  # a slow clean-up: loop.run must wait for it
            log.append("cleaned up")

    def main():
        yield [tinyio.run_in_thread(work), crash_when(started)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == [tinyio.CancelledError, "cleaned up"]


def test_a_thread_in_a_long_c_call_sees_the_cancellation_when_the_call_returns():
    started = tinyio.Event()
    log = []

    def work():
        started.set()
        try:
            time.sleep(0.3)  # one C call: the CancelledError can only be raised after it
            log.append("slept")
            time.sleep(30)
        except tinyio.CancelledError:
            log.append("cancelled")
            raise

    def main():
        yield [tinyio.run_in_thread(work), crash_when(started)]

    start = time.monotonic()
    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["cancelled"]
    assert 0.25 < time.monotonic() - start < 10


def test_a_thread_that_swallows_the_cancellation_and_returns_gets_a_runtime_warning():
    started = tinyio.Event()

    def stubborn():
        started.set()
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            return "ignored the cancellation"

    def main():
        yield [tinyio.run_in_thread(stubborn), crash_when(started)]

    with (
        pytest.warns(RuntimeWarning, match="did not respond properly to cancellation") as record,
        pytest.raises(Boom),
    ):
        tinyio.Loop().run(main())
    message = str(record[0].message)
    assert "stubborn" in message
    assert "ignored the cancellation" in message


def test_a_thread_that_lets_the_cancellation_propagate_gets_no_warning():
    # filterwarnings=error makes any warning an error, which would change what run raises.
    started = tinyio.Event()

    def polite():
        started.set()
        while True:
            time.sleep(0.001)

    def main():
        yield [tinyio.run_in_thread(polite), crash_when(started)]

    with pytest.raises(Boom) as excinfo:
        tinyio.Loop().run(main())
    assert type(excinfo.value) is Boom


def test_a_thread_raising_another_error_on_cancellation_is_reported_in_a_group():
    started = tinyio.Event()

    def cleanup_fails():
        started.set()
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            raise OtherThreadError("clean-up failed") from None

    def main():
        yield [tinyio.run_in_thread(cleanup_fails), crash_when(started)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # whether it warns is not specified
        with pytest.raises(ExceptionGroup) as excinfo:
            tinyio.Loop().run(main())
    members = excinfo.value.exceptions
    assert [type(member) for member in members] == [Boom, OtherThreadError]


def test_with_exception_group_true_the_cancelled_thread_reports_a_cancelled_error():
    started = tinyio.Event()

    def work():
        started.set()
        while True:
            time.sleep(0.001)

    def main():
        yield [tinyio.run_in_thread(work), crash_when(started)]

    with pytest.raises(BaseExceptionGroup) as excinfo:
        tinyio.Loop().run(main(), exception_group=True)
    members = excinfo.value.exceptions
    assert type(members[0]) is Boom
    assert members[1:], "the successful cancellations are reported too"
    assert all(isinstance(member, tinyio.CancelledError) for member in members[1:])


def test_with_exception_group_false_only_the_original_error_is_raised():
    started = tinyio.Event()

    def cleanup_fails():
        started.set()
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            raise OtherThreadError("clean-up failed") from None

    def main():
        yield [tinyio.run_in_thread(cleanup_fails), crash_when(started)]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(Boom):
            tinyio.Loop().run(main(), exception_group=False)


def test_a_thread_that_had_already_failed_when_the_loop_crashed_is_reported_without_warning(
    finished_jobs,
):
    started = tinyio.Event()
    loop_held = threading.Event()

    def fails_first():
        started.set()
        assert loop_held.wait(10)
        raise OtherThreadError("failed on its own")

    def crasher():
        yield started.wait()
        # Hold the loop until the thread has failed, so that its failure is not processed yet.
        loop_held.set()
        assert finished_jobs.acquire(timeout=10)
        raise Boom("crash")

    def main():
        yield [tinyio.run_in_thread(fails_first), crasher()]

    with pytest.raises(ExceptionGroup) as excinfo:
        tinyio.Loop().run(main())
    assert [type(member) for member in excinfo.value.exceptions] == [Boom, OtherThreadError]


def test_a_thread_that_had_already_returned_when_the_loop_crashed_is_not_reported(finished_jobs):
    started = tinyio.Event()
    loop_held = threading.Event()

    def returns():
        started.set()
        assert loop_held.wait(10)
        return "too late"

    def crasher():
        yield started.wait()
        loop_held.set()
        assert finished_jobs.acquire(timeout=10)
        raise Boom("crash")

    def main():
        yield [tinyio.run_in_thread(returns), crasher()]

    with pytest.raises(Boom) as excinfo:
        tinyio.Loop().run(main())
    assert type(excinfo.value) is Boom


def test_threads_failing_at_the_same_time_are_reported_together_without_warnings(finished_jobs):
    loop_held = threading.Event()
    both_started = threading.Barrier(2, timeout=10)
    started = tinyio.Event()

    def fails(name):
        both_started.wait()
        started.set()
        assert loop_held.wait(10)
        raise OtherThreadError(name)

    def hold_the_loop():
        yield started.wait()
        loop_held.set()
        # The second thread fails before the first's failure is processed.
        assert finished_jobs.acquire(timeout=10)
        assert finished_jobs.acquire(timeout=10)

    def main():
        yield [tinyio.run_in_thread(fails, "a"), tinyio.run_in_thread(fails, "b"), hold_the_loop()]

    with pytest.raises(ExceptionGroup) as excinfo:
        tinyio.Loop().run(main())
    members = excinfo.value.exceptions
    assert all(type(member) is OtherThreadError for member in members)
    assert sorted(str(member) for member in members) == ["a", "b"]


def test_calls_not_yet_started_are_skipped_and_every_started_one_ends_before_run_raises(
    monkeypatch,
):
    # Four threads start; the fifth start is put off until the loop has cancelled everything,
    # so that 196 calls are still queued at the crash. None of those may start after it, and
    # the four that run must end before `run` raises.
    lock = threading.Lock()
    counts = {"started": 0, "ended": 0}
    starts = []
    cancel_all = tinyio._workers.Workers.cancel_all
    start_worker = tinyio._workers.Workers._start_worker

    def start_worker_after_four(self):
        starts.append(self)
        if len(starts) != 5:
            start_worker(self)

    def cancel_all_then_start_the_fifth(self):
        cancel_all(self)
        if len(starts) >= 5:
            start_worker(self)

    monkeypatch.setattr(tinyio._workers.Workers, "_start_worker", start_worker_after_four)
    monkeypatch.setattr(tinyio._workers.Workers, "cancel_all", cancel_all_then_start_the_fifth)

    def work():
        with lock:
            counts["started"] += 1
        try:
            while True:
                time.sleep(0.001)
        finally:
            with lock:
                counts["ended"] += 1

    def crasher():
        while counts["started"] < 4 or len(starts) < 5:
            yield tinyio.sleep(0.001)
        raise Boom("crash")

    def main():
        yield [*(tinyio.run_in_thread(work) for _ in range(200)), crasher()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    with lock:
        assert counts == {"started": 4, "ended": 4}


def test_when_the_loop_crashes_its_threads_are_cancelled_side_by_side_not_one_after_another():
    # Each thread, once cancelled, waits until all of them have been cancelled. If the loop
    # cancelled them one at a time, waiting for each to end before cancelling the next, the
    # first would wait in vain (and its barrier break after 10 s). A crash with many busy
    # threads would then take the sum of their clean-up times instead of the longest.
    n = 20
    all_running = threading.Barrier(n + 1)
    all_cancelled = threading.Barrier(n)
    outcomes = []

    def work():
        try:
            # Inside the `try`: the crash may come as soon as the barrier lets everyone go.
            all_running.wait(timeout=10)
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            try:
                all_cancelled.wait(timeout=10)
                outcomes.append("cancelled with the others")
            except threading.BrokenBarrierError:
                outcomes.append("cancelled alone")
            raise

    def crasher():
        yield tinyio.run_in_thread(all_running.wait, timeout=10)
        raise Boom("crash")

    def main():
        yield [*(tinyio.run_in_thread(work) for _ in range(n)), crasher()]

    outcome = run_with_deadline(main())
    assert outcome[0] == "raised", outcome
    assert isinstance(outcome[1], Boom), outcome
    assert outcomes == ["cancelled with the others"] * n


def test_a_timeout_cancels_only_the_thread_of_the_coroutine_it_interrupts():
    # Cancelling everything at once is for a loop that crashes. A timeout interrupts one
    # coroutine: only its call is cancelled, and the others run on to their results.
    release = threading.Event()

    def slow():
        while not release.is_set():
            time.sleep(0.001)
        return "finished"

    def give_up_soon():
        result = yield tinyio.timeout(tinyio.run_in_thread(slow), 0.05)
        release.set()
        return result

    def main():
        return (yield [give_up_soon(), tinyio.run_in_thread(slow), tinyio.run_in_thread(slow)])

    assert tinyio.Loop().run(main()) == [(None, False), "finished", "finished"]


def test_a_cancellation_sent_as_the_function_returns_does_not_hang_the_loop(monkeypatch):
    # The loop holds the workers' lock while it sends the CancelledError, and the function
    # returns at that very moment: its worker blocks on the lock, then finishes the job, and
    # only then does Python raise the CancelledError in it. The loop must still be told that
    # the job has ended.
    sending = threading.Event()
    set_async_exc = tinyio._workers._set_async_exc

    def slow_send(ident, exception):
        # Called by the loop, holding the workers' lock, to cancel every running call.
        sending.set()
        time.sleep(0.2)  # the function returns meanwhile; its worker waits for the lock
        return set_async_exc(ident, exception)

    monkeypatch.setattr(tinyio._workers, "_set_async_exc", slow_send)
    started = tinyio.Event()

    def work():
        started.set()
        assert sending.wait(10)
        return "returned just as it was cancelled"

    def main():
        yield [tinyio.run_in_thread(work), crash_when(started)]

    kind, value = run_with_deadline(main(), seconds=5)
    assert kind == "raised"
    assert type(value) is Boom


def test_a_cancellation_never_lands_in_a_later_call_on_the_same_worker(frequent_thread_switches):
    # Time out calls at about the moment they return, over and over, each followed by a call
    # on the (reused) worker that would notice a CancelledError meant for its predecessor.
    stray = []
    rng = random.Random(1234)

    def spin(n):
        for _ in range(n):
            pass

    def later_call():
        try:
            spin(3000)
        except tinyio.CancelledError:
            stray.append("a CancelledError landed in a later call")
            raise

    def main():
        outcomes = set()
        for _ in range(400):
            _, in_time = yield tinyio.timeout(
                tinyio.run_in_thread(spin, rng.randrange(150_000)), 0.001
            )
            outcomes.add(in_time)
            yield tinyio.run_in_thread(later_call)
        return outcomes

    kind, value = run_with_deadline(main(), seconds=30)
    assert kind == "returned", value
    assert value == {True, False}, "both calls in time and calls timed out were exercised"
    assert stray == []


# --- Concurrency and reuse ------------------------------------------------------------------


def test_a_hundred_calls_blocking_a_tenth_of_a_second_each_finish_in_well_under_half_a_second():
    def block():
        time.sleep(0.1)

    def main():
        start = time.monotonic()
        yield [tinyio.run_in_thread(block) for _ in range(100)]
        return time.monotonic() - start

    assert tinyio.Loop().run(main()) < 0.5


def test_any_number_of_calls_run_at_the_same_time():
    # Each call waits until all 150 are running at once.
    everyone = threading.Barrier(150, timeout=20)

    def meet():
        return everyone.wait() >= 0

    def main():
        return (yield [tinyio.run_in_thread(meet) for _ in range(150)])

    assert tinyio.Loop().run(main()) == [True] * 150


def test_sequential_calls_reuse_the_same_worker_thread():
    def main():
        idents = []
        for _ in range(50):
            idents.append((yield tinyio.run_in_thread(threading.get_ident)))
        return idents

    idents = tinyio.Loop().run(main())
    # One thread, give or take one more started when the loop got in first (under heavy load).
    assert len(set(idents)) <= 2
    assert threading.get_ident() not in idents


def test_a_burst_of_trivial_calls_starts_far_fewer_threads_than_calls(workers_of_each_run):
    def main():
        return (yield [tinyio.run_in_thread(abs, -i) for i in range(2000)])

    assert tinyio.Loop().run(main()) == list(range(2000))
    [workers] = workers_of_each_run
    assert 1 <= workers.threads_started < 400


def test_each_run_has_its_own_workers(workers_of_each_run):
    def main():
        return (yield tinyio.run_in_thread(threading.get_ident))

    loop = tinyio.Loop()
    loop.run(main())
    loop.run(main())
    assert len(workers_of_each_run) == 2


def test_idle_workers_retire_and_new_ones_start_when_needed(monkeypatch):
    monkeypatch.setattr(tinyio._workers, "_IDLE_SECONDS", 0.05)
    before = set(threading.enumerate())

    def workers_alive():
        return [t for t in threading.enumerate() if t not in before and t.name == "tinyio worker"]

    def main():
        first = yield [tinyio.run_in_thread(time.sleep, 0.05) for _ in range(5)]
        assert workers_alive()
        deadline = time.monotonic() + 10
        while workers_alive() and time.monotonic() < deadline:
            yield tinyio.sleep(0.02)
        retired = not workers_alive()
        second = yield [tinyio.run_in_thread(lambda x: x + 1, i) for i in range(5)]
        return first, retired, second

    first, retired, second = tinyio.Loop().run(main())
    assert first == [None] * 5
    assert retired
    assert second == [1, 2, 3, 4, 5]


def test_workers_retiring_while_calls_arrive_lose_no_call(monkeypatch, frequent_thread_switches):
    monkeypatch.setattr(tinyio._workers, "_IDLE_SECONDS", 0.0005)
    rng = random.Random(99)

    def main():
        total = 0
        for _ in range(150):
            results = yield [tinyio.run_in_thread(abs, -i) for i in range(rng.randrange(1, 4))]
            total += len(results)
            yield tinyio.sleep(rng.choice([0, 0.0003, 0.0006, 0.001]))
        return total

    kind, value = run_with_deadline(main(), seconds=60)
    assert kind == "returned", value
    assert value >= 150


# --- No thread outlives the run -------------------------------------------------------------


def _threads():
    return set(threading.enumerate())


def test_no_worker_thread_is_left_when_run_returns():
    before = _threads()

    def main():
        yield [tinyio.run_in_thread(time.sleep, 0.01) for _ in range(20)]
        assert len(_threads() - before) >= 1  # the workers are still there, idle

    tinyio.Loop().run(main())
    assert _threads() - before == set()  # at once: run joined them


def test_no_worker_thread_is_left_when_run_crashes():
    before = _threads()
    started = tinyio.Event()

    def work():
        started.set()
        while True:
            time.sleep(0.001)

    def main():
        yield [*(tinyio.run_in_thread(work) for _ in range(10)), crash_when(started)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert _threads() - before == set()


def test_no_worker_thread_is_left_when_run_crashes_with_calls_still_queued(monkeypatch):
    # When the loop crashes, calls that no worker has taken yet are skipped; a worker skipping
    # them must not start another thread once the run is stopping (that thread would outlive
    # the run, or take the stop signal meant for another, which run then waits for). Repeated,
    # as the crash must catch workers in the middle of taking the queued calls.
    #
    # What the time bound tells apart: a run that stops its workers (well under a second,
    # several seconds under a tracer on a loaded machine) from one that waits for a worker to
    # retire on its own, after its idle time. So the idle time is made long, 50 s, and the
    # bound half of it: only the wait it is about can pass it, not a slow machine.
    monkeypatch.setattr(tinyio._workers, "_IDLE_SECONDS", 50.0)

    def work():
        while True:
            time.sleep(0.001)

    def crasher():
        yield
        raise Boom("crash")

    def main():
        yield [*(tinyio.run_in_thread(work) for _ in range(200)), crasher()]

    for attempt in range(30):
        before = _threads()
        start = time.monotonic()
        with pytest.raises(Boom):
            tinyio.Loop().run(main())
        took = time.monotonic() - start
        left = _threads() - before
        assert not left, f"attempt {attempt}: threads outlived loop.run: {left}"
        # Nor may run wait for a worker to retire on its own (its idle time, 50 s here).
        assert took < 25.0, f"attempt {attempt}: loop.run took {took:.1f} s to stop its workers"


def test_no_worker_thread_is_left_when_a_thread_fails():
    before = _threads()

    def main():
        yield [tinyio.run_in_thread(time.sleep, 0.05), tinyio.run_in_thread(fails_in_thread)]

    with pytest.raises(ThreadError):
        tinyio.Loop().run(main())
    assert _threads() - before == set()


def test_no_worker_thread_is_left_when_the_loop_is_driven_by_runtime():
    before = _threads()

    def main():
        return (yield [tinyio.run_in_thread(abs, -i) for i in range(10)])

    loop = tinyio.Loop()
    with loop.runtime(main(), exception_group=None) as steps:
        while True:
            try:
                step = next(steps)
            except StopIteration as stop:
                result = stop.value
                break
            if step is not None:
                step()  # block until a thread wakes the loop
    assert result == list(range(10))
    assert _threads() - before == set()


def test_a_nested_loop_joins_its_own_workers_when_its_run_ends():
    before = _threads()

    def inner():
        return (yield tinyio.run_in_thread(lambda: "inner"))

    def outer():
        result = tinyio.Loop().run(inner())
        after_inner = _threads() - before
        outer_result = yield tinyio.run_in_thread(lambda: "outer")
        return result, outer_result, after_inner

    assert tinyio.Loop().run(outer()) == ("inner", "outer", set())
    assert _threads() - before == set()


def test_a_failing_isolated_region_cancels_its_threads_and_the_outer_loop_runs_threads_on():
    before = _threads()
    started = tinyio.Event()
    log = []

    def work():
        started.set()
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            log.append("cancelled in the thread")
            raise

    def inner():
        yield [tinyio.run_in_thread(work), crash_when(started)]

    def main():
        error, ok = yield tinyio.isolate(inner())
        log.append((type(error), ok, _threads() - before))
        return (yield tinyio.run_in_thread(lambda: "outer goes on"))

    assert tinyio.Loop().run(main()) == "outer goes on"
    assert log == ["cancelled in the thread", (Boom, False, set())]
    assert _threads() - before == set()


def test_a_loop_reused_after_a_crash_runs_threads_again():
    loop = tinyio.Loop()

    def failing():
        yield tinyio.run_in_thread(fails_in_thread)

    with pytest.raises(ThreadError):
        loop.run(failing())

    def main():
        return (yield tinyio.run_in_thread(lambda: "again"))

    assert loop.run(main()) == "again"


def test_loops_in_different_threads_each_run_their_calls():
    results = {}

    def run_loop(name):
        def main():
            return (yield [tinyio.run_in_thread(lambda i=i: (name, i)) for i in range(20)])

        results[name] = tinyio.Loop().run(main())

    threads = [threading.Thread(target=run_loop, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == {name: [(name, i) for i in range(20)] for name in "abc"}


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("not_callable", [None, 42, "print", [print]])
def test_a_non_callable_is_a_type_error_at_the_call(not_callable):
    with pytest.raises(TypeError, match="function") as excinfo:
        tinyio.run_in_thread(not_callable)
    assert repr(not_callable) in str(excinfo.value)


# ---------------------------------------------------------------- Ctrl-C while a worker starts


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_ctrl_c_while_a_worker_thread_starts_stops_the_run_and_leaves_no_thread(
    monkeypatch, when
):
    # Found by the stress layer's random Ctrl-C test: a KeyboardInterrupt raised inside
    # `Thread.start()` (Python code) left a thread behind -- never started yet listed by
    # `threading.enumerate()` for ever, with `loop.run` raising "cannot join thread before it
    # is started" instead of the KeyboardInterrupt; or started but not joined. Here the
    # SIGINT arrives, for certain, just before or just after the real `start`.
    original_start = threading.Thread.start
    interrupted = []

    def start_with_a_ctrl_c(thread):
        if thread.name == "tinyio worker" and not interrupted:
            interrupted.append(thread)
            if when == "before":
                signal.raise_signal(signal.SIGINT)  # its handler runs at the next bytecode
            original_start(thread)
            if when == "after":
                signal.raise_signal(signal.SIGINT)
        else:
            original_start(thread)

    def main():
        return (yield [tinyio.run_in_thread(time.sleep, 0.001) for _ in range(3)])

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(threading.Thread, "start", start_with_a_ctrl_c)
    threads_before = set(threading.enumerate())
    try:
        with pytest.raises(KeyboardInterrupt):
            tinyio.Loop().run(main())
    finally:
        monkeypatch.undo()
        signal.signal(signal.SIGINT, previous)
    assert interrupted
    assert set(threading.enumerate()) - threads_before == set()
    # The thread that was being started when the Ctrl-C came did start, and has ended.
    assert interrupted[0].ident is not None
    assert not interrupted[0].is_alive()


def test_a_worker_that_cannot_be_started_fails_its_call_at_once_and_the_next_call_works(
    monkeypatch,
):
    start = threading.Thread.start
    refused = []
    ran = []

    def refuse_the_first_worker(thread):
        if thread.name == "tinyio worker" and not refused:
            refused.append(thread)
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse_the_first_worker)

    def main():
        with pytest.raises(RuntimeError, match="can't start new thread"):
            yield from tinyio.run_in_thread(ran.append, "first")
        return (yield tinyio.run_in_thread(ran.append, "second"))

    assert run_with_deadline(main(), seconds=10) == ("returned", None)
    assert ran == ["second"], "the call that failed to start never runs"
