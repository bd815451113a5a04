"""Error messages contain the key phrases that code written against tinyio 0.4.0 matches on,
next to our own explanation (docs: coming-from-tinyio-0.4.md), and the hints for mistakes
Python reports in its own words (docs: errors.md)."""

import asyncio
import concurrent.futures
import contextlib
import re
import warnings

import pytest

import tinyio


def job():
    yield


def started():
    gen = job()
    next(gen)
    return gen


def finished():
    gen = job()
    list(gen)
    return gen


def run_started():
    tinyio.Loop().run(started())


def yield_started():
    def main():
        yield started()

    tinyio.Loop().run(main())


def yield_finished():
    def main():
        yield finished()

    tinyio.Loop().run(main())


def run_a_running_loop():
    loop = tinyio.Loop()

    def main():
        yield
        loop.run(job())

    loop.run(main())


def leave_runtime_early():
    def two_steps():
        yield
        yield

    with tinyio.Loop().runtime(two_steps(), exception_group=None) as steps:
        next(steps)


def enter_a_slot_twice():
    lock = tinyio.Lock()

    def main():
        slot = yield lock()
        with slot:
            pass
        with slot:
            pass

    tinyio.Loop().run(main())


def make_a_cycle():
    coros = {}

    def first():
        yield coros["second"]

    def second():
        yield coros["first"]

    coros.update(first=first(), second=second())
    tinyio.Loop().run(coros["first"])


def test_an_event_as_a_boolean():
    event = tinyio.Event()
    with pytest.raises(TypeError) as excinfo:
        bool(event)
    assert "Cannot convert `tinyio.Event` to boolean" in str(excinfo.value)
    assert "event.is_set()" in str(excinfo.value)


def bad_yield():
    def main():
        yield 5

    tinyio.Loop().run(main())


def bad_yield_in_a_list():
    def main():
        yield [job(), 5]

    tinyio.Loop().run(main())


@pytest.mark.parametrize(
    ("situation", "error_type", "phrase"),
    [
        (run_started, ValueError, "which is a generator that has already started"),
        (yield_started, ValueError, "has already started"),
        (yield_finished, ValueError, "has already started"),
        (run_a_running_loop, RuntimeError, "whilst the loop is currently running"),
        (leave_runtime_early, RuntimeError, "only partially completed"),
        (
            enter_a_slot_twice,
            RuntimeError,
            "Use a new `semaphore()` call in each `with (yield semaphore())`, do not re-use it",
        ),
        (make_a_cycle, tinyio.CancelledError, "Cycle detected in `tinyio` loop"),
        (lambda: tinyio.Semaphore(0), ValueError, "`tinyio.Semaphore(value=...)` must be positive"),
        (
            lambda: tinyio.Semaphore(-3),
            ValueError,
            "`tinyio.Semaphore(value=...)` must be positive",
        ),
        (bad_yield, TypeError, "Invalid yield"),
        (bad_yield_in_a_list, TypeError, "Invalid yield"),
        (lambda: tinyio.Loop().run(5), TypeError, "not a coroutine"),
        (lambda: tinyio.Loop().run(job), TypeError, "not a coroutine"),
    ],
)
def test_a_message_contains_the_published_key_phrase(situation, error_type, phrase):
    with pytest.raises(error_type) as excinfo:
        situation()
    assert phrase in str(excinfo.value)


def fail_after_a_step():
    yield
    yield
    raise KeyError("the original error")


def stubborn_yield():
    try:
        while True:
            yield
    except tinyio.CancelledError:
        yield 3


def stubborn_return():
    try:
        while True:
            yield
    except tinyio.CancelledError:
        return 4


def stubborn_raise():
    try:
        while True:
            yield
    except tinyio.CancelledError:
        raise OSError("cleanup failed") from None


@pytest.mark.parametrize(
    ("stubborn", "phrase"),
    [
        (stubborn_yield, "it yielded `3` in its cleanup while the loop was stopping"),
        (stubborn_return, "Instead, the coroutine returned `4`"),
        (stubborn_raise, "Instead, the coroutine raised the exception `OSError: cleanup failed`"),
    ],
)
def test_the_cancellation_warning_says_what_the_coroutine_did_instead(stubborn, phrase):
    def main():
        yield [stubborn(), fail_after_a_step()]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises((KeyError, ExceptionGroup)):
            tinyio.Loop().run(main())
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(messages) == 1
    assert "did not respond properly to cancellation" in messages[0]
    assert phrase in messages[0]


