"""`tinyio.ThreadPool`: blocking calls in threads, at most `max_threads` at once (docs: threads-and-executors.md)."""

import random
import signal
import sys
import threading
import time

import pytest

import tinyio


class Boom(Exception):
    pass


class PeakCounter:
    """Counts the calls running at once (from any thread) and remembers the most."""

    def __init__(self):
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __enter__(self):
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc_info):
        with self._lock:
            self.running -= 1


# --- Results --------------------------------------------------------------------------------


def test_run_in_thread_gives_the_return_value():
    pool = tinyio.ThreadPool(2)

    def main():
        return (yield pool.run_in_thread(lambda: "result"))

    assert tinyio.Loop().run(main()) == "result"


def test_run_in_thread_passes_positional_and_keyword_arguments_including_one_named_fn():
    pool = tinyio.ThreadPool(2)

    def describe(a, *, fn, scale=1):
        return (a, fn, scale)

    def main():
        return (yield pool.run_in_thread(describe, 1, fn="f", scale=3))

    assert tinyio.Loop().run(main()) == (1, "f", 3)


def test_run_in_thread_runs_the_function_in_another_thread():
    pool = tinyio.ThreadPool(1)

    def main():
        return (yield pool.run_in_thread(threading.get_ident))

    assert tinyio.Loop().run(main()) != threading.get_ident()


def test_map_gives_the_results_in_the_order_of_the_inputs_whatever_order_they_finish_in():
    pool = tinyio.ThreadPool(5)
    # Each call waits for the next one to finish, so they finish in reverse order.
    finished = [threading.Event() for _ in range(5)]

    def work(i):
        if i + 1 < len(finished):
            assert finished[i + 1].wait(10)
        finished[i].set()
        return i * i

    def main():
        return (yield pool.map(work, range(5)))

    assert tinyio.Loop().run(main()) == [0, 1, 4, 9, 16]


def test_map_of_nothing_gives_an_empty_list():
    pool = tinyio.ThreadPool(3)

    def main():
        return (yield pool.map(abs, []))

    assert tinyio.Loop().run(main()) == []


def test_map_takes_any_iterable_and_reads_it_at_the_call():
    pool = tinyio.ThreadPool(3)
    read = []

    def inputs():
        for x in range(4):
            read.append(x)
            yield x

    coro = pool.map(lambda x: -x, inputs())
    assert read == [0, 1, 2, 3]

    def main():
        return (yield coro)

    assert tinyio.Loop().run(main()) == [0, -1, -2, -3]


def test_max_threads_is_readable_and_shown_in_the_repr():
    pool = tinyio.ThreadPool(max_threads=3)
    assert pool.max_threads == 3
    assert "max_threads=3" in repr(pool)


# --- The limit ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_threads", [1, 2, 5])
def test_never_more_than_max_threads_calls_run_at_once_and_the_limit_is_reached(max_threads):
    pool = tinyio.ThreadPool(max_threads)
    counter = PeakCounter()
    # The first `max_threads` calls only finish once that many run together.
    together = threading.Barrier(max_threads, timeout=10)

    def work(i):
        with counter:
            if i < max_threads:
                together.wait()
            time.sleep(0.002)
            return i

    def main():
        return (yield pool.map(work, range(30)))

    assert tinyio.Loop().run(main()) == list(range(30))
    assert counter.peak == max_threads


def test_the_limit_holds_across_map_and_run_in_thread_and_several_coroutines():
    pool = tinyio.ThreadPool(3)
    counter = PeakCounter()

    def work(x):
        with counter:
            time.sleep(0.002)
            return x

    def user(offset):
        singles = []
        for i in range(5):
            singles.append((yield pool.run_in_thread(work, offset + i)))
        mapped = yield pool.map(work, range(offset, offset + 10))
        return singles, mapped

    def main():
        return (yield [user(0), user(100), user(200)])

    results = tinyio.Loop().run(main())
    assert results == [(list(range(k, k + 5)), list(range(k, k + 10))) for k in (0, 100, 200)]
    assert counter.peak <= 3


def test_a_pool_of_one_runs_the_calls_one_at_a_time_in_the_order_they_were_asked_for():
    pool = tinyio.ThreadPool(1)
    counter = PeakCounter()
    order = []

    def work(x):
        with counter:
            order.append(x)
            time.sleep(0.001)

    def main():
        yield pool.map(work, range(10))

    tinyio.Loop().run(main())
    assert order == list(range(10))
    assert counter.peak == 1


