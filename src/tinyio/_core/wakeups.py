"""Wake-ups from outside the loop's thread, and blocking while the loop has nothing to do.

A `Wait` woken in the thread that steps the loop resumes its task directly. Woken from any
other thread, it is *posted* here instead, and the loop collects it at its next round
boundary, or -- if it is blocked, waiting for a timer or for such a wake-up -- is woken to
collect it. See docs/devdocs/waking-from-threads.md.

The interface is small on purpose: `post` and `ring` from outside, `block(timeout)` and
`drain()` from the loop's thread, `watch(callback)` for a driver (another event loop) that
waits in its own way, and `owner`, the thread that may resume waits directly. The next step
for this room is native socket I/O: `block` becomes a `selectors` selector's `select(timeout)`,
woken through a self-pipe instead of a lock, with registrations of sockets as a further kind of
waiter from outside. Nothing else of the loop needs to change for that.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Final

from .waits import Wait

__all__ = ["Idle", "Wakeups"]

# The longest the idle loop sleeps in the main thread, so that a Ctrl-C that lands just
# before the sleep begins is acted on after at most this long (see `Wakeups.block`).
_SIGNAL_SLICE: Final = 0.1
_MAIN_THREAD_ID: Final = threading.main_thread().ident


class Wakeups:
    """One loop's wake-ups from other threads, and how it blocks while idle."""

    # No `__slots__`: with them, pyright takes `resume` (a callable held as data) for a method,
    # and this class would not match the `Waker` protocol that `Wait.wake` calls.

    def __init__(self, resume: Callable[[Wait, bool], None]) -> None:
        self.resume: Callable[[Wait, bool], None] = resume  # the scheduler's `_resume`
        # The thread that may resume waits directly: the one stepping the loop, and no one
        # while the loop is blocked waiting (so that a wake-up reaches the blocker).
        self.owner: int | None = None
        # Set after each `put` to `_from_threads`: the scheduler reads it once per round.
        self.pending = False
        self._from_threads: queue.SimpleQueue[Wait | None] = queue.SimpleQueue()
        # How the idle loop sleeps: in `acquire(timeout)` of this lock, which is held while
        # nobody has rung; a waker in another thread releases it after its `put`.
        self._bell = threading.Lock()
        self._bell.acquire()
        # Called (from any thread) after a wake-up is posted, while a driver of `runtime`
        # waits for one without blocking here; see `Idle.notify_on_wakeup`.
        self._on_wakeup: Callable[[], object] | None = None

    def post(self, wait: Wait) -> None:
        """From a thread that does not own the loop: hand it a `Wait` to resume."""
        self._from_threads.put(wait)
        self.notify()

    def notify(self) -> None:
        """Make the loop drain its wake-ups soon, waking it if it sleeps. Safe from any
        thread."""
        self.pending = True
        bell = self._bell
        if bell.locked():
            # Ring it, for a loop that sleeps (or is about to) in `block`. Another waker may
            # ring it at the same moment: then this release fails, harmlessly.
            with contextlib.suppress(RuntimeError):
                bell.release()
        on_wakeup = self._on_wakeup
        if on_wakeup is not None:
            on_wakeup()

    def ring(self) -> None:
        """Make the loop reach its next safe point soon (it drains, and there raises a Ctrl-C
        recorded by tinyio's SIGINT handler), waking it if it sleeps."""
        self.pending = True
        bell = self._bell
        if bell.locked():
            with contextlib.suppress(RuntimeError):  # rung by a waker at the same moment
                bell.release()

    def drain(self) -> None:
        """Resume every wait posted since the last drain."""
        # Clear the flag before draining: a thread sets it after its `put`, so none is missed.
        self.pending = False
        from_threads = self._from_threads
        resume = self.resume
        while True:
            try:
                wait = from_threads.get_nowait()
            except queue.Empty:
                break
            if wait is not None:
                resume(wait, True)

    def block(self, timeout: float | None) -> None:
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
        if timeout is None:
            self._bell.acquire()
        elif timeout >= 1e-4:  # shorter: not worth sleeping; the caller checks its timers
            self._bell.acquire(timeout=timeout)

    def watch(self, callback: Callable[[], object] | None) -> bool:
        """Have `callback()` called, from any thread, at each wake-up posted from now on (None:
        stop). False, and not watching, if a wake-up has already arrived."""
        self._on_wakeup = callback
        # Set the callback before looking: a waker puts, then reads the callback.
        if callback is not None and not self._from_threads.empty():
            self._on_wakeup = None
            return False
        return True


class Idle:
    """What `Loop.runtime`'s generator yields when the loop has nothing to do.

    Call it to block until a timer is due or another thread (or code outside the loop) wakes
    the loop. A driver that must not block -- another event loop -- instead waits in its own
    way for at most `timeout` seconds (None: no timer is pending), and for the callback given
    to `notify_on_wakeup`, then calls `next()` again.
    """

    __slots__ = ("_wakeups", "timeout")

    def __init__(self, wakeups: Wakeups, timeout: float | None) -> None:
        self._wakeups = wakeups
        self.timeout = timeout

    def __call__(self) -> None:
        self._wakeups.block(self.timeout)

    def notify_on_wakeup(self, callback: Callable[[], object]) -> bool:
        """Have `callback()` called -- from any thread, perhaps more than once -- when the loop
        is woken.

        Returns False (and will not call it) if a wake-up has already arrived: then do not
        wait, call `next()` at once.
        """
        return self._wakeups.watch(callback)

    def __repr__(self) -> str:
        return f"<tinyio loop idle, next timer in {self.timeout!r} s>"
