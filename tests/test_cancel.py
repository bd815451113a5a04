"""`tinyio.cancel`: stopping one coroutine, which cleans up (docs: background-coroutines.md)."""

import contextlib
import gc
import re
import threading
import time
import warnings

import pytest

import tinyio


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


# --- the normal case: a background coroutine ------------------------------------------------


@pytest.mark.timeout(20)
def test_cancel_stops_a_background_ticker_so_that_loop_run_returns():
    ticks = []

    def ticker():
        while True:
            ticks.append("tick")
            yield tinyio.sleep(3600)  # without cancelling the sleep too, run would wait an hour

    def main():
        background = ticker()
        yield {background}
        yield from steps(3)
        yield tinyio.cancel(background)
        return "main done"

    assert tinyio.Loop().run(main()) == "main done"
    assert ticks == ["tick"]


def test_cancel_returns_after_the_coroutine_has_cleaned_up():
    log = []

    def worker():
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError as error:
            log.append(f"cancelled: {error}")
            raise
        finally:
            yield from steps(3)  # cleaning up may take steps of its own
            log.append("cleaned up")

    def main():
        background = worker()
        yield {background}
        yield
        yield tinyio.cancel(background)
        log.append("cancel returned")

    tinyio.Loop().run(main())
    assert log == ["cancelled: cancelled by tinyio.cancel", "cleaned up", "cancel returned"]


def test_cancelling_a_coroutine_that_has_finished_does_nothing():
    def quick():
        yield
        return "done"

    def main():
        background = quick()
        yield {background}
        yield from steps(3)
        yield tinyio.cancel(background)
        return (yield background)

    assert tinyio.Loop().run(main()) == "done"


def test_cancelling_the_main_coroutine_makes_loop_run_raise_cancelled_error():
    def canceller(target):
        yield from steps(2)
        yield tinyio.cancel(target)

    def main():
        yield {canceller(root)}
        yield tinyio.Event().wait()

    root = main()
    with pytest.raises(tinyio.CancelledError, match=r"cancelled by tinyio\.cancel"):
        tinyio.Loop().run(root)


# --- inside a lock, in a queue, in a thread -----------------------------------------------


def test_cancelling_a_coroutine_inside_a_lock_releases_the_lock_for_the_next():
    lock = tinyio.Lock()
    log = []

    def holder():
        with (yield lock()):
            log.append("holder has the lock")
            yield tinyio.Event().wait()
        log.append("never")

    def next_in_line():
        with (yield lock()):
            log.append("next has the lock")

    def main():
        background = holder()
        yield {background}
        yield from steps(3)
        waiting = next_in_line()
        yield {waiting}
        yield from steps(3)
        yield tinyio.cancel(background)
        yield waiting

    tinyio.Loop().run(main())
    assert log == ["holder has the lock", "next has the lock"]
    assert not lock.locked()


def test_cancelling_a_coroutine_waiting_for_a_lock_takes_it_out_of_the_line():
    lock = tinyio.Lock()
    log = []

    def waiter(name):
        with (yield lock()):
            log.append(name)

    def main():
        with (yield lock()):
            first, second = waiter("first"), waiter("second")
            yield {first}
            yield {second}
            yield from steps(3)
            yield tinyio.cancel(first)
        yield second

    tinyio.Loop().run(main())
    assert log == ["second"]


def test_cancelling_a_getter_loses_no_item():
    q = tinyio.Queue()

    def getter():
        return (yield q.get())

    def main():
        gone = getter()
        yield {gone}
        yield from steps(3)
        yield tinyio.cancel(gone)
        q.put_nowait("item")
        return (yield getter())

    assert tinyio.Loop().run(main()) == "item"


@pytest.mark.timeout(30)
def test_cancelling_a_thread_call_raises_cancelled_error_inside_the_thread():
    started = tinyio.Event()
    seen_in_thread = []

    def blocking():
        started.set()
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            seen_in_thread.append(threading.current_thread().name)
            raise

    def main():
        call = tinyio.run_in_thread(blocking)
        yield {call}
        yield started.wait()
        yield tinyio.cancel(call)
        return "cancelled"

    assert tinyio.Loop().run(main()) == "cancelled"
    assert seen_in_thread == ["tinyio worker"]


