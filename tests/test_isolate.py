"""`tinyio.isolate`: a nested loop whose failure does not crash the outer one (docs: isolation.md).

`isolate(coro)` runs `coro`, and all it starts, in a nested loop that advances together with
the outer one. It gives `(result, True)`, or `(error, False)` when an `Exception` was raised
inside (for a group: when its first member is one) -- then everything inside is cancelled and
the outer loop runs on. Other `BaseException`s propagate. An outer cancellation cancels the
inside too.
"""

import itertools
import threading
import time
from typing import Any

import pytest

import tinyio
from tinyio.testing import VirtualClock


class Boom(Exception):
    pass


class Stop(BaseException):
    """A BaseException that is not an Exception."""


def steps(n):
    for _ in range(n):
        yield


def returns(value, after=0):
    yield from steps(after)
    return value


def fails(error, after=0):
    yield from steps(after)
    raise error


def run(coro, **kwargs):
    return tinyio.Loop().run(coro, **kwargs)


# --- the result -------------------------------------------------------------------------


def test_a_coroutine_that_finishes_gives_its_result_and_true():
    result = object()

    def main():
        return (yield tinyio.isolate(returns(result, after=3)))

    value, ok = run(main())
    assert ok is True
    assert value is result


def test_a_coroutine_with_no_yield_at_all_gives_its_result():
    def plain():
        if False:
            yield
        return "plain"

    def main():
        return (yield tinyio.isolate(plain()))

    assert run(main()) == ("plain", True)


def test_isolate_waits_for_what_the_coroutine_started_in_the_background():
    log = []

    def background():
        yield from steps(5)
        log.append("background finished")

    def starter():
        yield {background()}
        log.append("starter returned")
        return "started"

    def main():
        result = yield tinyio.isolate(starter())
        log.append("isolate gave its result")
        return result

    assert run(main()) == ("started", True)
    assert log == ["starter returned", "background finished", "isolate gave its result"]


def test_coroutines_inside_wait_on_each_other_as_in_any_loop():
    runs = []

    def shared():
        runs.append("shared")
        yield
        return 2

    def inside():
        dependency = shared()
        a, b = yield [dependency, dependency]
        c = yield dependency
        return a + b + c

    def main():
        return (yield tinyio.isolate(inside()))

    assert run(main()) == (6, True)
    assert runs == ["shared"]  # once per loop, as anywhere


def test_isolate_is_a_coroutine_like_any_other_so_several_run_at_once():
    def sleeper(name):
        yield tinyio.sleep(0.05)
        return name

    def main():
        results = yield [tinyio.isolate(sleeper(i)) for i in range(5)]
        return results, loop.time()

    loop = tinyio.Loop(clock=VirtualClock())  # shared by the nested loops
    results, elapsed = loop.run(main())
    assert results == [(i, True) for i in range(5)]
    assert elapsed == 0.05  # 5 isolated sleeps of 0.05 s at the same time, not one by one


# --- advancing together -------------------------------------------------------------------


def test_the_two_loops_take_turns_so_neither_busy_side_starves_the_other():
    log = []

    def counter(name, n):
        for i in range(n):
            log.append((name, i))
            yield

    def main():
        yield [tinyio.isolate(counter("inside", 30)), counter("outside", 30)]

    run(main())
    # While both have work, neither side runs far ahead of the other.
    both_busy = log[: log.index(("outside", 29))]
    longest_run = current = 1
    for previous, entry in itertools.pairwise(both_busy):
        current = current + 1 if previous[0] == entry[0] else 1
        longest_run = max(longest_run, current)
    assert longest_run <= 3, log


def test_a_busy_coroutine_inside_does_not_block_the_outer_loop():
    state = {"stop": False}

    def spinning():
        spins = 0
        while not state["stop"]:
            spins += 1
            yield
        return spins

    def stopper():
        yield from steps(50)
        state["stop"] = True

    def main():
        (spins, ok), _ = yield [tinyio.isolate(spinning()), stopper()]
        return spins, ok

    spins, ok = run(main())
    assert ok is True
    assert spins >= 50


def test_a_busy_coroutine_outside_does_not_block_the_isolated_one():
    state = {"stop": False}

    def stopper():
        yield from steps(50)
        state["stop"] = True
        return "stopped"

    def spinning():
        spins = 0
        while not state["stop"]:
            spins += 1
            yield
        return spins

    def main():
        return (yield [tinyio.isolate(stopper()), spinning()])

    (result, ok), spins = run(main())
    assert (result, ok) == ("stopped", True)
    assert spins >= 50


