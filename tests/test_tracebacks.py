"""The traceback of an error raised out of `loop.run` reads like a call stack (docs: errors.md)."""

import os
import pickle
import subprocess
import sys
import threading
import time
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
    """The frames of `error`'s traceback, checked to hold none of the library's."""
    frames = traceback.extract_tb(error.__traceback__)
    assert frames[0].name == test_name, "the traceback starts at the caller of loop.run"
    library = [frame for frame in frames if is_library_frame(frame)]
    assert library == [], f"library frames: {library}"
    return frames


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
    assert user_frames(excinfo.value, sys._getframe().f_code.co_name)[1:] == []
    original = excinfo.value.exceptions[0]
    assert isinstance(original, ValueError)
    frames = traceback.extract_tb(original.__traceback__)
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


# ---------------------------------------------------------------- no frame of the loop


def reraise_with(tb):
    try:
        raise ValueError("x")
    except ValueError as error:
        error.__traceback__ = tb
        raise


def test_a_bare_raise_after_rewriting_the_traceback_adds_no_entry_for_its_frame():
    # The technique that keeps the loop's frames out, shown on plain Python: the frame that
    # re-raises contributes nothing, its caller is the first entry.
    with pytest.raises(ValueError, match="x") as excinfo:
        reraise_with(None)
    assert [frame.name for frame in traceback.extract_tb(excinfo.value.__traceback__)] == [
        "test_a_bare_raise_after_rewriting_the_traceback_adds_no_entry_for_its_frame"
    ]


def not_a_generator_run():
    tinyio.Loop().run(5)


def started_generator_run():
    gen = failing()
    next(gen)
    tinyio.Loop().run(gen)


def bad_exception_group_run():
    tinyio.Loop().run(failing(), exception_group="yes")


@pytest.mark.parametrize(
    ("caller", "error_type"),
    [
        (not_a_generator_run, TypeError),
        (started_generator_run, ValueError),
        (bad_exception_group_run, TypeError),
    ],
)
def test_an_argument_error_of_run_starts_and_ends_at_its_caller(caller, error_type):
    with pytest.raises(error_type) as excinfo:
        caller()
    frames = traceback.extract_tb(excinfo.value.__traceback__)
    assert [frame.name for frame in frames] == [
        "test_an_argument_error_of_run_starts_and_ends_at_its_caller",
        caller.__name__,
    ]


def test_run_on_a_running_loop_shows_only_the_coroutine_that_called_it():
    loop = tinyio.Loop()

    def nested():
        yield
        loop.run(root())

    with pytest.raises(RuntimeError, match="currently running") as excinfo:
        loop.run(nested())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["nested"]


def drive(gen):
    while True:
        block = next(gen)
        if block is not None:
            block()


def test_the_generator_of_runtime_raises_with_the_call_stack_and_no_loop_frame():
    with (
        pytest.raises(ValueError, match="boom") as excinfo,
        tinyio.Loop().runtime(root(), exception_group=None) as steps,
    ):
        drive(steps)
    frames = traceback.extract_tb(excinfo.value.__traceback__)
    assert not [frame for frame in frames if is_library_frame(frame)], frames
    assert [frame.name for frame in frames][-4:] == ["drive", "root", "middle", "failing"]


def test_an_argument_error_of_runtime_shows_no_frame_of_the_loop_or_contextlib():
    with pytest.raises(TypeError) as excinfo, tinyio.Loop().runtime(5, exception_group=None):
        pass
    frames = traceback.extract_tb(excinfo.value.__traceback__)
    assert [frame.name for frame in frames] == [
        "test_an_argument_error_of_runtime_shows_no_frame_of_the_loop_or_contextlib"
    ]


def test_leaving_runtime_early_shows_only_the_with_statement():
    def two_steps():
        yield
        yield

    with (
        pytest.raises(RuntimeError, match="partially completed") as excinfo,
        tinyio.Loop().runtime(two_steps(), exception_group=None) as steps,
    ):
        next(steps)
    frames = traceback.extract_tb(excinfo.value.__traceback__)
    assert [frame.name for frame in frames] == [
        "test_leaving_runtime_early_shows_only_the_with_statement"
    ]


# ---------------------------------------------------------------- delegation chains


def g2():
    return (yield failing())  # g2: yield


def g():
    return (yield from g2())  # g: yield from


def f():
    return (yield g())  # f: yield


