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


def test_an_error_raised_by_a_loser_while_it_cleans_up_comes_out_of_the_race():
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


# --- errors of losers: never lost -------------------------------------------------------------


def _ok():
    yield
    return "ok"


def _down():
    yield
    raise ConnectionRefusedError("down")


def test_a_loser_failing_in_the_same_turn_after_the_winner_is_catchable_around_yield_from():
    caught = []

    def main():
        try:
            yield from tinyio.race([_ok(), _down()])
        except Exception as error:
            caught.append(error)
        return "still running"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning for main either
        assert tinyio.Loop().run(main()) == "still running"
    [error] = caught
    assert type(error) is ConnectionRefusedError
    # Of the two, either may finish first: `_down` won by raising, or lost and says so.
    assert "watch" not in "\n".join(getattr(error, "__notes__", []))


def test_a_losers_error_after_the_winner_finished_is_raised_with_a_note_saying_so():
    go = tinyio.Event()

    def winner():
        yield
        go.set()  # wakes the loser, which fails before the race can cancel it
        return "won"

    def loser():
        yield go.wait()
        raise ConnectionRefusedError("down")

    def main():
        try:
            yield from tinyio.race([loser(), winner()])
        except ConnectionRefusedError as error:
            return error.__notes__

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [note] = tinyio.Loop().run(main())
    assert (
        "loser() (index 0 in the race), a loser of tinyio.race, before it could be cancelled"
        in note
    )
    assert "winner() (index 1 in the race) had finished first" in note
    assert "watch" not in note
    assert "_race" not in note


def test_a_loser_failing_in_the_same_turn_is_raised_in_either_order_of_the_inputs():
    def main(coros):
        try:
            yield from tinyio.race(coros)
        except ConnectionRefusedError as error:
            return repr(error)

    for coros in ([_ok(), _down()], [_down(), _ok()]):
        assert tinyio.Loop().run(main(coros)) == "ConnectionRefusedError('down')"


def test_the_traceback_of_a_losers_error_shows_the_callers_line_with_yield_and_yield_from():
    def with_yield():
        yield tinyio.race([_ok(), _down()])

    def with_yield_from():
        yield from tinyio.race([_ok(), _down()])

    for main in (with_yield, with_yield_from):
        with pytest.raises(ConnectionRefusedError) as info:
            tinyio.Loop().run(main())
        names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert names[-2:] == [main.__name__, "_down"]


def test_the_traceback_of_a_race_error_caught_around_yield_from_reads_like_a_call_stack():
    def failing():
        yield
        raise Boom("first to finish")

    def main():
        for coros in ([failing(), _ok()], [_ok(), _down()]):
            try:
                yield from tinyio.race(coros)
            except Exception as error:
                frames = traceback.extract_tb(error.__traceback__)
                yield
                names.append([frame.name for frame in frames])

    names = []
    tinyio.Loop().run(main())
    assert names == [["main", "failing"], ["main", "_down"]]


def test_two_runners_failing_in_the_same_turn_raise_a_group_of_both():
    def key_error():
        yield
        raise KeyError("k")

    def value_error():
        yield
        raise ValueError("v")

    def main():
        try:
            yield from tinyio.race([key_error(), value_error(), steps(100)])
        except* KeyError as group:
            got.append(group)
        except* ValueError as group:
            got.append(group)

    got = []
    tinyio.Loop().run(main())
    assert [type(group.exceptions[0]) for group in got] == [KeyError, ValueError]

    def plain():
        yield tinyio.race([key_error(), value_error(), steps(100)])

    with pytest.raises(ExceptionGroup) as info:
        tinyio.Loop().run(plain(), exception_group=False)
    # In the order the race saw them: of two failing in the same turn, either may be first.
    assert {type(error) for error in info.value.exceptions} == {KeyError, ValueError}
    assert "key_error() (index 0 in the race)" in str(info.value)
    assert "value_error() (index 1 in the race)" in str(info.value)
    assert "watch" not in str(info.value)


def test_a_loser_whose_clean_up_fails_gives_its_error_catchable_around_yield_from():
    log = []

    def clumsy_loser():
        try:
            yield tinyio.Event().wait()
        finally:
            raise Boom("cleanup failed")

    def main():
        try:
            yield from tinyio.race([clumsy_loser(), runner("winner", 1, log)])
        except Boom as error:
            log.append(f"caught {error}")
            notes = "\n".join(error.__notes__)
            assert "a loser of tinyio.race, while it was being cancelled" in notes
            assert "runner() (index 1 in the race) had finished first" in notes
        return "still running"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tinyio.Loop().run(main()) == "still running"
    assert log == ["winner cleaned up", "caught cleanup failed"]


def test_a_runner_whose_clean_up_fails_when_the_race_times_out_gives_its_error():
    def clumsy():
        try:
            yield tinyio.Event().wait()
        finally:
            raise Boom("cleanup failed")

    def main():
        try:
            yield from tinyio.timeout(tinyio.race([clumsy(), tinyio.Event().wait()]), 0.01)
        except Boom as error:
            return error

    error = tinyio.Loop(clock=VirtualClock()).run(main())
    assert str(error) == "cleanup failed"
    assert isinstance(error.__context__, tinyio.TimeoutError)  # as a `finally` raising would
    assert "a runner of tinyio.race, while it was being cancelled" in error.__notes__[0]


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
