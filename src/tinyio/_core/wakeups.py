"""Wake-ups from outside the loop's thread, and blocking while the loop has nothing to do.

A `Wait` woken in the thread that steps the loop resumes its task directly. Woken from any
other thread, it is *posted* here instead, and the loop collects it at its next round
boundary, or -- if it is blocked, waiting for a timer or for such a wake-up -- is woken to
collect it. See docs/devdocs/waking-from-threads.md.

The interface is small on purpose: `post` and `ring` from outside, `block(timeout)` and
`drain()` from the loop's thread, `watch(callback)` for a driver (another event loop) that
waits in its own way, and `owner`, the thread that may resume waits directly.

The waits on file descriptors (`DescriptorWait`) are wake-ups from outside too, collected
with the others: `register` puts one in the loop's selector (`selector.py`), made at the first
of a run and closed at its end (`close_selector`); `poll` resumes those that are ready. While
any is registered, `pending` stays set, so that the scheduler comes back at each round's end;
and `block` sleeps in the selector's `select(timeout)` instead of on the lock, woken by a
thread through the selector's own socketpair. A loop that never waits on a descriptor has no
selector, and pays one attribute test in `poll`, off the hot path. See docs/devdocs/native-io.md.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Final, cast

from .selector import BorrowedSelector, Selector
from .waits import DescriptorWait, Resume, Wait

__all__ = ["Idle", "Wakeups"]

# The longest the idle loop sleeps in the main thread, so that a Ctrl-C that lands just
# before the sleep begins is acted on after at most this long (see `Wakeups.block`).
_SIGNAL_SLICE: Final = 0.1
_MAIN_THREAD_ID: Final = threading.main_thread().ident
# Held while a loop's queue of posted wake-ups is made (see `Wakeups._queue`): once per loop.
_MAKING: Final = threading.Lock()


class Wakeups:
    """One loop's wake-ups from other threads, and how it blocks while idle."""

    __slots__ = ("_bell", "_from_threads", "_on_wakeup", "io", "owner", "pending", "resume")

    # Typed as a callable object, not a `Callable`: pyright would take a slot of that type
    # for a method, and this class would not match the `Waker` protocol that `Wait.wake` calls.
    resume: Resume

    def __init__(self, resume: Resume) -> None:
        self.resume = resume  # the scheduler's `_resume`
        # The thread that may resume waits directly: the one stepping the loop, and no one
        # while the loop is blocked waiting (so that a wake-up reaches the blocker).
        self.owner: int | None = None
        # Set after each `put` to `_from_threads`: the scheduler reads it once per round.
        self.pending = False
        # The waits posted by other threads: made by the first `post` (`_queue`), as most
        # loops -- an isolated handler's, say -- are never woken from a thread; None till then.
        self._from_threads: queue.SimpleQueue[Wait | None] | None = None
        # How the idle loop sleeps: in `acquire(timeout)` of this lock, which is held while
        # nobody has rung; a waker in another thread releases it after its `put`. Made by the
        # first `block` that sleeps on it (a loop driven by `runtime` never does); None till then.
        self._bell: threading.Lock | None = None
        # Called (from any thread) after a wake-up is posted, while a driver of `runtime`
        # waits for one without blocking here; see `Idle.notify_on_wakeup`.
        self._on_wakeup: Callable[[], object] | None = None
        # The waits on file descriptors: a selector made at the first one of a run (see
        # `register`), or a lender's (`BorrowedSelector`, see `lend`); None when there is none.
        self.io: Selector[DescriptorWait] | None = None

    def _queue(self) -> queue.SimpleQueue[Wait | None]:
        """The queue of posted waits, made now if need be (from any thread: two posters of a
        loop's first wake-ups may come at once, so it is made under a lock, once)."""
        with _MAKING:
            made = self._from_threads
            if made is None:
                made = self._from_threads = queue.SimpleQueue()
            return made

    def post(self, wait: Wait) -> None:
        """From a thread that does not own the loop: hand it a `Wait` to resume."""
        from_threads = self._from_threads
        if from_threads is None:
            from_threads = self._queue()
        from_threads.put(wait)
        self.notify()

    def notify(self) -> None:
        """Make the loop drain its wake-ups soon, waking it if it sleeps. Safe from any
        thread."""
        self.pending = True
        bell = self._bell
        if bell is not None and bell.locked():
            # Ring it, for a loop that sleeps (or is about to) in `block`. Another waker may
            # ring it at the same moment: then this release fails, harmlessly.
            with contextlib.suppress(RuntimeError):
                bell.release()
        io = self.io
        if io is not None and io.blocking:  # it sleeps in its selector: wake that instead
            io.wake()
        on_wakeup = self._on_wakeup
        if on_wakeup is not None:
            on_wakeup()

    def ring(self) -> None:
        """Make the loop reach its next safe point soon (it drains, and there raises a Ctrl-C
        recorded by tinyio's SIGINT handler), waking it if it sleeps."""
        self.pending = True
        bell = self._bell
        if bell is not None and bell.locked():
            with contextlib.suppress(RuntimeError):  # rung by a waker at the same moment
                bell.release()
        io = self.io
        if io is not None:
            from_threads = self._from_threads
            if from_threads is None:
                from_threads = self._queue()
            from_threads.put(None)  # so that a `block` about to select returns at once
            if io.blocking:
                io.wake()

    def drain(self) -> None:
        """Resume every wait posted since the last drain."""
        # Clear the flag before draining: a thread sets it after its `put`, so none is missed.
        self.pending = False
        from_threads = self._from_threads
        if from_threads is None:
            return
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
        io = self.io
        selecting = io is not None and io.waiting
        bell = self._bell
        if bell is None and not selecting:
            # Made before looking at the queue: a waker puts, then rings the bell if there is
            # one; so either we see its wake-up below, or it sees the bell and rings it.
            bell = threading.Lock()
            bell.acquire()
            self._bell = bell
            if self.pending:
                return  # rung before there was a bell (say a Ctrl-C): look, and come back
        from_threads = self._from_threads
        if from_threads is not None and not from_threads.empty():
            return  # a waker has put, and may not have rung yet
        if threading.get_ident() == _MAIN_THREAD_ID:
            # A signal (Ctrl-C) that arrives just before the sleep begins does not interrupt
            # it: Python runs its handler only once the sleep ends. So the main thread never
            # sleeps longer than this, and the caller comes back (see docs/devdocs).
            timeout = _SIGNAL_SLICE if timeout is None else min(timeout, _SIGNAL_SLICE)
        if selecting:
            assert io is not None
            # Waiting on descriptors: sleep in the selector, which a waker writes to once it
            # sees `blocking` (raised before looking at the queue: one side sees the other).
            io.blocking = True
            try:
                from_threads = self._from_threads
                if from_threads is None or from_threads.empty():
                    io.select(timeout)
            finally:
                io.blocking = False
            return
        assert bell is not None
        if timeout is None:
            bell.acquire()
        elif timeout >= 1e-4:  # shorter: not worth sleeping; the caller checks its timers
            bell.acquire(timeout=timeout)

    def register(self, wait: DescriptorWait) -> None:
        """Put `wait` in the selector its loop's descriptor waits go into (its own, made now if
        need be, or its lender's), so that `poll` resumes it when its descriptor is ready. Its
        errors (`BusyResourceError`, the `OSError` of a descriptor that cannot be waited on)
        are for the scheduler to throw back at the yield."""
        io = self._selector()
        io.register(wait.fd, wait.events, wait)
        wait.selector = io
        self.pending = True  # collected at the end of this round (see `poll`)

    def _selector(self) -> Selector[DescriptorWait]:
        io = self.io
        if io is None:
            io = self.io = Selector()
        elif io.lender is not None:
            lender: Wakeups = io.lender
            return lender._selector()
        return io

    def lend(self, lender: Wakeups) -> None:
        """For this run: put this loop's descriptor waits in `lender`'s selector (`isolate`:
        `lender`'s loop drives this one, so it polls and blocks for both)."""
        self.io = BorrowedSelector(lender)

    def close_selector(self) -> None:
        """At the end of a run: close the selector (its waiters are gone, cancelled or their
        descriptor closed), or forget the lender's."""
        io = self.io
        if io is not None:
            self.io = None
            io.close()

    def poll(self, round_size: int | None) -> None:
        """Resume the waits whose descriptors are ready: those a `block` found, or a poll of
        the selector, with no timeout. `round_size`: for a loop stepped one at a time
        (`runtime`), the number of steps in a round, as it polls once per round's worth of
        steps; None for a loop that runs its rounds itself, which polls at each."""
        io = self.io
        if io is None or not (io.waiting or io.fired):
            return
        if io.fired or round_size is None:
            self._resume_ready(io)
        else:
            io.countdown -= 1
            if io.countdown <= 0:
                io.countdown = round_size
                self._resume_ready(io)
        if io.waiting:
            self.pending = True  # the scheduler comes back here at the end of the next round

    def _resume_ready(self, io: Selector[DescriptorWait]) -> None:
        if io.waiting and not io.fired:
            io.select(0)
        if io.fired:
            fired = io.fired
            io.fired = []
            for wait in fired:
                wait.selector = None  # the selector has ended its registration
                waker = wait.waker
                if waker is self:
                    self.resume(wait, True)
                elif waker is not None:
                    # A wait of a loop we lend our selector to. It is between two of its steps
                    # (its driver is one of our coroutines, not running now): resume the wait in
                    # it directly, then wake its driver if it is idle, as a thread would.
                    borrower = cast(Wakeups, waker)
                    borrower.resume(wait, True)
                    on_wakeup = borrower._on_wakeup
                    if on_wakeup is not None:
                        on_wakeup()

    def watch(self, callback: Callable[[], object] | None) -> bool:
        """Have `callback()` called, from any thread, at each wake-up posted from now on (None:
        stop). False, and not watching, if a wake-up has already arrived."""
        self._on_wakeup = callback
        # Set the callback before looking: a waker puts, then reads the callback.
        from_threads = self._from_threads
        if callback is not None and from_threads is not None and not from_threads.empty():
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

    def descriptor(self) -> int | None:
        """A descriptor that becomes readable when a descriptor the loop waits on is ready (its
        selector's), for the driver to wait on too; None if the loop waits on no descriptor."""
        io = self._wakeups.io
        if io is None or not io.waiting:
            return None
        return io.fileno()

    def notify_on_wakeup(self, callback: Callable[[], object]) -> bool:
        """Have `callback()` called -- from any thread, perhaps more than once -- when the loop
        is woken.

        Returns False (and will not call it) if a wake-up has already arrived: then do not
        wait, call `next()` at once.
        """
        return self._wakeups.watch(callback)

    def __repr__(self) -> str:
        return f"<tinyio loop idle, next timer in {self.timeout!r} s>"
