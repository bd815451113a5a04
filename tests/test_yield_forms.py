"""What a coroutine may yield, and what the `yield` expression gives back (docs: loops.md)."""

import collections.abc
import typing

import tinyio


def returns(value):
    """A coroutine that finishes at once with `value`."""
    if False:
        yield
    return value


def after_steps(steps, value, log=None):
    """A coroutine that takes `steps` bare yields, then finishes with `value`."""
    for _ in range(steps):
        yield
    if log is not None:
        log.append(value)
    return value


def test_a_coroutine_without_any_yield_is_a_plain_function():
    assert tinyio.Loop().run(returns(42)) == 42


def test_run_returns_what_the_coroutine_returned():
    def main():
        yield
        return "done"

    assert tinyio.Loop().run(main()) == "done"


def test_bare_yield_gives_none():
    seen = []

    def main():
        seen.append((yield))
        seen.append((yield None))

    tinyio.Loop().run(main())
    assert seen == [None, None]


def test_bare_yield_lets_every_other_ready_coroutine_run_once():
    log = []

    def polite():
        log.append("polite before")
        yield
        log.append("polite after")

    def other(name):
        log.append(name)
        yield
        log.append(name + " again")

    def main():
        yield [polite(), other("a"), other("b")]

    tinyio.Loop().run(main())
    assert log.index("polite after") > log.index("a")
    assert log.index("polite after") > log.index("b")


def test_yielding_a_coroutine_gives_its_return_value():
    def main():
        x = yield returns(1)
        y = yield after_steps(3, 2)
        return x + y

    assert tinyio.Loop().run(main()) == 3


def test_yielding_a_coroutine_waits_until_it_has_finished():
    log = []

    def child():
        for i in range(5):
            log.append(i)
            yield
        return "child"

    def main():
        result = yield child()
        log.append(result)

    tinyio.Loop().run(main())
    assert log == [0, 1, 2, 3, 4, "child"]


def test_coroutines_can_nest_deeply():
    def countdown(n):
        if n == 0:
            return 0
        return (yield countdown(n - 1)) + 1

    assert tinyio.Loop().run(countdown(200)) == 200


def test_yielding_a_list_gathers_results_in_list_order():
    def main():
        return (yield [after_steps(5, "slow"), returns("instant"), after_steps(2, "medium")])

    assert tinyio.Loop().run(main()) == ["slow", "instant", "medium"]


def test_list_results_follow_list_order_not_completion_order():
    completion = []

    def main():
        return (yield [after_steps(n, n, completion) for n in (4, 0, 3, 1, 2)])

    assert tinyio.Loop().run(main()) == [4, 0, 3, 1, 2]
    assert completion == [0, 1, 2, 3, 4]


def test_yielding_a_list_waits_for_all_members():
    log = []

    def main():
        yield [after_steps(3, "a", log), after_steps(7, "b", log), after_steps(1, "c", log)]
        log.append("main")

    tinyio.Loop().run(main())
    assert log == ["c", "a", "b", "main"]


def test_yielding_an_empty_list_gives_an_empty_list():
    def main():
        result = yield []
        return result

    result = tinyio.Loop().run(main())
    assert result == []
    assert isinstance(result, list)


def test_the_gathered_result_is_a_new_list():
    members = [returns(1), returns(2)]

    def main():
        return (yield members)

    result = tinyio.Loop().run(main())
    assert result == [1, 2]
    assert result is not members


def test_a_list_may_hold_the_same_coroutine_twice():
    runs = []

    def counted():
        runs.append(1)
        yield
        return "once"

    def main():
        c = counted()
        return (yield [c, returns(0), c])

    assert tinyio.Loop().run(main()) == ["once", 0, "once"]
    assert len(runs) == 1


def test_a_list_may_hold_a_coroutine_that_already_finished():
    def main():
        c = after_steps(1, "early")
        yield c
        return (yield [c, returns("late")])

    assert tinyio.Loop().run(main()) == ["early", "late"]


def test_yielding_a_set_gives_none_at_once_without_waiting():
    go = tinyio.Event()
    log = []

    def background():
        yield go.wait()
        log.append("background")

    def main():
        result = yield {background()}
        log.append(("main resumed with", result))
        go.set()

    tinyio.Loop().run(main())
    assert log == [("main resumed with", None), "background"]


def test_yielding_an_empty_set_gives_none():
    def main():
        return (yield set())

    assert tinyio.Loop().run(main()) is None


def test_background_coroutines_all_run():
    log = []

    def main():
        yield {after_steps(n, n, log) for n in range(10)}
        return "main"

    assert tinyio.Loop().run(main()) == "main"
    assert sorted(log) == list(range(10))


def test_run_returns_only_once_background_coroutines_have_finished():
    log = []

    def background():
        for _ in range(20):
            yield
        log.append("background finished")

    def main():
        yield {background()}
        log.append("main finished")
        return "result"

    assert tinyio.Loop().run(main()) == "result"
    assert log == ["main finished", "background finished"]


def test_a_background_coroutine_can_be_waited_on_later():
    def main():
        child = after_steps(3, "child result")
        yield {child}
        yield
        return (yield child)

    assert tinyio.Loop().run(main()) == "child result"


def test_a_coroutine_started_in_the_background_and_waited_on_runs_once():
    runs = []

    def counted():
        runs.append(1)
        yield
        return 5

    def main():
        c = counted()
        yield {c}
        a = yield c
        yield {c}
        b = yield [c, c]
        return a, b

    assert tinyio.Loop().run(main()) == (5, [5, 5])
    assert len(runs) == 1


def test_gathered_coroutines_run_concurrently():
    log = []

    def worker(name):
        for i in range(3):
            log.append((name, i))
            yield

    def main():
        yield [worker("a"), worker("b")]

    tinyio.Loop().run(main())
    # Neither worker ran to completion before the other started.
    assert log.index(("b", 0)) < log.index(("a", 2))
    assert log.index(("a", 1)) < log.index(("b", 2))


def test_values_of_any_type_are_returned_unchanged():
    marker = object()

    def main():
        return (yield [returns(None), returns(marker), returns((1, 2)), returns({"k": "v"})])

    result = tinyio.Loop().run(main())
    assert result[0] is None
    assert result[1] is marker
    assert result[2] == (1, 2)
    assert result[3] == {"k": "v"}


def test_coro_is_the_generator_type_alias():
    alias = tinyio.Coro[int]
    assert typing.get_origin(alias) is collections.abc.Generator
    assert typing.get_args(alias)[-1] is int

    def typed() -> tinyio.Coro[int]:
        yield
        return 3

    assert tinyio.Loop().run(typed()) == 3
