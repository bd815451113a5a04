"""The traceback of an error raised out of `loop.run` reads like a call stack (docs: errors.md)."""

import os
import pickle
import subprocess
import sys
import traceback

import pytest

import tinyio

LIBRARY_DIR = os.path.dirname(os.path.abspath(tinyio.__file__))


class CustomError(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def is_library_frame(frame):
    return os.path.abspath(frame.filename).startswith(LIBRARY_DIR + os.sep)


def user_frames(error, test_name):
    """The frames of `error`'s traceback, checked to hold at most the one `loop.run` entry."""
    frames = traceback.extract_tb(error.__traceback__)
    assert frames[0].name == test_name, "the traceback starts at the caller of loop.run"
    library = [i for i, frame in enumerate(frames) if is_library_frame(frame)]
    assert library in ([], [1]), f"library frames: {[frames[i] for i in library]}"
    if library:
        assert frames[1].name == "run"
    return [frame for frame in frames if not is_library_frame(frame)]


# Module-level coroutines, so that the frames' names and lines are easy to state.


def failing():
    yield
    raise ValueError("boom")  # failing: raise


def middle():
    return (yield failing())  # middle: yield


def root():
    return (yield middle())  # root: yield


def test_the_traceback_is_caller_then_waiters_root_first_then_the_failing_frames():
    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(root())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames] == [
        "test_the_traceback_is_caller_then_waiters_root_first_then_the_failing_frames",
        "root",
        "middle",
        "failing",
    ]
    assert frames[1].line.endswith("# root: yield")
    assert frames[2].line.endswith("# middle: yield")
    assert frames[3].line.endswith("# failing: raise")


def test_no_library_frames_appear_for_an_error_in_the_first_step():
    def immediate():
        raise KeyError("first step")
        yield

    with pytest.raises(KeyError) as excinfo:
        tinyio.Loop().run(immediate())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["immediate"]


def test_frames_called_from_the_failing_coroutine_are_kept():
    def helper_that_fails():
        raise ValueError("deep")

    def helper():
        helper_that_fails()

    def delegated():
        yield
        helper()

    def coroutine():
        yield
        yield from delegated()

    with pytest.raises(ValueError, match="deep") as excinfo:
        tinyio.Loop().run(coroutine())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == [
        "coroutine",
        "delegated",
        "helper",
        "helper_that_fails",
    ]


def test_a_waiter_in_a_gather_appears_in_the_chain():
    def fine():
        yield

    def gatherer():
        yield [fine(), failing(), fine()]

    def main():
        yield
        yield gatherer()

    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(main())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["main", "gatherer", "failing"]


def test_the_chain_stops_at_a_coroutine_with_several_waiters():
    shared = failing()

    def waiter():
        yield shared

    def main():
        yield [waiter(), waiter()]

    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(main())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["failing"]


def test_the_chain_stops_at_a_background_coroutine_nobody_waits_on():
    def starter():
        yield {failing()}
        yield tinyio.Event().wait()

    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(starter())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["failing"]


def test_an_error_after_waking_from_a_sleep_has_the_same_kind_of_traceback():
    def sleepy():
        yield tinyio.sleep(0.001)
        raise ValueError("after sleeping")

    def main():
        yield sleepy()

    with pytest.raises(ValueError, match="after sleeping") as excinfo:
        tinyio.Loop().run(main())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["main", "sleepy"]


def test_a_deep_chain_of_single_waiters_is_shown_in_full():
    def level(n):
        if n == 0:
            yield
            raise ValueError("bottom")
        yield level(n - 1)

    with pytest.raises(ValueError, match="bottom") as excinfo:
        tinyio.Loop().run(level(50))
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["level"] * 51


def test_the_traceback_is_the_same_with_exception_group_false():
    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(root(), exception_group=False)
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["root", "middle", "failing"]


