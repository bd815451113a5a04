"""What passes between a coroutine and the loop: the vocabulary of every other room.

A coroutine is a generator (`Coro`); what it may be thrown is `CancelledError`. Library code
has three primitive waits of its own to yield, besides what any coroutine may (nothing, a
coroutine, a list or a set of them): a `Wait` (or a `DescriptorWait`, which a file descriptor
also wakes), an `Interrupt` and `CURRENT_LOOP`; and
`starts_at_once` marks its operations that run as part of their yielder. This plays the part of
curio's `traps.py`: everything else a feature does is ordinary coroutine code on these.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator
from typing import Any, Final, Protocol, TypeAlias, TypeVar

from .selector import Selector
from .tasks import Task

__all__ = [
    "AT_ONCE",
    "CURRENT_LOOP",
    "UNSHARED",
    "CancelledError",
    "Coro",
    "DescriptorWait",
    "Interrupt",
    "Resume",
    "Wait",
    "Waker",
    "starts_at_once",
]

_T = TypeVar("_T")


class CancelledError(BaseException):
    """Thrown into a coroutine (at the `yield` where it is suspended) when the loop is crashing,
    or when the coroutine is cancelled by `tinyio.cancel` or loses a `tinyio.race`.

    It derives from `BaseException`, so that `except Exception:` does not swallow it. A
    coroutine should clean up (`finally`, `with`) and let it propagate; one that yields
    again, returns, or raises something else instead is reported with a `RuntimeWarning`.
    """

    __module__ = "tinyio"  # shown in tracebacks as `tinyio.CancelledError`; pickles by that name


class Resume(Protocol):
    """The scheduler's `_resume`: put the task of `wait` back in the ready queue, and send it
    `woken` (True: woken, False: its timeout passed)."""

    def __call__(self, wait: Wait, woken: bool, /) -> None: ...


class Waker(Protocol):
    """Where a yielded `Wait` sends its wake-up: the loop's wake-ups (`wakeups.Wakeups`)."""

    @property
    def owner(self) -> int | None:
        """The thread that may resume a wait directly: the one stepping the loop, if any."""
        ...

    # For the owner: puts the wait's task back in the ready queue (the scheduler's).
    resume: Resume

    def post(self, wait: Wait) -> None:
        """From any other thread: hand the wait to the loop, waking it."""
        ...


class Wait:
    """The one primitive wait that library code builds on (not part of the public API).

    A coroutine that yields a `Wait` is suspended until `wake()` is called -- from any
    thread, before or after the yield -- or until `timeout` seconds have passed since the
    yield. The `yield` gives back `True` if woken and `False` if the timeout passed first.
    A `Wait` is yielded once.
    """

    __slots__ = ("deadline", "task", "timeout", "waker", "woken")

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self.woken = False
        self.waker: Waker | None = None  # set by the loop when it is yielded
        self.task: Task | None = None
        self.deadline: float | None = None

    def wake(self) -> None:
        """Resume the waiting coroutine (idempotent; safe from any thread)."""
        # Ordering matters for a wake from another thread racing the yield: we set `woken`
        # before reading `waker`, the loop sets `waker` before reading `woken`, so at least
        # one side sees the other. Resuming twice is harmless (the loop checks).
        self.woken = True
        waker = self.waker
        if waker is not None:
            if waker.owner == threading.get_ident():
                waker.resume(self, True)
            else:
                waker.post(self)

    def __repr__(self) -> str:
        return f"<tinyio wait timeout={self.timeout!r} woken={self.woken}>"


class DescriptorWait(Wait):
    """A primitive for library code (not public): a `Wait` that the loop also wakes when the
    descriptor `fd` becomes ready for `events` (`READABLE` or `WRITABLE` of `selector.py`).

    Yielding it registers it in the loop's selector -- an error doing so (`BusyResourceError`,
    the `OSError` of a descriptor that cannot be waited on) is thrown back at the `yield` -- and
    it is woken once: by the descriptor (True), its timeout (False), `wake()` from any thread
    (True), or `notify_closing(fd)` (True, with `closed` set). The yielder must call
    `withdraw()` when the `yield` ends, however it ends (a `finally`), so that a cancelled or
    timed-out wait leaves no registration behind.
    """

    __slots__ = ("closed", "events", "fd", "selector")

    def __init__(self, fd: int, events: int, timeout: float | None = None) -> None:
        super().__init__(timeout)
        self.fd = fd
        self.events = events
        self.closed = False
        self.selector: Selector[DescriptorWait] | None = None  # where it is registered

    def closing(self) -> None:
        """Called by `notify_closing` (from any thread): wake the waiter, closed."""
        self.closed = True
        self.wake()

    def withdraw(self) -> None:
        """End the registration, if the descriptor has not already ended it (idempotent)."""
        selector = self.selector
        if selector is not None:
            self.selector = None
            selector.withdraw(self.fd, self.events, self)


