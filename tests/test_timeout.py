"""`tinyio.timeout`: give up on a coroutine after a deadline (docs: events-and-sleeping.md).

On expiry `tinyio.TimeoutError` is thrown into the coroutine at its current `yield`, and the
timeout gives `(None, False)`. What the coroutine was waiting on is not cancelled (see
docs/devdocs/interrupts-and-timeouts.md).
"""

import math
import threading
import time
import warnings

import pytest

import tinyio
from tinyio.testing import VirtualClock

# How long the coroutines that are timed out wait: what they wait on is not cancelled, so
# loop.run waits for it (keep it short).
LONG = 0.2


class Boom(Exception):
    pass


def returns(value, delay=0.0):
    yield tinyio.sleep(delay)
    return value


def plain_function(value):
    if False:
        yield
    return value


def virtual_loop():
    """A loop on virtual time: for tests of the order and the moments of events, exact and
    instant (the tests of the real clock's accuracy keep a real loop)."""
    return tinyio.Loop(clock=VirtualClock())


# --- In time --------------------------------------------------------------------------------


def test_a_coroutine_finishing_in_time_gives_its_result_and_true():
    def main():
        return (yield tinyio.timeout(returns("done", 0.01), 5))

    assert tinyio.Loop().run(main()) == ("done", True)


def test_a_result_of_none_in_time_is_told_apart_from_a_timeout():
    def main():
        return (yield tinyio.timeout(returns(None, 0.01), 5))

    assert tinyio.Loop().run(main()) == (None, True)


def test_a_coroutine_that_never_waits_is_in_time_even_with_a_zero_timeout():
    def main():
        return (yield tinyio.timeout(plain_function(7), 0))

    assert tinyio.Loop().run(main()) == (7, True)


def test_an_infinite_timeout_never_expires():
    def main():
        return (yield tinyio.timeout(returns("done", 0.01), math.inf))

    assert tinyio.Loop().run(main()) == ("done", True)


def test_a_coroutine_that_finishes_in_time_returns_at_once_not_at_the_deadline():
    def main():
        start = time.monotonic()
        result = yield tinyio.timeout(returns("quick", 0.01), 10)
        return result, time.monotonic() - start

    result, elapsed = tinyio.Loop().run(main())
    assert result == ("quick", True)
    assert elapsed < 2


def test_a_coroutine_already_finished_by_this_loop_gives_its_result_in_time():
    done = returns("earlier", 0)

    def main():
        yield done
        return (yield tinyio.timeout(done, 0.01))

    assert tinyio.Loop().run(main()) == ("earlier", True)


def test_an_error_in_time_crashes_the_loop_like_any_error():
    def fails():
        yield tinyio.sleep(0.01)
        raise Boom("inside")

    def main():
        yield tinyio.timeout(fails(), 5)

    with pytest.raises(Boom, match="inside"):
        tinyio.Loop().run(main())


# --- Timed out ------------------------------------------------------------------------------


def test_a_coroutine_too_slow_gives_none_and_false_at_about_the_deadline():
    def main():
        start = time.monotonic()
        result = yield tinyio.timeout(returns("late", LONG), 0.05)
        return result, time.monotonic() - start

    result, elapsed = tinyio.Loop().run(main())
    assert result == (None, False)
    assert 0.045 < elapsed < 1


def test_a_zero_timeout_gives_up_on_a_coroutine_that_waits():
    def main():
        return (yield tinyio.timeout(tinyio.sleep(10), 0))

    assert tinyio.Loop().run(main()) == (None, False)


def test_the_timeout_error_is_thrown_in_at_the_yield_where_the_coroutine_waits():
    log = []

    def slow():
        log.append("before")
        try:
            yield tinyio.sleep(LONG)
        except tinyio.TimeoutError as error:
            log.append(("timed out at the sleep", str(error)))
            raise
        log.append("after")

    def main():
        return (yield tinyio.timeout(slow(), 0.02))

    assert tinyio.Loop().run(main()) == (None, False)
    assert log[0] == "before"
    assert log[1][0] == "timed out at the sleep"
    assert "0.02" in log[1][1]
    assert len(log) == 2


def test_a_busy_coroutine_that_only_yields_is_interrupted_at_its_bare_yield():
    steps = []

    def busy():
        while True:
            steps.append("step")
            yield

    def main():
        return (yield tinyio.timeout(busy(), 0.02))

    assert tinyio.Loop().run(main()) == (None, False)
    assert len(steps) > 1


