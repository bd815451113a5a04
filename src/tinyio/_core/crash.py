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
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final

from . import messages
from .diagnostics import format_snapshot, take_snapshot
from .tasks import FAILED, NO_GENERATOR, Gather, Gen, Task
from .tracebacks import without_library_frames
from .waits import CancelledError

__all__ = [
    "AFTER_THE_OTHERS",
    "REPORT_EVERY_CRASH",
    "add_notes",
    "cancel_each",
    "final_group",
    "is_ctrl_c",
]

# The environment variable that, set (to anything but "0"), adds the report of what every
# coroutine was doing to every error that crashes a loop (see docs/diagnostics.md).
REPORT_EVERY_CRASH: Final = "TINYIO_REPORT_EVERY_CRASH"


class _AfterTheOthers:
    """What `AFTER_THE_OTHERS` is: a wait that ends once every other coroutine of a loop that
    is cancelling everything has been thrown its CancelledError (at once otherwise)."""

    __slots__ = ()

    def _tinyio_wait_(self) -> Generator[None, None, None]:
        return  # not cancelling everything: there is nothing to wait for
        yield

    def __repr__(self) -> str:
        return "tinyio.AFTER_THE_OTHERS"


AFTER_THE_OTHERS: Final = _AfterTheOthers()
"""For library code being cancelled with everything else, before it blocks on work outside
the loop (a thread that must end): `yield AFTER_THE_OTHERS`, so that the other coroutines
clean up at once instead of after that wait."""


def cancel_each(
    running: list[Task],
    message: Callable[[Task], str],
    chain: set[Task],
    independent: list[BaseException],
) -> tuple[list[BaseException], list[BaseException]]:
    """Throw CancelledError (saying `message(task)`) into each of the `running` tasks (oldest
    first), newest first. A task that yields `AFTER_THE_OTHERS` in response is resumed once
    all the others have been thrown theirs, and the tasks waiting on it (directly or through
    others) are thrown theirs after it.

    Returns the errors raised instead of a clean cancellation, and the CancelledErrors that
    report clean ones (but those of the tasks in `chain`, whose frames are already in the
    original error's traceback). Each list is ordered oldest task first, and every traceback
    starts at the cancelled coroutine's own frame. An error in `independent` (see
    `failed_on_its_own`) is collected without a warning.
    """
    # (age, error) pairs: the age of a task is its rank in `running`, oldest first.
    others: list[tuple[int, BaseException]] = []
    cancelled: list[tuple[int, BaseException]] = []
    # What goes on once the others have been thrown theirs: (age, task, generator, the error
    # to throw in, or None to resume one that yielded AFTER_THE_OTHERS).
    deferred: list[tuple[int, Task, Gen, CancelledError | None]] = []
    deferred_tasks: set[Task] = set()

    def finish(age: int, task: Task, gen: Gen, error: CancelledError | None) -> None:
        """Throw `error` into `gen` (None: resume it), and file what it does."""
        # Where it is suspended: the warning below points there.
        frame = gen.gi_frame
        filename = gen.gi_code.co_filename
        lineno = gen.gi_code.co_firstlineno if frame is None else frame.f_lineno
        module = "" if frame is None else str(frame.f_globals.get("__name__", ""))
        late = error is None or task in deferred_tasks
        try:
            if error is None:
                yielded = task.context.run(gen.send, None)
            else:
                yielded = task.context.run(gen.throw, error)
            while late and yielded is AFTER_THE_OTHERS:  # the others have been thrown theirs
                yielded = task.context.run(gen.send, None)
        except CancelledError as raised:
            if task not in chain:
                cancelled.append((age, raised))
            return
        except StopIteration as stop:
            message = messages.cancellation_warning(_who(gen), f"returned `{stop.value!r}`")
        except BaseException as raised:
            others.append((age, raised))
            # A Ctrl-C that landed in its cleanup (a host's, raised wherever it lands) is no
            # mistake of the coroutine's.
            if isinstance(raised, KeyboardInterrupt) or any(raised is e for e in independent):
                return
            problem = f"raised the exception `{type(raised).__name__}: {raised}`"
            message = messages.cancellation_warning(_who(gen), problem)
        else:
            if yielded is AFTER_THE_OTHERS:
                deferred.append((age, task, gen, None))
                deferred_tasks.add(task)
                return
            message = messages.yielded_at_a_stop_warning(_who(gen), yielded)
            if gen.gi_frame is not None:  # point at that `yield` (in a `finally`, say)
                lineno = gen.gi_frame.f_lineno
            try:
                task.context.run(gen.close)
            except BaseException as raised:  # e.g. it ignored GeneratorExit too
                others.append((age, raised))
        try:
            warnings.warn_explicit(
                message,
                RuntimeWarning,
                filename=filename,
                lineno=lineno,
                module=module,
            )
        except BaseException as raised:  # warnings turned into errors
            others.append((age, raised))

    for age in range(len(running) - 1, -1, -1):
        task = running[age]
        gen = task.gen
        waiting_on = task.waiting_on
        task.state = FAILED
        task.gen = NO_GENERATOR
        task.waiting_on = None
        task.value = None
        task.instead = None
        error = CancelledError(message(task))
        if deferred_tasks and _waits_on_one_of(waiting_on, deferred_tasks):
            # It waits on one that cleans up after the others: it does so after it, as an
            # error goes up a call stack.
            deferred.append((age, task, gen, error))
            deferred_tasks.add(task)
        else:
            finish(age, task, gen, error)
    for age, task, gen, error in deferred:
        finish(age, task, gen, error)
    for _, raised in others + cancelled:
        raised.__traceback__ = without_library_frames(raised.__traceback__)
    others.sort(key=lambda pair: pair[0])
    # A CancelledError that tells more than where a coroutine was suspended first: one
    # with a context, or with the frames of a `yield from` chain.
    cancelled.sort(key=lambda pair: (not _is_informative(pair[1]), pair[0]))
    return [e for _, e in others], [e for _, e in cancelled]


def _waits_on_one_of(waiting_on: object, tasks: set[Task]) -> bool:
    if type(waiting_on) is Task:
        return waiting_on in tasks
    if type(waiting_on) is Gather:
        return any(task in tasks for task in waiting_on.tasks)
    return False


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
    if exception_group is None and is_ctrl_c(error) and all(is_ctrl_c(e) for e in others):
        # Later Ctrl-Cs (a third press) that cut cleanups short: one interrupt, which
        # `except KeyboardInterrupt` catches, saying which cleanups they cut short, and where.
        for other in others:
            error.add_note(f"tinyio: another Ctrl-C cut short the cleanup of {_where(other)}.")
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


def _where(error: BaseException) -> str:
    """Where `error` was raised: `f() at file:line`, its traceback's last frame."""
    tb = error.__traceback__
    if tb is None:
        return "a coroutine"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{code.co_qualname}() at {code.co_filename}:{tb.tb_lineno}"


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


def _who(gen: Gen) -> str:
    return f"Coroutine {messages.name(gen)}"
