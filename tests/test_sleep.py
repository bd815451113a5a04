"""`tinyio.sleep`: waiting without blocking the loop (docs: events-and-sleeping.md)."""

import time

import pytest

import tinyio
from tinyio.testing import VirtualClock


def timed(coro):
    start = time.monotonic()
    result = tinyio.Loop().run(coro)
    return result, time.monotonic() - start


def test_sleep_gives_none():
    def main():
        return (yield tinyio.sleep(0.001))

    assert tinyio.Loop().run(main()) is None


@pytest.mark.parametrize("delay", [0.05, 0.1, 1 / 8, 0])
@pytest.mark.untraced
def test_sleep_lasts_the_delay_within_a_generous_margin(delay):
    def main():
        yield tinyio.sleep(delay)

    _, elapsed = timed(main())
    assert delay - 0.001 <= elapsed < delay + 0.05


def test_sleep_accepts_an_int():
    def main():
        yield tinyio.sleep(0)
        return "ok"

    assert tinyio.Loop().run(main()) == "ok"


def test_sleep_does_not_block_other_coroutines():
    progress = []

    def sleeper():
        yield tinyio.sleep(0.1)
        progress.append("sleeper done")

    def worker():
        for i in range(5):
            progress.append(i)
            yield

    def main():
        yield [sleeper(), worker()]

    tinyio.Loop().run(main())
    assert progress == [0, 1, 2, 3, 4, "sleeper done"]


@pytest.mark.timeout(10)
def test_a_busy_loop_never_starves_an_expired_sleeper():
    # On the virtual clock, each busy step takes one second: the loop is never idle, so
    # only the checks of the timers between rounds can wake the sleeper. A round of steps
    # (one per ready coroutine) takes 3 seconds.
    clock = VirtualClock()
    state = {"done": False}

    def busy():
        while not state["done"]:
            clock.jump(1)
            yield

    def sleeper():
        start = clock.time()
        yield tinyio.sleep(50)
        state["done"] = True
        return clock.time() - start

    def main():
        results = yield [busy(), busy(), busy(), sleeper()]
        return results[-1]

    slept = tinyio.Loop(clock=clock).run(main())
    # Woken within a few rounds of falling due (57 s today: in the second round after the one
    # in which it fell due); a starved one never would be, and the run would time out.
    assert 50 <= slept <= 50 + 4 * 3


@pytest.mark.timeout(10)
@pytest.mark.untraced
def test_many_busy_coroutines_do_not_starve_a_sleeper():
    state = {"done": False}

    def busy():
        while not state["done"]:
            yield

    def sleeper():
        start = time.monotonic()
        yield tinyio.sleep(0.05)
        state["done"] = True
        return time.monotonic() - start

    def main():
        results = yield [*(busy() for _ in range(200)), sleeper()]
        return results[-1]

    slept = tinyio.Loop().run(main())
    assert 0.049 <= slept < 0.2


def test_sleep_zero_resumes_after_the_coroutines_already_ready():
    log = []

    def sleeper():
        log.append("sleeper before")
        yield tinyio.sleep(0)
        log.append("sleeper after")

    def other(name):
        log.append(name)
        yield

    def main():
        yield [sleeper(), other("a"), other("b")]

    tinyio.Loop().run(main())
    assert log.index("sleeper after") > log.index("a")
    assert log.index("sleeper after") > log.index("b")


def test_repeated_sleep_zero_lets_others_progress():
    log = []

    def polite():
        for i in range(3):
            log.append(f"polite {i}")
            yield tinyio.sleep(0)

    def other():
        for i in range(3):
            log.append(f"other {i}")
            yield

    def main():
        yield [polite(), other()]

    tinyio.Loop().run(main())
    assert log.index("other 1") < log.index("polite 2")
    assert log.index("other 0") < log.index("polite 1")


# On the virtual clock (`tinyio_clock`, see docs/testing.md): the times are exact, and long.


@pytest.mark.tinyio
def test_sleeps_run_concurrently(tinyio_loop, tinyio_clock):
    yield [tinyio.sleep(10) for _ in range(100)]
    assert tinyio_loop.time() == 10


@pytest.mark.tinyio
def test_sleeps_in_separate_coroutines_overlap(tinyio_loop, tinyio_clock):
    def napper(delay):
        yield tinyio.sleep(delay)
        return delay

    assert (yield [napper(10), napper(15), napper(5)]) == [10, 15, 5]
    assert tinyio_loop.time() == 15


@pytest.mark.tinyio
def test_shorter_sleeps_finish_first(tinyio_loop, tinyio_clock):
    finished = []

    def napper(delay):
        yield tinyio.sleep(delay)
        finished.append((delay, tinyio_loop.time()))

    yield [napper(15), napper(5), napper(20), napper(10)]
    assert finished == [(5, 5), (10, 10), (15, 15), (20, 20)]


@pytest.mark.tinyio
def test_sequential_sleeps_add_up(tinyio_loop, tinyio_clock):
    for _ in range(5):
        yield tinyio.sleep(20)
    assert tinyio_loop.time() == 100


@pytest.mark.tinyio
def test_a_sleep_coroutine_can_be_shared_by_several_waiters(tinyio_loop, tinyio_clock):
    nap = tinyio.sleep(50)

    def waiter():
        yield nap
        return "woke"

    assert (yield [waiter(), waiter(), nap]) == ["woke", "woke", None]
    assert tinyio_loop.time() == 50