def test_timeout_error_derives_from_base_exception_not_exception():
    assert issubclass(tinyio.TimeoutError, BaseException)
    assert not issubclass(tinyio.TimeoutError, Exception)
    assert tinyio.TimeoutError is not TimeoutError


def test_except_exception_does_not_catch_the_timeout():
    log = []

    def careless():
        try:
            yield tinyio.sleep(LONG)
        except Exception:
            log.append("swallowed")
        log.append("continued")

    def main():
        return (yield tinyio.timeout(careless(), 0.01))

    assert tinyio.Loop().run(main()) == (None, False)
    assert log == []


def test_finally_and_with_blocks_clean_up_before_the_timeout_gives_up():
    log = []

    class Resource:
        def __enter__(self):
            log.append("acquired")

        def __exit__(self, *exc_info):
            log.append("released")

    def slow():
        try:
            with Resource():
                yield tinyio.sleep(LONG)
        finally:
            log.append("finally")

    def main():
        result = yield tinyio.timeout(slow(), 0.01)
        log.append(result)

    tinyio.Loop().run(main())
    assert log == ["acquired", "released", "finally", (None, False)]


def test_the_clean_up_may_itself_wait_and_the_timeout_waits_for_it():
    log = []

    def slow():
        try:
            yield tinyio.sleep(LONG)
        finally:
            yield tinyio.sleep(0.05)
            log.append("cleaned up")

    def main():
        result = yield tinyio.timeout(slow(), 0.01)
        log.append(result)
        return loop.time()

    loop = virtual_loop()
    # The deadline, then the clean-up's own wait.
    assert loop.run(main()) == pytest.approx(0.01 + 0.05)
    assert log == ["cleaned up", (None, False)]


def test_a_coroutine_that_swallows_the_timeout_and_returns_still_gives_none_and_false():
    def stubborn():
        try:
            yield tinyio.sleep(LONG)
        except tinyio.TimeoutError:
            return "pretends it finished"

    def main():
        return (yield tinyio.timeout(stubborn(), 0.01))

    assert tinyio.Loop().run(main()) == (None, False)


def test_a_coroutine_that_swallows_the_timeout_and_waits_on_is_waited_for():
    log = []

    def stubborn():
        try:
            yield tinyio.sleep(LONG)
        except tinyio.TimeoutError:
            log.append("timed out")
        yield tinyio.sleep(0.05)
        log.append("finished anyway")
        return "late result"

    def main():
        result = yield tinyio.timeout(stubborn(), 0.01)
        return result, loop.time()

    loop = virtual_loop()
    result, finished_at = loop.run(main())
    assert result == (None, False)
    assert log == ["timed out", "finished anyway"]
    assert finished_at == pytest.approx(0.01 + 0.05)


def test_a_coroutine_raising_another_error_on_timeout_crashes_the_loop_with_it():
    def converts():
        try:
            yield tinyio.sleep(LONG)
        except tinyio.TimeoutError:
            raise Boom("converted") from None

    def main():
        yield tinyio.timeout(converts(), 0.01)

    with pytest.raises(Boom, match="converted"):
        tinyio.Loop().run(main())


def test_the_loop_runs_on_after_a_timeout():
    def main():
        first = yield tinyio.timeout(tinyio.sleep(10), 0.01)
        second = yield tinyio.timeout(returns("next", 0.01), 5)
        third = yield returns("plain", 0)
        return first, second, third

    assert tinyio.Loop().run(main()) == ((None, False), ("next", True), "plain")


def test_many_timeouts_run_concurrently_each_with_its_own_deadline():
    def main():
        return (
            yield [tinyio.timeout(returns(i, 0.05), 0.2 if i % 2 else 0.005) for i in range(20)]
        )

    loop = virtual_loop()
    results = loop.run(main())
    assert results == [(i, True) if i % 2 else (None, False) for i in range(20)]
    assert loop.time() == pytest.approx(0.05)  # the timed-out sleeps ended with their timeouts


def test_nested_timeouts_the_inner_one_expiring_first():
    def main():
        return (yield tinyio.timeout(tinyio.timeout(tinyio.sleep(10), 0.01), 5))

    loop = virtual_loop()
    assert loop.run(main()) == ((None, False), True)
    assert loop.time() == pytest.approx(0.01)


