"""The virtual clock: `tinyio.Loop(clock=tinyio.testing.VirtualClock())`."""

from __future__ import annotations

import threading
import time

import pytest

import tinyio
from tinyio.testing import VirtualClock


def _virtual_loop(start: float = 0.0) -> tuple[tinyio.Loop, VirtualClock]:
    clock = VirtualClock(start)
    return tinyio.Loop(clock=clock), clock


def test_the_clock_starts_at_zero_and_the_loop_reads_it() -> None:
    loop, clock = _virtual_loop()
    assert loop.time() == 0.0 == clock.time()
    assert VirtualClock(start=5).time() == 5.0


def test_without_a_clock_the_loop_reads_the_monotonic_clock() -> None:
    loop = tinyio.Loop()
    before = time.monotonic()
    now = loop.time()
    assert before <= now <= time.monotonic()


def test_sleeping_jumps_straight_to_each_timer() -> None:
    loop, _ = _virtual_loop()
    woke: list[tuple[str, float]] = []

    def sleeper(name: str, seconds: float) -> tinyio.Coro[None]:
        yield tinyio.sleep(seconds)
        woke.append((name, loop.time()))

    def main() -> tinyio.Coro[None]:
        yield [sleeper("hour", 3600), sleeper("minute", 60), sleeper("day", 86400)]

    loop.run(main())
    assert woke == [("minute", 60.0), ("hour", 3600.0), ("day", 86400.0)]


def test_time_stands_still_while_coroutines_are_ready() -> None:
    loop, _ = _virtual_loop()
    seen: list[float] = []

    def busy() -> tinyio.Coro[None]:
        for _ in range(1000):
            seen.append(loop.time())
            yield

    loop.run(busy())
    assert set(seen) == {0.0}


def test_a_retry_with_backoff_gives_the_same_result_every_run() -> None:
    def attempt_times() -> list[float]:
        loop, _ = _virtual_loop()
        attempts: list[float] = []

        def flaky() -> tinyio.Coro[str]:
            yield
            attempts.append(loop.time())
            if len(attempts) < 5:
                raise ConnectionError("try again")
            return "connected"

        # An error would crash the loop: each attempt runs isolated.
        def isolated_retry() -> tinyio.Coro[str]:
            delay = 1.0
            while True:
                result, ok = yield tinyio.isolate(flaky())
                if ok:
                    return result
                yield tinyio.sleep(delay)
                delay *= 2

        assert loop.run(isolated_retry()) == "connected"
        return attempts

    first = attempt_times()
    assert first == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert all(attempt_times() == first for _ in range(5))


def test_event_wait_with_a_timeout_honours_the_clock() -> None:
    loop, _ = _virtual_loop()
    event = tinyio.Event()

    def main() -> tinyio.Coro[float]:
        yield event.wait(30)
        assert not event.is_set()
        return loop.time()

    assert loop.run(main()) == 30.0


def test_an_event_set_before_the_timeout_wins_and_the_clock_stops_there() -> None:
    loop, _ = _virtual_loop()
    event = tinyio.Event()

    def setter() -> tinyio.Coro[None]:
        yield tinyio.sleep(2)
        event.set()

    def main() -> tinyio.Coro[float]:
        yield {setter()}
        yield event.wait(30)
        return loop.time()

    assert loop.run(main()) == 2.0
    assert loop.time() == 2.0  # the dead 30 s timer is not jumped to


def test_timeout_honours_the_clock() -> None:
    loop, _ = _virtual_loop()

    def slow() -> tinyio.Coro[str]:
        yield tinyio.sleep(100)
        return "finished"

    def main() -> tinyio.Coro[tuple[object, object]]:
        early = yield tinyio.timeout(slow(), 10)
        at = loop.time()
        late = yield tinyio.timeout(slow(), 1000)
        return (early, at), (late, loop.time())

    # The first `slow` is interrupted at 10; its `sleep(100)` goes on to 100, and `run` waits
    # for it, but the second `slow` started at 10 and finishes at 110.
    assert loop.run(main()) == (((None, False), 10.0), (("finished", True), 110.0))


def test_queue_and_condition_waits_with_a_timeout_honour_the_clock() -> None:
    loop, _ = _virtual_loop()
    queue: tinyio.Queue[int] = tinyio.Queue()
    condition = tinyio.Condition()

    def wait_on_condition() -> tinyio.Coro[None]:
        with (yield condition()):
            yield condition.wait()

    def notify_much_later() -> tinyio.Coro[None]:
        # (A condition wait given up on by `timeout` stays pending until notified.)
        yield tinyio.sleep(100)
        with (yield condition()):
            condition.notify_all()

    def main() -> tinyio.Coro[list[object]]:
        yield {notify_much_later()}
        got = yield tinyio.timeout(queue.get(), 5)
        after_get = loop.time()
        waited = yield tinyio.timeout(wait_on_condition(), 7)
        return [got, after_get, waited, loop.time()]

    assert loop.run(main()) == [(None, False), 5.0, (None, False), 12.0]
    assert loop.time() == 100.0


