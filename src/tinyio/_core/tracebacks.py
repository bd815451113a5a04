"""Tracebacks a user reads: without tinyio's own frames, and stitched into a call stack.

A crash's error is raised out of `Loop.run` with the frames of the chain of coroutines that
waited on the failing one in front of its own, as if each had called the next (see
docs/devdocs/error-path.md); the loop's machinery, and library coroutines, are left out.
"""

from __future__ import annotations

import os
import types
from typing import Final, cast

from .tasks import Gen, Task, task_of

__all__ = ["is_library_code", "stitched_traceback", "without_library_frames"]

# The package's directory (this module is in its `_core/`).
_PACKAGE_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_TOUR: Final = _PACKAGE_DIR + "__main__.py"  # user-level example code, though shipped with us
# The scheduler's step, which throws into coroutines: never called by user code.
_STEP: Final = _PACKAGE_DIR + "_core" + os.sep + "scheduler.py"
_CO_GENERATOR: Final = 0x20  # `inspect.CO_GENERATOR`, without importing `inspect` here


def is_library_code(filename: str) -> bool:
    """Whether code from `filename` is tinyio's own (hidden from tracebacks and reports)."""
    return filename.startswith(_PACKAGE_DIR) and filename != _TOUR


def without_library_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The same traceback without the frames of tinyio's machinery: the loop, library
    coroutines (generators) and what they call. A tinyio function or method that user code
    called directly (`event.set()`, entering a slot) stays, with what it calls, as Python
    shows any call: a misuse shows the public method that raised."""
    entries: list[types.TracebackType] = []
    called_by_user = False
    while tb is not None:
        code = tb.tb_frame.f_code
        if not is_library_code(code.co_filename):
            entries.append(tb)
            called_by_user = True
        elif called_by_user and not code.co_flags & _CO_GENERATOR and code.co_filename != _STEP:
            entries.append(tb)
        else:
            called_by_user = False
        tb = tb.tb_next
    result: types.TracebackType | None = None
    for entry in reversed(entries):
        result = types.TracebackType(result, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return result


def trim_chain(error: BaseException) -> None:
    """Leave tinyio's machinery out of the tracebacks of what `error` was raised from or while
    handling (its `__cause__` and `__context__`, all the way down, and the members of the
    groups among them): what "During handling of the above exception" shows."""
    seen = {id(error)}
    pending = [error.__cause__, error.__context__]
    if isinstance(error, BaseExceptionGroup):
        pending += error.exceptions  # pyright: ignore[reportUnknownMemberType]
    while pending:
        link = pending.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        link.__traceback__ = without_library_frames(link.__traceback__)
        pending += [link.__cause__, link.__context__]
        if isinstance(link, BaseExceptionGroup):
            pending += link.exceptions  # pyright: ignore[reportUnknownMemberType]


def _prepend_frames(gen: Gen, tb: types.TracebackType | None) -> types.TracebackType | None:
    """`tb` behind the frames of a suspended coroutine: its own, then each of its `yield from`
    chain, outer to inner (the library's left out)."""
    frames: list[types.FrameType] = []
    inner: object = gen
    while type(inner) is types.GeneratorType:
        frame = inner.gi_frame  # pyright: ignore[reportUnknownMemberType]
        if frame is None:
            break
        frames.append(frame)  # pyright: ignore[reportUnknownArgumentType]
        inner = cast(object, inner.gi_yieldfrom)  # pyright: ignore[reportUnknownMemberType]
    for frame in reversed(frames):
        if not is_library_code(frame.f_code.co_filename):
            tb = types.TracebackType(tb, frame, frame.f_lasti, frame.f_lineno)
    return tb


def stitched_traceback(
    error: BaseException, task: Task | None
) -> tuple[types.TracebackType | None, set[Task]]:
    """The traceback of `error`, which `task` raised, as a call stack: the waiting chain, then
    the failing frames.

    Also gives the tasks of that chain (each the single waiter of the one below it).
    """
    tb = without_library_frames(error.__traceback__)
    chain: set[Task] = set()
    seen = {task}
    while task is not None:
        waiters = task.waiters
        if waiters is None or len(waiters) != 1:
            break
        task = task_of(waiters[0])
        if task in seen:
            break
        seen.add(task)
        chain.add(task)
        tb = _prepend_frames(task.gen, tb)
    return tb, chain