def test_the_original_error_in_a_group_keeps_its_call_stack():
    with pytest.raises(BaseExceptionGroup) as excinfo:
        tinyio.Loop().run(root(), exception_group=True)
    original = excinfo.value.exceptions[0]
    assert isinstance(original, ValueError)
    frames = [f for f in traceback.extract_tb(original.__traceback__) if not is_library_frame(f)]
    assert [frame.name for frame in frames] == ["root", "middle", "failing"]


def test_explicit_cause_is_kept():
    def main():
        yield
        try:
            {}["missing"]
        except KeyError as e:
            raise ValueError("wrapped") from e

    with pytest.raises(ValueError, match="wrapped") as excinfo:
        tinyio.Loop().run(main())
    assert isinstance(excinfo.value.__cause__, KeyError)
    assert excinfo.value.__cause__.args == ("missing",)
    assert excinfo.value.__suppress_context__


def test_implicit_context_is_kept():
    def main():
        yield
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            raise ValueError("handling")  # noqa: B904 -- the implicit context is the point

    with pytest.raises(ValueError, match="handling") as excinfo:
        tinyio.Loop().run(main())
    assert isinstance(excinfo.value.__context__, ZeroDivisionError)
    assert excinfo.value.__cause__ is None


def test_an_error_raised_outside_any_handler_gets_no_context_from_the_loop():
    def main():
        yield
        raise ValueError("plain")

    def spinner():
        while True:
            yield

    with pytest.raises(ValueError, match="plain") as excinfo:
        tinyio.Loop().run(main())
    assert excinfo.value.__context__ is None
    assert excinfo.value.__cause__ is None

    def with_others():
        yield [spinner(), main()]

    with pytest.raises(ValueError, match="plain") as excinfo:
        tinyio.Loop().run(with_others())
    assert excinfo.value.__context__ is None
    assert excinfo.value.__cause__ is None


def test_errors_pickle_after_the_run():
    def main():
        yield
        raise CustomError(7, "detail")

    with pytest.raises(CustomError) as excinfo:
        tinyio.Loop().run(main())
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert type(copy) is CustomError
    assert copy.args == (7, "detail")
    assert (copy.code, copy.detail) == (7, "detail")


def test_chained_errors_pickle_after_the_run():
    def main():
        yield
        try:
            raise KeyError("inner")
        except KeyError as e:
            raise ValueError("outer") from e

    with pytest.raises(ValueError, match="outer") as excinfo:
        tinyio.Loop().run(main())
    copy = pickle.loads(pickle.dumps(excinfo.value))
    assert copy.args == ("outer",)


GROUP_PICKLE_PROGRAM = """
import pickle
import tinyio

def failing():
    yield
    raise ValueError("boom")

def spinner():
    while True:
        yield

def main():
    yield [spinner(), failing()]

try:
    tinyio.Loop().run(main(), exception_group=True)
except BaseExceptionGroup as group:
    copy = pickle.loads(pickle.dumps(group))
    assert [type(e) for e in copy.exceptions] == [type(e) for e in group.exceptions]
    assert copy.exceptions[0].args == ("boom",)
    print("pickled")
"""


def test_exception_groups_pickle_after_the_run():
    # In a fresh interpreter: another test imports Dask, whose tblib import replaces how every
    # exception pickles, process-wide, in a way that cannot pickle exception groups at all.
    completed = subprocess.run(
        [sys.executable, "-c", GROUP_PICKLE_PROGRAM],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.stdout == "pickled\n", completed.stderr


def test_cancelled_errors_pickle():
    def spinner():
        while True:
            yield

    def main():
        yield [spinner(), failing()]

    with pytest.raises(BaseExceptionGroup) as excinfo:
        tinyio.Loop().run(main(), exception_group=True)
    cancelled = [e for e in excinfo.value.exceptions if isinstance(e, tinyio.CancelledError)]
    assert cancelled
    for error in cancelled:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is tinyio.CancelledError
        assert copy.args == error.args