def test_an_isolated_sleep_does_not_block_the_outer_loop():
    log = []

    def sleeper():
        yield tinyio.sleep(0.1)
        log.append("inside woke")

    def ticker():
        for _ in range(3):
            yield tinyio.sleep(0.01)
        log.append("outside ticked 3 times")

    def main():
        yield [tinyio.isolate(sleeper()), ticker()]

    run(main())
    assert log == ["outside ticked 3 times", "inside woke"]


@pytest.mark.parametrize(
    ("inner_delay", "outer_delay"), [(0.05, 0.25), (0.25, 0.05)], ids=["inner first", "outer first"]
)
def test_timers_on_both_sides_fire_on_time(inner_delay, outer_delay):
    woke = {}

    def sleeper(name, delay):
        yield tinyio.sleep(delay)
        woke[name] = loop.time()

    def main():
        yield [tinyio.isolate(sleeper("inside", inner_delay)), sleeper("outside", outer_delay)]

    # On the virtual clock (which the nested loop shares), the moments are exact: the earlier
    # timer, whichever side it is on, is not held up by the later one, nor the other way.
    loop = tinyio.Loop(clock=VirtualClock())
    loop.run(main())
    assert woke == {"inside": inner_delay, "outside": outer_delay}


@pytest.mark.untraced
def test_while_both_loops_wait_on_timers_nothing_spins():
    def sleeper():
        yield tinyio.sleep(0.5)
        return "rested"

    def main():
        return (yield tinyio.isolate(sleeper()))

    cpu_start, start = time.process_time(), time.monotonic()
    assert run(main()) == ("rested", True)
    # Not early, nor stuck (the exact moments are checked on the virtual clock, in
    # test_timers_on_both_sides_fire_on_time). What this test is for: spinning for the 0.5 s
    # would cost ten times this CPU time.
    assert 0.5 <= time.monotonic() - start < 1.5
    assert time.process_time() - cpu_start < 0.05


# A latency across threads, and a CPU time: untraced (under a tracer they measure the tracer).
@pytest.mark.untraced
def test_a_thread_started_inside_wakes_the_isolated_coroutine_promptly():
    def blocking():
        time.sleep(0.05)
        return threading.get_ident(), time.monotonic()

    def inside():
        return (yield tinyio.run_in_thread(blocking))

    def main():
        result = yield tinyio.isolate(inside())
        return result, time.monotonic()

    cpu_start = time.process_time()
    ((ident, returned_at), ok), woken_at = run(main())
    assert ok is True
    assert ident != threading.get_ident()
    assert woken_at - returned_at < 0.25  # a wake-up takes milliseconds
    assert time.process_time() - cpu_start < 0.1  # waited for the thread, did not poll


# --- talking across the boundary --------------------------------------------------------


@pytest.mark.timeout(30)
def test_an_event_set_outside_wakes_a_coroutine_waiting_inside():
    event = tinyio.Event()

    def waiter():  # inside: no timer pending, only the wake-up can resume it
        yield event.wait()
        return "woken"

    def setter():
        yield tinyio.sleep(0.05)
        event.set()

    def main():
        (result, _), _ = yield [tinyio.isolate(waiter()), setter()]
        return result, loop.time()

    # On the virtual clock: woken when the event was set (a nested loop that never heard of
    # it would end in the deadlock error instead, one that polled would wake later).
    loop = tinyio.Loop(clock=VirtualClock())
    result, woken_at = loop.run(main())
    assert result == "woken"
    assert woken_at == 0.05


@pytest.mark.timeout(30)
def test_an_event_set_inside_wakes_a_coroutine_waiting_outside():
    event = tinyio.Event()

    def setter():
        yield tinyio.sleep(0.05)
        event.set()
        return "set"

    def waiter():
        yield event.wait()
        return "woken"

    def main():
        return (yield [tinyio.isolate(setter()), waiter()])

    assert run(main()) == [("set", True), "woken"]