def test_the_warning_for_a_cleanup_that_yields_after_a_crash_points_at_that_yield():
    # After a crash nothing waits any more: a `yield` in a `finally` is the mistake, and the
    # warning names its line, not the line where the coroutine was suspended.
    def cleanup_that_waits():
        try:
            yield tinyio.sleep(100)
        finally:
            yield tinyio.sleep(0.1)  # the line the warning names

    def main():
        yield [cleanup_that_waits(), fail_after_a_step()]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyError):
            tinyio.Loop().run(main())
    (warning,) = [w for w in caught if w.category is RuntimeWarning]
    first = cleanup_that_waits.__code__.co_firstlineno
    assert (warning.filename, warning.lineno) == (__file__, first + 4)
    # It says why that `yield` is wrong here, and where a `yield` in cleanup is fine.
    message = str(warning.message)
    assert "it yielded `" in message
    assert "while the loop was stopping" in message
    assert "closed at that `yield`" in message
    assert "cancelled on its own" in message


def _crash_beside(coro, raised):
    """Run `coro` beside `fail_after_a_step()`, which crashes the loop: the `pytest.raises`
    info of the error `raised`, and the warnings given meanwhile."""

    def main():
        yield [coro, fail_after_a_step()]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(raised) as info:
            tinyio.Loop().run(main())
    return info, caught


def _yields_in_cleanup(what):
    def stubborn():
        try:
            yield tinyio.sleep(100)
        finally:
            yield from what()

    return stubborn


def _a_sleep():
    yield tinyio.sleep(1)


def _an_event_wait():
    yield from tinyio.Event().wait()


def _a_coroutine_of_ones_own():
    yield fail_after_a_step()


@pytest.mark.parametrize(
    ("what", "phrase"),
    [
        (_a_sleep, "it yielded `tinyio.sleep(...)` in its cleanup"),
        (_an_event_wait, "it waited on one of tinyio's operations (with `yield from`) in its"),
        (_a_coroutine_of_ones_own, "it yielded `fail_after_a_step()` in its cleanup"),
    ],
)
def test_the_warning_for_a_cleanup_that_yields_names_what_it_yielded_as_written(what, phrase):
    # Not `<generator object _sleep at 0x...>` nor a wait's internals.
    _, caught = _crash_beside(_yields_in_cleanup(what)(), KeyError)
    (warning,) = [w for w in caught if w.category is RuntimeWarning]
    assert phrase in str(warning.message)


def test_a_cleanup_that_yields_again_when_closed_is_reported_beside_the_error():
    # Closed at its `yield` in cleanup, it yields once more (it ignores GeneratorExit): Python's
    # RuntimeError for that is not lost, it goes with the run's error.
    def ignores_close():
        try:
            yield tinyio.sleep(100)
        finally:
            with contextlib.suppress(GeneratorExit):
                yield  # yielded as the loop stops: closed here
            yield  # ignores the close: Python's RuntimeError (collected later, it ends here)

    info, caught = _crash_beside(ignores_close(), ExceptionGroup)
    kinds = {type(e) for e in info.value.exceptions}
    assert kinds == {KeyError, RuntimeError}
    (ignored,) = [e for e in info.value.exceptions if isinstance(e, RuntimeError)]
    assert "ignored GeneratorExit" in str(ignored)
    assert len([w for w in caught if w.category is RuntimeWarning]) == 1


def test_the_warning_for_a_cleanup_that_yields_is_raised_where_warnings_are_errors():
    # `-W error` (as in this suite): the warning becomes a RuntimeWarning raised beside the
    # run's error, not lost, and the loop still closes the coroutine.
    closed = []

    def cleanup_that_waits():
        try:
            yield tinyio.sleep(100)
        finally:
            try:
                yield tinyio.sleep(0.1)
            except GeneratorExit:
                closed.append(True)
                raise

    def main():
        yield [cleanup_that_waits(), fail_after_a_step()]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ExceptionGroup) as info:
            tinyio.Loop().run(main())
    assert {type(e) for e in info.value.exceptions} == {KeyError, RuntimeWarning}
    assert closed == [True]


def test_a_ctrl_c_raised_in_the_cleanup_of_a_cancelled_coroutine_is_not_blamed_on_it():
    # As a host's Ctrl-C lands (asyncio's second, raised wherever the main thread is): in a
    # `finally` run as the loop stops. The interrupt is reported beside the error; no warning
    # says that the coroutine mishandled its cancellation.
    cleaned = []

    def interrupted_cleanup():
        try:
            yield tinyio.sleep(100)
        finally:
            cleaned.append("started")
            raise KeyboardInterrupt

    excinfo, caught = _crash_beside(interrupted_cleanup(), BaseExceptionGroup)
    assert [type(e) for e in excinfo.value.exceptions] == [KeyError, KeyboardInterrupt]
    assert cleaned == ["started"]
    assert [w for w in caught if w.category is RuntimeWarning] == []


# ---------------------------------------------------------------- hints


def test_with_lock_without_yield_gets_a_hint():
    lock = tinyio.Lock()

    def main():
        yield
        with lock():  # forgot the `yield`
            pass

    with pytest.raises(TypeError) as excinfo:
        tinyio.Loop().run(main())
    (note,) = excinfo.value.__notes__
    assert "with (yield lock()):" in note


