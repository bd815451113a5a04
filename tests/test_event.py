"""`tinyio.Event`: a flag that coroutines wait on, settable from any thread (docs: events-and-sleeping.md)."""

import threading
import time

import pytest

import tinyio
from tinyio.testing import VirtualClock


def test_an_event_starts_unset():
    assert tinyio.Event().is_set() is False


def test_set_and_clear_change_the_flag():
    event = tinyio.Event()
    event.set()
    assert event.is_set() is True
    event.set()
    assert event.is_set() is True
    event.clear()
    assert event.is_set() is False
    event.clear()
    assert event.is_set() is False


def test_waiting_on_a_set_event_finishes_at_once():
    event = tinyio.Event()
    event.set()

    def main():
        return (yield event.wait())

    # On the virtual clock: a wait that slept or polled would move it (and one that blocked
    # with nothing to wake it would raise the deadlock error).
    loop = tinyio.Loop(clock=VirtualClock())
    assert loop.run(main()) is None
    assert loop.time() == 0


def test_waiting_blocks_until_another_coroutine_sets_the_event():
    event = tinyio.Event()
    log = []

    def waiter():
        log.append("waiting")
        result = yield event.wait()
        log.append(("woke", result, event.is_set()))

    def setter():
        for _ in range(5):
            yield
            log.append("setter step")
        event.set()

    def main():
        yield [waiter(), setter()]

    tinyio.Loop().run(main())
    assert log == ["waiting"] + ["setter step"] * 5 + [("woke", None, True)]


def test_one_set_wakes_every_waiter():
    event = tinyio.Event()
    woken = []

    def waiter(i):
        yield event.wait()
        woken.append(i)

    def setter():
        yield
        event.set()

    def main():
        yield [*(waiter(i) for i in range(100)), setter()]

    tinyio.Loop().run(main())
    assert sorted(woken) == list(range(100))


def test_a_waiter_woken_by_set_runs_even_if_the_event_is_cleared_before_its_turn():
    event = tinyio.Event()
    log = []

    def waiter():
        yield event.wait()
        log.append(("waiter ran", event.is_set()))

    def flicker():
        yield
        event.set()
        event.clear()

    def main():
        yield [waiter(), waiter(), flicker()]

    tinyio.Loop().run(main())
    assert log == [("waiter ran", False), ("waiter ran", False)]


def test_a_set_and_clear_after_the_wait_was_yielded_but_before_its_turn_still_wakes_it():
    # `yield event.wait()` is a wait from the moment `wait()` is called, even though the wait
    # itself begins at the coroutine's next turn; a pulse in between (another coroutine's
    # turn) must wake it, as it would a coroutine already blocked.
    event = tinyio.Event()
    log = []

    def waiter():
        woken = yield tinyio.timeout(event.wait(), 5)
        log.append(("waiter ran", woken[1]))

    def pulse():
        event.set()
        event.clear()
        log.append("pulsed")
        yield

    def main():
        yield [waiter(), pulse()]

    tinyio.Loop().run(main())
    assert log == ["pulsed", ("waiter ran", True)]


def test_waiting_after_clear_blocks_again():
    event = tinyio.Event()
    log = []

    def waiter():
        yield event.wait()
        log.append("first wait done")
        event.clear()
        yield event.wait()
        log.append("second wait done")

    def setter():
        event.set()
        while "first wait done" not in log:
            yield
        for _ in range(3):
            yield
            log.append("setter step")
        event.set()

    def main():
        yield [waiter(), setter()]

    tinyio.Loop().run(main())
    assert log == [
        "first wait done",
        "setter step",
        "setter step",
        "setter step",
        "second wait done",
    ]


def test_wait_with_a_timeout_gives_none_when_the_timeout_passes():
    def main():
        result = yield tinyio.Event().wait(0.05)
        return result, loop.time()

    loop = tinyio.Loop(clock=VirtualClock())  # virtual time: the moment is exact
    result, woken_at = loop.run(main())
    assert result is None
    assert woken_at == 0.05  # at the timeout, not before nor after