def test_the_clock_does_not_jump_while_a_thread_call_runs() -> None:
    loop, _ = _virtual_loop()
    order: list[str] = []
    release = threading.Event()

    def blocking() -> str:
        release.wait()
        order.append("thread returned")
        return "done"

    def sleeper() -> tinyio.Coro[None]:
        yield tinyio.sleep(1)
        order.append(f"sleeper woke at {loop.time():g}")

    def releaser() -> tinyio.Coro[None]:
        # Some real work in the loop's thread while the thread call blocks: the loop stays idle
        # meanwhile, with a timer due at 1 s of virtual time. It must not jump there.
        yield
        threading.Timer(0.05, release.set).start()

    def main() -> tinyio.Coro[None]:
        yield [tinyio.run_in_thread(blocking), sleeper(), releaser()]

    loop.run(main())
    assert order == ["thread returned", "sleeper woke at 1"]


def test_an_isolated_region_shares_the_clock_of_its_loop() -> None:
    loop, _ = _virtual_loop()
    woke: list[tuple[str, float]] = []

    def inside() -> tinyio.Coro[None]:
        yield tinyio.sleep(20)
        woke.append(("inside", loop.time()))

    def outside() -> tinyio.Coro[None]:
        yield tinyio.sleep(10)
        woke.append(("outside", loop.time()))

    def main() -> tinyio.Coro[None]:
        yield [tinyio.isolate(inside()), outside()]

    loop.run(main())
    assert woke == [("outside", 10.0), ("inside", 20.0)]


def test_jump_moves_time_forward_and_due_timers_fire() -> None:
    loop, clock = _virtual_loop()

    def sleeper() -> tinyio.Coro[float]:
        yield tinyio.sleep(5)
        return loop.time()

    def main() -> tinyio.Coro[float]:
        sleeping = sleeper()
        yield {sleeping}
        yield
        clock.jump(60)
        return (yield sleeping)

    assert loop.run(main()) == 60.0


def test_a_loop_with_a_virtual_clock_can_be_run_again_and_time_goes_on() -> None:
    loop, _ = _virtual_loop()
    loop.run(tinyio.sleep(3))
    loop.run(tinyio.sleep(4))
    assert loop.time() == 7.0


def test_the_report_of_a_crash_counts_seconds_left_on_the_virtual_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINYIO_REPORT_EVERY_CRASH", "1")  # the report on an ordinary crash
    loop, _ = _virtual_loop()

    def sleeper() -> tinyio.Coro[None]:
        yield tinyio.sleep(1000)

    def crasher() -> tinyio.Coro[None]:
        yield tinyio.sleep(400)
        raise RuntimeError("boom")

    def main() -> tinyio.Coro[None]:
        yield [sleeper(), crasher()]

    with pytest.raises(RuntimeError, match="boom") as caught:
        loop.run(main())
    assert "[timer: 600.000 s left]" in "\n".join(caught.value.__notes__)


def test_a_clock_object_without_the_needed_methods_is_refused() -> None:
    with pytest.raises(TypeError, match=r"clock must be a clock .* got 42"):
        tinyio.Loop(clock=42)  # pyright: ignore[reportArgumentType]


# ---------------------------------------------------------------- a deadlock under a virtual clock


def test_a_deadlock_under_a_virtual_clock_is_an_error_with_the_report_not_a_hang():
    # Issue 22: nothing ready, no timer, no thread call: nothing can ever happen.
    event = tinyio.Event()
    cleaned = []

    def waiter():
        try:
            yield event.wait()
        finally:
            cleaned.append("waiter")

    def main():
        yield tinyio.sleep(3600)  # the clock jumps this
        yield [waiter(), waiter()]

    begun = time.monotonic()
    with pytest.raises(RuntimeError, match="Deadlock under a virtual clock") as raised:
        tinyio.Loop(clock=VirtualClock()).run(main())
    assert time.monotonic() - begun < 10  # one second of grace, then the error
    (report,) = raised.value.__notes__
    assert report.startswith("tinyio: the loop is stuck; what its coroutines wait for:")
    assert report.count("tinyio.Event.wait()  on <tinyio.Event unset, 2 waiting>") == 2
    assert cleaned == ["waiter", "waiter"]


def test_a_thread_of_the_user_s_that_wakes_the_loop_within_the_grace_is_no_deadlock():
    event = tinyio.Event()

    def main():
        threading.Timer(0.2, event.set).start()  # real time, not the loop's
        yield event.wait()
        return "woken"

    assert tinyio.Loop(clock=VirtualClock()).run(main()) == "woken"


def test_a_long_thread_call_under_a_virtual_clock_is_no_deadlock():
    # A thread call wakes the loop itself: it is waited for however long it takes.
    def main():
        return (yield tinyio.run_in_thread(lambda: time.sleep(1.5) or "done"))

    assert tinyio.Loop(clock=VirtualClock()).run(main()) == "done"


def test_a_virtual_clock_shows_its_time():
    clock = VirtualClock()
    clock.jump(2.5)
    assert repr(clock) == "<tinyio.testing.VirtualClock at 2.5 s>"