def test_with_a_lock_object_without_yield_gets_the_same_hint():
    lock = tinyio.Lock()

    def main():
        yield
        with lock:  # forgot `(yield lock())`
            pass

    with pytest.raises(TypeError) as excinfo:
        tinyio.Loop().run(main())
    (note,) = excinfo.value.__notes__
    assert "with (yield lock()):" in note


def test_yield_from_a_list_gets_a_hint():
    def one():
        yield
        return 1

    def main():
        yield from [one(), one()]  # meant `yield [one(), one()]`

    with pytest.raises(AttributeError) as excinfo:
        tinyio.Loop().run(main())
    (note,) = excinfo.value.__notes__
    assert "`yield [a, b]`" in note


def test_an_unrelated_attribute_error_gets_no_hint():
    def main():
        yield
        object().send  # noqa: B018 -- the AttributeError is the point

    with pytest.raises(AttributeError) as excinfo:
        tinyio.Loop().run(main())
    assert not hasattr(excinfo.value, "__notes__")


# ---------------------------------------------------------------- the waiter's CancelledError


def test_the_waiters_cancelled_error_names_what_raised_and_the_remedies():
    messages = []

    def failing():
        yield
        raise ValueError("boom")

    def waiter():
        try:
            yield failing()
        except ValueError:  # does not catch it: the loop crashes instead
            messages.append("caught")
        except tinyio.CancelledError as error:
            messages.append(str(error))
            raise

    with pytest.raises(ValueError, match="boom"):
        tinyio.Loop().run(waiter())
    (message,) = messages
    message = re.sub(r"\S*\.<locals>\.", "", message)
    assert "failing(), which this coroutine was waiting on, raised ValueError: boom" in message
    assert "`yield from failing()`" in message
    assert "`tinyio.isolate`" in message


def test_a_coroutine_off_the_failing_chain_is_told_which_coroutine_raised():
    messages = []

    def failing():
        yield
        raise ValueError("boom")

    def bystander():
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError as error:
            messages.append(str(error))
            raise

    def main():
        yield [bystander(), failing()]

    with pytest.raises(ValueError, match="boom"):
        tinyio.Loop().run(main())
    (message,) = messages
    assert re.sub(r"\S*\.<locals>\.", "", message) == (
        "Cancelled because another coroutine, failing(), raised ValueError: boom."
    )


async def _an_async_generator():
    yield 1


def _yielding(value):
    def main():
        yield value

    return main()


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (_an_async_generator, "an async generator (an `async def` with `yield`)"),
        (concurrent.futures.Future, "`yield tinyio.from_future(future)`"),
        (asyncio.Event, "`yield tinyio.from_asyncio(coroutine)`"),
    ],
    ids=["async generator", "concurrent future", "asyncio object"],
)
def test_yielding_what_another_library_waits_on_names_the_bridge(make, phrase):
    with pytest.raises(TypeError) as info:
        tinyio.Loop().run(_yielding(make()))
    assert phrase in str(info.value)
    assert "no `yield` in its body" not in str(info.value)


@pytest.mark.parametrize("kind", [list, tuple, set])
def test_loop_run_given_several_coroutines_says_to_yield_them_from_one(kind):
    with pytest.raises(TypeError, match=r"Loop\.run runs one coroutine, got a " + kind.__name__):
        tinyio.Loop().run(kind([job()]))


def test_loop_run_given_an_async_generator_says_to_use_def():
    with pytest.raises(TypeError, match=r"an async generator: write the function with `def`"):
        tinyio.Loop().run(_an_async_generator())


def _yields_five():
    yield tinyio.sleep(0.001)
    yield 5  # the mistake


def _yields_a_tuple():
    yield tinyio.sleep(0.001), tinyio.sleep(0.001)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda coro: coro,
        lambda coro: tinyio.timeout(coro, 5),
        lambda coro: tinyio.race([coro]),
    ],
    ids=["plain", "timeout", "race"],
)
@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (_yields_five, "Invalid yield: _yields_five() yielded 5, which tinyio cannot wait on."),
        (
            _yields_a_tuple,
            "Invalid yield: _yields_a_tuple() yielded the tuple "
            "(tinyio.sleep(...), tinyio.sleep(...)).",
        ),
    ],
    ids=["a number", "a tuple"],
)
def test_a_bad_yield_is_blamed_on_the_coroutine_that_made_it_whatever_runs_it(wrap, mistake, said):
    # Not on tinyio's runner (`_timeout.<locals>.watch()`, `_outcome()`), and what it yielded
    # as it was written.
    def main():
        yield wrap(mistake())

    with pytest.raises(TypeError) as info:
        tinyio.Loop().run(main())
    assert str(info.value).startswith(said), str(info.value)