def test_two_pools_limit_independently():
    small, large = tinyio.ThreadPool(1), tinyio.ThreadPool(4)
    small_counter, large_counter = PeakCounter(), PeakCounter()
    together = threading.Barrier(4, timeout=10)

    def in_small(x):
        with small_counter:
            time.sleep(0.002)
            return x

    def in_large(x):
        with large_counter:
            if x < 4:
                together.wait()
            return x

    def main():
        return (yield [small.map(in_small, range(5)), large.map(in_large, range(8))])

    assert tinyio.Loop().run(main()) == [list(range(5)), list(range(8))]
    assert small_counter.peak == 1
    assert large_counter.peak == 4


def test_a_pool_is_not_slower_than_its_limit_allows():
    pool = tinyio.ThreadPool(10)

    def main():
        start = time.monotonic()
        yield pool.map(time.sleep, [0.05] * 20)  # two rounds of 0.05 s
        return time.monotonic() - start

    assert tinyio.Loop().run(main()) < 0.5


@pytest.mark.parametrize("call", ["map", "run_in_thread", "call_with_timeout"])
def test_the_next_call_in_line_starts_as_one_ends_without_waiting_for_the_loop(call):
    # A worker that ends a call takes the next one waiting for a place itself: the calls go
    # on while the loop's thread is busy in a long step of a coroutine.
    pool = tinyio.ThreadPool(1)
    ran = []
    all_ran = threading.Event()

    def work(x):
        ran.append(x)
        if len(ran) == 3:
            all_ran.set()
        return x

    def gathered(make):
        return (yield [make(x) for x in range(3)])

    calls = {
        "map": lambda: pool.map(work, range(3)),
        "run_in_thread": lambda: gathered(lambda x: pool.run_in_thread(work, x)),
        "call_with_timeout": lambda: gathered(lambda x: pool.call_with_timeout(10, work, x)),
    }

    def blocker():
        while not ran:
            yield
        # One step that holds the loop's thread until all three calls have run.
        return all_ran.wait(5)

    def main():
        return (yield [calls[call](), blocker()])

    results, all_ran_meanwhile = tinyio.Loop().run(main())
    assert all_ran_meanwhile
    assert ran == [0, 1, 2]
    expected = {"map": [0, 1, 2], "run_in_thread": [0, 1, 2]}
    assert results == expected.get(call, [(0, True), (1, True), (2, True)])


def test_a_pool_used_by_a_loop_and_by_an_isolate_inside_it_runs_at_most_max_threads():
    # The places belong to the pool, not to a loop: a nested loop shares them.
    pool = tinyio.ThreadPool(2)
    counter = PeakCounter()

    def work(x):
        with counter:
            time.sleep(0.002)
        return x

    def inner():
        return (yield pool.map(work, range(10)))

    def main():
        results = yield [pool.map(work, range(10)), tinyio.isolate(inner()), inner()]
        return results[0], results[1][0], results[2]

    assert tinyio.Loop().run(main()) == (list(range(10)),) * 3
    assert counter.peak <= 2


# --- Errors and cancellation ----------------------------------------------------------------


def test_an_error_in_a_call_is_raised_out_of_run():
    pool = tinyio.ThreadPool(2)

    def work(x):
        if x == 3:
            raise Boom(f"failed on {x}")
        return x

    def main():
        yield pool.map(work, range(6))

    with pytest.raises(Boom, match="failed on 3"):
        tinyio.Loop().run(main())


def test_cancellation_raises_in_the_running_calls_and_the_queued_ones_never_start():
    pool = tinyio.ThreadPool(2)
    log = []
    lock = threading.Lock()
    both_running = threading.Barrier(2, timeout=10)
    running = tinyio.Event()

    def work(x):
        with lock:
            log.append(("started", x))
        try:
            # Inside the `try`: the crash may come as soon as the barrier lets both go.
            both_running.wait()
            running.set()
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            with lock:
                log.append(("cancelled", x))
            raise

    def crasher():
        yield running.wait()
        raise Boom("crash")

    def main():
        yield [pool.map(work, range(10)), crasher()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert sorted(log) == [("cancelled", 0), ("cancelled", 1), ("started", 0), ("started", 1)]


def test_a_pool_works_again_at_its_full_size_after_a_run_that_crashed():
    pool = tinyio.ThreadPool(2)
    running = tinyio.Event()

    def busy():
        running.set()
        while True:
            time.sleep(0.001)

    def crasher():
        yield running.wait()
        raise Boom("crash")

    def first():
        yield [pool.map(lambda _: busy(), range(5)), crasher()]

    loop = tinyio.Loop()
    with pytest.raises(Boom):
        loop.run(first())

    together = threading.Barrier(2, timeout=10)

    def meet(x):
        together.wait()
        return x

    def second():
        return (yield pool.map(meet, range(4)))

    assert tinyio.Loop().run(second()) == [0, 1, 2, 3]
    assert loop.run(second()) == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(4))