def test_a_waiter_contributes_every_frame_of_its_yield_from_chain_outer_to_inner():
    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(f())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][1:] == ["f", "g", "g2", "failing"]
    assert frames[2].line.endswith("# g: yield from")
    assert frames[3].line.endswith("# g2: yield")


def test_a_library_coroutine_in_a_waiters_chain_is_left_out():
    def main():
        return (yield from tinyio.timeout(f(), 10))

    with pytest.raises(ValueError, match="boom") as excinfo:
        tinyio.Loop().run(main())
    frames = user_frames(excinfo.value, sys._getframe().f_code.co_name)
    assert [frame.name for frame in frames][-3:] == ["g", "g2", "failing"]


# ---------------------------------------------------------------- members of a group


def spin():
    while True:
        yield


def delegating_spin():
    yield from spin()


def test_every_member_of_a_group_starts_at_the_cancelled_coroutines_own_frame():
    started = threading.Event()

    def blocking():
        started.set()
        while True:
            time.sleep(0.001)

    def fail_once_the_thread_runs():
        yield from tinyio.run_in_thread(started.wait)
        raise ValueError("boom")

    def main():
        yield [delegating_spin(), tinyio.run_in_thread(blocking), fail_once_the_thread_runs()]

    with pytest.raises(BaseExceptionGroup) as excinfo:
        tinyio.Loop().run(main(), exception_group=True)
    members = excinfo.value.exceptions
    first_frames = []
    for member in members:
        frames = traceback.extract_tb(member.__traceback__)
        assert not [frame for frame in frames if is_library_frame(frame)], (member, frames)
        first_frames.append(frames[0].name if frames else None)
    assert first_frames[0] == "main"  # the original error: the call stack
    assert "delegating_spin" in first_frames
    assert "blocking" in first_frames  # the thread call: the thread's own frames


# ---------------------------------------------------------------- misuse, called directly


def enter_twice():
    lock = tinyio.Lock()

    def main():
        slot = yield lock()
        with slot, slot:
            pass

    tinyio.Loop().run(main())


@pytest.mark.parametrize(
    ("misuse", "error_type", "method"),
    [
        (lambda: bool(tinyio.Event()), TypeError, "__bool__"),
        (lambda: tinyio.Semaphore(0), ValueError, "__init__"),
        (lambda: tinyio.Barrier(0), ValueError, "__init__"),
        (lambda: tinyio.ThreadPool(0), ValueError, "__init__"),
        (lambda: tinyio.sleep(-1), ValueError, "sleep"),
        (lambda: tinyio.Event().wait("soon"), TypeError, "wait"),
        (lambda: tinyio.timeout(failing(), -1), ValueError, "timeout"),
        (enter_twice, RuntimeError, "__enter__"),
    ],
)
def test_misuse_of_a_tinyio_object_ends_in_the_public_method_that_raised(
    misuse, error_type, method
):
    with pytest.raises(error_type) as excinfo:
        misuse()
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert is_library_frame(last)
    assert last.name == method


def _cleanup_fails():
    try:
        yield tinyio.sleep(10)
    finally:
        raise OSError("cleanup failed")


def _stopped_by_timeout():
    yield tinyio.timeout(_cleanup_fails(), 0.01)


def _stopped_by_cancel():
    task = _cleanup_fails()
    yield {task}
    yield tinyio.sleep(0.01)
    yield tinyio.cancel(task)


def _stopped_by_a_lost_race():
    yield tinyio.race([_cleanup_fails(), tinyio.sleep(0.01)])


@pytest.mark.parametrize("main", [_stopped_by_timeout, _stopped_by_cancel, _stopped_by_a_lost_race])
def test_what_an_error_was_raised_while_handling_shows_none_of_the_loop_s_frames(main):
    # "During handling of the above exception": the CancelledError or TimeoutError thrown in
    # at the user's `yield`, shown from that line, as the error itself is.
    with pytest.raises(OSError, match="cleanup failed") as raised:
        tinyio.Loop().run(main())
    context = raised.value.__context__
    assert isinstance(context, (tinyio.CancelledError, tinyio.TimeoutError))
    shown = traceback.extract_tb(context.__traceback__)
    assert [frame.name for frame in shown] == ["_cleanup_fails"]
    assert all(os.sep + "tinyio" + os.sep not in frame.filename for frame in shown)
