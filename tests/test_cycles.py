"""A cycle of coroutines waiting on each other is detected and reported (docs: errors.md)."""

import re
import sys
import time
import traceback

import pytest

import tinyio


def test_two_coroutines_waiting_on_each_other_are_reported_as_a_cycle():
    coros = {}

    def cycle_first():
        yield coros["second"]

    def cycle_second():
        yield
        yield coros["first"]

    coros["first"] = cycle_first()
    coros["second"] = cycle_second()

    def main():
        yield [coros["first"], coros["second"]]

    with pytest.raises(tinyio.CancelledError, match="cycle") as excinfo:
        tinyio.Loop().run(main())
    message = str(excinfo.value)
    assert "cycle_first" in message
    assert "cycle_second" in message


def test_the_cycle_error_is_thrown_in_at_the_yield_that_closes_the_cycle():
    coros = {}

    def opener():
        yield coros["closer"]

    def closer():
        yield
        yield coros["opener"]  # closes the cycle

    coros["opener"] = opener()
    coros["closer"] = closer()

    def main():
        yield [coros["opener"], coros["closer"]]

    with pytest.raises(tinyio.CancelledError) as excinfo:
        tinyio.Loop().run(main())
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert last.name == "closer"
    assert last.line.endswith("# closes the cycle")


def test_a_coroutine_waiting_on_itself_is_a_cycle():
    coros = {}

    def narcissus():
        yield coros["self"]

    coros["self"] = narcissus()
    with pytest.raises(tinyio.CancelledError, match="narcissus"):
        tinyio.Loop().run(coros["self"])


def test_a_longer_cycle_names_every_member():
    coros = {}

    def alpha():
        yield coros["beta"]

    def beta():
        yield coros["gamma"]

    def gamma():
        yield
        yield
        yield coros["alpha"]

    coros.update(alpha=alpha(), beta=beta(), gamma=gamma())

    def main():
        yield coros["alpha"]

    with pytest.raises(tinyio.CancelledError) as excinfo:
        tinyio.Loop().run(main())
    message = str(excinfo.value)
    assert all(name in message for name in ("alpha", "beta", "gamma"))


def test_a_cycle_through_a_gather_is_detected():
    coros = {}

    def harmless():
        yield

    def gathers():
        yield [harmless(), coros["back"]]

    def back():
        yield
        yield coros["gathers"]

    coros.update(gathers=gathers(), back=back())

    def main():
        yield coros["gathers"]

    with pytest.raises(tinyio.CancelledError) as excinfo:
        tinyio.Loop().run(main())
    message = str(excinfo.value)
    assert "gathers" in message
    assert "back" in message


@pytest.mark.timeout(10)
def test_the_coroutines_in_a_cycle_are_cleaned_up():
    coros = {}
    cleaned = []

    def first():
        try:
            yield coros["second"]
        finally:
            cleaned.append("first")

    def second():
        try:
            yield
            yield coros["first"]
        finally:
            cleaned.append("second")

    coros.update(first=first(), second=second())

    def main():
        yield [coros["first"], coros["second"]]

    with pytest.raises(tinyio.CancelledError):
        tinyio.Loop().run(main())
    assert sorted(cleaned) == ["first", "second"]


def test_a_diamond_is_not_a_cycle():
    def bottom():
        yield
        return 1

    shared = bottom()

    def side():
        return (yield shared)

    def top():
        return (yield [side(), side(), shared])

    assert tinyio.Loop().run(top()) == [1, 1, 1]


def test_starting_a_waiter_in_the_background_is_not_a_cycle():
    coros = {}

    def parent():
        return (yield coros["child"])

    def child():
        yield {coros["parent"]}  # already running: nothing to start, nothing to wait for
        yield
        return "child done"

    coros.update(parent=parent(), child=child())
    assert tinyio.Loop().run(coros["parent"]) == "child done"


def test_waiting_on_a_finished_coroutine_that_once_waited_on_you_is_not_a_cycle():
    coros = {}

    def early():
        yield
        return "early"

    def waits_then_is_waited_on():
        return (yield coros["early"])

    coros.update(early=early(), second=waits_then_is_waited_on())

    def main():
        first = yield coros["second"]
        again = yield coros["early"]
        return first, again

    assert tinyio.Loop().run(main()) == ("early", "early")


@pytest.mark.timeout(30)
def test_a_chain_deeper_than_the_recursion_limit_is_not_a_cycle():
    depth = sys.getrecursionlimit() + 500

    def level(n):
        if n == 0:
            yield
            return 0
        return (yield level(n - 1)) + 1

    start = time.monotonic()
    assert tinyio.Loop().run(level(depth)) == depth
    # Checking for cycles must not make a deep chain quadratically slow.
    assert time.monotonic() - start < 5


def test_the_cycle_search_gives_the_path_from_a_target_down_to_the_waiter():
    # On the loop's task records directly: a waits on b, b on a gather of c and d, d on x.
    # x about to wait on a closes x -> a -> b -> d -> x; waiting on c closes nothing.
    import contextvars

    from tinyio._core.cycles import find_cycle
    from tinyio._core.tasks import Gather, Task

    def body():
        yield

    gens = [body() for _ in range(5)]
    a, b, c, d, x = (Task(gen, contextvars.Context()) for gen in gens)
    a.waiting_on, b.waiters = b, [a]
    gather = Gather(b, [c, d], 2)
    b.waiting_on, c.waiters, d.waiters = gather, [gather], [gather]
    d.waiting_on, x.waiters = x, [d]
    assert find_cycle(x, [a]) == [a, b, d, x]
    assert find_cycle(x, [c]) is None
    assert find_cycle(a, [a]) == [a]


def test_a_cycle_closed_by_yielding_a_list_is_detected_at_that_yield():
    coros = {}
    log = []

    def harmless():
        yield

    def upper():
        yield coros["lower"]

    def lower():
        yield  # by now `upper` waits on this coroutine
        try:
            yield [harmless(), coros["upper"]]
        except tinyio.CancelledError as error:
            log.append(str(error))
            raise

    coros.update(upper=upper(), lower=lower())

    with pytest.raises(tinyio.CancelledError, match="Cycle detected"):
        tinyio.Loop().run(coros["upper"])
    assert len(log) == 1
    assert re.search(
        r"Cycle detected in `tinyio` loop: \S*lower\(\) -> \S*upper\(\) -> \S*lower\(\)", log[0]
    )
