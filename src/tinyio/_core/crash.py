"""One error crashes the loop: what is cancelled, in which order, and what `run` raises.

The scheduler records the error and the task that raised it, and stops stepping; the loop's
driver then asks this room for the rest (see docs/devdocs/error-path.md): `cancel_each` throws
`CancelledError` into every unfinished coroutine, newest first, collecting what each did
instead of letting it propagate; `add_notes` adds the hints and the report of what every
coroutine was doing; `final_group` chooses between the original error and an exception group.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

from . import messages
from .diagnostics import format_snapshot, take_snapshot
from .tasks import FAILED, NO_GENERATOR, Task
from .tracebacks import without_library_frames
from .waits import CancelledError

__all__ = ["REPORT_EVERY_CRASH", "add_notes", "cancel_each", "final_group", "is_ctrl_c"]

# The environment variable that, set (to anything but "0"), adds the report of what every
# coroutine was doing to every error that crashes a loop (see docs/diagnostics.md).
REPORT_EVERY_CRASH: Final = "TINYIO_REPORT_EVERY_CRASH"


def cancel_each(
    running: list[Task],
    message: Callable[[Task], str],
    chain: set[Task],
    independent: list[BaseException],
) -> tuple[list[BaseException], list[BaseException]]:
    """Throw CancelledError (saying `message(task)`) into each of the `running` tasks (oldest
    first), newest first.

    Returns the errors raised instead of a clean cancellation, and the CancelledErrors that
    report clean ones (but those of the tasks in `chain`, whose frames are already in the
    original error's traceback). Each list is ordered oldest task first, and every traceback
    starts at the cancelled coroutine's own frame. An error in `independent` (see
    `failed_on_its_own`) is collected without a warning.
    """
    # (age, error) pairs: the age of a task is its rank in `running`, oldest first.
    others: list[tuple[int, BaseException]] = []
    cancelled: list[tuple[int, BaseException]] = []
    for age in range(len(running) - 1, -1, -1):
        task = running[age]
        gen = task.gen
        task.state = FAILED
        task.gen = NO_GENERATOR
        task.waiting_on = None
        task.value = None
        task.instead = None
        error = CancelledError(message(task))
        # Where it is suspended: the warning below points there.
        frame = gen.gi_frame
        filename = gen.gi_code.co_filename
        lineno = gen.gi_code.co_firstlineno if frame is None else frame.f_lineno
        module = "" if frame is None else str(frame.f_globals.get("__name__", ""))
        try:
            yielded = task.context.run(gen.throw, error)
        except CancelledError as raised:
            if task not in chain:
                cancelled.append((age, raised))
            continue
        except StopIteration as stop:
            problem = f"returned `{stop.value!r}`"
        except BaseException as raised:
            others.append((age, raised))
            if any(raised is e for e in independent):
                continue
            problem = f"raised the exception `{type(raised).__name__}: {raised}`"
        else:
            problem = f"yielded `{yielded!r}`"
            try:
                task.context.run(gen.close)
            except BaseException as raised:  # e.g. it ignored GeneratorExit too
                others.append((age, raised))
        try:
            warnings.warn_explicit(
                messages.cancellation_warning(f"Coroutine {messages.name(gen)}", problem),
                RuntimeWarning,
                filename=filename,
                lineno=lineno,
                module=module,
            )
        except BaseException as raised:  # warnings turned into errors
            others.append((age, raised))
    for _, raised in others + cancelled:
        raised.__traceback__ = without_library_frames(raised.__traceback__)
    others.sort(key=lambda pair: pair[0])
    # A CancelledError that tells more than where a coroutine was suspended first: one
    # with a context, or with the frames of a `yield from` chain.
    cancelled.sort(key=lambda pair: (not _is_informative(pair[1]), pair[0]))
    return [e for _, e in others], [e for _, e in cancelled]


def _is_informative(error: BaseException) -> bool:
    """Whether a CancelledError tells more than where its coroutine was suspended."""
    if error.__context__ is not None:
        return True
    tb = error.__traceback__
    return tb is not None and tb.tb_next is not None


def final_group(
    error: BaseException,
    others: list[BaseException],
    cancelled: list[BaseException],
    exception_group: bool | None,
) -> BaseException:
    """What `run` raises, as its `exception_group` argument asks (see `Loop.run`)."""
    if exception_group is False or (exception_group is None and not others):
        return error
    members = [error, *others]
    if exception_group:
        members += cancelled
    return BaseExceptionGroup(
        "A coroutine raised an error in a tinyio loop. The first exception is the original "
        "error; the others were raised by coroutines while they were being cancelled"
        + (
            ", then come the CancelledErrors of the cancelled coroutines that were not "
            "waiting on the failing one."
            if exception_group
            else "."
        ),
        members,
    )


def add_notes(
    error: BaseException,
    interrupted: bool,
    cycles: list[BaseException],
    tasks: Mapping[Any, Task],
    now: float,
) -> None:
    """Add to `error` a hint for a mistake recognised from it, and the report of what every
    coroutine among `tasks` was doing if the loop was `interrupted` or found a cycle (one of
    the errors in `cycles`), or every crash is reported (see docs/diagnostics.md). Never the
    same note twice."""
    notes: list[str] = getattr(error, "__notes__", None) or []
    hint = messages.hint_for(error)
    if hint is not None and hint not in notes:
        error.add_note(hint)
    found_cycle = any(error is cycle for cycle in cycles)
    if not (
        interrupted or found_cycle or os.environ.get(REPORT_EVERY_CRASH, "") not in ("", "0")
    ) or any(note.startswith(messages.REPORT_PREFIX) for note in notes):
        return
    forest = take_snapshot(tasks, now)
    if not forest:
        return
    if interrupted:
        heading = f"{messages.REPORT_PREFIX} was interrupted; what its coroutines were doing then:"
    elif found_cycle:
        heading = f"{messages.REPORT_PREFIX} found a cycle; what its coroutines were doing then:"
    else:
        heading = f"{messages.REPORT_PREFIX} crashed; what its other coroutines were doing then:"
    error.add_note(format_snapshot(forest, heading))


def is_ctrl_c(error: BaseException | None) -> bool:
    """Whether a run's outcome is a Ctrl-C (alone, or leading an exception group)."""
    if isinstance(error, BaseExceptionGroup):
        return isinstance(error.exceptions[0], KeyboardInterrupt)  # pyright: ignore[reportUnknownMemberType]
    return isinstance(error, KeyboardInterrupt)