def test_nested_timeouts_the_outer_one_expiring_first():
    def main():
        result = yield tinyio.timeout(tinyio.timeout(tinyio.sleep(LONG), 5), 0.01)
        return result, loop.time()

    loop = virtual_loop()
    result, given_at = loop.run(main())
    assert result == (None, False)
    assert given_at == pytest.approx(0.01)


# --- What the coroutine waited on is not cancelled -------------------------------------------


def test_what_the_coroutine_waited_on_runs_to_its_end_and_run_waits_for_it():
    log = []

    def child():
        yield tinyio.sleep(0.1)
        log.append("child finished")

    def parent():
        yield child()

    def main():
        result = yield tinyio.timeout(parent(), 0.01)
        log.append(("timeout gave", result, loop.time()))

    loop = virtual_loop()
    loop.run(main())
    assert log == [("timeout gave", (None, False), pytest.approx(0.01)), "child finished"]
    assert loop.time() == pytest.approx(0.1)  # loop.run waited for the child


def test_another_coroutine_sharing_what_it_waited_on_still_gets_the_result():
    def shared_work():
        yield tinyio.sleep(0.05)
        return "shared result"

    shared = shared_work()

    def impatient():
        return (yield shared)

    def patient():
        return (yield shared)

    def main():
        return (yield [tinyio.timeout(impatient(), 0.01), patient()])

    loop = virtual_loop()
    assert loop.run(main()) == [(None, False), "shared result"]
    assert loop.time() == pytest.approx(0.05)


def test_a_thread_that_the_coroutine_waited_on_is_not_cancelled():
    log = []
    started = threading.Event()

    def blocking():
        started.set()
        try:
            time.sleep(0.1)
        except tinyio.CancelledError:
            log.append("thread cancelled")
            raise
        log.append("thread finished")
        return "thread result"

    thread_call = tinyio.run_in_thread(blocking)

    def waits_on_the_thread():
        return (yield thread_call)

    def main():
        result = yield tinyio.timeout(waits_on_the_thread(), 0.01)
        log.append(("timeout gave", result))
        return (yield thread_call)

    assert tinyio.Loop().run(main()) == "thread result"
    assert log == [("timeout gave", (None, False)), "thread finished"]


def test_a_thread_call_timed_out_directly_returns_on_time_and_run_waits_for_its_thread():
    log = []
    timed_out = threading.Event()

    def blocking():
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            log.append("thread cancelled")
            raise
        finally:
            # Still cleaning up when the timeout gives up: it does not wait for the thread.
            timed_out.wait(30)
            log.append("thread cleaned up")

    def main():
        result = yield tinyio.timeout(tinyio.run_in_thread(blocking), 0.02)
        log.append(("timeout gave", result))
        timed_out.set()
        return (yield tinyio.run_in_thread(lambda: "the loop runs threads on"))

    assert tinyio.Loop().run(main()) == "the loop runs threads on"
    # `run` returned only after the thread had ended.
    assert sorted(log, key=str) == sorted(
        ["thread cancelled", ("timeout gave", (None, False)), "thread cleaned up"], key=str
    )
    assert log.index(("timeout gave", (None, False))) < log.index("thread cleaned up")


def test_a_thread_call_that_swallows_the_cancellation_of_its_timeout_warns():
    def stubborn():
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            return "ignored"

    def main():
        return (yield tinyio.timeout(tinyio.run_in_thread(stubborn), 0.02))

    with pytest.warns(RuntimeWarning, match="did not respond properly to cancellation"):
        assert tinyio.Loop().run(main()) == (None, False)


def test_a_coroutine_waiting_on_the_timed_out_one_gets_the_timeout_error():
    # The interrupt travels up like an exception: a second waiter on the timed-out coroutine
    # gets the TimeoutError at its yield (see docs/devdocs/interrupts-and-timeouts.md).
    log = []
    slow = tinyio.sleep(10)

    def other_waiter():
        try:
            yield slow
        except tinyio.TimeoutError:
            log.append("other waiter got the TimeoutError")
            return "handled"

    def main():
        return (yield [tinyio.timeout(slow, 0.01), other_waiter()])

    assert tinyio.Loop().run(main()) == [(None, False), "handled"]
    assert log == ["other waiter got the TimeoutError"]


# --- When the loop crashes ------------------------------------------------------------------


