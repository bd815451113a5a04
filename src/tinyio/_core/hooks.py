"""What library code may ask of, or tell, a running loop: the hooks of the declared interface.

A feature's coroutine gets its loop with `yield CURRENT_LOOP` and passes it to these
functions. What they read and write is the loop's `Run`: the record of its current run, kept
by the loop and registered here while it runs, so that the hooks reach it without reaching
into the loop (which has no public attribute beyond its documented methods).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, cast

from . import ctrl_c
from .tasks import RUNNING, Gen, Task, task_of
from .timers import Clock, Timers
from .waits import Coro
from .wakeups import Wakeups

__all__ = [
    "Run",
    "at_stop",
    "cancelling_everything",
    "clock_of",
    "ctrl_c_presses",
    "enter",
    "failed_on_its_own",
    "has_run",
    "hearing_ctrl_c",
    "host_defers_ctrl_c",
    "leave",
    "lend_selector",
    "lender_of",
    "note_on_outcome",
    "waiters_of",
    "waits_on_outside",
    "waking_from_outside",
]


class Run:
    """What a loop shares with library code about its current run (reset as each begins)."""

    __slots__ = (
        "cancelling",
        "guarded",
        "independent",
        "notes",
        "stop_callbacks",
        "tasks",
        "timers",
        "wakeups",
    )

    def __init__(
        self, tasks: Mapping[weakref.ref[Gen], Task], timers: Timers, wakeups: Wakeups
    ) -> None:
        self.tasks = tasks  # the loop's task table
        self.timers = timers  # the loop's timers and clock
        self.wakeups = wakeups  # the loop's wake-ups from outside, and its selector
        self.guarded = False  # its Ctrl-Cs are handled by tinyio's SIGINT handler (`ctrl_c`)
        self.cancelling = False  # see `cancelling_everything`
        self.stop_callbacks: list[Callable[[], None]] = []  # see `at_stop`
        self.independent: list[BaseException] = []  # see `failed_on_its_own`
        self.notes: list[str] = []  # see `note_on_outcome`


# The runs of the loops that are running now, by loop.
_RUNNING: dict[object, Run] = {}


def enter(loop: object, run: Run) -> None:
    """Called by `loop` as a run begins: library code may now use the hooks on it."""
    run.cancelling = False
    run.notes.clear()
    _RUNNING[loop] = run


def leave(loop: object) -> None:
    """Called by `loop` as a run ends, after its stop callbacks."""
    _RUNNING.pop(loop, None)


class host_defers_ctrl_c:
    """For a bridge: `with host_defers_ctrl_c():` around the whole drive of a loop (its stop
    included) by a host loop whose SIGINT handler defers a Ctrl-C while tinyio's code runs
    (trio's, under KI protection), to deliver it at the host's next checkpoint -- which a
    blocking wait of the stopping loop never reaches. Meanwhile, `hearing_ctrl_c` waits in the
    main thread hear Ctrl-C themselves (those of loops nested in it too). Per drive, not per
    run: a run of a loop costs nothing more."""

    __slots__ = ("_counted",)

    def __init__(self) -> None:
        self._counted = False

    def __enter__(self) -> None:
        global _deaf_drives
        if threading.get_ident() == _MAIN_THREAD_ID:  # elsewhere no Ctrl-C arrives
            _deaf_drives += 1
            self._counted = True

    def __exit__(self, *exc_info: object) -> None:
        global _deaf_drives
        if self._counted:
            _deaf_drives -= 1


_MAIN_THREAD_ID = threading.main_thread().ident
_deaf_drives = 0  # how many `host_defers_ctrl_c` drives the main thread is in


def hearing_ctrl_c(loop: object) -> ctrl_c.heard_in_blocking_wait:
    """For library code: `with hearing_ctrl_c(loop):` around a wait that blocks `loop`'s
    thread until a cancelled call ends (which may be never), to be ended by a Ctrl-C: then
    `KeyboardInterrupt` is raised inside the wait even under a host that defers Ctrl-C (see
    `host_defers_ctrl_c`). Where tinyio's handler, or Python's, runs, Ctrl-C reaches the
    wait as it is (as `ctrl_c_presses`, or raised), and this changes nothing."""
    _run_of(loop)
    return ctrl_c.heard_in_blocking_wait(_deaf_drives > 0)


# What `lend_selector` lent, by borrowing loop, until that loop's next run begins.
_LENT: weakref.WeakKeyDictionary[object, Wakeups] = weakref.WeakKeyDictionary()


def lend_selector(borrower: object, lender: object) -> None:
    """For library code: have `borrower`, a loop that a coroutine of the running loop `lender`
    drives step by step (`isolate`), put the descriptor waits of its next run in `lender`'s
    selector, so that the two share one `epoll` and `borrower`'s idle blocker never needs a
    descriptor of its own: `lender` polls and blocks for both, and wakes `borrower`'s waits as
    a thread would (`Idle.notify_on_wakeup`). Call it before that run begins."""
    _LENT[borrower] = _run_of(lender).wakeups


def lender_of(loop: object) -> Wakeups | None:
    """Called by `loop` as a run begins: the wake-ups of the loop lending it a selector for
    this run, if one does (see `lend_selector`)."""
    if not _LENT:  # the common case: nothing lent, and no weak reference made to look
        return None
    return _LENT.pop(loop, None)


def _run_of(loop: object) -> Run:
    run = _RUNNING.get(loop)
    if run is None:
        raise RuntimeError(f"{loop!r} is not running: its hooks are for its coroutines' use.")
    return run


class waking_from_outside:
    """For library code: `with waking_from_outside(loop): yield wait` while work outside the
    loop (a thread call) is to wake `wait`, so that a virtual clock does not jump meanwhile.
    Entered and left in the loop's thread (in a coroutine), so the count needs no lock."""

    __slots__ = ("_timers",)

    def __init__(self, loop: object) -> None:
        self._timers = _run_of(loop).timers

    def __enter__(self) -> None:
        self._timers.outside += 1

    def __exit__(self, *exc_info: object) -> None:
        self._timers.outside -= 1


def waits_on_outside(loop: object) -> bool:
    """For library code: whether `loop` waits on work outside it (see `waking_from_outside`)."""
    return _run_of(loop).timers.outside > 0


def clock_of(loop: object) -> Clock | None:
    """For library code: the clock `loop` was given (None: the system's), e.g. to give a nested
    loop the same one."""
    return _run_of(loop).timers.clock


def failed_on_its_own(loop: object, error: BaseException) -> BaseException:
    """For library code: mark `error`, about to be raised by a coroutine that is being
    cancelled, as one that happened independently of the cancellation (e.g. a thread that
    had already failed): it is reported in the exception group without a warning."""
    _run_of(loop).independent.append(error)
    return error


def cancelling_everything(loop: object) -> bool:
    """For library code: whether `loop` is cancelling every unfinished coroutine (it crashed,
    or its driver stopped), so that a coroutine being cancelled may stop work that belongs to
    others too, all at once, instead of each waiting in turn for its own to stop."""
    return _run_of(loop).cancelling


def waiters_of(loop: object, gen: Coro[Any]) -> list[Coro[Any]] | None:
    """For library code: the coroutines that wait on `gen` in `loop` (a gather counts as the
    coroutine that yielded the list), or None if `gen` is not running in `loop`."""
    task = _run_of(loop).tasks.get(weakref.ref(cast(Gen, gen)))
    if task is None or task.state != RUNNING:
        return None
    return [task_of(w).gen for w in task.waiters or ()]


def has_run(loop: object, gen: Coro[Any]) -> bool:
    """For library code: whether `loop` runs, or has run, `gen` (however it ended)."""
    return weakref.ref(cast(Gen, gen)) in _run_of(loop).tasks


def ctrl_c_presses(loop: object) -> tuple[int, float]:
    """For library code: how many times Ctrl-C was pressed during the current run of `loop`
    (counting those of the loops it runs inside), and when first (`time.monotonic()`). Zero
    for a loop whose Ctrl-Cs tinyio does not handle: one in another thread, or under asyncio,
    trio or a SIGINT handler of the program's own."""
    if not _run_of(loop).guarded:
        return 0, 0.0
    return ctrl_c.presses()


def note_on_outcome(loop: object, note: str) -> None:
    """For library code: add `note` to the error that the current run of `loop`, which is
    stopping, is about to raise (e.g. which threads it abandoned)."""
    _run_of(loop).notes.append(note)


def at_stop(loop: object, callback: Callable[[], None]) -> None:
    """For library code: call `callback()` once when the current run of `loop` ends (after
    any cancellation), e.g. to stop worker threads that the run started."""
    _run_of(loop).stop_callbacks.append(callback)