class Interrupt:
    """A primitive for library code (not public): `yield Interrupt(coro, error)` throws `error`
    into the running coroutine `coro` at the `yield` where it is suspended, and resumes the
    yielder at once with whether it did (False if `coro` is not running in this loop).

    What `coro` was waiting on is not cancelled -- except an operation that `starts_at_once`,
    which runs as part of `coro`: the error is thrown into it first. If `coro` lets `error`
    propagate, that is not a crash: `error` is thrown into each coroutine waiting on `coro`
    instead, like an ordinary exception travelling up a call stack (and into any that waits
    on `coro` later).
    """

    __slots__ = ("error", "gen")

    def __init__(self, gen: Coro[Any], error: BaseException) -> None:
        self.gen = gen
        self.error = error


class _CurrentLoop:
    """A primitive for library code (not public): `loop = yield CURRENT_LOOP`."""

    def __repr__(self) -> str:
        return "tinyio.CURRENT_LOOP"


CURRENT_LOOP: Final = _CurrentLoop()


class _StandsForCoroutine(Protocol):
    def _tinyio_wait_(self) -> Generator[Any, Any, Any]: ...


Yieldable: TypeAlias = (
    Generator[Any, Any, Any]
    | list[Generator[Any, Any, Any]]
    | set[Generator[Any, Any, Any]]
    | Wait
    | Interrupt
    | _CurrentLoop
    | _StandsForCoroutine
    | None
)
Coro: TypeAlias = Generator[Yieldable, Any, _T]
"""A tinyio coroutine returning `_T`: any generator. `def f(): x = yield g(); return x + 1`."""


# The ids of the code objects of the generator functions marked with `starts_at_once` (ids,
# as hashing a code object hashes its contents: twice the time of the rest of the check).
# The functions are the library's own, never freed, so an id is never reused.
AT_ONCE: Final[set[int]] = set()

_F = TypeVar("_F", bound=Callable[..., Generator[Any, Any, Any]])


def starts_at_once(function: _F) -> _F:
    """For library code: mark a generator function whose coroutines run as part of the
    coroutine that yields them, as with `yield from`, after one turn through the ready queue.

    The yielding coroutine goes to the back of the ready queue, as for any `yield`. At its
    turn, the yielded coroutine takes its first step, without a task of its own; if that
    finishes it, its result is sent into the yielding coroutine in the same turn. If it has to
    wait, it becomes a task, and when it finishes, the yielding coroutine goes on at once. An
    interrupt (`tinyio.timeout`) of the yielding coroutine is thrown into it first.

    So the operation and the use of its result are never separated by other coroutines'
    steps: an item taken from a queue cannot be lost because the coroutine that was to receive
    it was cancelled in between. And it saves starting a task, the cost that would otherwise
    dominate short operations (`yield queue.get()` when an item is there). It only applies
    when nothing else refers to the coroutine (it cannot be yielded again, so its result need
    not be remembered); otherwise the coroutine is started as usual. See
    docs/devdocs/fairness.md.
    """
    AT_ONCE.add(id(function.__code__))
    return function


def _unshared_refcount() -> int:
    """What `sys.getrefcount` says, in the scheduler's step, of a yielded coroutine that nothing
    else refers to: measured rather than assumed, as it may differ between Python versions."""

    def child() -> Generator[None, Any, None]:
        yield

    def parent() -> Generator[Any, Any, None]:
        yield child()

    gen = parent()
    yielded = gen.send(None)
    count = sys.getrefcount(yielded)
    gen.close()
    return count


UNSHARED: Final = _unshared_refcount()