def test_a_crash_while_a_timeout_waits_cancels_the_coroutine_it_runs():
    log = []

    def slow():
        try:
            yield tinyio.sleep(LONG)
        except BaseException as error:
            log.append(type(error))
            raise

    def crasher():
        yield tinyio.sleep(0.01)
        raise Boom("crash")

    def main():
        yield [tinyio.timeout(slow(), 5), crasher()]

    start = time.monotonic()
    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == [tinyio.CancelledError]
    assert time.monotonic() - start < 3


# --- Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "not_a_coroutine",
    [None, 42, [returns(1)], returns, lambda: None, iter([1, 2])],
    ids=["None", "int", "list", "generator function", "function", "iterator"],
)
def test_a_non_generator_is_a_type_error_at_the_call(not_a_coroutine):
    with pytest.raises(TypeError, match="coroutine"):
        tinyio.timeout(not_a_coroutine, 1)
    if isinstance(not_a_coroutine, list):
        not_a_coroutine[0].close()


@pytest.mark.parametrize("seconds", [-1, -0.001, math.nan, -math.inf])
def test_a_negative_or_nan_timeout_is_a_value_error_at_the_call(seconds):
    coro = returns(1)
    with pytest.raises(ValueError, match="timeout_in_seconds"):
        tinyio.timeout(coro, seconds)
    coro.close()


@pytest.mark.parametrize("seconds", ["1", None, [1], True])
def test_a_non_numeric_timeout_is_a_type_error_at_the_call(seconds):
    coro = returns(1)
    with pytest.raises(TypeError, match="timeout_in_seconds"):
        tinyio.timeout(coro, seconds)
    coro.close()


def test_an_already_started_generator_crashes_the_loop_with_a_value_error_naming_it():
    started = returns(1)
    first = next(started)  # the `tinyio.sleep` it yields, to close (never yielded to a loop)

    def main():
        yield tinyio.timeout(started, 1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="returns"):
            tinyio.Loop().run(main())
    started.close()
    first.close()


def test_waiting_later_on_an_interrupted_coroutine_raises_its_interrupt():
    # The interrupt stays the coroutine's outcome: waiting on it after it ended gets the same
    # error, alone or in a list, as a waiter at the time does. (`tinyio.cancel` interrupts a
    # coroutine of the loop; `timeout` runs its coroutine inline.)
    def sleeps():
        yield tinyio.sleep(10)

    slow = sleeps()
    caught = []

    def wait_on(awaitable):
        try:
            yield awaitable
        except tinyio.CancelledError as error:
            caught.append(error)
            return "got the CancelledError"

    def main():
        yield {slow}
        yield
        yield tinyio.cancel(slow)
        return (yield [wait_on(slow), wait_on([slow])])

    assert tinyio.Loop().run(main()) == ["got the CancelledError"] * 2
    assert caught[0] is caught[1]
    assert str(caught[0]) == "cancelled by tinyio.cancel"


def test_a_coroutine_waiting_on_a_list_is_interrupted_and_the_list_runs_on():
    log = []

    def part(name, seconds):
        yield tinyio.sleep(seconds)
        log.append(f"{name} finished")
        return name

    parts = [part("quick", 0.0), part("slow", 0.1)]

    def gathering():
        try:
            yield parts
        except tinyio.TimeoutError:
            log.append("gathering interrupted")
            raise

    def main():
        outcome = yield tinyio.timeout(gathering(), 0.03)
        log.append("timeout gave up")
        # The coroutines of the list were not cancelled: waiting on them again gives both.
        return outcome, (yield parts)

    assert tinyio.Loop().run(main()) == ((None, False), ["quick", "slow"])
    assert log == ["quick finished", "gathering interrupted", "timeout gave up", "slow finished"]


# --- a timeout that is itself stopped (issue 21, item 2) ---------------------------------


def cleans_up(log, name="c"):
    try:
        yield tinyio.sleep(10)
    finally:
        log.append(f"{name} cleaned up")


def test_cancelling_a_timeout_cancels_the_coroutine_it_runs():
    log = []

    def main():
        timed = tinyio.timeout(cleans_up(log), 10)
        yield {timed}
        yield
        yield tinyio.cancel(timed)
        log.append("cancelled")

    loop = tinyio.Loop(clock=VirtualClock())
    loop.run(main())
    assert log == ["c cleaned up", "cancelled"]
    assert loop.time() == 0  # no timer of 10 s was waited out


