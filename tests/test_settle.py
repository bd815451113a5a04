"""`tinyio.settle`: each coroutine's result or Exception, at a plain gather's cost (docs: errors.md)."""

import traceback
import types

import pytest

import tinyio


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


def succeed(value, n=1):
    yield from steps(n)
    return value


def fail(message, n=1):
    yield from steps(n)
    raise Boom(message)


def test_settle_gives_each_result_or_error_in_the_order_given():
    def main():
        return (yield tinyio.settle([succeed("a", 3), fail("b"), succeed("c")]))

    (a, a_ok), (b, b_ok), (c, c_ok) = tinyio.Loop().run(main())
    assert (a, a_ok) == ("a", True)
    assert isinstance(b, Boom)
    assert str(b) == "b"
    assert b_ok is False
    assert (c, c_ok) == ("c", True)


def test_an_error_in_one_does_not_cancel_the_others():
    finished = []

    def slow(name):
        yield from steps(10)
        finished.append(name)
        return name

    def main():
        return (yield tinyio.settle([fail("early"), slow("x"), slow("y")]))

    outcomes = tinyio.Loop().run(main())
    assert [ok for _, ok in outcomes] == [False, True, True]
    assert finished == ["x", "y"]


def test_the_loop_runs_on_after_an_error_inside_settle():
    def main():
        outcomes = yield tinyio.settle([fail("inside")])
        after = yield succeed("after")
        return outcomes[0][1], after

    assert tinyio.Loop().run(main()) == (False, "after")


def test_an_error_caught_by_settle_has_the_coroutines_frames_and_none_of_tinyios():
    def main():
        return (yield tinyio.settle([fail("traced")]))

    [(error, ok)] = tinyio.Loop().run(main())
    assert not ok
    names = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    assert names[-1] == "fail"
    assert "_outcome" not in names


def test_an_error_from_a_yield_from_inside_the_coroutine_is_caught():
    def inner():
        yield
        raise Boom("deep")

    def outer():
        return (yield from inner())

    def main():
        return (yield tinyio.settle([outer()]))

    [(error, ok)] = tinyio.Loop().run(main())
    assert not ok
    assert str(error) == "deep"


def test_a_base_exception_still_crashes_the_loop():
    def interrupted():
        yield
        raise KeyboardInterrupt

    def main():
        yield tinyio.settle([succeed(1), interrupted()])

    with pytest.raises(KeyboardInterrupt):
        tinyio.Loop().run(main())


def test_an_error_in_a_coroutine_yielded_by_a_settled_one_crashes_the_loop():
    # It is a separate coroutine of the loop (others could wait on it): settle does not own it.
    def yields_a_failure():
        yield fail("separate")

    def main():
        yield tinyio.settle([yields_a_failure()])

    with pytest.raises(Boom, match="separate"):
        tinyio.Loop().run(main())


def test_a_coroutine_in_settle_may_wait_on_other_coroutines_and_library_objects():
    event = tinyio.Event()

    def waiter():
        yield event.wait()
        return (yield succeed("after the event"))

    def setter():
        yield tinyio.sleep(0.001)
        event.set()
        return "set"

    def main():
        return (yield tinyio.settle([waiter(), setter()]))

    assert tinyio.Loop().run(main()) == [("after the event", True), ("set", True)]


def test_settle_of_nothing_gives_an_empty_list():
    def main():
        return (yield tinyio.settle([]))

    assert tinyio.Loop().run(main()) == []


def test_a_crash_elsewhere_cancels_the_coroutines_inside_settle_which_clean_up():
    cleaned = []

    def patient():
        try:
            yield tinyio.sleep(10)
        finally:
            cleaned.append("patient")

    def main():
        yield [tinyio.settle([patient()]), fail("outside", 3)]

    with pytest.raises(Boom, match="outside"):
        tinyio.Loop().run(main())
    assert cleaned == ["patient"]


def test_settle_of_100_000_coroutines_gives_every_outcome():
    n = 100_000

    def work(i):
        yield
        if i % 7 == 0:
            raise Boom(i)
        return i

    def main():
        return (yield tinyio.settle(work(i) for i in range(n)))

    outcomes = tinyio.Loop().run(main())
    assert len(outcomes) == n
    for i, (value, ok) in enumerate(outcomes):
        if i % 7 == 0:
            assert not ok
            assert isinstance(value, Boom)
            assert value.args == (i,)
        else:
            assert ok
            assert value == i


# --- bad input ----------------------------------------------------------------------------


def test_settle_of_something_that_is_not_a_coroutine_raises_type_error_at_the_call():
    with pytest.raises(TypeError, match=r"settle needs coroutines .* got 5"):
        tinyio.settle([succeed(1), 5])


def test_settle_of_a_started_coroutine_raises_value_error_at_the_call():
    started = succeed(1)
    next(started)
    with pytest.raises(ValueError, match="has already started"):
        tinyio.settle([started])


def test_settle_of_one_coroutine_twice_raises_value_error_at_the_call():
    coro = succeed(1)
    with pytest.raises(ValueError, match="twice"):
        tinyio.settle([coro, coro])


def test_a_coroutine_started_elsewhere_before_settle_runs_it_raises_value_error():
    shared = succeed(1, 5)

    def main():
        pending = tinyio.settle([shared])
        yield {shared}
        yield
        yield pending

    with pytest.raises(ValueError, match="was started elsewhere"):
        tinyio.Loop().run(main())


@pytest.mark.parametrize("bad", [succeed(1), 5, None], ids=["one coroutine", "int", "None"])
def test_settle_of_a_single_coroutine_or_a_non_iterable_raises_type_error_naming_settle(bad):
    with pytest.raises(TypeError, match=r"settle needs a list \(or other iterable\) of coroutines"):
        tinyio.settle(bad)
    if isinstance(bad, types.GeneratorType):
        bad.close()


@pytest.mark.timeout(20)
def test_a_timed_out_settle_cancels_the_coroutines_it_runs():
    cleaned = []

    def slow(n):
        try:
            yield tinyio.sleep(3600)
        finally:
            cleaned.append(n)

    def main():
        return (yield tinyio.timeout(tinyio.settle([slow(1), slow(2)]), 0.01))

    assert tinyio.Loop().run(main()) == (None, False)
    assert sorted(cleaned) == [1, 2]


@pytest.mark.timeout(20)
def test_a_cancelled_settle_cancels_the_coroutines_it_runs():
    cleaned = []

    def slow(n):
        try:
            yield tinyio.sleep(3600)
        finally:
            cleaned.append(n)

    def main():
        settling = tinyio.settle([slow(1), slow(2)])
        yield {settling}
        yield from (None for _ in range(3))
        yield tinyio.cancel(settling)
        return sorted(cleaned)

    assert tinyio.Loop().run(main()) == [1, 2]
