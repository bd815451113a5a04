"""The loop's records: one `Task` per coroutine, one `Gather` per yielded list.

They are plain slotted objects with no behaviour: the scheduler (`_loop.py`) reads and writes
their fields on its hot path, and the diagnostics (`_diagnostics.py`) read them, from any
thread, to describe what every coroutine is doing. Keeping them here lets both use them
without importing each other.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

if TYPE_CHECKING:
    from ._loop import Wait  # for annotations only: never imported at run time

__all__ = ["DONE", "FAILED", "INTERRUPTED", "NO_GENERATOR", "RUNNING", "Gather", "Gen", "Task"]

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


class Task:
    """The loop's record of one coroutine."""

    __slots__ = (
        "at_once",
        "context",
        "error",
        "gen",
        "interrupted_by",
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
        # Thrown at the next step instead, if set. Or a coroutine this task yielded that
        # `starts_at_once`: its first step is taken at this task's next step.
        self.error: BaseException | Gen | None = None
        self.at_once = False  # started at once (see `starts_at_once`): only its yielder waits
        self.result: Any = None  # the return value; or, if INTERRUPTED, the error
        self.interrupted_by: BaseException | None = None  # see `Interrupt`
        # Whoever waits on this task: other tasks, or gathers. Created on first need.
        self.waiters: list[Task | Gather] | None = None
        # What this task is suspended on: None when ready (or running), else a task, a
        # gather or a Wait. Waking checks this, which makes every wake-up idempotent.
        self.waiting_on: Task | Gather | Wait | None = None


class Gather:
    """A task waiting on a list of coroutines: `pending` distinct ones are unfinished."""

    __slots__ = ("parent", "pending", "tasks")

    def __init__(self, parent: Task, tasks: list[Task], pending: int) -> None:
        self.parent = parent
        self.tasks = tasks
        self.pending = pending