def test_wait_with_a_timeout_returns_early_when_the_event_is_set():
    event = tinyio.Event()

    def setter():
        yield tinyio.sleep(0.02)
        event.set()

    def main():
        yield {setter()}
        result = yield event.wait(10)
        return result, loop.time()

    loop = tinyio.Loop(clock=VirtualClock())  # virtual time: the moment is exact
    result, woken_at = loop.run(main())
    assert result is None
    assert woken_at == 0.02  # when it was set, not at the timeout


def test_wait_zero_on_an_unset_event_does_not_block():
    def main():
        return (yield tinyio.Event().wait(0))

    loop = tinyio.Loop(clock=VirtualClock())  # a wait that slept would move the clock
    assert loop.run(main()) is None
    assert loop.time() == 0


def test_wait_zero_resumes_after_the_coroutines_already_ready():
    log = []

    def waiter():
        yield tinyio.Event().wait(0)
        log.append("waiter")

    def other(name):
        log.append(name)
        yield

    def main():
        yield [waiter(), other("a"), other("b")]

    tinyio.Loop().run(main())
    assert log.index("waiter") > log.index("a")
    assert log.index("waiter") > log.index("b")


def test_a_gather_of_waits_resumes_when_all_are_done():
    first = tinyio.Event()
    second = tinyio.Event()
    log = []

    def waiter():
        result = yield [first.wait(0), second.wait()]
        log.append(("gather done", result))

    def setter():
        for _ in range(3):
            yield
        log.append("setting second")
        second.set()

    def main():
        yield [waiter(), setter()]

    tinyio.Loop().run(main())
    assert log == ["setting second", ("gather done", [None, None])]


def test_a_timed_out_waiter_is_not_woken_again_by_a_later_set():
    event = tinyio.Event()
    log = []

    def waiter():
        yield event.wait(0.01)
        log.append(("timed out", loop.time()))
        yield tinyio.sleep(0.1)
        log.append(("after sleep", loop.time()))

    def setter():
        yield tinyio.sleep(0.05)
        event.set()
        log.append(("set", loop.time()))

    def main():
        yield [waiter(), setter()]

    loop = tinyio.Loop(clock=VirtualClock())  # virtual time: the moments are exact
    loop.run(main())
    # The set at 0.05 does not cut the waiter's sleep short: it sleeps its whole 0.1 s.
    assert log == [("timed out", 0.01), ("set", 0.05), ("after sleep", pytest.approx(0.11))]


def test_one_event_can_be_waited_on_again_and_again():
    event = tinyio.Event()
    rounds = []

    def waiter():
        for i in range(50):
            yield event.wait()
            event.clear()
            rounds.append(i)

    def setter():
        for i in range(50):
            event.set()
            while len(rounds) <= i:
                yield

    def main():
        yield [waiter(), setter()]

    tinyio.Loop().run(main())
    assert rounds == list(range(50))


def test_many_waits_that_time_out_do_not_slow_the_event_down():
    event = tinyio.Event()

    def main():
        for _ in range(2000):
            yield event.wait(0)
        event.set()
        yield event.wait()

    start = time.monotonic()
    tinyio.Loop().run(main())
    assert time.monotonic() - start < 5


# Latencies across threads: untraced (under a tracer they measure the tracer), and 0.25 s,
# many times the few milliseconds a wake-up takes, far less than the 30 s timeout or the
# endless wait that a lost wake-up would give.
@pytest.mark.timeout(10)
@pytest.mark.untraced
@pytest.mark.parametrize("timeout", [None, 30])
def test_set_from_another_thread_wakes_a_sleeping_loop_promptly(timeout):
    event = tinyio.Event()
    waiting = threading.Event()
    set_at = []

    def main():
        waiting.set()
        yield event.wait(timeout)
        return time.monotonic()

    def from_thread():
        waiting.wait()
        time.sleep(0.05)  # not for correctness: lets the loop go to sleep first
        set_at.append(time.monotonic())
        event.set()

    thread = threading.Thread(target=from_thread)
    thread.start()
    woke_at = tinyio.Loop().run(main())
    thread.join()
    assert woke_at - set_at[0] < 0.25


