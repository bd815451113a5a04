"""`tinyio.Barrier`: nobody goes on until `value` coroutines have arrived (docs: synchronisation.md)."""

import pytest

import tinyio


def arrive_after(barrier, steps, name, log, use_wait=True):
    for _ in range(steps):
        yield
    log.append(f"{name} arrives")
    index = yield (barrier.wait() if use_wait else barrier)
    log.append(f"{name} passes")
    return index


def test_the_seed_example_neither_coroutine_goes_on_until_both_reached_the_barrier():
    barrier = tinyio.Barrier(value=2)
    log = []

    def coro1():
        log.append("coro1 at barrier")
        yield barrier
        log.append("coro1 past barrier")

    def coro2():
        for _ in range(3):
            yield
        log.append("coro2 at barrier")
        yield barrier
        log.append("coro2 past barrier")

    def main():
        yield [coro1(), coro2()]

    tinyio.Loop().run(main())
    assert log[:2] == ["coro1 at barrier", "coro2 at barrier"]
    assert sorted(log[2:]) == ["coro1 past barrier", "coro2 past barrier"]


def test_wait_gives_each_coroutine_its_arrival_index():
    barrier = tinyio.Barrier(3)
    log = []

    def main():
        return (
            yield [
                arrive_after(barrier, 8, "last", log),
                arrive_after(barrier, 0, "first", log),
                arrive_after(barrier, 4, "second", log),
            ]
        )

    assert tinyio.Loop().run(main()) == [2, 0, 1]


def test_nobody_passes_before_the_value_th_arrival_and_everybody_passes_after_it():
    barrier = tinyio.Barrier(3)
    log = []

    def main():
        yield [arrive_after(barrier, steps, f"c{steps}", log) for steps in (0, 5, 10)]

    tinyio.Loop().run(main())
    assert log[:3] == ["c0 arrives", "c5 arrives", "c10 arrives"]
    assert sorted(log[3:]) == ["c0 passes", "c10 passes", "c5 passes"]


def test_fewer_arrivals_than_value_keep_waiting():
    barrier = tinyio.Barrier(3)
    log = []

    def watcher():
        for _ in range(50):
            yield
        log.append("50 steps later")
        raise RuntimeError("the barrier was never passed")

    def main():
        yield [arrive_after(barrier, 0, "a", log), arrive_after(barrier, 1, "b", log), watcher()]

    with pytest.raises(RuntimeError, match="never passed"):
        tinyio.Loop().run(main())
    assert log == ["a arrives", "b arrives", "50 steps later"]


def test_later_arrivals_pass_at_once_with_the_next_indices():
    barrier = tinyio.Barrier(2)
    log = []

    def late(name, steps):
        for _ in range(steps):
            yield
        log.append(f"{name} arrives")
        index = yield barrier.wait()
        log.append(f"{name} passes with {index}")

    def spinner():
        # Nobody else arrives while the late ones wait: had they to wait for more arrivals,
        # they would see all thirty spins go by.
        for _ in range(30):
            log.append("spin")
            yield

    def main():
        yield [arrive_after(barrier, 0, "a", log), arrive_after(barrier, 0, "b", log)]
        log.clear()
        yield [late("c", 2), late("d", 10), spinner()]

    tinyio.Loop().run(main())
    for name, index in [("c", 2), ("d", 3)]:
        arrived = log.index(f"{name} arrives")
        passed = log.index(f"{name} passes with {index}")
        assert log[arrived:passed].count("spin") <= 2
    assert log[-1] == "spin"


def test_a_barrier_of_one_lets_everyone_through_at_once():
    barrier = tinyio.Barrier(1)

    def main():
        return [(yield barrier.wait()), (yield barrier), (yield barrier.wait())]

    assert tinyio.Loop().run(main()) == [0, 1, 2]


