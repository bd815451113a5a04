"""When anything fails, every other coroutine is cancelled where it waits (docs: errors.md)."""

import concurrent.futures
import contextlib
import functools
import signal
import sys
import threading
import time

import pytest

import tinyio
from tinyio.testing import VirtualClock


class Boom(Exception):
    pass


def fail_after(steps, error=None):
    for _ in range(steps):
        yield
    raise error if error is not None else Boom("boom")


def spin_forever():
    while True:
        yield


def test_cancelled_error_derives_from_base_exception_not_exception():
    assert issubclass(tinyio.CancelledError, BaseException)
    assert not issubclass(tinyio.CancelledError, Exception)


def test_the_original_error_is_raised_out_of_run():
    error = Boom("the original")

    def main():
        yield
        raise error

    with pytest.raises(Boom) as excinfo:
        tinyio.Loop().run(main())
    assert excinfo.value is error


def test_cancelled_error_is_thrown_in_at_the_yield_where_the_coroutine_waits():
    never = tinyio.Event()
    log = []

    def waiter():
        try:
            yield never.wait()
        except tinyio.CancelledError:
            log.append("cancelled while waiting on the event")
            raise
        log.append("continued after the wait")

    def main():
        yield [waiter(), fail_after(3)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["cancelled while waiting on the event"]


def test_finally_blocks_run_on_cancellation():
    log = []

    def sleeper():
        try:
            yield tinyio.sleep(30)
        finally:
            log.append("sleeper cleaned up")

    def main():
        try:
            yield [sleeper(), fail_after(2)]
        finally:
            log.append("main cleaned up")

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert sorted(log) == ["main cleaned up", "sleeper cleaned up"]


def test_with_blocks_exit_with_the_cancelled_error():
    exits = []

    @contextlib.contextmanager
    def resource(name):
        try:
            yield
        except BaseException as e:
            exits.append((name, type(e)))
            raise

    def holder():
        with resource("holder"):
            yield tinyio.Event().wait()

    def main():
        yield [holder(), fail_after(1)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert exits == [("holder", tinyio.CancelledError)]


def test_except_exception_does_not_swallow_cancellation():
    log = []

    def careless():
        try:
            yield tinyio.Event().wait()
        except Exception:
            log.append("swallowed")
        log.append("carried on")

    def main():
        yield [careless(), fail_after(1)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == []


def test_busy_coroutines_are_cancelled_at_their_bare_yield():
    log = []

    def busy():
        try:
            yield from spin_forever()
        except tinyio.CancelledError:
            log.append("busy cancelled")
            raise

    def main():
        yield [busy(), busy(), fail_after(5)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["busy cancelled", "busy cancelled"]


def test_background_coroutines_are_cancelled_when_the_main_coroutine_fails():
    log = []

    def background():
        try:
            yield tinyio.sleep(30)
        finally:
            log.append("background cleaned up")

    def main():
        yield {background(), background()}
        yield
        raise Boom("main failed")

    start = time.monotonic()
    with pytest.raises(Boom, match="main failed"):
        tinyio.Loop().run(main())
    assert log == ["background cleaned up"] * 2
    assert time.monotonic() - start < 5


def test_a_background_failure_cancels_the_main_coroutine():
    log = []

    def main():
        yield {fail_after(2)}
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError:
            log.append("main cancelled")
            raise

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["main cancelled"]


def test_a_long_sleep_does_not_delay_the_error():
    def main():
        yield [tinyio.sleep(30), fail_after(3)]

    start = time.monotonic()
    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert time.monotonic() - start < 5


def test_every_coroutine_along_a_chain_of_waiters_is_cancelled():
    log = []

    def level(n):
        try:
            if n == 0:
                yield tinyio.Event().wait()
            else:
                yield level(n - 1)
        except tinyio.CancelledError:
            log.append(n)
            raise

    def main():
        yield [level(4), fail_after(10)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert sorted(log) == [0, 1, 2, 3, 4]


def test_a_coroutine_is_cleaned_up_before_the_coroutine_that_started_it():
    log = []

    def child():
        try:
            yield tinyio.Event().wait()
        finally:
            log.append("child")

    def parent():
        try:
            yield child()
        finally:
            log.append("parent")

    def main():
        yield [parent(), fail_after(3)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["child", "parent"]


def test_coroutines_are_cancelled_newest_first():
    log = []

    def waiter(name):
        try:
            yield tinyio.Event().wait()
        finally:
            log.append(name)

    def main():
        yield [waiter("first"), waiter("second"), waiter("third"), fail_after(3)]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["third", "second", "first"]


def test_a_coroutine_that_never_started_does_not_start_during_cancellation():
    log = []

    def never_ran():
        log.append("body ran")
        yield

    def main():
        yield [fail_after(0), never_ran()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == []


def test_a_finished_coroutine_is_not_cancelled_again():
    log = []

    def finishes_early():
        try:
            yield
        finally:
            log.append("finished once")

    def main():
        yield finishes_early()
        yield fail_after(1)

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["finished once"]


def test_keyboard_interrupt_from_a_coroutine_cancels_the_others_and_comes_out():
    log = []

    def waiter():
        try:
            yield tinyio.sleep(30)
        finally:
            log.append("waiter cleaned up")

    def main():
        yield [waiter(), fail_after(2, KeyboardInterrupt())]

    with pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(main())
    assert log == ["waiter cleaned up"]


@contextlib.contextmanager
def ctrl_c_once(ready):
    """Deliver SIGINT to the main thread once `ready` (a threading.Event) is set."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def press_ctrl_c():
        ready.wait()
        # The loop blocks right after `ready` is set; give it a moment to get there.
        time.sleep(0.05)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    thread = threading.Thread(target=press_ctrl_c)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        signal.signal(signal.SIGINT, previous)


@pytest.mark.timeout(10)
def test_ctrl_c_while_the_loop_sleeps_cancels_everything_and_raises_keyboard_interrupt():
    about_to_sleep = threading.Event()
    log = []

    def sleeper():
        try:
            about_to_sleep.set()
            yield tinyio.sleep(30)
        except tinyio.CancelledError:
            log.append("sleeper cancelled")
            raise

    def event_waiter():
        try:
            yield tinyio.Event().wait()
        finally:
            log.append("event waiter cleaned up")

    def main():
        try:
            yield [event_waiter(), sleeper()]
        finally:
            log.append("main cleaned up")

    start = time.monotonic()
    with ctrl_c_once(about_to_sleep), pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(main())
    assert time.monotonic() - start < 5
    assert sorted(log) == ["event waiter cleaned up", "main cleaned up", "sleeper cancelled"]


@pytest.mark.timeout(10)
def test_ctrl_c_while_the_loop_waits_on_an_event_cancels_and_raises_keyboard_interrupt():
    about_to_wait = threading.Event()
    log = []

    def waiter():
        try:
            about_to_wait.set()
            yield tinyio.Event().wait()
        except tinyio.CancelledError:
            log.append("waiter cancelled")
            raise

    with ctrl_c_once(about_to_wait), pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(waiter())
    assert log == ["waiter cancelled"]


@pytest.mark.timeout(10)
def test_ctrl_c_while_waiting_with_a_timeout_cancels_and_raises_keyboard_interrupt():
    about_to_wait = threading.Event()
    log = []

    def waiter():
        try:
            about_to_wait.set()
            yield tinyio.Event().wait(30)
        finally:
            log.append("waiter cleaned up")

    start = time.monotonic()
    with ctrl_c_once(about_to_wait), pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(waiter())
    assert time.monotonic() - start < 5
    assert log == ["waiter cleaned up"]


@pytest.mark.timeout(10)
def test_the_loop_is_usable_again_after_ctrl_c():
    about_to_wait = threading.Event()
    loop = tinyio.Loop()

    def waiter():
        about_to_wait.set()
        yield tinyio.Event().wait()

    with ctrl_c_once(about_to_wait), pytest.raises(KeyboardInterrupt):
        loop.run(waiter())

    def afterwards():
        yield tinyio.sleep(0.01)
        return "fine"

    assert loop.run(afterwards()) == "fine"


@pytest.mark.timeout(10)
def test_ctrl_c_with_exception_group_true_gives_a_group_led_by_keyboard_interrupt():
    about_to_wait = threading.Event()

    def waiter():
        about_to_wait.set()
        yield tinyio.Event().wait()

    with ctrl_c_once(about_to_wait), pytest.raises(BaseExceptionGroup) as excinfo:
        tinyio.Loop().run(waiter(), exception_group=True)
    assert isinstance(excinfo.value.exceptions[0], KeyboardInterrupt)


class DropsAnError:
    """Raises `error` from `__del__`: Python cannot let it propagate, it drops it."""

    def __init__(self, error):
        self.error = error

    def __del__(self):
        raise self.error


class CtrlCWhenFreed:
    """Sends SIGINT from `__del__`; the handler runs at the next bytecode, inside `__del__`.

    Python's own handler would raise KeyboardInterrupt there, where it cannot propagate:
    Python prints "Exception ignored in ..." and drops it, and the Ctrl-C is lost.
    """

    def __del__(self):
        signal.raise_signal(signal.SIGINT)
        for _ in range(10):  # bytecodes for the handler to run at
            pass


def ctrl_c_in_del_then_wait(before=()):
    """A coroutine that runs `before`, then has a Ctrl-C land in a `__del__`, then waits on an
    Event: for ever, but for a timer that sets it after 10 s, so that a lost Ctrl-C fails the
    test instead of hanging it."""
    never = tinyio.Event()
    rescue = threading.Timer(10, never.set)

    def main():
        rescue.start()
        try:
            yield list(before)
            CtrlCWhenFreed()  # freed at once
            yield never.wait()
        finally:
            rescue.cancel()
            rescue.join()

    return main()


@pytest.fixture
def python_handles_sigint():
    """SIGINT's handler is Python's default during the test (as in a plain program)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_that_lands_in_a_del_method_still_stops_the_loop(python_handles_sigint):
    with pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(ctrl_c_in_del_then_wait())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_in_a_del_method_stops_the_outer_loop_after_nested_loops_ended_out_of_order(
    python_handles_sigint,
):
    # Two isolated regions (nested loops) side by side: the first to start ends first. The
    # Ctrl-C afterwards must still stop the outer loop, and Python's handler must be back
    # after the run.
    def short():
        yield tinyio.sleep(0.01)

    def longer():
        yield tinyio.sleep(0.05)

    regions = [tinyio.isolate(short()), tinyio.isolate(longer())]
    with pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(ctrl_c_in_del_then_wait(regions))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_other_errors_dropped_during_a_run_are_still_reported_as_usual(monkeypatch):
    # The loop leaves `sys.unraisablehook` alone: "Exception ignored in ..." goes to the hook
    # that is in place.
    reported = []

    def hook(unraisable):
        reported.append(unraisable.exc_value)

    monkeypatch.setattr(sys, "unraisablehook", hook)

    def main():
        DropsAnError(ValueError("dropped in __del__"))
        yield

    tinyio.Loop().run(main())
    assert [str(error) for error in reported] == ["dropped in __del__"]
    assert sys.unraisablehook is hook


def busy_until(give_up_at, cleaned, i, event, running):
    try:
        running.set()
        while time.monotonic() < give_up_at:
            if i % 2:
                yield tinyio.sleep(0)
            else:
                yield event.wait(0)
    finally:
        cleaned.append(i)


@pytest.mark.timeout(60)
def test_ctrl_c_at_any_moment_of_a_busy_loop_interrupts_it_and_cleans_up():
    # Deliver SIGINT at many different moments while coroutines keep the loop busy: wherever
    # it lands -- in a coroutine or inside the loop -- it must stop the loop.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for trial in range(80):
            cleaned = []
            give_up_at = time.monotonic() + 2
            event = tinyio.Event()
            running = threading.Event()

            def main(give_up_at=give_up_at, cleaned=cleaned, event=event, running=running):
                yield [busy_until(give_up_at, cleaned, i, event, running) for i in range(6)]

            def press_ctrl_c(running=running, delay=0.002 * (trial % 10)):
                running.wait()
                time.sleep(delay)
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

            thread = threading.Thread(target=press_ctrl_c)
            thread.start()
            try:
                with pytest.raises(KeyboardInterrupt):
                    tinyio.Loop().run(main())
            finally:
                thread.join()
            assert sorted(cleaned) == list(range(6)), f"trial {trial}"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_loop_can_run_again_after_an_error():
    # On the virtual clock, which the crash leaves at 0: the times are exact.
    loop = tinyio.Loop(clock=VirtualClock())

    def main():
        yield [tinyio.sleep(0.2), tinyio.Event().wait(), fail_after(2)]

    with pytest.raises(Boom):
        loop.run(main())

    def afterwards():
        yield
        yield tinyio.sleep(0.01)
        return "fine"

    assert loop.time() == 0
    assert loop.run(afterwards()) == "fine"
    # No leftover timer (0.2) or waiter (which would be a deadlock) from the crashed run
    # holds this one up: it ends when its own sleep does.
    assert loop.time() == 0.01


def _blocked_until(released: threading.Event, started: threading.Event, ended: list[object]):
    """Stands for a call stuck in one C call until `released` is set, or 10 s pass: one that
    a cancellation reaches only when it returns (one that arrives before the wait begins is
    held until then too)."""
    started.set()
    deadline = time.monotonic() + 10
    cancelled = None
    try:
        while not released.is_set() and (left := deadline - time.monotonic()) > 0:
            try:
                released.wait(left)
            except tinyio.CancelledError as error:
                cancelled = error
    finally:
        ended.append(("call ended", released.is_set()))
    if cancelled is not None:
        raise cancelled


def _lets_the_call_go_as_it_cleans_up(released: threading.Event, order: list[object]):
    """A coroutine whose clean-up is what lets a stuck call return."""
    try:
        yield tinyio.sleep(100)
    finally:
        order.append("other cleaned up")
        released.set()


def _stuck_thread_call(released, started, ended, _):
    return tinyio.run_in_thread(_blocked_until, released, started, ended)


def _stuck_executor_call(released, started, ended, cleanup: contextlib.ExitStack):
    pool = cleanup.enter_context(concurrent.futures.ThreadPoolExecutor(1))
    return tinyio.run_in_executor(pool, _blocked_until, released, started, ended)


def _stuck_asyncio_cleanup(released, started, ended, _):
    import asyncio

    async def task():
        try:
            await asyncio.sleep(100)
        finally:
            _blocked_until(released, started, ended)  # cleans up blocking its loop

    def call():
        yield tinyio.from_asyncio(task())

    return call()


# The thread case runs untraced: under a tracer, CPython 3.11 makes the loop's thread wait at
# each Python call until the CancelledError sent to the stuck thread is delivered, that is
# until its call returns (docs/devdocs/threads.md).
@pytest.mark.parametrize(
    "stuck",
    [
        pytest.param(_stuck_thread_call, marks=pytest.mark.untraced),
        _stuck_executor_call,
        _stuck_asyncio_cleanup,
    ],
)
def test_while_a_crash_waits_for_a_stuck_call_the_other_coroutines_clean_up_at_once(stuck):
    # Issue 21, item 7. The other coroutine's `finally` is what lets the call go: had it to
    # wait for the call to end, the call would end only after its 10 s.
    released, started = threading.Event(), threading.Event()
    order: list[object] = []

    other = functools.partial(_lets_the_call_go_as_it_cleans_up, released, order)

    def failing():
        if stuck is _stuck_asyncio_cleanup:
            yield tinyio.sleep(0.05)  # the task is in its sleep: its cleanup blocks
            started.set()
        while not started.is_set():
            yield tinyio.sleep(0.001)
        raise ValueError("boom")

    def caller(cleanup):
        try:
            yield stuck(released, started, order, cleanup)
        finally:
            order.append("its caller cleaned up")

    def main(cleanup):
        yield [other(), caller(cleanup), failing()]

    begun = time.monotonic()
    with contextlib.ExitStack() as cleanup, pytest.raises(ValueError, match="boom"):
        tinyio.Loop().run(main(cleanup))
    # The coroutine that waits on the call cleans up after it, as an error goes up a stack.
    assert order == ["other cleaned up", ("call ended", True), "its caller cleaned up"]
    assert time.monotonic() - begun < 5


# The thread kind runs untraced: on 3.11 a tracer makes the loop's thread wait until the
# stuck thread's CancelledError is delivered, that is until the call returns.
@pytest.mark.parametrize("kind", [pytest.param("thread", marks=pytest.mark.untraced), "executor"])
def test_a_crash_while_a_timed_out_call_still_runs_waits_for_it_and_cleans_up_the_rest_first(
    kind,
):
    # A call timed out goes on in the background (its reaper waits for it). A crash then
    # cancels the reaper too: the other coroutines clean up at once, and `run` returns only
    # once the call has ended.
    released, started = threading.Event(), threading.Event()
    order: list[object] = []

    other = functools.partial(_lets_the_call_go_as_it_cleans_up, released, order)

    def main(pool):
        if kind == "thread":
            call = tinyio.run_in_thread(_blocked_until, released, started, order)
        else:
            call = tinyio.run_in_executor(pool, _blocked_until, released, started, order)
        yield {other()}
        assert (yield tinyio.timeout(call, 0.05)) == (None, False)
        assert started.is_set()
        raise ValueError("boom")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(ValueError, match="boom"):
            tinyio.Loop().run(main(pool))
        assert order == ["other cleaned up", ("call ended", True)]
