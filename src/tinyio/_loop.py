"""The loop core: the one part of tinyio that knows how coroutines are scheduled.

Design, in the order a reader needs it:

1. A coroutine is a plain generator. The loop wraps each one it sees in a `_Task` and keeps
   a FIFO queue of tasks that are ready to take a step. One step is one `gen.send(value)`.

2. The loop knows a few kinds of thing a coroutine may yield ("primitive waits"), and
   `_run_ready` dispatches on them in this order:
   - nothing (`yield`): go to the back of the ready queue;
   - another coroutine (a generator): wait for its result, starting it if it is new. A
     library coroutine marked with `starts_at_once` (see 3.) is the one special case;
   - a `Wait`: a token woken by `Wait.wake()` from any thread, or by its timeout;
   - a list of coroutines: wait for all of them (gather); a set: start them in the
     background and go on;
   - and, for library code only: `Interrupt(coro, error)`, which throws `error` into another
     coroutine; `CURRENT_LOOP`, which sends back this loop; and an object whose type has a
     `_tinyio_wait_` method (a `Barrier`), which stands for the coroutine that method gives.
   Anything else is a mistake, thrown back into the coroutine as a `TypeError`. Events,
   sleeping, locks, queues, threads and the rest are ordinary coroutine code in their own
   modules, built on `Wait`; they use the core through `_core.py`, and this module imports
   none of them (see docs/devdocs/architecture.md).

3. Fairness: whatever becomes ready -- started, woken by an event, a timer, a finished
   dependency or another thread -- is appended to the back of the ready queue. Timers and
   wake-ups from other threads are collected once per *round* (one pass over what was ready
   when the round began), so a busy loop never starves them, and the hot path makes no
   system call while work is ready. One exception, for speed: a few library coroutines
   (`Queue.get`, `Event.wait`, ...) are marked with `starts_at_once`. The coroutine that
   yields one goes to the back as usual; at its turn the operation takes its first step, and
   if that finishes it, the coroutine goes on at once -- as if it had written `yield` and then
   `yield from` the operation.

4. Each coroutine runs in its own `contextvars.Context`, copied from the context of the
   coroutine that started it (the root's from the caller of `run`), as an asyncio task copies
   at `create_task`. A step is run inside `Context.run` only when the task's context is not the
   one the loop is already in (the root's, while it works the ready queue), so that a loop of
   one coroutine pays nothing. See docs/devdocs/contexts.md.

5. Results are remembered per loop and held weakly: a finished coroutine's result lives
   exactly as long as the generator object does (see `Loop._retire`).

6. Any error crashes the loop: every unfinished coroutine gets `CancelledError` thrown in
   at its `yield`, newest first, and the original error is raised out of `Loop.run` with a
   traceback stitched together from the chain of coroutines that were waiting on the one
   that failed, with the library's own frames removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import math
import os
import queue
import sys
import threading
import time
import types
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, TypeVar, cast

from . import _ctrl_c
from ._cycles import find_cycle
from ._diagnostics import format_snapshot, take_snapshot
from ._selector import BorrowedSelector, Selector
from ._tasks import DONE as _DONE
from ._tasks import FAILED as _FAILED
from ._tasks import INTERRUPTED as _INTERRUPTED
from ._tasks import NO_GENERATOR as _NO_GENERATOR
from ._tasks import RUNNING as _RUNNING
from ._tasks import Gather as _Gather
from ._tasks import Task as _Task
from ._tracebacks import is_library_code

__all__ = [
    "CURRENT_LOOP",
    "REPORT_EVERY_CRASH",
    "CancelledError",
    "Clock",
    "Coro",
    "DescriptorWait",
    "Idle",
    "Interrupt",
    "Loop",
    "Wait",
    "at_stop",
    "cancellation_warning",
    "clock_of",
    "ctrl_c_presses",
    "duration_problem",
    "failed_on_its_own",
    "has_run",
    "is_library_code",
    "lend_selector",
    "note_on_outcome",
    "starts_at_once",
    "waiters_of",
    "waits_on_outside",
    "waking_from_outside",
    "without_library_frames",
]

_T = TypeVar("_T")

Coro: TypeAlias = Generator[Any, Any, _T]
"""A tinyio coroutine returning `_T`: any generator. `def f(): x = yield g(); return x + 1`."""

if TYPE_CHECKING:
    _Gen: TypeAlias = types.GeneratorType[Any, Any, Any]
else:  # not subscriptable at runtime before Python 3.12
    _Gen = types.GeneratorType


class CancelledError(BaseException):
    """Thrown into a coroutine (at the `yield` where it is suspended) when the loop is crashing,
    or when the coroutine is cancelled by `tinyio.cancel` or loses a `tinyio.race`.

    It derives from `BaseException`, so that `except Exception:` does not swallow it. A
    coroutine should clean up (`finally`, `with`) and let it propagate; one that yields
    again, returns, or raises something else instead is reported with a `RuntimeWarning`.
    """

    __module__ = "tinyio"  # shown in tracebacks as `tinyio.CancelledError`; pickles by that name


def duration_problem(value: object, name: str) -> Exception | None:
    """What is wrong with a number of seconds given by a user, if anything.

    The public function raises it itself, so that the traceback ends where the mistake was
    made, in the function the user called, not in this helper.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return TypeError(f"{name} must be a number of seconds (an int or float), got {value!r}.")
    if math.isnan(value) or value < 0:
        return ValueError(f"{name} must be a non-negative number of seconds, got {value!r}.")
    return None


class Wait:
    """The one primitive wait that library code builds on (not part of the public API).

    A coroutine that yields a `Wait` is suspended until `wake()` is called -- from any
    thread, before or after the yield -- or until `timeout` seconds have passed since the
    yield. The `yield` gives back `True` if woken and `False` if the timeout passed first.
    A `Wait` is yielded once.
    """

    __slots__ = ("deadline", "loop", "task", "timeout", "woken")

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self.woken = False
        self.loop: Loop | None = None
        self.task: _Task | None = None
        self.deadline: float | None = None

    def wake(self) -> None:
        """Resume the waiting coroutine (idempotent; safe from any thread)."""
        # Ordering matters for a wake from another thread racing the yield: we set `woken`
        # before reading `loop`, the loop sets `loop` before reading `woken`, so at least
        # one side sees the other. Resuming twice is harmless (`Loop._resume` checks).
        self.woken = True
        loop = self.loop
        if loop is not None:
            if loop._owner == threading.get_ident():  # pyright: ignore[reportPrivateUsage]
                loop._resume(self, True)  # pyright: ignore[reportPrivateUsage]
            else:
                loop._post(self)  # pyright: ignore[reportPrivateUsage]

    def __repr__(self) -> str:
        return f"<tinyio wait timeout={self.timeout!r} woken={self.woken}>"