@pytest.mark.timeout(30)
def test_an_event_set_by_another_thread_wakes_a_coroutine_waiting_inside():
    event = tinyio.Event()

    def waiter():
        yield event.wait()
        return "woken"

    def main():
        timer = threading.Timer(0.05, event.set)
        timer.start()
        try:
            return (yield tinyio.isolate(waiter()))
        finally:
            timer.join()

    assert run(main()) == ("woken", True)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pause", [None, 0.002], ids=["at once", "inside idle meanwhile"])
def test_coroutines_inside_and_outside_hand_values_back_and_forth_and_both_finish(pause):
    to_inside, to_outside = tinyio.Queue(), tinyio.Queue()

    def outside():
        total = 0
        for i in range(20):
            if pause is not None:
                yield tinyio.sleep(pause)  # so that the inside waits, idle, for each value
            yield to_inside.put(i)
            total += yield to_outside.get()
        return total

    def inside():
        for _ in range(20):
            value = yield to_inside.get()
            yield to_outside.put(value * 10)
        return "inside done"

    def main():
        return (yield [tinyio.isolate(inside()), outside()])

    (inner, ok), total = run(main())
    assert (inner, ok) == ("inside done", True)
    assert total == 10 * sum(range(20))


@pytest.mark.timeout(30)
def test_events_hand_control_back_and_forth_across_the_boundary():
    pings = [tinyio.Event() for _ in range(10)]
    pongs = [tinyio.Event() for _ in range(10)]
    log = []

    def inside():
        for ping, pong in zip(pings, pongs, strict=True):
            yield ping.wait()
            log.append("pong")
            pong.set()
        return "inside done"

    def outside():
        for ping, pong in zip(pings, pongs, strict=True):
            log.append("ping")
            ping.set()
            yield pong.wait()
        return "outside done"

    def main():
        return (yield [tinyio.isolate(inside()), outside()])

    assert run(main()) == [("inside done", True), "outside done"]
    assert log == ["ping", "pong"] * 10


# --- failure inside ---------------------------------------------------------------------


def test_an_exception_inside_gives_the_error_itself_and_false():
    error = Boom("inside")

    def main():
        return (yield tinyio.isolate(fails(error, after=2)))

    value, ok = run(main())
    assert ok is False
    assert value is error


def test_an_error_of_a_coroutine_started_inside_fails_the_whole_isolated_region():
    error = Boom("child")

    def main():
        def parent():
            yield [returns("fine", after=10), fails(error, after=2)]
            return "unreachable"

        return (yield tinyio.isolate(parent()))

    assert run(main()) == (error, False)


def test_a_background_coroutine_that_fails_after_the_coroutine_returned_still_counts():
    error = Boom("late")

    def parent():
        yield {fails(error, after=5)}
        return "returned early"

    def main():
        return (yield tinyio.isolate(parent()))

    assert run(main()) == (error, False)


def test_on_failure_everything_inside_is_cancelled_before_isolate_gives_the_error():
    log = []

    def victim(name):
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            log.append(f"{name} cancelled")
            raise

    def inside():
        yield {victim("background")}
        yield [victim("gathered"), fails(Boom("inside"), after=2)]

    def main():
        start = time.monotonic()
        error, ok = yield tinyio.isolate(inside())
        log.append(f"isolate gave {type(error).__name__}, {ok}")
        return time.monotonic() - start

    elapsed = run(main())
    assert sorted(log[:2]) == ["background cancelled", "gathered cancelled"]
    assert log[2:] == ["isolate gave Boom, False"]
    assert elapsed < 1  # the 10 s sleeps were cancelled, not waited for


def test_on_failure_threads_started_inside_are_cancelled_and_have_ended():
    entered = threading.Event()
    seen = []

    def blocking():
        seen.append(threading.current_thread())
        try:
            entered.set()  # inside the `try`: the cancellation may come as soon as it is done
            while True:
                time.sleep(0.005)
        except tinyio.CancelledError:
            seen.append("cancelled in the thread")
            raise

    def fail_once_the_thread_runs():
        yield tinyio.run_in_thread(entered.wait)
        raise Boom("inside")

    def inside():
        yield [tinyio.run_in_thread(blocking), fail_once_the_thread_runs()]

    def main():
        return (yield tinyio.isolate(inside()))

    error, ok = run(main())
    assert ok is False
    assert isinstance(error, Boom)
    worker, message = seen
    assert message == "cancelled in the thread"
    assert not worker.is_alive()


