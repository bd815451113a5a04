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
    "value", [2.0, 1.5, "2", None, True, False], ids=["whole-float", "float", "str", "none", "true", "false"]
)
def test_a_value_that_is_not_an_int_raises_type_error_naming_it(value):
    with pytest.raises(TypeError, match="int") as caught:
        tinyio.Barrier(value)
    assert repr(value) in str(caught.value)