def test_timeouts_and_cancellations_in_a_pool_never_exceed_its_places_nor_lose_one(seed):
    # Calls cut short at random moments -- waiting for a place, as a worker takes them,
    # running -- with the interpreter switching threads far more often than usual.
    rng = random.Random(seed)
    pool = tinyio.ThreadPool(3)
    # Counted with C calls only (a set's add and discard, a list's append), in a try whose
    # finally makes no Python call before the discard: a call gets one CancelledError at most,
    # and wherever it lands -- before the add, in the loop, in `__exit__` of a context manager
    # -- the count stays right. (A Python-level counter lost a decrement when the exception
    # landed inside its own `__exit__`, and over-counted the peak.)
    inside: set[int] = set()
    sizes: list[int] = []

    def work(seconds):
        me = threading.get_ident()
        try:
            inside.add(me)
            sizes.append(len(inside))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass  # Python code: a CancelledError lands at once
        finally:
            inside.discard(me)
        return seconds

    def one():
        seconds, limit = rng.uniform(0, 0.003), rng.uniform(0, 0.004)
        kind = rng.randrange(4)
        if kind == 0:
            return (yield tinyio.timeout(pool.run_in_thread(work, seconds), limit))
        if kind == 1:
            return (yield pool.call_with_timeout(limit, work, seconds))
        if kind == 2:
            return (yield tinyio.timeout(pool.map(work, [seconds] * 4), limit))
        index, _ = yield tinyio.race([pool.map(work, [seconds] * 2), tinyio.sleep(limit)])
        return index

    together = threading.Barrier(3, timeout=10)

    def meet(x):
        together.wait()
        return x

    def main():
        yield [one() for _ in range(60)]
        # Every place is free again: three calls run at once.
        return (yield pool.map(meet, range(3)))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        assert tinyio.Loop().run(main()) == [0, 1, 2]
    finally:
        sys.setswitchinterval(interval)
    assert sizes, "some calls ran"
    assert max(sizes) <= 3


def test_a_call_abandoned_at_a_second_ctrl_c_gives_its_place_back_for_the_next_run(capfd):
    pool = tinyio.ThreadPool(1)
    let_go = threading.Event()
    running = threading.Event()
    ended = threading.Event()

    def stubborn():
        try:
            while True:
                try:
                    running.set()
                    while not let_go.is_set():
                        time.sleep(0.001)
                    return
                except tinyio.CancelledError:
                    continue  # swallowed: the call goes on
        finally:
            ended.set()

    def press_ctrl_c_twice():
        running.wait(10)
        signal.raise_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while "Press Ctrl-C again" not in capfd.readouterr().err:
            assert time.monotonic() < deadline, "the stuck thread was never named"
            time.sleep(0.05)
        signal.raise_signal(signal.SIGINT)

    def first():
        yield pool.run_in_thread(stubborn)

    def second():
        return (yield tinyio.timeout(pool.run_in_thread(lambda: "ran"), 5))

    presser = threading.Thread(target=press_ctrl_c_twice)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            tinyio.Loop().run(first())
        assert not ended.is_set(), "the abandoned call runs on"
        # As with its coroutine gone, the place is free: the next run does not wait for it.
        assert tinyio.Loop().run(second()) == ("ran", True)
    finally:
        let_go.set()
        presser.join()
    assert ended.wait(10)


def test_no_thread_is_left_when_run_returns():
    pool = tinyio.ThreadPool(3)
    before = set(threading.enumerate())

    def main():
        yield pool.map(time.sleep, [0.01] * 6)

    tinyio.Loop().run(main())
    assert set(threading.enumerate()) - before == set()


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_threads", [0, -1])
def test_max_threads_below_one_is_a_value_error(max_threads):
    with pytest.raises(ValueError, match="max_threads"):
        tinyio.ThreadPool(max_threads)


@pytest.mark.parametrize("max_threads", [2.0, "2", None, True])
def test_max_threads_that_is_not_an_int_is_a_type_error(max_threads):
    with pytest.raises(TypeError, match="max_threads"):
        tinyio.ThreadPool(max_threads)


@pytest.mark.parametrize("not_callable", [None, 3, "len"])
def test_run_in_thread_of_a_non_callable_is_a_type_error_at_the_call(not_callable):
    pool = tinyio.ThreadPool(1)
    with pytest.raises(TypeError, match="function"):
        pool.run_in_thread(not_callable)


@pytest.mark.parametrize("not_callable", [None, 3, "len"])
def test_map_of_a_non_callable_is_a_type_error_at_the_call(not_callable):
    pool = tinyio.ThreadPool(1)
    with pytest.raises(TypeError, match="function"):
        pool.map(not_callable, [1, 2])