def test_a_timeout_around_a_timeout_stops_the_coroutine_the_inner_one_runs():
    log = []

    def main():
        return (yield tinyio.timeout(tinyio.timeout(cleans_up(log), 10), 0.05))

    loop = tinyio.Loop(clock=VirtualClock())
    assert loop.run(main()) == (None, False)
    assert log == ["c cleaned up"]
    assert loop.time() == 0.05


def test_a_timeout_that_loses_a_race_stops_the_coroutine_it_runs():
    log = []

    def main():
        return (yield tinyio.race([tinyio.timeout(cleans_up(log), 10), tinyio.sleep(0.05)]))

    loop = tinyio.Loop(clock=VirtualClock())
    assert loop.run(main()) == (1, None)
    assert log == ["c cleaned up"]
    assert loop.time() == 0.05


@pytest.mark.parametrize("steps_after_the_deadline", range(6))
@pytest.mark.parametrize(
    "cancel_first", [True, False], ids=["cancel-timer-first", "deadline-first"]
)
@pytest.mark.parametrize("early", [0.001, 0.0], ids=["a-millisecond-before", "at-the-deadline"])
def test_a_cancel_landing_at_the_deadline_still_stops_the_coroutine(
    steps_after_the_deadline, cancel_first, early
):
    # The cancel's timer is due a millisecond before the deadline, or at the same virtual
    # instant; the cancel then lands at each of the steps the timeout takes around it (its
    # wait, its interrupt, its wait for the clean-up, ...).
    log = []

    def main():
        timed = tinyio.timeout(cleans_up(log), 0.05)
        if cancel_first:
            canceller = cancel_at_the_deadline(timed)
            yield {canceller}
            yield {timed}
        else:
            yield {timed}
            yield
            canceller = cancel_at_the_deadline(timed)
            yield {canceller}
        yield canceller

    def cancel_at_the_deadline(timed):
        yield tinyio.sleep(0.05 - early)
        for _ in range(steps_after_the_deadline):
            yield
        yield tinyio.cancel(timed)
        log.append("cancel returned")

    loop = tinyio.Loop(clock=VirtualClock())
    loop.run(main())
    assert log == ["c cleaned up", "cancel returned"]
    assert loop.time() == pytest.approx(0.05 - early)


# --- a zero timeout (issue 21, item 8) ----------------------------------------------------


@pytest.mark.parametrize("yields", range(6))
def test_a_zero_timeout_fires_at_the_first_yield_as_in_asyncio_and_trio(yields):
    reached = []

    def counts(n):
        for i in range(n):
            yield
            reached.append(i)
        return n

    def main():
        return (yield tinyio.timeout(counts(yields), 0))

    expected = (0, True) if yields == 0 else (None, False)
    assert tinyio.Loop().run(main()) == expected
    assert reached == []


@pytest.mark.parametrize(
    "wrap",
    [
        lambda c: tinyio.timeout(c, 10),
        lambda c: tinyio.race([c]),
        lambda c: tinyio.settle([c]),
        lambda c: tinyio.isolate(c),
    ],
    ids=["timeout", "race", "settle", "isolate"],
)
def test_a_zero_timeout_counts_the_yields_of_tinyio_s_own_coroutines_too(wrap):
    # The documented rule (docs/errors.md): the first `yield`, whoever yields it. These yield
    # before they start what they run, so a coroutine that never yields never starts.
    ran = []

    def never_yields():
        ran.append("ran")
        return "done"
        yield

    def main():
        return (yield tinyio.timeout(wrap(never_yields()), 0))

    assert tinyio.Loop().run(main()) == (None, False)
    assert ran == []


def test_a_zero_timeout_takes_what_is_there_without_waiting_and_gives_up_otherwise():
    queue = tinyio.Queue()
    queue.put_nowait("there")

    def main():
        got = yield tinyio.timeout(queue.get(), 0)
        missed = yield tinyio.timeout(queue.get(), 0)
        return got, missed, queue.qsize()

    assert tinyio.Loop().run(main()) == (("there", True), (None, False), 0)


def test_a_zero_timeout_of_a_coroutine_already_running_interrupts_it_at_once():
    log = []

    def main():
        running = cleans_up(log)
        yield {running}
        yield
        return (yield tinyio.timeout(running, 0))

    loop = tinyio.Loop(clock=VirtualClock())
    assert loop.run(main()) == (None, False)
    assert log == ["c cleaned up"]
    assert loop.time() == 0