@pytest.mark.timeout(30)
def test_cancelling_a_coroutine_in_a_thread_call_made_with_yield_from_cancels_the_call():
    started = tinyio.Event()
    seen_in_thread = []

    def blocking():
        started.set()
        try:
            while True:
                time.sleep(0.001)
        except tinyio.CancelledError:
            seen_in_thread.append("cancelled")
            raise

    def worker():
        try:
            yield from tinyio.run_in_thread(blocking)
        finally:
            seen_in_thread.append("worker cleaned up")

    def main():
        background = worker()
        yield {background}
        yield started.wait()
        yield tinyio.cancel(background)

    tinyio.Loop().run(main())
    # The worker cleans up at once, without waiting for its thread; `run` waits for the thread.
    assert sorted(seen_in_thread) == ["cancelled", "worker cleaned up"]


# --- waiters are never surprised ----------------------------------------------------------


def test_cancelling_a_coroutine_others_wait_on_is_an_error_naming_them():
    def shared():
        yield from steps(5)
        return "shared result"

    def waiter(target):
        return (yield target)

    def main():
        target = shared()
        pending = waiter(target)
        yield {pending}
        yield
        try:
            yield from tinyio.cancel(target)
        except RuntimeError as error:
            message = str(error)
        return message, (yield pending)

    message, result = tinyio.Loop().run(main())
    assert re.search(r"Cannot cancel \S*shared\(\)", message)
    assert re.search(r"\(\S*waiter\(\)\)", message)
    assert "tinyio.timeout" in message
    assert result == "shared result"  # the waiter got its result, not a cancellation


def test_cancelling_a_member_of_a_gather_names_the_coroutine_that_gathers():
    def member():
        yield tinyio.sleep(0.01)

    def gatherer(members):
        yield members

    def main():
        target = member()
        gathering = gatherer([target, member()])
        yield {gathering}
        yield from steps(3)
        try:
            yield from tinyio.cancel(target)
        except RuntimeError as error:
            return str(error)

    assert re.search(r"\(\S*gatherer\(\)\)", tinyio.Loop().run(main()))


def test_yield_cancel_on_a_waited_on_coroutine_crashes_the_loop_with_that_error():
    def shared():
        yield tinyio.sleep(0.01)

    def waiter(target):
        yield target

    def main():
        target = shared()
        yield {waiter(target)}
        yield
        yield tinyio.cancel(target)

    with pytest.raises(RuntimeError, match="other coroutines wait on it"):
        tinyio.Loop().run(main())


# --- mistakes -----------------------------------------------------------------------------


def test_a_coroutine_that_swallows_the_cancellation_gets_a_runtime_warning():
    def stubborn():
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError:
            return "ignored"

    def main():
        background = stubborn()
        yield {background}
        yield
        yield tinyio.cancel(background)

    with pytest.warns(RuntimeWarning, match="did not respond properly to cancellation") as record:
        tinyio.Loop().run(main())
    assert "stubborn()" in str(record[0].message)
    assert "returned 'ignored'" in str(record[0].message)
    assert record[0].filename == __file__  # points at the coroutine, not at tinyio


def test_a_coroutine_that_lets_the_cancellation_propagate_gets_no_warning():
    def polite():
        yield tinyio.Event().wait()

    def main():
        background = polite()
        yield {background}
        yield
        yield tinyio.cancel(background)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tinyio.Loop().run(main())


def test_an_error_raised_while_cancelled_crashes_the_loop_with_it():
    def clumsy():
        try:
            yield tinyio.Event().wait()
        finally:
            raise Boom("in cleanup")

    def main():
        background = clumsy()
        yield {background}
        yield
        yield tinyio.cancel(background)

    with pytest.raises(Boom, match="in cleanup"):
        tinyio.Loop().run(main())


def test_cancelling_a_coroutine_never_started_in_this_loop_raises_value_error():
    def idle():
        yield

    def main():
        yield tinyio.cancel(idle())

    with pytest.raises(ValueError, match=r"Cannot cancel .*idle\(\): it has not been started"):
        tinyio.Loop().run(main())