@pytest.mark.timeout(10)
@pytest.mark.untraced
def test_set_from_another_thread_wakes_a_loop_sleeping_on_a_timer():
    event = tinyio.Event()
    waiting = threading.Event()
    set_at = []

    def main():
        # Without the wake-up the loop would sleep until this timer, ~0.95 s after the set:
        # four times the threshold below.
        yield {tinyio.sleep(1.0)}
        waiting.set()
        yield event.wait()
        return time.monotonic()

    def from_thread():
        waiting.wait()
        time.sleep(0.05)  # not for correctness: lets the loop go to sleep first
        set_at.append(time.monotonic())
        event.set()

    thread = threading.Thread(target=from_thread)
    thread.start()
    woke_at = tinyio.Loop().run(main())
    thread.join()
    assert woke_at - set_at[0] < 0.25


@pytest.mark.timeout(10)
def test_set_from_another_thread_before_the_wait_is_not_lost():
    event = tinyio.Event()

    def main():
        thread = threading.Thread(target=event.set)
        thread.start()
        thread.join()
        yield event.wait()
        return "woke"

    assert tinyio.Loop().run(main()) == "woke"


@pytest.mark.timeout(20)
def test_set_and_clear_from_many_threads_never_break_the_loop():
    event = tinyio.Event()
    waiters_started = threading.Event()
    hammering_done = threading.Event()

    def hammer():
        for _ in range(5000):
            event.set()
            event.clear()

    def conductor():
        waiters_started.wait()
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        hammering_done.set()
        event.set()

    def waiter():
        while not hammering_done.is_set():
            yield event.wait(0.01)
        yield event.wait()

    def main():
        waiters = [waiter() for _ in range(10)]
        yield set(waiters)
        yield
        waiters_started.set()
        yield waiters
        return "all waiters finished"

    thread = threading.Thread(target=conductor)
    thread.start()
    assert tinyio.Loop().run(main()) == "all waiters finished"
    thread.join()
    assert event.is_set()


@pytest.mark.timeout(20)
def test_every_waiter_is_woken_when_threads_set_concurrently():
    events = [tinyio.Event() for _ in range(200)]
    all_waiting = threading.Event()

    def waiter(event):
        yield event.wait()
        return True

    def main():
        started = [waiter(event) for event in events]
        yield set(started)
        yield
        all_waiting.set()
        return (yield started)

    def setter(chunk):
        all_waiting.wait()
        for event in chunk:
            event.set()

    threads = [threading.Thread(target=setter, args=(events[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    assert tinyio.Loop().run(main()) == [True] * 200
    for thread in threads:
        thread.join()


@pytest.mark.timeout(10)
def test_one_set_wakes_waiters_in_loops_in_several_threads():
    event = tinyio.Event()
    waiting = threading.Barrier(4)
    results = []

    def waiter(i):
        yield
        waiting.wait()
        yield event.wait()
        return i

    def in_thread(i):
        results.append(tinyio.Loop().run(waiter(i)))

    threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    waiting.wait()
    time.sleep(0.05)  # not for correctness: lets the loops go to sleep first
    event.set()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1, 2]


def test_the_timeouts_of_waits_woken_early_are_dropped_and_the_other_timers_still_fire():
    # A long-lived loop whose waits are mostly woken before their timeouts (the usual case for
    # a timeout) must not keep every timer until its deadline, hours away.
    loop = tinyio.Loop()
    event = tinyio.Event()
    timers_after_the_set = []

    def waiter():
        yield event.wait(3600)
        return "woken"

    def napper(seconds):
        yield tinyio.sleep(seconds)
        return seconds

    def setter():
        yield  # every waiter has yielded its wait by now
        event.set()
        timers_after_the_set.append(len(loop._timers.heap))

    def main():
        return (yield [*[waiter() for _ in range(1000)], napper(0.02), napper(0.05), setter()])

    results = loop.run(main())
    assert results == ["woken"] * 1000 + [0.02, 0.05, None]
    # Of 1,002 timers, the 1,000 of the woken waits were all dropped but a few.
    assert timers_after_the_set[0] < 300


def test_waits_that_time_out_or_are_cancelled_leave_the_line():
    event = tinyio.Event()
    seen = []

    def waiter():
        yield event.wait()

    def main():
        yield event.wait(0.01)  # times out
        yield tinyio.timeout(waiter(), 0.01)  # cancelled by its timeout
        seen.append(repr(event))
        event.set()

    tinyio.Loop().run(main())
    assert seen == ["<tinyio.Event unset, 0 waiting>"]
