"""`tinyio.copy`: hand a result of the outer loop into an isolated region (docs: isolation.md).

`handle = yield tinyio.copy(coro)`, yielded in the outer loop, starts `coro` there and gives a
fresh coroutine. Yielding that coroutine -- inside `isolate`, or in any loop -- gives the very
same object `coro` returns, once it has; or raises the same error, if `coro` was interrupted
(by `tinyio.timeout`).
"""

import inspect
import os
import threading

import pytest

import tinyio
from tinyio.testing import VirtualClock


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


def run(coro):
    return tinyio.Loop().run(coro)


def yields(coro):
    """A coroutine that yields `coro` and returns what that gives."""
    return (yield coro)


def test_yielding_copy_gives_a_fresh_coroutine():
    def work():
        yield
        return 1

    def main():
        handle = yield tinyio.copy(work())
        return inspect.getgeneratorstate(handle)

    assert run(main()) == inspect.GEN_CREATED


def test_copy_starts_the_coroutine_in_the_outer_loop_even_if_the_copy_is_never_yielded():
    log = []

    def work():
        yield from steps(3)
        log.append("work ran")

    def main():
        yield tinyio.copy(work())
        log.append("main returned")

    run(main())
    # Started in the background: `loop.run` waited for it, as for any background coroutine.
    assert log == ["main returned", "work ran"]


def test_the_copy_gives_the_very_same_object_inside_an_isolated_region():
    result = {"a": [1, 2, 3]}

    def work():
        yield from steps(2)
        return result

    def main():
        handle = yield tinyio.copy(work())
        return (yield tinyio.isolate(yields(handle)))

    value, ok = run(main())
    assert ok is True
    assert value is result


def test_the_coroutine_runs_once_however_it_is_waited_on():
    runs = []

    def work():
        runs.append("ran")
        yield from steps(2)
        return object()

    def main():
        coro = work()
        first = yield tinyio.copy(coro)
        second = yield tinyio.copy(coro)
        outside = yield coro

        def inside():
            return (yield [first, second, first])

        inner, ok = yield tinyio.isolate(inside())
        return outside, inner, ok

    outside, inner, ok = run(main())
    assert runs == ["ran"]
    assert ok is True
    assert all(value is outside for value in inner)


def test_copying_a_coroutine_that_already_finished_gives_its_result():
    def work():
        yield
        return "finished earlier"

    def main():
        coro = work()
        yield coro
        handle = yield tinyio.copy(coro)
        return (yield tinyio.isolate(yields(handle)))

    assert run(main()) == ("finished earlier", True)


@pytest.mark.timeout(30)
def test_yielding_the_copy_before_the_coroutine_finished_waits_for_it():
    release = tinyio.Event()
    log = []

    def work():
        yield release.wait()
        log.append("work finished")
        return "late result"

    def inside(handle):
        log.append("inside waits")
        result = yield handle
        log.append("inside got it")
        return result

    def releaser():
        yield tinyio.sleep(0.05)
        log.append("released")
        release.set()

    def main():
        handle = yield tinyio.copy(work())
        isolated, _ = yield [tinyio.isolate(inside(handle)), releaser()]
        return isolated

    assert run(main()) == ("late result", True)
    assert log == ["inside waits", "released", "work finished", "inside got it"]


def test_the_copy_can_be_yielded_in_the_outer_loop_too():
    def work():
        yield
        return "outer"

    def main():
        handle = yield tinyio.copy(work())
        return (yield handle)

    assert run(main()) == "outer"


def test_the_copy_can_be_run_by_another_loop_after_the_first_one_finished():
    result = object()

    def work():
        yield
        return result

    def main():
        return (yield tinyio.copy(work()))

    handle = run(main())
    assert run(handle) is result


@pytest.mark.timeout(30)
def test_the_copy_can_be_run_by_a_loop_in_another_thread():
    release = tinyio.Event()
    got = []

    def work():
        yield release.wait()
        return "from the first loop"

    def other_thread(handle):
        got.append(run(handle))

    def main():
        handle = yield tinyio.copy(work())
        thread = threading.Thread(target=other_thread, args=(handle,))
        thread.start()
        yield tinyio.sleep(0.02)
        release.set()
        yield tinyio.run_in_thread(thread.join)

    run(main())
    assert got == ["from the first loop"]


def test_a_copy_of_an_interrupted_coroutine_raises_the_same_timeout_error():
    seen = []

    def slow():
        try:
            yield tinyio.sleep(0.2)  # `timeout` lets it run to its end
        except tinyio.TimeoutError as error:
            seen.append(error)
            raise

    def main():
        coro = slow()
        handle = yield tinyio.copy(coro)
        assert (yield tinyio.timeout(coro, 0.01)) == (None, False)
        return handle

    handle = run(main())
    # As any error raised by a coroutine, it crashes the loop that yields the copy.
    with pytest.raises(tinyio.TimeoutError) as raised:
        run(handle)
    assert raised.value is seen[0]


def test_a_copy_made_before_the_timeout_expired_waits_and_then_raises_it():
    seen = []

    def slow():
        try:
            yield tinyio.sleep(10)
        except tinyio.TimeoutError as error:
            seen.append(error)
            raise

    def main():
        coro = slow()
        handle = yield tinyio.copy(coro)
        yield [tinyio.isolate(yields(handle)), tinyio.timeout(coro, 0.05)]

    loop = tinyio.Loop(clock=VirtualClock())  # the moment is exact
    # A TimeoutError is not an Exception: it propagates out of `isolate`.
    with pytest.raises(tinyio.TimeoutError) as raised:
        loop.run(main())
    assert loop.time() == 0.05  # at the timeout, not after the 10 s sleep
    assert raised.value is seen[0]


def test_an_error_of_the_coroutine_itself_crashes_the_outer_loop_as_usual():
    error = Boom("in the outer loop")

    def work():
        yield
        raise error

    def main():
        handle = yield tinyio.copy(work())
        yield tinyio.isolate(yields(handle))

    with pytest.raises(Boom) as raised:
        run(main())
    assert raised.value is error


@pytest.mark.parametrize("not_a_coroutine", [None, 1, "text", lambda: None])
def test_copy_needs_a_coroutine_and_says_so_at_the_call(not_a_coroutine):
    with pytest.raises(TypeError, match="copy needs a coroutine"):
        tinyio.copy(not_a_coroutine)


def test_a_copy_of_a_coroutine_cancelled_by_a_crash_raises_cancelled_error_when_yielded_later():
    def slow():
        yield tinyio.sleep(10)

    class Crash(Exception):
        pass

    def crash():
        yield
        raise Crash

    handles = []

    def main():
        handles.append((yield tinyio.copy(slow())))
        yield crash()

    with pytest.raises(Crash):
        tinyio.Loop().run(main())
    with pytest.raises(tinyio.CancelledError, match="copied was cancelled"):
        tinyio.Loop().run(handles[0])


def test_an_error_given_back_by_isolate_has_no_library_frames_in_its_traceback():
    import traceback

    def fails():
        yield
        raise KeyError("inside")

    def main():
        error, ok = yield tinyio.isolate(fails())
        return error, ok

    error, ok = tinyio.Loop().run(main())
    assert ok is False
    files = [frame.filename for frame in traceback.extract_tb(error.__traceback__)]
    assert files, "the traceback should still show where the error was raised"
    library = os.path.dirname(os.path.abspath(tinyio.__file__))
    assert not [f for f in files if f.startswith(library)], files