@pytest.mark.parametrize("bad", [None, 3, lambda: None])
def test_cancel_of_something_that_is_not_a_coroutine_raises_type_error_at_the_call(bad):
    with pytest.raises(TypeError, match="cancel needs a coroutine"):
        tinyio.cancel(bad)


async def fetch():
    return "page"


# Each library function that takes tinyio coroutines, given an `async def` one, and the call
# its error suggests instead.
ASYNC_MISTAKES = {
    "cancel": (lambda: tinyio.cancel(fetch()), "running = tinyio.from_asyncio(coro)"),
    "timeout": (
        lambda: tinyio.timeout(fetch(), 1),
        "tinyio.timeout(tinyio.from_asyncio(coro), seconds)",
    ),
    "race": (
        lambda: tinyio.race([fetch(), fetch()]),
        "tinyio.race([tinyio.from_asyncio(coro), ...])",
    ),
    "settle": (
        lambda: tinyio.settle([fetch(), fetch()]),
        "tinyio.settle([tinyio.from_asyncio(coro), ...])",
    ),
}


@pytest.mark.parametrize("function", list(ASYNC_MISTAKES))
def test_an_async_def_coroutine_given_to_a_library_function_points_at_the_bridges(function):
    # A new-user trial: `tinyio.timeout(fetch(), 1)` of an `async def fetch` said only that a
    # generator was needed.
    call, suggested = ASYNC_MISTAKES[function]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError) as raised:
            call()
        message = str(raised.value)
        raised.value.__traceback__ = None  # which holds the frames that hold the coroutines
        del raised
        gc.collect()
    # No "coroutine ... was never awaited" on top of the error, for any of them.
    assert [str(w.message) for w in caught] == []
    assert "an `async def` coroutine" in message
    assert f"`{suggested}" in message
    assert "tinyio.from_trio" in message


def test_two_cancels_of_one_coroutine_at_once_both_return_once_it_has_cleaned_up():
    log = []

    def ticker():
        try:
            while True:
                yield tinyio.sleep(0.01)
        finally:
            log.append("ticker cleaned up")

    def stop(coro, who):
        yield tinyio.cancel(coro)
        log.append(f"{who} returned")

    def main():
        background = ticker()
        yield {background}
        yield
        yield [stop(background, "shutdown path"), stop(background, "signal path")]

    tinyio.Loop().run(main())
    assert log[0] == "ticker cleaned up"
    assert sorted(log[1:]) == ["shutdown path returned", "signal path returned"]


def test_a_second_cancel_while_the_first_waits_on_a_stubborn_coroutine_waits_with_it():
    release = tinyio.Event()
    log = []

    def stubborn():
        with contextlib.suppress(tinyio.CancelledError):  # swallowed, on purpose
            yield tinyio.sleep(3600)
        yield release.wait()
        log.append("stubborn finished")

    def stop(coro, who):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # it swallowed the cancellation
            yield tinyio.cancel(coro)
        log.append(f"{who} returned")

    def main():
        background = stubborn()
        yield {background}
        yield
        yield {stop(background, "first")}
        yield from steps(3)
        yield {stop(background, "second")}
        yield from steps(3)
        assert log == []
        release.set()

    tinyio.Loop().run(main())
    assert log[0] == "stubborn finished"
    assert sorted(log[1:]) == ["first returned", "second returned"]


def test_cancelling_a_coroutine_that_a_timeout_runs_says_to_cancel_the_timeout():
    # It has started (inside the timeout), so "not started in this loop" was false.
    def job():
        yield tinyio.sleep(10)

    def main():
        coro = job()
        timed = tinyio.timeout(coro, 5)
        yield {timed}
        while coro.gi_frame is not None and not coro.gi_suspended:
            yield  # a turn: until the timeout has started `coro`
        with pytest.raises(ValueError, match=r"runs as part of another coroutine"):
            yield from tinyio.cancel(coro)
        yield tinyio.cancel(timed)

    tinyio.Loop().run(main())