def test_yielding_the_barrier_is_the_same_as_yielding_its_wait():
    barrier = tinyio.Barrier(3)
    log = []

    def main():
        return (
            yield [
                arrive_after(barrier, 6, "by wait", log, use_wait=True),
                arrive_after(barrier, 0, "by barrier", log, use_wait=False),
                arrive_after(barrier, 3, "by barrier too", log, use_wait=False),
            ]
        )

    assert tinyio.Loop().run(main()) == [2, 0, 1]
    assert log[:3] == ["by barrier arrives", "by barrier too arrives", "by wait arrives"]


@pytest.mark.parametrize("value", [0, -1, -100])
def test_a_value_below_one_raises_value_error(value):
    with pytest.raises(ValueError, match=str(value)):
        tinyio.Barrier(value)


@pytest.mark.parametrize(
    "value",
    [2.0, 1.5, "2", None, True, False],
    ids=["whole-float", "float", "str", "none", "true", "false"],
)
def test_a_value_that_is_not_an_int_raises_type_error_naming_it(value):
    with pytest.raises(TypeError, match="int") as caught:
        tinyio.Barrier(value)
    assert repr(value) in str(caught.value)


# --- an arrival that is cancelled or timed out leaves -----------------------------------


def arrive(barrier, use_wait):
    return (yield (barrier.wait() if use_wait else barrier))


def passes_alone(barrier):
    """Whether one more arrival passes (within 0.05 s) with nobody else arriving. (By
    `barrier.wait()`: the task that `yield barrier` starts is not interrupted with its
    yielder, and would keep the run going until the next arrival.)"""
    _, in_time = yield tinyio.timeout(barrier.wait(), 0.05)
    return in_time


@pytest.mark.parametrize("use_wait", [True, False], ids=["wait", "yield-barrier"])
def test_a_timed_out_arrival_leaves_and_the_next_one_waits_again(use_wait):
    barrier = tinyio.Barrier(2)

    def main():
        assert (yield tinyio.timeout(arrive(barrier, use_wait), 0.02)) == (None, False)
        assert repr(barrier) == "<tinyio.Barrier 0/2 arrived>"
        assert not (yield passes_alone(barrier))  # it does not count the one gone
        return (yield [arrive(barrier, use_wait), arrive(barrier, use_wait)])

    assert tinyio.Loop().run(main()) == [0, 1]


@pytest.mark.parametrize("use_wait", [True, False], ids=["wait", "yield-barrier"])
def test_the_arrivals_after_one_that_left_move_up(use_wait):
    barrier = tinyio.Barrier(3)

    def leaver():
        yield tinyio.timeout(arrive(barrier, use_wait), 0.02)
        return "left"

    def late():
        yield tinyio.sleep(0.05)  # after the leaver has left
        return (yield arrive(barrier, use_wait))

    def main():
        # Arrival order: the leaver, the first `arrive`, then the late ones.
        return (yield [leaver(), arrive(barrier, use_wait), late(), late()])

    assert tinyio.Loop().run(main()) == ["left", 0, 1, 2]


def test_a_cancelled_arrival_leaves():
    barrier = tinyio.Barrier(2)

    def main():
        arrival = arrive(barrier, True)
        yield {arrival}
        yield
        yield
        assert repr(barrier) == "<tinyio.Barrier 1/2 arrived>"
        yield tinyio.cancel(arrival)
        assert repr(barrier) == "<tinyio.Barrier 0/2 arrived>"
        return (yield passes_alone(barrier))

    assert tinyio.Loop().run(main()) is False


@pytest.mark.parametrize("use_wait", [True, False], ids=["wait", "yield-barrier"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt], ids=["crash", "ctrl-c"])
def test_no_arrival_of_a_crashed_loop_counts_in_a_later_one(use_wait, error):
    barrier = tinyio.Barrier(2)

    def crash():
        for _ in range(3):
            yield
        raise error("boom")

    def main():
        yield [arrive(barrier, use_wait), crash()]

    with pytest.raises(error):
        tinyio.Loop().run(main())
    assert repr(barrier) == "<tinyio.Barrier 0/2 arrived>"
    assert tinyio.Loop().run(passes_alone(barrier)) is False
    assert repr(barrier) == "<tinyio.Barrier 0/2 arrived>"