def test_the_outer_loop_runs_on_after_a_failure_inside():
    log = []

    def outside():
        for i in range(5):
            yield tinyio.sleep(0.01)
            log.append(i)
        return "outside finished"

    def main():
        isolated, outer = yield [tinyio.isolate(fails(Boom("inside"), after=1)), outside()]
        more = yield returns("and more work afterwards", after=2)
        return isolated[1], outer, more

    assert run(main()) == (False, "outside finished", "and more work afterwards")
    assert log == [0, 1, 2, 3, 4]


def test_the_caller_can_react_to_the_failure_and_try_again():
    attempts = []

    def flaky():
        attempts.append(len(attempts))
        yield
        if len(attempts) < 3:
            raise Boom(f"attempt {len(attempts)}")
        return "third time lucky"

    def main():
        while True:
            result, ok = yield tinyio.isolate(flaky())
            if ok:
                return result

    assert run(main()) == "third time lucky"
    assert attempts == [0, 1, 2]


@pytest.mark.parametrize(
    "bad_yield", [1, "text", (1, 2), object()], ids=["int", "str", "tuple", "object"]
)
def test_a_bad_yield_inside_is_an_ordinary_error_of_the_isolated_region(bad_yield):
    def inside():
        yield bad_yield

    def main():
        return (yield tinyio.isolate(inside()))

    error, ok = run(main())
    assert ok is False
    assert isinstance(error, TypeError)


# --- only new coroutines may be yielded inside ------------------------------------------


def test_yielding_inside_a_coroutine_that_the_outer_loop_started_is_a_value_error_inside():
    def shared():
        yield
        return "outer result"

    def main():
        dependency = shared()
        assert (yield dependency) == "outer result"

        def inside():
            return (yield dependency)

        return (yield tinyio.isolate(inside()))

    error, ok = run(main())
    assert ok is False
    assert isinstance(error, ValueError)
    assert "shared" in str(error)


def test_yielding_inside_a_coroutine_that_the_outer_loop_is_running_is_a_value_error_inside():
    release = tinyio.Event()

    def shared():
        yield release.wait()
        return "outer result"

    def main():
        dependency = shared()
        yield {dependency}

        def inside():
            return (yield dependency)

        error, ok = yield tinyio.isolate(inside())
        release.set()
        return error, ok, (yield dependency)

    error, ok, outer_result = run(main())
    assert ok is False
    assert isinstance(error, ValueError)
    assert outer_result == "outer result"  # the outer loop's coroutine was left alone


def test_a_copy_is_how_an_outer_result_reaches_the_isolated_region():
    def shared():
        yield
        return "outer result"

    def main():
        dependency = shared()
        handle = yield tinyio.copy(dependency)

        def inside():
            return (yield handle)

        return (yield tinyio.isolate(inside()))

    assert run(main()) == ("outer result", True)


# --- BaseExceptions propagate -------------------------------------------------------------


@pytest.mark.parametrize("error_type", [KeyboardInterrupt, Stop, SystemExit])
def test_a_base_exception_inside_propagates_and_crashes_the_outer_loop(error_type):
    error = error_type("not an Exception")
    log = []

    def outside():
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            log.append("outside cancelled")
            raise

    def main():
        yield [tinyio.isolate(fails(error, after=2)), outside()]

    with pytest.raises(error_type) as raised:
        run(main())
    assert raised.value is error
    assert log == ["outside cancelled"]


def test_a_cycle_inside_is_a_cancelled_error_which_propagates():
    def inside():
        box = []

        def first():
            yield box[0]

        a = first()

        def second():
            yield a

        box.append(second())
        yield a

    def main():
        yield tinyio.isolate(inside())

    with pytest.raises(tinyio.CancelledError, match="Cycle"):
        run(main())


def test_an_interrupt_of_a_copy_inside_is_not_an_exception_so_it_propagates():
    def slow():
        yield tinyio.sleep(10)

    def main():
        coro = slow()
        handle = yield tinyio.copy(coro)
        assert (yield tinyio.timeout(coro, 0.01)) == (None, False)

        def inside():
            yield handle

        yield tinyio.isolate(inside())

    with pytest.raises(tinyio.TimeoutError):
        run(main())


# --- exception_group ----------------------------------------------------------------------