class DescriptorWait(Wait):
    """A primitive for library code (not public): a `Wait` that the loop also wakes when the
    descriptor `fd` becomes ready for `events` (`READABLE` or `WRITABLE` of `_selector`).

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
        self.selector: Selector[DescriptorWait] | None = None

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


class Clock(Protocol):
    """What a loop needs of a clock other than the system's: see `tinyio.testing.VirtualClock`.

    The loop reads `time()` where it sets and checks timers (once per round, never per step),
    and when it has nothing to do but wait for a timer -- no coroutine ready, no thread call
    running -- it calls `advance_to(deadline)` instead of sleeping: a virtual clock moves at
    once to the next timer's deadline.
    """

    def time(self) -> float:
        """The current time, in seconds; it never goes back."""
        ...

    def advance_to(self, deadline: float) -> None:
        """Move the clock forward to `deadline` (the loop's next timer)."""
        ...


class waking_from_outside:
    """For library code: `with waking_from_outside(loop): yield wait` while work outside the
    loop (a thread call) is to wake `wait`, so that a virtual clock does not jump meanwhile.
    Entered and left in the loop's thread (in a coroutine), so the count needs no lock."""

    __slots__ = ("_loop",)

    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def __enter__(self) -> None:
        self._loop._outside += 1  # pyright: ignore[reportPrivateUsage]

    def __exit__(self, *exc_info: object) -> None:
        self._loop._outside -= 1  # pyright: ignore[reportPrivateUsage]


def waits_on_outside(loop: Loop) -> bool:
    """For library code: whether `loop` waits on work outside it (see `waking_from_outside`)."""
    return loop._outside > 0  # pyright: ignore[reportPrivateUsage]


def clock_of(loop: Loop) -> Clock | None:
    """For library code: the clock `loop` was given (None: the system's), e.g. to give a nested
    loop the same one."""
    return loop._clock  # pyright: ignore[reportPrivateUsage]


class _CurrentLoop:
    """A primitive for library code (not public): `loop = yield CURRENT_LOOP`."""

    def __repr__(self) -> str:
        return "tinyio.CURRENT_LOOP"


CURRENT_LOOP: Final = _CurrentLoop()


class Idle:
    """What `Loop.runtime`'s generator yields when the loop has nothing to do.

    Call it to block until a timer is due or another thread (or code outside the loop) wakes
    the loop. A driver that must not block -- another event loop -- instead waits in its own
    way for at most `timeout` seconds (None: no timer is pending), and for the callback given
    to `notify_on_wakeup`, then calls `next()` again.
    """

    __slots__ = ("_loop", "timeout")

    def __init__(self, loop: Loop, timeout: float | None) -> None:
        self._loop = loop
        self.timeout = timeout

    def __call__(self) -> None:
        self._loop._block(self.timeout)  # pyright: ignore[reportPrivateUsage]

    def descriptor(self) -> int | None:
        """A descriptor that becomes readable when a descriptor the loop waits on is ready (its
        selector's), for the driver to wait on too; None if the loop waits on no descriptor."""
        selector = self._loop._io  # pyright: ignore[reportPrivateUsage]
        if selector is None or not selector.waiting:
            return None
        return selector.fileno()

    def notify_on_wakeup(self, callback: Callable[[], object]) -> bool:
        """Have `callback()` called -- from any thread, perhaps more than once -- when the loop
        is woken.

        Returns False (and will not call it) if a wake-up has already arrived: then do not
        wait, call `next()` at once.
        """
        loop = self._loop
        loop._on_wakeup = callback  # pyright: ignore[reportPrivateUsage]
        # Set the callback before looking: a waker puts, then reads the callback.
        if not loop._from_threads.empty():  # pyright: ignore[reportPrivateUsage]
            loop._on_wakeup = None  # pyright: ignore[reportPrivateUsage]
            return False
        return True

    def __repr__(self) -> str:
        return f"<tinyio loop idle, next timer in {self.timeout!r} s>"


def failed_on_its_own(loop: Loop, error: BaseException) -> BaseException:
    """For library code: mark `error`, about to be raised by a coroutine that is being
    cancelled, as one that happened independently of the cancellation (e.g. a thread that
    had already failed): it is reported in the exception group without a warning."""
    loop._independent_errors.append(error)  # pyright: ignore[reportPrivateUsage]
    return error


def cancelling_everything(loop: Loop) -> bool:
    """For library code: whether `loop` is cancelling every unfinished coroutine (it crashed,
    or its driver stopped), so that a coroutine being cancelled may stop work that belongs to
    others too, all at once, instead of each waiting in turn for its own to stop."""
    return loop._cancelling_all  # pyright: ignore[reportPrivateUsage]


def waiters_of(loop: Loop, gen: Coro[Any]) -> list[Coro[Any]] | None:
    """For library code: the coroutines that wait on `gen` in `loop` (a gather counts as the
    coroutine that yielded the list), or None if `gen` is not running in `loop`."""
    task = loop._tasks.get(weakref.ref(cast(_Gen, gen)))  # pyright: ignore[reportPrivateUsage]
    if task is None or task.state != _RUNNING:
        return None
    return [(w if type(w) is _Task else cast(_Gather, w).parent).gen for w in task.waiters or ()]


def has_run(loop: Loop, gen: Coro[Any]) -> bool:
    """For library code: whether `loop` runs, or has run, `gen` (however it ended)."""
    return weakref.ref(cast(_Gen, gen)) in loop._tasks  # pyright: ignore[reportPrivateUsage]


def ctrl_c_presses(loop: Loop) -> tuple[int, float]:
    """For library code: how many times Ctrl-C was pressed during the current run of `loop`
    (counting those of the loops it runs inside), and when first (`time.monotonic()`). Zero
    for a loop whose Ctrl-Cs tinyio does not handle: one in another thread, or under asyncio,
    trio or a SIGINT handler of the program's own."""
    if not loop._guarded:  # pyright: ignore[reportPrivateUsage]
        return 0, 0.0
    return _ctrl_c.presses()


def note_on_outcome(loop: Loop, note: str) -> None:
    """For library code: add `note` to the error that the current run of `loop`, which is
    stopping, is about to raise (e.g. which threads it abandoned)."""
    loop._outcome_notes.append(note)  # pyright: ignore[reportPrivateUsage]


def lend_selector(borrower: Loop, lender: Loop) -> None:
    """For library code: have `borrower`, a loop that a coroutine of `lender` drives step by
    step (`isolate`), put its descriptor waits in `lender`'s selector, so that the two share
    one `epoll` and `borrower`'s idle blocker never needs a descriptor of its own: `lender`
    polls and blocks for both, and wakes `borrower`'s waits as a thread would
    (`Idle.notify_on_wakeup`)."""
    borrower._io = BorrowedSelector(lender)  # pyright: ignore[reportPrivateUsage]


def at_stop(loop: Loop, callback: Callable[[], None]) -> None:
    """For library code: call `callback()` once when the current run of `loop` ends (after
    any cancellation), e.g. to stop worker threads that the run started."""
    loop._stop_callbacks.append(callback)  # pyright: ignore[reportPrivateUsage]


# The ids of the code objects of the generator functions marked with `starts_at_once` (ids,
# as hashing a code object hashes its contents: twice the time of the rest of the check).
# The functions are the library's own, never freed, so an id is never reused.
_AT_ONCE: Final[set[int]] = set()

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
    _AT_ONCE.add(id(function.__code__))
    return function


def _unshared_refcount() -> int:
    """What `sys.getrefcount` says, in `Loop._run_ready`, of a yielded coroutine that nothing
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


_UNSHARED: Final = _unshared_refcount()


# The longest the idle loop sleeps in the main thread, so that a Ctrl-C that lands just
# before the sleep begins is acted on after at most this long (see `Loop._block`).
_SIGNAL_SLICE: Final = 0.1
_MAIN_THREAD_ID: Final = threading.main_thread().ident

# What `Loop._start_at_once` gives when the coroutine that yielded has not taken a step.
_WAITING: Final = object()
_CRASHED: Final = object()


def _name(gen: object) -> str:
    code = getattr(gen, "gi_code", None)
    if isinstance(code, types.CodeType):
        return f"{code.co_qualname}()"
    return repr(gen)


def _is_fresh(gen: _Gen) -> bool:
    return gen.gi_frame is not None and not gen.gi_suspended and not gen.gi_running


def _describe_yield(value: object) -> str:
    if isinstance(value, tuple):
        return (
            f"yielded the tuple {value!r}. To wait on several coroutines at once, yield a "
            "list of them (`yield [a, b]`), not a tuple (`yield a, b`)."
        )
    if isinstance(value, types.CoroutineType):
        value.close()
        return (
            f"yielded {value!r}, an `async def` coroutine. tinyio coroutines are generators; "
            "to run async code from tinyio use `tinyio.from_asyncio`."
        )
    hint = " Did you forget to call it?" if callable(value) else ""
    return (
        f"yielded {value!r}, which tinyio cannot wait on.{hint} A coroutine may yield nothing, "
        "a coroutine (a generator), a list of coroutines (wait for all), a set of coroutines "
        "(start in the background), or a tinyio object such as `event.wait()`."
    )


_CO_GENERATOR: Final = 0x20  # `inspect.CO_GENERATOR`, without importing `inspect` here


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
        elif called_by_user and not code.co_flags & _CO_GENERATOR:
            entries.append(tb)
        else:
            called_by_user = False
        tb = tb.tb_next
    result: types.TracebackType | None = None
    for entry in reversed(entries):
        result = types.TracebackType(result, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return result


def _prepend_frames(gen: _Gen, tb: types.TracebackType | None) -> types.TracebackType | None:
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


def _is_informative(error: BaseException) -> bool:
    """Whether a CancelledError tells more than where its coroutine was suspended."""
    if error.__context__ is not None:
        return True
    tb = error.__traceback__
    return tb is not None and tb.tb_next is not None


def cancellation_warning(who: str, problem: str) -> str:
    """The message of the RuntimeWarning for `who` (say "Coroutine f()"), which answered a
    `CancelledError` by doing `problem` ("returned `1`") instead of letting it propagate."""
    return (
        f"{who} did not respond properly to cancellation: on receiving tinyio.CancelledError it "
        f"should clean up and let the CancelledError propagate. Instead, the coroutine {problem}. "
        "Resources it holds may not have been released."
    )


# The environment variable that, set (to anything but "0"), adds the report of what every
# coroutine was doing to every error that crashes a loop (see docs/diagnostics.md).
REPORT_EVERY_CRASH: Final = "TINYIO_REPORT_EVERY_CRASH"
_REPORT_PREFIX: Final = "tinyio: the loop"


def _hint_for(error: BaseException) -> str | None:
    """A hint for two mistakes that Python reports in its own words, far from tinyio."""
    if isinstance(error, AttributeError) and error.name == "send":
        iterator = type(error.obj).__name__  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if iterator in ("list_iterator", "tuple_iterator", "set_iterator"):
            return (
                "tinyio hint: `yield from [a, b]` does not wait on a list of coroutines (it "
                "iterates over the list). To run them at the same time and wait for all, write "
                "`yield [a, b]`; to run one as part of this coroutine, `yield from a`."
            )
    if isinstance(error, TypeError) and "context manager protocol" in str(error):
        kind = str(error).split("'")[1] if str(error).count("'") >= 2 else ""
        if kind in ("generator", "Lock", "Semaphore", "Condition"):
            return (
                "tinyio hint: a tinyio lock, semaphore or condition is acquired with `yield`, "
                "which waits for it: write `with (yield lock()):`, not `with lock():` or "
                "`with lock:`."
            )
    return None


class Loop:
    """An event loop for tinyio coroutines.

    A loop runs a coroutine -- and every coroutine that it starts -- to completion:

    ```python
    import tinyio

    def add_one(x):
        yield tinyio.sleep(0.01)
        return x + 1

    def main():
        a, b = yield [add_one(1), add_one(2)]
        return a + b

    loop = tinyio.Loop()
    print(loop.run(main()))
    # 5
    ```

    Loops keep no global state: create as many as you like, in any thread, and nest them
    (a coroutine may block in another loop's `run`). Each coroutine runs at most once per
    loop; the loop remembers finished coroutines' results for as long as the generator
    object itself is alive, so a later `run` may wait on coroutines an earlier one finished.

    Arguments:
        clock: where timers and timeouts read the time. `None` (the default): the system's
            monotonic clock. For tests, a `tinyio.testing.VirtualClock`, which starts at 0 and
            jumps to the next timer as soon as the loop has nothing else to do: a test of a
            30-second retry finishes at once, with the same result every run. See the
            "Testing" docs page.

    Raises:
        TypeError: `clock` has no `time()` and `advance_to(deadline)` methods.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        if clock is not None and not (
            callable(getattr(clock, "time", None)) and callable(getattr(clock, "advance_to", None))
        ):
            raise TypeError(
                f"clock must be a clock such as tinyio.testing.VirtualClock() (with time() and "
                f"advance_to(deadline) methods), or None for the system's clock; got {clock!r}."
            )
        # Where timers read the time: once per round (see `_fire_timers`) and once per wait
        # with a timeout, never per step.
        self._clock = clock
        self._now: Callable[[], float] = time.monotonic if clock is None else clock.time
        # How many waits are to be woken by work outside the loop (see `waking_from_outside`):
        # while any is, a virtual clock does not jump.
        self._outside = 0
        # Invariant: a task is in `_ready` at most once, and only while `waiting_on is None`.
        self._ready: deque[_Task] = deque()
        # Every task whose generator is alive: running ones (which hold their generator) and
        # finished ones (which do not). Keyed by a weak reference to the generator, which
        # hashes and compares like the generator itself while it is alive; `_forget_callback`
        # removes the entry when the generator dies. So results are held exactly as long as their
        # coroutine is, and a long-lived loop does not grow.
        self._tasks: dict[weakref.ref[_Gen], _Task] = {}
        self._live = 0  # number of unfinished tasks
        # Min-heap of (deadline, tie-breaker, wait). Entries are removed lazily: one whose
        # wait was already woken is skipped when popped, and `_dead_timers` counts them.
        self._timers: list[tuple[float, int, Wait]] = []
        self._dead_timers = 0
        self._timer_counter = itertools.count()
        # Wake-ups from other threads.
        self._from_threads: queue.SimpleQueue[Wait | None] = queue.SimpleQueue()
        # This run's Ctrl-Cs are handled by tinyio's SIGINT handler (see `_ctrl_c`).
        self._guarded = False
        self._thread_wakeups = False  # set after each `put` to `_from_threads`
        # How the idle loop sleeps: in `acquire(timeout)` of this lock, which is held while
        # nobody has rung; a waker in another thread releases it after its `put`.
        self._bell = threading.Lock()
        self._bell.acquire()
        # Called (from any thread) after a wake-up is put into `_from_threads`, while a driver
        # of `runtime` waits for one without calling the blocker; see `Idle.notify_on_wakeup`.
        self._on_wakeup: Callable[[], object] | None = None
        # The waits on file descriptors: a selector made at the first one of a run, closed when
        # the run ends. While it has waiters, the loop polls it once per round and blocks in it.
        # (One attribute for all of it: a few more, and CPython stops sharing the keys of the
        # instance dicts of loops, which costs a kilobyte per loop, per isolated handler.)
        self._io: Selector[DescriptorWait] | None = None
        # The thread that may append to `_ready` directly: the one stepping the loop, and
        # no one while the loop is blocked waiting (so that a wake-up reaches the blocker).
        self._owner: int | None = None
        self._running = False
        self._crash: BaseException | None = None
        self._crashed_task: _Task | None = None
        self._crashed_name = ""  # the name of its coroutine, for the CancelledErrors' messages
        self._cycles: list[BaseException] = []  # the errors thrown for cycles in this run
        # Called by CPython when a generator dies. It must be a C function, not Python code:
        # Python code here is a place where a pending Ctrl-C would be raised, and an error in a
        # weakref callback is printed and then lost. The entry is always there to pop: only
        # this callback removes entries.
        self._forget_callback = self._tasks.pop
        # Called once when `run` (or `runtime`) ends, however it ends; see `at_stop`.
        self._stop_callbacks: list[Callable[[], None]] = []
        self._cancelling_all = False  # see `cancelling_everything`
        # The context `_run_ready` runs in: the root coroutine's (see `_drive`).
        self._root_context = contextvars.Context()
        self._independent_errors: list[BaseException] = []  # see `failed_on_its_own`
        self._outcome_notes: list[str] = []  # see `note_on_outcome`

    # ------------------------------------------------------------------ public API

    def time(self) -> float:
        """The time on this loop's clock, in seconds: what its timers and timeouts count in.

        The system's monotonic clock (`time.monotonic()`), unless the loop was given another
        (`Loop(clock=...)`); a `tinyio.testing.VirtualClock` starts at 0.

        ```python
        import tinyio
        from tinyio.testing import VirtualClock

        def main():
            yield tinyio.sleep(30)

        loop = tinyio.Loop(clock=VirtualClock())
        print(loop.time())
        loop.run(main())
        print(loop.time())
        # 0.0
        # 30.0
        ```
        """
        return self._now()

    def run(self, coro: Coro[_T], exception_group: bool | None = None) -> _T:
        """Run `coro`, and everything it starts, until all of it has finished.

        Arguments:
            coro: the coroutine (a generator object) to run.
            exception_group: what to raise if a coroutine raises. `None` (the default):
                the original error, or a `BaseExceptionGroup` of it and any different
                errors that coroutines raised while being cancelled. `False`: always the
                original error alone. `True`: always a group -- the original error, the
                other errors, then the `CancelledError` of each cancelled coroutine.

        Returns:
            What `coro` returned. If this loop already finished `coro` in an earlier run,
            its result is returned again at once.

        Raises:
            TypeError: `coro` is not a generator.
            ValueError: `coro` was already started outside this loop.
            RuntimeError: this loop is already running.

        `coro` runs in a copy of the caller's `contextvars` context, and each coroutine it
        starts in a copy of its starter's (see the Loops page of the docs).

        `run` returns once `coro` *and* every coroutine started in the background with
        `yield {...}` have finished. If any coroutine raises, every other unfinished one
        has `tinyio.CancelledError` thrown in at its `yield`, and the error is raised here.
        """
        try:
            known = self._prepare(coro, exception_group)
            try:
                next(self._drive(coro, known, exception_group, each_step=False))
            except StopIteration as stop:
                ok, value = stop.value
            else:  # pragma: no cover - `_drive` never yields when not driven step by step
                raise AssertionError("unreachable")
            if ok:
                return value
            raise value
        except BaseException as error:
            # No frame of the loop's machinery (this one included) reaches the user: the
            # traceback becomes the coroutines' call stack (see `_final_error`), or nothing for
            # an argument error, and the caller's frame is added in front as it propagates.
            # A bare `raise` inside `except` adds no entry for this frame (Python 3.11+).
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise

    def runtime(
        self, coro: Coro[_T], exception_group: bool | None
    ) -> contextlib.AbstractContextManager[Generator[Callable[[], None] | None, None, _T]]:
        """Drive the loop step by step, e.g. from inside another event loop.

        The context manager gives a generator. Each `next()` on it advances the loop: it
        yields `None` after each step, or -- when there is nothing to do until a timer
        fires or another thread wakes the loop -- a zero-argument callable which blocks
        until then (call it, perhaps in a worker thread, before the next `next()`). A driver
        that must not block instead reads the callable's `timeout` (seconds until the next
        timer, or None) and registers `notify_on_wakeup(callback)`, which is called from any
        thread when the loop is woken -- see `tinyio.to_asyncio` for one. When
        `coro` and everything it started have finished, the generator returns `coro`'s
        result (as `StopIteration.value`); if a coroutine raised, it raises like
        `Loop.run` does.

        Arguments: as for `Loop.run`.

        Leaving the context with an exception cancels every unfinished coroutine. Leaving
        it normally before the generator is exhausted is a bug (the coroutines would leak):
        they are cancelled too, and `RuntimeError` is raised.

        ```python
        import tinyio

        def main():
            yield
            yield tinyio.sleep(0.01)
            return "done"

        loop = tinyio.Loop()
        steps = 0
        with loop.runtime(main(), exception_group=None) as gen:
            while True:
                try:
                    block = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                if block is None:
                    steps += 1
                else:
                    block()
        print(result, steps >= 2)
        # done True
        ```
        """
        return _Runtime(self, coro, exception_group)

    # ------------------------------------------------------------------ driving

    def _prepare(self, coro: object, exception_group: object) -> _Task | None:
        """Check the arguments of `run`/`runtime`: the finished task for `coro`, or None."""
        if exception_group is not None and type(exception_group) is not bool:
            raise TypeError(
                f"exception_group must be None, True or False, got {exception_group!r}."
            )
        if not isinstance(coro, types.GeneratorType):
            raise TypeError(_describe_run_argument(coro))
        coro = cast(_Gen, coro)
        if self._running:
            raise RuntimeError(
                "Cannot call `loop.run` (or `loop.runtime`) whilst the loop is currently running. "
                "To run coroutines from inside a coroutine, yield them; to block on separate "
                "work, create a new `tinyio.Loop()`."
            )
        known = self._tasks.get(weakref.ref(coro))
        if known is not None:
            if known.state == _FAILED:
                raise RuntimeError(
                    f"The coroutine {_name(coro)} failed or was cancelled in an earlier run of "
                    "this loop, so it has no result."
                )
            return known
        if not _is_fresh(coro):
            raise ValueError(
                f"Cannot run {coro!r}, which is a generator that has already started (or has "
                "finished) outside this loop, so the loop cannot know its result."
            )
        return None

    def _drive(
        self,
        coro: Coro[Any],
        known: _Task | None,
        exception_group: bool | None,
        each_step: bool,
    ) -> Generator[Callable[[], None] | None, None, tuple[bool, Any]]:
        """Run until done. Yields None per step (if `each_step`) and, if `each_step`, a
        blocker when idle (otherwise it blocks itself).

        Returns `(True, result)`, or `(False, error_to_raise)`.
        """
        if known is not None:
            return True, known.result
        if self._running:
            raise RuntimeError(
                "Cannot drive this tinyio loop whilst the loop is currently running."
            )
        self._crash = None
        self._crashed_task = None
        self._cycles.clear()
        outcome: BaseException | None = None  # the error the run ends with
        self._outcome_notes.clear()
        try:
            self._running = True
            self._guarded = _ctrl_c.guard(self)
            get_ident = threading.get_ident
            self._owner = get_ident()
            ready = self._ready
            root = self._new_task(cast(_Gen, coro), contextvars.copy_context())
            self._root_context = root.context
            while True:
                try:
                    if ready:
                        # In the root's context: its steps, and those of the coroutines it
                        # started at once, need no `Context.run` of their own.
                        root.context.run(self._run_ready, each_step)
                        if each_step and self._crash is None:
                            self._owner = None
                            yield None
                            self._owner = get_ident()
                    elif self._live == 0:
                        # A root that let an interrupt's error propagate (it was cancelled, see
                        # `tinyio.cancel`) has that error as its result: raise it.
                        return root.state != _INTERRUPTED, root.result
                    else:
                        # Idle: collect what came meanwhile (under `runtime`, the driver ran
                        # other code since the last step), then sleep until there is work.
                        self._fire_timers()
                        self._drain_from_threads()
                        if ready:
                            continue
                        timeout = None
                        if self._clock is not None and not each_step:
                            # A clock of our own never runs by itself: jump to the next timer,
                            # or wait for the thread call that is running to wake us.
                            if self._jumped():
                                continue
                        elif self._timers:
                            timeout = max(0.0, self._timers[0][0] - self._now())
                        self._owner = None
                        if each_step:
                            yield Idle(self, timeout)
                            self._on_wakeup = None
                        else:
                            self._block(timeout)
                        self._owner = get_ident()
                        self._fire_timers()
                        self._drain_from_threads()
                except GeneratorExit:
                    raise
                except BaseException as error:  # Ctrl-C while blocked, or a bug of ours
                    if self._crash is None:
                        self._crash = error
                if self._crash is not None:
                    # Outside any `except` block, so that the CancelledErrors thrown in get
                    # no misleading `__context__`.
                    outcome = self._final_error(exception_group)
                    return False, outcome
        except GeneratorExit:
            # The driver stopped early (see `runtime`): clean up, then let it go.
            self._cancel_all(CancelledError("The loop driving these coroutines was stopped."))
            raise
        finally:
            self._owner = None
            self._running = False
            if self._io is not None:
                self._io.close()  # its waiters are gone: cancelled, or their fd closed
                self._io = None
            try:
                self._call_stop_callbacks()
            finally:
                if self._guarded:
                    self._guarded = False
                    # A Ctrl-C recorded after the last safe point: the run raises it.
                    if _ctrl_c.unguard(self) and not _is_ctrl_c(outcome):
                        interrupt = KeyboardInterrupt()
                        interrupt.__context__ = outcome
                        raise interrupt

    def _post(self, wait: Wait) -> None:
        """From a thread that does not own the loop: hand it a `Wait` to resume."""
        self._from_threads.put(wait)
        self._notify()

    def _ring(self) -> None:
        """For tinyio's SIGINT handler: make the loop reach a safe point soon (it drains
        `_from_threads`, and raises the recorded Ctrl-C there), waking it if it sleeps."""
        self._thread_wakeups = True
        bell = self._bell
        if bell.locked():
            with contextlib.suppress(RuntimeError):  # rung by a waker at the same moment
                bell.release()
        io = self._io
        if io is not None:
            self._from_threads.put(None)  # so that a `_block` about to select returns at once
            if io.blocking:
                io.wake()

    def _notify(self) -> None:
        """Make the loop drain `_from_threads` soon, waking it if it sleeps. Safe from any
        thread."""
        self._thread_wakeups = True
        bell = self._bell
        if bell.locked():
            # Ring it, for a loop that sleeps (or is about to) in `_block`. Another waker may
            # ring it at the same moment: then this release fails, harmlessly.
            with contextlib.suppress(RuntimeError):
                bell.release()
        io = self._io
        if io is not None and io.blocking:  # it sleeps in its selector: wake that instead
            io.wake()
        on_wakeup = self._on_wakeup
        if on_wakeup is not None:
            on_wakeup()

    def _call_stop_callbacks(self) -> None:
        callbacks = self._stop_callbacks
        self._stop_callbacks = []
        for callback in callbacks:
            callback()

    def _block(self, timeout: float | None) -> None:
        """Sleep until a wake-up from another thread arrives, or `timeout` seconds pass.

        May return early (a ring left over from a wake-up already drained): the caller looks
        for work and comes back. Never sleeps in `SimpleQueue.get(timeout=...)`: on CPython
        3.11/3.12 that can block for ever, with a timeout under a microsecond or when a signal
        handler runs just before its deadline. `Lock.acquire(timeout=...)` handles both.
        """
        if not self._from_threads.empty():
            return  # a waker has put, and may not have rung yet
        if threading.get_ident() == _MAIN_THREAD_ID:
            # A signal (Ctrl-C) that arrives just before the sleep begins does not interrupt
            # it: Python runs its handler only once the sleep ends. So the main thread never
            # sleeps longer than this, and the caller comes back (see docs/devdocs).
            timeout = _SIGNAL_SLICE if timeout is None else min(timeout, _SIGNAL_SLICE)
        io = self._io
        if io is not None and io.waiting:
            # Waiting on descriptors: sleep in the selector, which a waker writes to once it
            # sees `blocking` (raised before looking at the queue: one side sees the other).
            io.blocking = True
            try:
                if self._from_threads.empty():
                    io.select(timeout)
            finally:
                io.blocking = False
            return
        if timeout is None:
            self._bell.acquire()
        elif timeout >= 1e-4:  # shorter: not worth sleeping; the caller checks its timers
            self._bell.acquire(timeout=timeout)

    def _run_ready(self, one_step: bool) -> None:
        """The hot path: step ready coroutines until none is ready (or just one step).

        Works in rounds: a round steps each coroutine that was ready when it began, and
        between rounds the loop collects expired timers and wake-ups from other threads.
        Stops early if a coroutine raises.
        """
        ready = self._ready
        popleft = ready.popleft
        append = ready.append
        generator_type = types.GeneratorType
        at_once = _AT_ONCE
        getrefcount = sys.getrefcount
        unshared = _UNSHARED
        entered = self._root_context  # the context this runs in (see `_drive`)
        while True:
            countdown = 1 if one_step else len(ready)
            if not countdown:
                return
            while countdown:
                countdown -= 1
                task = popleft()
                try:
                    if task.error is None:
                        if task.context is entered:
                            yielded = task.gen.send(task.value)
                        else:
                            yielded = task.context.run(task.gen.send, task.value)
                    else:
                        error = task.error
                        task.error = None
                        task.value = None  # not sent: drop it (see `_retire`)
                        if type(error) is generator_type:
                            if task.context is entered:
                                yielded = self._start_at_once(task, error)  # pyright: ignore[reportUnknownArgumentType]
                            else:
                                yielded = task.context.run(self._start_at_once, task, error)  # pyright: ignore[reportUnknownArgumentType]
                            if yielded is _WAITING:
                                continue
                            if yielded is _CRASHED:
                                return
                        elif task.context is entered:
                            yielded = task.gen.throw(error)
                        else:
                            yielded = task.context.run(task.gen.throw, error)
                except StopIteration as stop:
                    self._finish(task, stop.value)
                    if task.at_once and one_step:
                        # Its yielder is now first in line: step it too, so that no driver
                        # (`isolate`, `to_asyncio`) can cancel it while it holds the result.
                        countdown += 1
                    continue
                except BaseException as error:
                    if error is task.interrupted_by:
                        self._pass_on_interrupt(task, error)
                        continue
                    self._fail(task, error)
                    return
                if yielded is None:
                    task.value = None
                    append(task)
                elif type(yielded) is generator_type:
                    if id(yielded.gi_code) in at_once and getrefcount(yielded) == unshared:  # pyright: ignore[reportUnknownMemberType]
                        # See `starts_at_once`: its first step at this task's next turn.
                        task.error = yielded  # pyright: ignore[reportAttributeAccessIssue]
                        append(task)
                        continue
                    self._wait_on_coroutine(task, yielded)  # pyright: ignore[reportUnknownArgumentType]
                elif type(yielded) is Wait:
                    self._wait_on_wait(task, yielded)
                else:
                    self._wait_on_other(task, yielded)
            if self._timers:
                self._fire_timers()
            if self._thread_wakeups:  # also set while descriptors are waited on
                self._drain_from_threads(one_step)
            if one_step:
                return

    # ------------------------------------------------------------------ tasks

    def _new_task(self, gen: _Gen, context: contextvars.Context) -> _Task:
        task = _Task(gen, context)
        self._tasks[weakref.ref(gen, self._forget_callback)] = task
        self._live += 1
        self._ready.append(task)
        return task

    def _start_at_once(self, task: _Task, gen: _Gen) -> object:
        """`task`'s turn, after it yielded `gen` (see `starts_at_once`): take `gen`'s first
        step; if that finishes it, step `task` with its result and give what `task` yields
        (its errors and StopIteration propagate, as from any step). Else give _WAITING (`gen`
        is now a task that `task` waits on), or _CRASHED (`gen` raised: the loop crashes).
        """
        try:
            first = gen.send(None)
        except StopIteration as stop:
            result = stop.value
        except BaseException as error:
            self._fail(self._started_at_once(task, gen), error)
            return _CRASHED
        else:
            child = self._started_at_once(task, gen)
            self._dispatch(child, first)
            return _WAITING
        # Outside the `except` block, so that an error of `task` gets no misleading context.
        return task.gen.send(result)

    def _started_at_once(self, task: _Task, gen: _Gen) -> _Task:
        """The task for `gen`, which `task` yielded and which took its first step without
        finishing: `task` now waits on it."""
        child = _Task(gen, task.context)  # part of `task`, as with `yield from`: its context too
        child.at_once = True
        self._tasks[weakref.ref(gen, self._forget_callback)] = child
        self._live += 1
        child.waiters = [task]
        task.waiting_on = child
        return child

    def _dispatch(self, task: _Task, yielded: object) -> None:
        """Act on what `task` yielded (as `_run_ready` does, inlined, on the hot path)."""
        if yielded is None:
            task.value = None
            self._ready.append(task)
        elif type(yielded) is types.GeneratorType:
            self._wait_on_coroutine(task, cast(_Gen, yielded))
        elif type(yielded) is Wait:
            self._wait_on_wait(task, yielded)
        else:
            self._wait_on_other(task, yielded)

    def _finish(self, task: _Task, result: Any) -> None:
        task.result = result
        task.state = _DONE
        task.gen = _NO_GENERATOR  # as `_retire`, inlined: this is on the hot path
        self._live -= 1
        waiters = task.waiters
        if waiters is not None:
            task.waiters = None
            append = self._ready.appendleft if task.at_once else self._ready.append
            for waiter in waiters:
                if type(waiter) is _Task:
                    waiter.waiting_on = None
                    waiter.value = result
                    append(waiter)
                else:
                    assert type(waiter) is _Gather
                    waiter.pending -= 1
                    if waiter.pending == 0:
                        parent = waiter.parent
                        parent.waiting_on = None
                        parent.value = [t.result for t in waiter.tasks]
                        append(parent)

    def _fail(self, task: _Task, error: BaseException) -> None:
        """`task` raised `error`: the loop crashes (see `_final_error`)."""
        self._crash = error
        self._crashed_task = task
        self._crashed_name = _name(task.gen)
        task.state = _FAILED
        self._retire(task)

    def _retire(self, task: _Task) -> None:
        """Drop a finished task's strong reference to its generator (see `_tasks`), and to a
        value it was never sent (say the slot of a lock that an operation started at once
        acquired for it: dropping the slot releases it)."""
        task.gen = _NO_GENERATOR
        task.waiting_on = None
        task.value = None
        task.error = None  # perhaps a coroutine that was to start at once: it never will
        self._live -= 1

    def _known_or_fresh(self, task: _Task, gen: _Gen) -> _Task | None:
        """The task for `gen` if the loop knows it, None if it is fresh. Else throw an error."""
        child = self._tasks.get(weakref.ref(gen))
        if child is not None:
            if child.state == _FAILED:
                self._throw(
                    task,
                    RuntimeError(
                        f"Cannot wait on {_name(gen)}: it failed or was cancelled in an earlier "
                        "run of this loop, so it has no result."
                    ),
                )
                raise _Rejected
            return child
        if not _is_fresh(gen):
            self._throw(
                task,
                ValueError(
                    f"Cannot wait on {gen!r}, which is a generator that has already started (or "
                    "has finished) outside this loop, so the loop cannot know its result."
                ),
            )
            raise _Rejected
        return None

    def _wait_on_coroutine(self, task: _Task, gen: _Gen) -> None:
        child = self._tasks.get(weakref.ref(gen))
        if child is None and gen.gi_frame is not None and not gen.gi_suspended:
            # The common case, a coroutine new to the loop: `_new_task`, inlined.
            child = _Task(gen, task.context.copy())
            self._tasks[weakref.ref(gen, self._forget_callback)] = child
            self._live += 1
            self._ready.append(child)
            child.waiters = [task]
            task.waiting_on = child
            return
        try:
            child = self._known_or_fresh(task, gen)
        except _Rejected:
            return
        if child is None:
            child = self._new_task(gen, task.context.copy())
            child.waiters = [task]
            task.waiting_on = child
        elif child.state == _DONE:
            task.value = child.result
            self._ready.append(task)
        elif child.state == _INTERRUPTED:
            self._throw(task, child.result)
        elif not self._closes_cycle(task, [child]):
            if child.waiters is None:
                child.waiters = [task]
            else:
                child.waiters.append(task)
            task.waiting_on = child

    def _wait_on_wait(self, task: _Task, wait: Wait) -> None:
        if wait.task is not None:
            self._throw(task, RuntimeError(f"{wait!r} was yielded twice; each is yielded once."))
            return
        wait.loop = self
        wait.task = task
        task.waiting_on = wait
        if wait.woken:
            self._resume(wait, True)
        elif wait.timeout is not None:
            deadline = self._now() + wait.timeout
            wait.deadline = deadline
            heapq.heappush(self._timers, (deadline, next(self._timer_counter), wait))

    def _wait_on_descriptor(self, task: _Task, wait: DescriptorWait) -> None:
        if wait.task is None:
            try:
                io = self._selector()
                io.register(wait.fd, wait.events, wait)
            except Exception as error:  # busy, a descriptor that cannot be waited on, EMFILE
                self._throw(task, error)
                return
            wait.selector = io
            self._thread_wakeups = True  # poll at the end of this round (see `_drain_from_threads`)
        self._wait_on_wait(task, wait)

    def _selector(self) -> Selector[DescriptorWait]:
        """The selector this loop's descriptor waits go into: its own, or its lender's."""
        io = self._io
        if io is None:
            io = self._io = Selector()
        elif io.lender is not None:
            lender: Loop = io.lender
            return lender._selector()
        return io

    def _poll_descriptors(self, io: Selector[DescriptorWait]) -> None:
        """Resume the waits whose descriptors are ready: those a `_block` found, or a poll."""
        if io.waiting and not io.fired:
            io.select(0)
        if io.fired:
            fired = io.fired
            io.fired = []
            for wait in fired:
                wait.selector = None  # the selector has ended its registration
                borrower = wait.loop
                if borrower is self:
                    self._resume(wait, True)
                elif borrower is not None:
                    # A wait of a loop we lend our selector to. It is between two of its steps
                    # (its driver is one of our coroutines, not running now): resume the wait in
                    # it directly, then wake its driver if it is idle, as a thread would.
                    borrower._resume(wait, True)
                    on_wakeup = borrower._on_wakeup
                    if on_wakeup is not None:
                        on_wakeup()

    def _wait_on_other(self, task: _Task, yielded: object) -> None:
        if type(yielded) is list:
            self._gather(task, yielded)  # pyright: ignore[reportUnknownArgumentType]
        elif type(yielded) is set:
            self._background(task, yielded)  # pyright: ignore[reportUnknownArgumentType]
        elif type(yielded) is DescriptorWait:
            self._wait_on_descriptor(task, yielded)
        elif type(yielded) is Interrupt:
            task.value = self._interrupt(task, yielded)
            self._ready.append(task)
        elif yielded is CURRENT_LOOP:
            task.value = self
            self._ready.append(task)
        else:
            as_coroutine = getattr(type(yielded), "_tinyio_wait_", None)
            if as_coroutine is not None:
                # A tinyio object (e.g. a Barrier) standing for one of its coroutines.
                self._wait_on_coroutine(task, as_coroutine(yielded))
            else:
                self._throw(
                    task, TypeError(f"Invalid yield: {_name(task.gen)} {_describe_yield(yielded)}")
                )

    def _check_members(self, task: _Task, kind: str, items: list[Any] | set[Any]) -> bool:
        for item in items:
            if type(item) is not types.GeneratorType:
                self._throw(
                    task,
                    TypeError(
                        f"Invalid yield: {_name(task.gen)} yielded a {kind} containing {item!r}, "
                        f"which is not a coroutine (a generator). Every member of a yielded {kind} "
                        "must be one."
                    ),
                )
                return False
        return True

    def _gather(self, task: _Task, gens: list[_Gen]) -> None:
        if not self._check_members(task, "list", gens):
            return
        tasks: list[_Task | None] = []
        try:
            for gen in gens:
                tasks.append(self._known_or_fresh(task, gen))
        except _Rejected:
            return
        for known in tasks:
            if known is not None and known.state == _INTERRUPTED:
                self._throw(task, known.result)
                return
        unfinished = {t: None for t in tasks if t is not None and t.state == _RUNNING}
        if unfinished and self._closes_cycle(task, list(unfinished)):
            return
        all_tasks: list[_Task] = []
        for gen, known in zip(gens, tasks, strict=True):
            if known is None:
                # A fresh coroutine may appear twice in one list: start it once.
                known = self._tasks.get(weakref.ref(gen)) or self._new_task(
                    gen, task.context.copy()
                )
                unfinished[known] = None
            all_tasks.append(known)
        if not unfinished:
            task.value = [t.result for t in all_tasks]
            self._ready.append(task)
            return
        gather = _Gather(task, all_tasks, len(unfinished))
        for child in unfinished:
            if child.waiters is None:
                child.waiters = [gather]
            else:
                child.waiters.append(gather)
        task.waiting_on = gather

    def _background(self, task: _Task, gens: set[_Gen]) -> None:
        if not self._check_members(task, "set", gens):
            return
        fresh: list[_Gen] = []
        try:
            for gen in gens:
                if self._known_or_fresh(task, gen) is None:
                    fresh.append(gen)
        except _Rejected:
            return
        context = task.context
        for gen in fresh:
            self._new_task(gen, context.copy())
        task.value = None
        self._ready.append(task)

    def _interrupt(self, task: _Task, interrupt: Interrupt) -> bool:
        target = self._tasks.get(weakref.ref(cast(_Gen, interrupt.gen)))
        if (
            target is None
            or target is task
            or target.state != _RUNNING
            or isinstance(target.error, BaseException)  # being interrupted already
        ):
            return False
        # Inside an operation that started at once, the error goes to the operation first,
        # as with `yield from`; if it lets the error propagate, so may `target`.
        inner = target.waiting_on
        while type(inner) is _Task and inner.at_once and inner.error is None:
            target.interrupted_by = interrupt.error
            target = inner
            inner = target.waiting_on
        in_ready = target.waiting_on is None
        self._detach(target)
        target.interrupted_by = interrupt.error
        target.error = interrupt.error
        if not in_ready:
            self._ready.append(target)
        return True

    def _detach(self, task: _Task) -> None:
        """Stop `task` waiting on whatever it waits on (it is about to be resumed otherwise)."""
        waiting_on = task.waiting_on
        task.waiting_on = None  # so that a Wait's wake-up or timer is ignored from now on
        if type(waiting_on) is _Task:
            if waiting_on.waiters is not None:
                waiting_on.waiters.remove(task)
        elif type(waiting_on) is _Gather:
            for child in dict.fromkeys(waiting_on.tasks):
                if child.waiters is not None and waiting_on in child.waiters:
                    child.waiters.remove(waiting_on)

    def _pass_on_interrupt(self, task: _Task, error: BaseException) -> None:
        """`task` let the error of an `Interrupt` propagate: throw it into its waiters."""
        task.state = _INTERRUPTED
        task.result = error
        self._retire(task)
        waiters = task.waiters or []
        task.waiters = None
        for waiter in waiters:
            parent = waiter if isinstance(waiter, _Task) else waiter.parent
            self._detach(parent)
            self._throw(parent, error)

    def _throw(self, task: _Task, error: BaseException) -> None:
        """Raise `error` inside `task` at the `yield` it just made (where the mistake is)."""
        task.error = error
        self._ready.append(task)

    def _closes_cycle(self, task: _Task, targets: list[_Task]) -> bool:
        """Whether `task` waiting on `targets` would close a cycle; if so, throw it into `task`."""
        path = find_cycle(task, targets)
        if path is None:
            return False
        names = " -> ".join(_name(t.gen) for t in [task, *path])
        cycle = CancelledError(
            f"Cycle detected in `tinyio` loop: {names}. Each of these coroutines waits on the "
            "next, so none of them could ever finish."
        )
        self._cycles.append(cycle)  # reported if it crashes the loop
        self._throw(task, cycle)
        return True

    # ------------------------------------------------------------------ waits and time

    def _resume(self, wait: Wait, woken: bool) -> None:
        task = wait.task
        if task is not None and task.waiting_on is wait:
            task.waiting_on = None
            task.value = woken
            self._ready.append(task)
            if woken and wait.deadline is not None:
                self._dead_timers += 1
                if self._dead_timers > 256 and self._dead_timers * 2 > len(self._timers):
                    self._compact_timers()

    def _compact_timers(self) -> None:
        self._timers = [
            entry
            for entry in self._timers
            if entry[2].task is not None and entry[2].task.waiting_on is entry[2]
        ]
        heapq.heapify(self._timers)
        self._dead_timers = 0

    def _jumped(self) -> bool:
        """Idle, with a clock of our own: move it to the next live timer, unless a thread call
        may still wake us first. Whether it moved (then that timer is due)."""
        if self._outside:
            return False
        timers = self._timers
        while timers:
            deadline, _, wait = timers[0]
            task = wait.task
            if task is not None and task.waiting_on is wait:
                assert self._clock is not None
                self._clock.advance_to(deadline)
                return True
            heapq.heappop(timers)  # a dead entry: its wait was woken before its deadline
            if self._dead_timers > 0:
                self._dead_timers -= 1
        return False

    def _fire_timers(self) -> None:
        timers = self._timers
        if not timers:
            return
        now = self._now()
        while timers and timers[0][0] <= now:
            wait = heapq.heappop(timers)[2]
            task = wait.task
            if task is not None and task.waiting_on is wait:
                self._resume(wait, False)
            elif self._dead_timers > 0:
                self._dead_timers -= 1

    def _drain_from_threads(self, one_step: bool = False) -> None:
        # Clear the flag before draining: a thread sets it after its `put`, so none is missed.
        self._thread_wakeups = False
        from_threads = self._from_threads
        while True:
            try:
                wait = from_threads.get_nowait()
            except queue.Empty:
                break
            if wait is not None:
                self._resume(wait, True)
        io = self._io
        if io is not None and (io.waiting or io.fired):
            # Descriptors are collected with the wake-ups from threads, once per round: the
            # flag stays set while any is waited on, so that the round's end comes back here.
            if io.fired or not one_step:
                self._poll_descriptors(io)
            else:  # stepped one at a time: poll once per round's worth of steps
                io.countdown -= 1
                if io.countdown <= 0:
                    io.countdown = len(self._ready)
                    self._poll_descriptors(io)
            if io.waiting:
                self._thread_wakeups = True
        if (
            self._guarded
            and _ctrl_c.interrupt_pending()
            and self._crash is None  # else it is stopping already: see `_final_error`
            and not self._cancelling_all
        ):
            _ctrl_c.take_pending()
            raise KeyboardInterrupt

    # ------------------------------------------------------------------ crashing

    def _cancel_all(
        self, reason: BaseException, chain: set[_Task] | None = None
    ) -> tuple[list[BaseException], list[BaseException]]:
        """Throw CancelledError into every unfinished task, newest first.

        Returns the errors raised instead of a clean cancellation, and the CancelledErrors
        that report clean ones (but those of the tasks in `chain`, whose frames are already in
        the original error's traceback). Each list is ordered oldest task first, and every
        traceback starts at the cancelled coroutine's own frame.
        """
        self._cancelling_all = True
        try:
            return self._cancel_each(reason, chain or set())
        finally:
            self._cancelling_all = False

    def _cancel_each(
        self, reason: BaseException, chain: set[_Task]
    ) -> tuple[list[BaseException], list[BaseException]]:
        # (age, error) pairs: the age of a task is its rank in `_tasks`, oldest first.
        others: list[tuple[int, BaseException]] = []
        cancelled: list[tuple[int, BaseException]] = []
        failed = self._crashed_task
        direct_waiters = (
            {w if isinstance(w, _Task) else w.parent for w in (failed.waiters or ()) if failed}
            if failed is not None
            else set[_Task]()
        )
        running = [t for t in list(self._tasks.values()) if t.state == _RUNNING]
        for age in range(len(running) - 1, -1, -1):
            task = running[age]
            gen = task.gen
            task.state = _FAILED
            self._retire(task)
            error = CancelledError(self._cancel_message(reason, task in direct_waiters))
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
                if any(raised is e for e in self._independent_errors):
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
                    cancellation_warning(f"Coroutine {_name(gen)}", problem),
                    RuntimeWarning,
                    filename=filename,
                    lineno=lineno,
                    module=module,
                )
            except BaseException as raised:  # warnings turned into errors
                others.append((age, raised))
        # Nothing is left to run: forget what was pending.
        self._independent_errors.clear()
        self._ready.clear()
        self._timers.clear()
        self._dead_timers = 0
        self._live = 0
        self._drain_from_threads()
        for _, raised in others + cancelled:
            raised.__traceback__ = without_library_frames(raised.__traceback__)
        others.sort(key=lambda pair: pair[0])
        # A CancelledError that tells more than where a coroutine was suspended first: one
        # with a context, or with the frames of a `yield from` chain.
        cancelled.sort(key=lambda pair: (not _is_informative(pair[1]), pair[0]))
        return [e for _, e in others], [e for _, e in cancelled]

    def _cancel_message(self, reason: BaseException, waits_on_failed: bool) -> str:
        """Why a coroutine is cancelled, naming the coroutine that failed and, for one that was
        waiting on it, what to write instead to handle that error."""
        what = type(reason).__name__ + (f": {reason}" if str(reason) else "")
        failed = self._crashed_name
        if self._crashed_task is None:
            if isinstance(reason, CancelledError) and str(reason):
                return str(reason)
            return f"Cancelled because the loop was interrupted by {what}."
        if not waits_on_failed:
            return f"Cancelled because another coroutine, {failed}, raised {what}."
        return (
            f"Cancelled because {failed}, which this coroutine was waiting on, raised {what}. "
            f"A `try`/`except` around `yield {failed}` cannot catch that error (other coroutines "
            "may be waiting on it too, so the whole loop stops). To handle the error here, run "
            f"it as part of this coroutine: `yield from {failed}` inside the `try`. To let a "
            "part of the program fail without stopping the rest, run that part in "
            "`tinyio.isolate`."
        )

    def _final_error(self, exception_group: bool | None) -> BaseException:
        error = self._crash
        assert error is not None
        error.__traceback__, chain = self._stitched_traceback(error, self._crashed_task)
        self._add_notes(error)
        others, cancelled = self._cancel_all(error, chain)
        self._crash = None
        self._crashed_task = None
        self._crashed_name = ""
        self._cycles.clear()
        for note in self._outcome_notes:
            error.add_note(note)
        self._outcome_notes.clear()
        final = self._final_group(error, others, cancelled, exception_group)
        if self._guarded and _ctrl_c.take_pending() and not _is_ctrl_c(final):
            # Ctrl-C while the loop was stopping for another error: the run ends as a Ctrl-C
            # does, with that error as its context.
            interrupt = KeyboardInterrupt()
            interrupt.__context__ = final
            return interrupt
        return final

    @staticmethod
    def _final_group(
        error: BaseException,
        others: list[BaseException],
        cancelled: list[BaseException],
        exception_group: bool | None,
    ) -> BaseException:
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

    def _add_notes(self, error: BaseException) -> None:
        """Add to `error` a hint for a mistake recognised from it, and the report of what every
        coroutine was doing if the loop was interrupted or found a cycle (or every crash is
        reported, see docs/diagnostics.md). Never the same note twice."""
        notes: list[str] = getattr(error, "__notes__", None) or []
        hint = _hint_for(error)
        if hint is not None and hint not in notes:
            error.add_note(hint)
        interrupted = isinstance(error, KeyboardInterrupt) or self._crashed_task is None
        if (
            interrupted
            or any(error is cycle for cycle in self._cycles)
            or os.environ.get(REPORT_EVERY_CRASH, "") not in ("", "0")
        ) and not any(note.startswith(_REPORT_PREFIX) for note in notes):
            self._add_report(error, interrupted)

    def _add_report(self, error: BaseException, interrupted: bool) -> None:
        """Add to `error` a note of what every other live coroutine was doing."""
        forest = take_snapshot(self._tasks, self._now())  # timers count on the loop's clock
        if not forest:
            return
        if interrupted:
            heading = f"{_REPORT_PREFIX} was interrupted; what its coroutines were doing then:"
        elif any(error is cycle for cycle in self._cycles):
            heading = f"{_REPORT_PREFIX} found a cycle; what its coroutines were doing then:"
        else:
            heading = f"{_REPORT_PREFIX} crashed; what its other coroutines were doing then:"
        error.add_note(format_snapshot(forest, heading))

    def snapshot(self) -> list[dict[str, Any]]:
        """What every unfinished coroutine of this loop is doing, as data.

        Safe to call from another thread while the loop runs (for logging, or a status page);
        the same information is added as a note to the error when the loop crashes, is
        interrupted, or finds a cycle.

        ```python
        import tinyio

        loop = tinyio.Loop()
        event = tinyio.Event()

        def waiter():
            yield event.wait()

        def main():
            yield {waiter()}
            yield
            print([node["name"] for node in loop.snapshot()])
            event.set()

        loop.run(main())
        # ['main', 'waiter']
        ```

        Returns:
            A list of trees, one per coroutine that nothing waits on. Each node is a dict:
            `id` (a number), `name` (the function's qualified name; `tinyio.Event.wait` and
            the like for tinyio's own coroutines, with `on`: what they wait on), `file` and
            `line` (where it is suspended), `state` (`"ready"`, `"waiting"`, `"waiting on"`,
            `"waiting on all of"`, with `of`: how many it yielded in that list; its unfinished
            ones are its `children`), `seconds_left` (if it waits with a timer),
            `waited_on_by` (if several coroutines wait on it), and `children`: the nodes of
            what it waits on. A coroutine shown before appears again as `{"id": n, "see": n}`.
        """
        return take_snapshot(self._tasks, self._now())  # timers count on the loop's clock

    def _stitched_traceback(
        self, error: BaseException, task: _Task | None
    ) -> tuple[types.TracebackType | None, set[_Task]]:
        """The error's traceback as a call stack: the waiting chain, then the failing frames.

        Also gives the tasks of that chain (each the single waiter of the one below it).
        """
        tb = without_library_frames(error.__traceback__)
        chain: set[_Task] = set()
        seen = {task}
        while task is not None:
            waiters = task.waiters
            if waiters is None or len(waiters) != 1:
                break
            waiter = waiters[0]
            task = waiter if isinstance(waiter, _Task) else waiter.parent
            if task in seen:
                break
            seen.add(task)
            chain.add(task)
            tb = _prepend_frames(task.gen, tb)
        return tb, chain


class _Runtime(contextlib.AbstractContextManager[Generator[Callable[[], None] | None, None, _T]]):
    """What `Loop.runtime` returns. A class rather than `contextlib.contextmanager`, so that
    an error raised on entering or leaving shows none of the loop's frames, and none of
    contextlib's."""

    __slots__ = ("_coro", "_exception_group", "_finished", "_gen", "_loop")

    def __init__(self, loop: Loop, coro: Coro[_T], exception_group: bool | None) -> None:
        self._loop = loop
        self._coro = coro
        self._exception_group = exception_group
        self._finished = False
        self._gen: Generator[Callable[[], None] | None, None, _T] | None = None

    def __enter__(self) -> Generator[Callable[[], None] | None, None, _T]:
        loop = self._loop
        try:
            if self._gen is not None:
                raise RuntimeError("Each `loop.runtime(...)` can be entered once.")
            known = loop._prepare(self._coro, self._exception_group)  # pyright: ignore[reportPrivateUsage]
        except BaseException as error:
            # A bare `raise` inside `except` adds no entry for this frame (see `Loop.run`).
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise
        drive = loop._drive(self._coro, known, self._exception_group, each_step=True)  # pyright: ignore[reportPrivateUsage]
        self._gen = self._steps(drive)
        return self._gen

    def _steps(
        self, drive: Generator[Callable[[], None] | None, None, tuple[bool, Any]]
    ) -> Generator[Callable[[], None] | None, None, _T]:
        try:
            ok, value = yield from drive
            self._finished = True
            if ok:
                return value
            raise value
        except BaseException as error:
            # As in `Loop.run`: none of the loop's frames in the traceback.
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        gen = self._gen
        assert gen is not None
        if exc is not None or self._finished:
            gen.close()  # cancels every unfinished coroutine, see `Loop._drive`
            return
        gen.close()
        try:
            raise RuntimeError(
                f"Left `loop.runtime({_name(self._coro)}, ...)` with the loop only partially "
                f"completed: its generator was not exhausted, so the coroutine {self._coro!r} "
                "had not finished. Its unfinished coroutines have been cancelled. Keep calling "
                "`next()` until it raises `StopIteration`."
            )
        except RuntimeError as error:
            error.__traceback__ = None  # no frame of ours: the `with` statement's is next
            raise


def _is_ctrl_c(error: BaseException | None) -> bool:
    """Whether a run's outcome is a Ctrl-C (alone, or leading an exception group)."""
    if isinstance(error, BaseExceptionGroup):
        return isinstance(error.exceptions[0], KeyboardInterrupt)  # pyright: ignore[reportUnknownMemberType]
    return isinstance(error, KeyboardInterrupt)


class _Rejected(Exception):
    """Internal: a yielded value was rejected and an error already thrown into the task."""


def _describe_run_argument(value: object) -> str:
    if isinstance(value, types.CoroutineType):
        value.close()
        return (
            f"Loop.run expects a tinyio coroutine (a generator), got {value!r}, an `async def` "
            "coroutine, which is not a coroutine tinyio can run. To run async code, use "
            "asyncio, or `tinyio.from_asyncio` inside tinyio."
        )
    if callable(value):
        return (
            f"Loop.run expects a tinyio coroutine (a generator object), got {value!r}, which "
            "is not a coroutine. Did you forget to call it?"
        )
    return (
        f"Loop.run expects a tinyio coroutine (a generator object), got {value!r}, which is "
        "not a coroutine. (A "
        "function with no `yield` in its body is not a generator function: calling it ran "
        "it to the end and gave this value.)"
    )


# For the SIGINT handler: a user frame that these call directly is a coroutine's step.
_ctrl_c.STEPPERS.update({Loop._run_ready.__code__, Loop._start_at_once.__code__})  # pyright: ignore[reportPrivateUsage]
