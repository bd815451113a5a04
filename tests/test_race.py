"""`tinyio.race`: the first coroutine to finish wins, the others are cancelled and clean up
(docs: background-coroutines.md)."""

import traceback
import warnings

import pytest

import tinyio
from tinyio.testing import VirtualClock


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


def runner(name, n, log):
    try:
        yield from steps(n)
        return f"{name} finished"
    finally:
        log.append(f"{name} cleaned up")


def test_race_gives_the_index_and_result_of_the_first_to_finish():
    log = []

    def main():
        return (yield tinyio.race([runner("slow", 10, log), runner("fast", 2, log)]))

    assert tinyio.Loop().run(main()) == (1, "fast finished")


def test_the_losers_are_cancelled_and_cleaned_up_before_race_returns():
    log = []

    def main():
        result = yield tinyio.race(
            [runner("a", 50, log), runner("b", 1, log), runner("c", 50, log)]
        )
        log.append("race returned")
        return result

    assert tinyio.Loop().run(main()) == (1, "b finished")
    assert log[0] == "b cleaned up"
    assert sorted(log[1:3]) == ["a cleaned up", "c cleaned up"]
    assert log[3] == "race returned"


@pytest.mark.timeout(20)
def test_a_loser_sleeping_for_an_hour_does_not_keep_loop_run_waiting():
    def sleeper():
        yield tinyio.sleep(3600)
        return "slept"

    def quick():
        yield tinyio.sleep(0.001)
        return "quick"

    def main():
        return (yield tinyio.race([sleeper(), quick()]))

    assert tinyio.Loop().run(main()) == (1, "quick")


def test_a_loser_that_receives_the_cancellation_sees_a_cancelled_error_saying_why():
    seen = []

    def loser():
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError as error:
            seen.append(str(error))
            raise

    def winner():
        yield
        return "won"

    def main():
        return (yield tinyio.race([loser(), winner()]))

    assert tinyio.Loop().run(main()) == (1, "won")
    assert seen == ["cancelled by tinyio.race: another coroutine finished first"]


def test_an_error_in_the_first_to_finish_propagates_and_the_others_clean_up():
    log = []

    def failing():
        yield
        raise Boom("first to finish")

    def main():
        yield tinyio.race([runner("other", 100, log), failing()])

    with pytest.raises(Boom, match="first to finish"):
        tinyio.Loop().run(main())
    assert log == ["other cleaned up"]


def test_the_error_of_the_first_to_finish_is_catchable_around_yield_from_after_the_clean_up():
    log = []

    def failing():
        yield
        raise Boom("first to finish")

    def main():
        try:
            yield from tinyio.race([runner("other", 100, log), failing()])
        except Boom as error:
            log.append(f"caught {error}")
        return "still running"

    loop = tinyio.Loop(clock=VirtualClock())
    assert loop.run(main()) == "still running"
    assert log == ["other cleaned up", "caught first to finish"]
    assert loop.time() == 0


def test_the_error_of_the_first_to_finish_has_the_callers_frame_in_its_traceback():
    def failing():
        yield
        raise Boom("first to finish")

    def caller():
        yield from tinyio.race([failing(), tinyio.sleep(10)])

    def main():
        yield caller()

    with pytest.raises(Boom) as info:
        tinyio.Loop().run(main())
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[-3:] == ["main", "caller", "failing"]


def test_an_error_raised_by_a_loser_while_it_cleans_up_crashes_the_loop():
    def clumsy_loser():
        try:
            yield tinyio.Event().wait()
        finally:
            raise Boom("cleanup failed")

    def winner():
        yield
        return "won"

    def main():
        yield tinyio.race([clumsy_loser(), winner()])

    with pytest.raises(Boom, match="cleanup failed"):
        tinyio.Loop().run(main())


def test_timing_out_a_race_cancels_every_runner():
    log = []

    def forever(name):
        try:
            yield tinyio.Event().wait()
        finally:
            log.append(f"{name} cleaned up")

    def main():
        result = yield tinyio.timeout(tinyio.race([forever("a"), forever("b")]), 0.01)
        log.append("timeout returned")
        return result

    assert tinyio.Loop().run(main()) == (None, False)
    assert sorted(log[:2]) == ["a cleaned up", "b cleaned up"]
    assert log[2] == "timeout returned"


def test_cancelling_a_race_cancels_every_runner():
    log = []

    def forever(name):
        try:
            yield tinyio.Event().wait()
        finally:
            log.append(f"{name} cleaned up")

    def main():
        racing = tinyio.race([forever("a"), forever("b")])
        yield {racing}
        yield from steps(3)
        yield tinyio.cancel(racing)
        log.append("cancel returned")

    tinyio.Loop().run(main())
    assert sorted(log[:2]) == ["a cleaned up", "b cleaned up"]
    assert log[2] == "cancel returned"


def test_a_loser_that_swallows_the_cancellation_gets_a_runtime_warning():
    def stubborn():
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError:
            return "ignored"

    def winner():
        yield
        return "won"

    def main():
        return (yield tinyio.race([stubborn(), winner()]))

    with pytest.warns(RuntimeWarning, match="did not respond properly to cancellation"):
        assert tinyio.Loop().run(main()) == (1, "won")


def test_a_race_of_one_gives_its_result():
    def only():
        yield
        return "alone"

    def main():
        return (yield tinyio.race([only()]))

    assert tinyio.Loop().run(main()) == (0, "alone")


def test_of_two_finishing_in_the_same_round_one_wins_and_the_other_just_finishes():
    log = []

    def main():
        return (yield tinyio.race([runner("one", 2, log), runner("two", 2, log)]))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the other one is not "cancelled" after it finished
        index, result = tinyio.Loop().run(main())
    assert result == ["one finished", "two finished"][index]
    assert sorted(log) == ["one cleaned up", "two cleaned up"]


# --- bad input ----------------------------------------------------------------------------


def test_a_race_of_nothing_raises_value_error_at_the_call():
    with pytest.raises(ValueError, match="at least one coroutine"):
        tinyio.race([])


def test_a_race_with_something_that_is_not_a_coroutine_raises_type_error_at_the_call():
    with pytest.raises(TypeError, match="race needs coroutines"):
        tinyio.race([steps(1), "fast"])


def test_a_race_with_a_started_coroutine_raises_value_error_at_the_call():
    started = steps(3)
    next(started)
    with pytest.raises(ValueError, match="has already started"):
        tinyio.race([started])


def test_a_race_with_one_coroutine_twice_raises_value_error_at_the_call():
    coro = steps(1)
    with pytest.raises(ValueError, match="twice"):
        tinyio.race([coro, coro])


def test_a_race_of_a_single_coroutine_or_a_non_iterable_raises_type_error_naming_race():
    def one():
        yield

    coro = one()
    with pytest.raises(
        TypeError, match=r"race needs a list \(or other iterable\).*race\(\[coro\]\)"
    ):
        tinyio.race(coro)
    coro.close()
    with pytest.raises(
        TypeError, match=r"race needs a list \(or other iterable\) of coroutines, got 5"
    ):
        tinyio.race(5)
