"""The idle loop never hangs in CPython's timed waits.

The loop used to sleep, when it had nothing to do, in `SimpleQueue.get(timeout=t)`. On
CPython 3.11 and 3.12 that call first tries the queue's internal lock without waiting; if that
succeeds while the queue is empty -- on a new queue, or after a thread's `put` released the
lock and the item was taken without blocking -- it recomputes the time left, and if the
deadline passed meanwhile by more than a microsecond, the time left is negative, which the
lock takes as "wait for ever". Measured on CPython 3.11.7 here: on a new queue,
`get(timeout=2e-6)` hangs at the first call; after a `put` and a `get_nowait`, even
`get(timeout=1e-4)` hangs within about 100,000 calls on this shared 2-core machine. A signal
whose Python handler does not raise, arriving while it waits, makes it recompute the time left
the same way. The loop now sleeps in `threading.Lock.acquire(timeout=...)` (its "bell", see
`Loop._block`), which treats a negative time left as "timed out".

The first two tests are regression tests for tiny timeouts: sleeps and Event timeouts a few
microseconds away, on new loops and right after wake-ups from threads. Honestly, they did NOT
fail with the first `Loop._block` (run against it: 500 + 500 runs here, and a 60 s brute-force
of 500,000 tiny sleeps and timeouts after thread wake-ups, nothing hung -- that loop already
called `get_nowait()` just before every blocking `get`, so the lock was always taken by then).
They guard the behaviour, not the old bug.

The third test did reproduce a hang with `SimpleQueue.get(timeout=...)`: a signal handled
while the loop idles until its timers are due.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import tinyio

# Far more than the tests need (well under a second), far less than the per-test timeout.
LIMIT_SECONDS = 30.0


def run_in_daemon_thread(body) -> list[object]:
    """Run `body()` in a daemon thread; fail, without hanging the test run, if it hangs."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(body())
        except BaseException as error:
            outcome.append(error)

    # A daemon: a thread stuck in CPython's lock for ever must not keep pytest from exiting.
    thread = threading.Thread(target=target, name="tiny timeouts", daemon=True)
    thread.start()
    thread.join(LIMIT_SECONDS)
    assert not thread.is_alive(), (
        f"a loop idling until a deadline under a microsecond away hung ({LIMIT_SECONDS} s)"
    )
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return outcome


def tiny() -> float:
    # A delay such that, by the time the loop has nothing else to do, what is left of it is
    # often between zero and a microsecond -- and sometimes already past.
    return random.uniform(0, 5e-6)


def test_new_loops_whose_first_wait_is_a_tiny_sleep_do_not_hang():
    def sleeper(delay):
        yield tinyio.sleep(delay)
        return delay

    def body():
        for _ in range(500):
            delay = tiny()
            # A new loop each time: a new queue, whose lock nothing has touched yet.
            assert tinyio.Loop().run(sleeper(delay)) == delay
        return "finished"

    assert run_in_daemon_thread(body) == ["finished"]


def test_tiny_sleeps_and_timeouts_after_wake_ups_from_threads_do_not_hang():
    # Each thread call wakes the loop from another thread (a `put` that releases the queue's
    # lock); the tiny sleep or Event timeout right after it then lets the loop idle for less
    # than a microsecond, or for nothing at all.
    event = tinyio.Event()

    def main(rounds):
        slept = timed_out = 0
        for i in range(rounds):
            assert (yield tinyio.run_in_thread(int, i)) == i
            if i % 2:
                yield tinyio.sleep(tiny())
                slept += 1
            else:
                yield event.wait(tiny())
                timed_out += not event.is_set()
        return slept, timed_out

    def body():
        loop = tinyio.Loop()  # one long-lived loop, many runs
        start = time.monotonic()
        totals = [loop.run(main(50)) for _ in range(10)]
        return totals, time.monotonic() - start

    [(totals, elapsed)] = run_in_daemon_thread(body)
    assert totals == [(25, 25)] * 10
    assert elapsed < LIMIT_SECONDS


# ---------------------------------------------------------------- signals while the loop idles


def test_a_signal_handled_while_the_loop_idles_never_makes_it_hang():
    # A program with a signal handler that does not raise (a SIGTERM or SIGCHLD handler that
    # sets a flag, say) and a loop that idles until its timers are due. When the signal
    # interrupts CPython's timed wait, `SimpleQueue.get` recomputes the time left; if the
    # deadline passed meanwhile by more than a microsecond, the time left is negative, which
    # means "wait for ever": the loop sleeps until some thread happens to wake it.
    # A watchdog wakes the loop if it makes no progress for half a second (and counts that
    # as a hang), so that the test ends either way.
    main_thread = threading.get_ident()
    rescue = tinyio.Event()
    progress = [0]
    hangs = []
    done = threading.Event()

    def send_signals():
        rng = random.Random(7)
        while not done.is_set():
            signal.pthread_kill(main_thread, signal.SIGUSR1)
            time.sleep(rng.uniform(0, 2e-3))

    def watchdog():
        last = -1
        while not done.wait(0.5):
            if progress[0] == last:
                hangs.append(progress[0])
                rescue.set()  # wakes the loop from this thread
            last = progress[0]

    def sleeper():
        rng = random.Random(8)
        end = time.monotonic() + 1.5
        while time.monotonic() < end and not hangs:
            yield tinyio.sleep(rng.uniform(1e-4, 1e-3))
            progress[0] += 1
        rescue.set()

    def main():
        yield [sleeper(), rescue.wait()]

    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    helpers = [threading.Thread(target=send_signals), threading.Thread(target=watchdog)]
    for helper in helpers:
        helper.start()
    try:
        tinyio.Loop().run(main())
    finally:
        done.set()
        for helper in helpers:
            helper.join()
        signal.signal(signal.SIGUSR1, previous)
    assert hangs == [], f"the idle loop hung after {hangs[0]} sleeps, until a thread woke it"
    assert progress[0] > 100