def _cancelled_badly():
    try:
        yield tinyio.sleep(10)
    finally:
        raise KeyError("raised while being cancelled")


def test_by_default_a_different_error_raised_while_cancelling_gives_a_group_led_by_the_original():
    error = Boom("original")

    def inside():
        yield [_cancelled_badly(), fails(error, after=2)]

    def main():
        return (yield tinyio.isolate(inside()))

    with pytest.warns(RuntimeWarning, match="did not respond properly to cancellation"):
        group, ok = run(main())
    assert ok is False
    assert isinstance(group, ExceptionGroup)
    assert group.exceptions[0] is error
    assert [type(e) for e in group.exceptions[1:]] == [KeyError]


def test_exception_group_false_gives_the_original_error_alone():
    error = Boom("original")

    def inside():
        yield [_cancelled_badly(), fails(error, after=2)]

    def main():
        return (yield tinyio.isolate(inside(), exception_group=False))

    with pytest.warns(RuntimeWarning, match="did not respond properly to cancellation"):
        assert run(main()) == (error, False)


def test_exception_group_true_always_gives_a_group_even_with_cancelled_errors_in_it():
    error = Boom("original")

    def inside():
        yield [tinyio.sleep(10), fails(error, after=2)]

    def main():
        return (yield tinyio.isolate(inside(), exception_group=True))

    group, ok = run(main())
    assert ok is False
    # CancelledError members make it a BaseExceptionGroup; its first member decides.
    assert isinstance(group, BaseExceptionGroup)
    assert group.exceptions[0] is error
    assert all(isinstance(e, tinyio.CancelledError) for e in group.exceptions[1:])


def test_exception_group_true_with_a_single_error_is_a_group_of_one():
    error = Boom("alone")

    def main():
        return (yield tinyio.isolate(fails(error), exception_group=True))

    group, ok = run(main())
    assert ok is False
    assert isinstance(group, ExceptionGroup)
    assert list(group.exceptions) == [error]


def test_a_group_whose_first_member_is_not_an_exception_propagates():
    def inside():
        yield [tinyio.sleep(10), fails(KeyboardInterrupt("first"), after=2)]

    def main():
        yield tinyio.isolate(inside(), exception_group=True)

    with pytest.raises(BaseExceptionGroup) as raised:
        run(main())
    assert isinstance(raised.value.exceptions[0], KeyboardInterrupt)


def test_a_group_whose_first_member_is_an_exception_is_caught_even_with_a_base_exception_after():
    error = Boom("first")

    def stubborn():
        try:
            yield tinyio.sleep(10)
        finally:
            raise Stop("while being cancelled")

    def inside():
        yield [stubborn(), fails(error, after=2)]

    def main():
        return (yield tinyio.isolate(inside()))

    with pytest.warns(RuntimeWarning, match="did not respond properly to cancellation"):
        group, ok = run(main())
    assert ok is False
    assert type(group) is BaseExceptionGroup
    assert group.exceptions[0] is error
    assert isinstance(group.exceptions[1], Stop)


# --- outer cancellation -------------------------------------------------------------------


def test_when_the_outer_loop_crashes_everything_inside_is_cancelled_and_cleans_up():
    log = []
    entered = threading.Event()
    worker = []

    def inner_victim(name):
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            log.append(f"{name} cancelled")
            raise

    def blocking():
        worker.append(threading.current_thread())
        try:
            entered.set()  # inside the `try`: the cancellation may come as soon as it is done
            while True:
                time.sleep(0.005)
        except tinyio.CancelledError:
            log.append("thread cancelled")
            raise

    def inside():
        yield {inner_victim("background")}
        yield [inner_victim("gathered"), tinyio.run_in_thread(blocking)]

    def outside():
        yield tinyio.run_in_thread(entered.wait)
        raise Boom("outside")

    def main():
        yield [tinyio.isolate(inside()), outside()]

    start = time.monotonic()
    with pytest.raises(Boom, match="outside"):
        run(main())
    assert time.monotonic() - start < 5
    assert sorted(log) == ["background cancelled", "gathered cancelled", "thread cancelled"]
    assert not worker[0].is_alive()