def test_map_of_a_non_iterable_is_a_type_error_at_the_call():
    pool = tinyio.ThreadPool(1)
    with pytest.raises(TypeError):
        pool.map(abs, 5)


# --- call_with_timeout: the call alone is timed -----------------------------------------------


def test_call_with_timeout_gives_the_result_and_true_when_the_call_returns_in_time():
    pool = tinyio.ThreadPool(2)

    def main():
        return (yield pool.call_with_timeout(5, lambda x: x * 2, 21))

    assert tinyio.Loop().run(main()) == (42, True)


def test_call_with_timeout_does_not_count_the_wait_for_a_place_in_the_pool():
    pool = tinyio.ThreadPool(1)

    def main():
        # The place is taken for 0.3 s; the quick call waits for it, then takes no time.
        hog = pool.run_in_thread(time.sleep, 0.3)
        return (yield [hog, pool.call_with_timeout(0.05, lambda: "quick")])

    assert tinyio.Loop().run(main()) == [None, ("quick", True)]


def test_call_with_timeout_passes_every_keyword_to_the_function_even_one_named_timeout():
    pool = tinyio.ThreadPool(1)

    def f(fn, *, timeout, timeout_in_seconds):
        return fn, timeout, timeout_in_seconds

    def main():
        return (yield pool.call_with_timeout(5, f, fn=1, timeout=2, timeout_in_seconds=3))

    assert tinyio.Loop().run(main()) == ((1, 2, 3), True)


def test_call_with_timeout_cancels_the_call_in_its_thread_and_keeps_its_place_until_it_ends():
    pool = tinyio.ThreadPool(1)
    log = []
    never = threading.Event()

    def obstinate():
        try:
            while not never.wait(0.001):  # short C calls: the CancelledError arrives between
                pass
        except tinyio.CancelledError:
            log.append("cancelled in the thread")
            time.sleep(0.05)  # cleaning up; the pool's place is still taken meanwhile
            log.append("first call ended")
            raise

    def main():
        outcome = yield pool.call_with_timeout(0.02, obstinate)
        log.append(f"gave {outcome}")
        yield pool.run_in_thread(log.append, "second call started")

    tinyio.Loop().run(main())
    # The coroutine goes on at once (in whichever order with the thread's first line); the
    # next call gets the place only once the thread has ended.
    assert sorted(log[:2]) == ["cancelled in the thread", "gave (None, False)"]
    assert log[2:] == ["first call ended", "second call started"]


def test_call_with_timeout_raises_the_error_of_a_call_that_fails_in_time():
    pool = tinyio.ThreadPool(1)

    def fails():
        raise Boom("in the thread")

    def main():
        yield pool.call_with_timeout(5, fails)

    with pytest.raises(Boom, match="in the thread"):
        tinyio.Loop().run(main())


@pytest.mark.parametrize(
    ("seconds", "error"), [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)]
)
def test_call_with_timeout_of_a_bad_timeout_is_an_error_at_the_call(seconds, error):
    with pytest.raises(error, match="timeout_in_seconds"):
        tinyio.ThreadPool(1).call_with_timeout(seconds, print)


def test_call_with_timeout_of_a_non_callable_is_a_type_error_at_the_call():
    with pytest.raises(TypeError, match="needs a function"):
        tinyio.ThreadPool(1).call_with_timeout(1, 42)  # pyright: ignore[reportArgumentType]


def test_map_over_something_that_is_not_iterable_says_so_at_the_call():
    pool = tinyio.ThreadPool(2)
    with pytest.raises(TypeError, match=r"map needs an iterable of arguments for str, got 5\."):
        pool.map(str, 5)  # type: ignore[arg-type]


def test_calls_that_give_up_waiting_for_a_place_leave_no_place_taken():
    # Run as part of their yielder, the calls' waits for a place are theirs too: a yielder
    # that gives up leaves the line, and the place goes to the next call, not to nobody.
    pool = tinyio.ThreadPool(1)
    release = threading.Event()

    def waiter():
        return (yield pool.run_in_thread(lambda: "ran"))

    def timed_waiter():
        return (yield pool.call_with_timeout(10, lambda: "ran"))

    def main():
        busy = pool.run_in_thread(release.wait, 10)

        def holder():
            return (yield busy)

        held = holder()
        yield {held}  # takes the pool's only place
        yield tinyio.sleep(0.01)
        assert (yield tinyio.timeout(waiter(), 0.05)) == (None, False)
        assert (yield tinyio.timeout(timed_waiter(), 0.05)) == (None, False)
        index, _ = yield tinyio.race([waiter(), tinyio.sleep(0.05)])
        assert index == 1
        release.set()
        yield held
        return (yield tinyio.timeout(waiter(), 10))

    assert tinyio.Loop().run(main()) == ("ran", True)
