"""`tinyio.as_completed`: results in the order the coroutines finish (docs: synchronisation.md)."""

import pytest

import tinyio
from tinyio.testing import VirtualClock


def after_steps(steps, value, log=None):
    """Finish after `steps` trips round the loop: a deterministic stand-in for a sleep."""
    for _ in range(steps):
        yield
    if log is not None:
        log.append(value)
    return value


def test_the_seed_example_with_a_set_prints_results_in_the_order_they_finish():
    def sleep(x):
        yield tinyio.sleep(x / 100)
        return x

    printed = []

    def as_completed_demo():
        for out in (yield tinyio.as_completed({sleep(7), sleep(2), sleep(4)})):
            out = yield out
            printed.append(f"As completed demo: {out}")

    # On virtual time, so that the order cannot depend on how busy the machine is.
    loop = tinyio.Loop(clock=VirtualClock())
    loop.run(as_completed_demo())
    assert printed == [
        "As completed demo: 2",
        "As completed demo: 4",
        "As completed demo: 7",
    ]
    assert loop.time() == 0.07


def test_results_come_in_completion_order_not_input_order():
    def main():
        results = []
        coros = [after_steps(30, "slow"), after_steps(1, "quick"), after_steps(10, "medium")]
        for next_done in (yield tinyio.as_completed(coros)):
            results.append((yield next_done))
        return results

    assert tinyio.Loop().run(main()) == ["quick", "medium", "slow"]


def test_any_iterable_of_coroutines_is_accepted():
    def main():
        coros = (after_steps(n, n) for n in (5, 3, 9, 1))
        results = []
        for next_done in (yield tinyio.as_completed(coros)):
            results.append((yield next_done))
        return results

    assert tinyio.Loop().run(main()) == [1, 3, 5, 9]


def test_yielding_it_gives_one_coroutine_per_input():
    def main():
        return list((yield tinyio.as_completed([after_steps(n, n) for n in range(5)])))

    per_completion = tinyio.Loop().run(main())
    assert len(per_completion) == 5


def test_no_inputs_give_nothing_to_iterate():
    def main():
        return list((yield tinyio.as_completed([])))

    assert tinyio.Loop().run(main()) == []


def test_calling_it_starts_nothing_until_it_is_yielded():
    log = []
    coros = [after_steps(0, "a", log), after_steps(0, "b", log)]
    pending = tinyio.as_completed(coros)

    def main():
        for _ in range(5):
            yield
        log.append("yielding as_completed")
        yield pending
        for _ in range(5):
            yield

    tinyio.Loop().run(main())
    assert log[0] == "yielding as_completed"
    assert sorted(log[1:]) == ["a", "b"]


def test_yielding_it_starts_every_input_in_the_background_without_waiting():
    log = []

    def main():
        per_completion = yield tinyio.as_completed(
            [after_steps(3, "a", log), after_steps(5, "b", log)]
        )
        log.append("got the iterable")
        for _ in range(10):
            yield
        # Both inputs ran to the end although nothing waited on them.
        log.append("after ten steps")
        return per_completion

    tinyio.Loop().run(main())
    assert log == ["got the iterable", "a", "b", "after ten steps"]


def test_the_k_th_coroutine_gives_the_k_th_result_even_when_yielded_out_of_order():
    def main():
        first, second, third = yield tinyio.as_completed(
            [after_steps(20, "slow"), after_steps(2, "quick"), after_steps(10, "medium")]
        )
        return [(yield third), (yield first), (yield second)]

    assert tinyio.Loop().run(main()) == ["slow", "quick", "medium"]


def test_the_last_to_complete_can_be_waited_for_first():
    log = []

    def main():
        per_completion = list(
            (yield tinyio.as_completed([after_steps(20, 20, log), after_steps(2, 2, log)]))
        )
        last = yield per_completion[-1]
        log.append(("last", last))
        first = yield per_completion[0]
        log.append(("first", first))

    tinyio.Loop().run(main())
    assert log == [2, 20, ("last", 20), ("first", 2)]


def test_several_per_completion_coroutines_can_be_gathered_at_once():
    def main():
        first, second, third = yield tinyio.as_completed(
            {after_steps(9, 9), after_steps(1, 1), after_steps(4, 4)}
        )
        return (yield [third, first, second])

    assert tinyio.Loop().run(main()) == [9, 1, 4]


def test_a_per_completion_coroutine_may_be_yielded_again_for_the_same_result():
    def main():
        first, second = yield tinyio.as_completed([after_steps(5, "b"), after_steps(1, "a")])
        return (yield [first, second, first]), (yield second)

    assert tinyio.Loop().run(main()) == (["a", "b", "a"], "b")


def test_an_input_already_running_in_the_loop_is_shared_not_run_twice():
    runs = []

    def counted():
        runs.append("run")
        yield
        return "shared"

    def main():
        coro = counted()
        yield {coro}
        per_completion = yield tinyio.as_completed([coro, after_steps(5, "other")])
        return (yield list(per_completion)), (yield coro)

    assert tinyio.Loop().run(main()) == (["shared", "other"], "shared")
    assert runs == ["run"]


@pytest.mark.parametrize(
    "bad", [3, "text", None, lambda: None], ids=["int", "str", "none", "function"]
)
def test_a_member_that_is_not_a_coroutine_raises_type_error_at_the_call(bad):
    good = after_steps(1, "fine")
    with pytest.raises(TypeError, match="as_completed") as excinfo:
        tinyio.as_completed([good, bad])
    assert repr(bad) in str(excinfo.value)
    good.close()


def test_an_error_in_an_input_crashes_the_loop():
    class Boom(Exception):
        pass

    def failing():
        yield
        raise Boom("from an input")

    def main():
        per_completion = yield tinyio.as_completed([failing(), after_steps(50, "late")])
        return (yield list(per_completion))

    with pytest.raises(Boom, match="from an input"):
        tinyio.Loop().run(main())


def test_a_non_iterable_or_a_single_coroutine_raises_type_error_naming_as_completed_at_the_call():
    with pytest.raises(
        TypeError, match=r"as_completed needs a list \(or other iterable\) of coroutines, got 5"
    ):
        tinyio.as_completed(5)

    def one():
        yield

    coro = one()
    with pytest.raises(TypeError, match=r"as_completed\(\[coro\]\)"):
        tinyio.as_completed(coro)
    coro.close()
