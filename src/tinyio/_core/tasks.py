"""The loop's records: one `Task` per coroutine, one `Gather` per yielded list.

They are plain slotted objects: the scheduler reads and writes their fields on its hot path,
and the other rooms read them -- the crash to cancel every task, the cycle search and the
tracebacks to walk who waits on whom, the diagnostics (from any thread) to describe what every
coroutine is doing. Keeping them here lets all of these use them without importing each other.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, cast

__all__ = [
    "DONE",
    "FAILED",
    "INTERRUPTED",
    "NO_GENERATOR",
    "RUNNING",
    "Gather",
    "Gen",
    "Suspension",
    "Task",
    "is_fresh",
    "task_of",
]

if TYPE_CHECKING:
    Gen: TypeAlias = types.GeneratorType[Any, Any, Any]
else:  # not subscriptable at runtime before Python 3.12
    Gen = types.GeneratorType


def _finished() -> Generator[None, Any, Any]:
    yield


# What `Task.gen` holds once the task has finished (typed, so the hot path needs no check).
NO_GENERATOR: Final = cast(Gen, _finished())
NO_GENERATOR.close()


RUNNING: Final = 0
DONE: Final = 1
FAILED: Final = 2  # raised, or was cancelled
INTERRUPTED: Final = 3  # let an `Interrupt`'s error propagate: its waiters get that error


class Suspension(Protocol):
    """What a task may wait on besides another task or a gather: a primitive wait
    (`waits.Wait`, which names `Task`; named here by shape, so that this module imports none)."""

    @property
    def deadline(self) -> float | None:
        """When its timer fires, on the loop's clock (None: it has none)."""
        ...


class Task:
    """The loop's record of one coroutine."""

    __slots__ = (
        "at_once",
        "context",
        "gen",
        "instead",
        "interrupted_by",
        "raised",
        "result",
        "state",
        "value",
        "waiters",
        "waiting_on",
    )

    def __init__(self, gen: Gen, context: contextvars.Context) -> None:
        self.gen = gen  # strong while running, then NO_GENERATOR
        # What it runs in: a copy of its starter's, or its yielder's own if started at once.
        self.context = context
        self.state: int = RUNNING
        self.value: Any = None  # sent at the next step
        # What the next step does instead of sending `value`, if set: throw this error, or
        # take the first step of this operation, which the task yielded and which
        # `starts_at_once`. One slot for both, so that an ordinary step checks one field.
        self.instead: BaseException | Gen | None = None
        self.at_once = False  # started at once (see `starts_at_once`): only its yielder waits
        self.result: Any = None  # the return value, once DONE
        self.raised: BaseException | None = None  # the error it let propagate, if INTERRUPTED
        self.interrupted_by: BaseException | None = None  # see `Interrupt`
        # Whoever waits on this task: other tasks, or gathers. Created on first need.
        self.waiters: list[Task | Gather] | None = None
        # What this task is suspended on: None when ready (or running), else a task, a
        # gather or a Wait. Waking checks this, which makes every wake-up idempotent.
        self.waiting_on: Task | Gather | Suspension | None = None


class Gather:
    """A task waiting on a list of coroutines: `pending` distinct ones are unfinished."""

    __slots__ = ("parent", "pending", "tasks")

    def __init__(self, parent: Task, tasks: list[Task], pending: int) -> None:
        self.parent = parent
        self.tasks = tasks
        self.pending = pending


def task_of(waiter: Task | Gather) -> Task:
    """The task behind a waiter: itself, or the one that yielded the gather."""
    return waiter if isinstance(waiter, Task) else waiter.parent


def is_fresh(gen: Gen) -> bool:
    """Whether `gen` has not started yet (so the loop may run it and know its result)."""
    return gen.gi_frame is not None and not gen.gi_suspended and not gen.gi_running