def test_a_timeout_around_isolate_cancels_the_inside():
    log = []

    def inside():
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            log.append("inside cancelled")
            raise
        finally:
            log.append("inside cleaned up")

    def main():
        start = time.monotonic()
        result = yield tinyio.timeout(tinyio.isolate(inside()), 0.05)
        log.append("timeout returned")
        return result, time.monotonic() - start

    result, elapsed = run(main())
    assert result == (None, False)
    assert elapsed < 1
    assert log == ["inside cancelled", "inside cleaned up", "timeout returned"]


def test_a_timeout_around_isolate_never_loses_a_queue_item_taken_inside():
    # The outer loop steps the isolated one a step at a time. A get inside that finishes
    # (taking the item) and the coroutine that receives it are one step: a timeout that ends
    # the region between the two would otherwise lose the item. Whichever way the loop
    # orders the two, the item is either received inside or still in the queue. A virtual
    # clock makes the step long: on a real one, a busy machine could delay the step that sets
    # the deadline until the work inside could finish before it.
    clock = VirtualClock()
    queue = tinyio.Queue()
    received = []

    def consumer():
        received.append((yield queue.get()))

    def producer():
        yield tinyio.sleep(0.01)
        queue.put_nowait("item")  # wakes the get inside the isolated region
        clock.jump(0.05)  # a long step: the timeout's deadline passes meanwhile

    def main():
        yield {producer()}
        return (yield tinyio.timeout(tinyio.isolate(consumer()), 0.02))

    assert tinyio.Loop(clock=clock).run(main()) == (None, False)
    assert (received, queue.qsize()) in [(["item"], 0), ([], 1)]


def test_an_outer_cancellation_reaches_nested_isolated_regions():
    log = []

    def deepest():
        try:
            yield tinyio.sleep(10)
        finally:
            log.append("deepest cleaned up")

    def middle():
        yield tinyio.isolate(deepest())

    def main():
        yield [tinyio.isolate(middle()), fails(Boom("outside"), after=5)]

    with pytest.raises(Boom):
        run(main())
    assert log == ["deepest cleaned up"]


def test_isolated_regions_nest_and_a_failure_stays_in_the_innermost():
    def middle():
        error, ok = yield tinyio.isolate(fails(Boom("deepest"), after=2))
        return f"middle saw {type(error).__name__}, {ok}"

    def main():
        return (yield tinyio.isolate(middle()))

    assert run(main()) == ("middle saw Boom, False", True)


# --- the arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("not_a_coroutine", [None, 1, lambda: None, [iter([])]])
def test_isolate_needs_a_coroutine_and_says_so_at_the_call(not_a_coroutine):
    with pytest.raises(TypeError, match="isolate needs a coroutine"):
        tinyio.isolate(not_a_coroutine)


@pytest.mark.parametrize("bad", [0, 1, "yes"])
def test_isolate_checks_exception_group_at_the_call(bad):
    def coro():
        yield

    with pytest.raises(TypeError, match="exception_group"):
        tinyio.isolate(coro(), exception_group=bad)


def _yield_isolated_then_fail(foo: Any) -> Any:
    yield {tinyio.isolate(foo)}
    raise ValueError("the yielder failed at once")


def test_background_isolate_sees_the_cancellation_of_an_error_at_once() -> None:
    # `yield {isolate(foo())}` then an error before the isolate's first turn: `foo` is started
    # and sees CancelledError at its first yield, so that its `finally` runs.
    seen: list[str] = []

    def foo() -> Any:
        seen.append("started")
        try:
            yield tinyio.sleep(1)
        except tinyio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("finally")

    with pytest.raises(ValueError, match="at once"):
        tinyio.Loop().run(_yield_isolated_then_fail(foo()))
    assert seen == ["started", "cancelled", "finally"]


def test_background_isolate_cancelled_at_once_may_return_or_go_on() -> None:
    # A coroutine that returns on the cancellation, or yields again, is not run any further.
    seen: list[str] = []

    def returns() -> Any:
        try:
            yield tinyio.sleep(1)
        except tinyio.CancelledError:
            seen.append("returned")
            return 1

    def goes_on() -> Any:
        try:
            yield tinyio.sleep(1)
        except tinyio.CancelledError:
            seen.append("went on")
        try:
            yield tinyio.sleep(1)
        finally:
            seen.append("closed")

    for foo in (returns(), goes_on()):
        with pytest.raises(ValueError, match="at once"):
            tinyio.Loop().run(_yield_isolated_then_fail(foo))
    assert seen == ["returned", "went on", "closed"]
