"""Events: a flag that coroutines can wait on, settable from any thread.

Built on the core's line of waiters (`WaitLine`): each waiting coroutine gets in line, and
`set()` wakes the whole line. Waking is not strict (see docs/devdocs): a coroutine
woken by `set()` runs even if `clear()` is called before its turn comes.
"""

from __future__ import annotations

import threading
from typing import NoReturn

from ._core import Coro, Wait, WaitLine, duration_problem, starts_at_once

__all__ = ["Event"]


class Event:
    """A marker that something has happened: a flag, initially false, that coroutines can wait on.

    `set()` and `clear()` may be called from any thread (a `set()` from another thread wakes a
    sleeping loop at once); `wait()` is a coroutine.

    ```python
    import tinyio

    event = tinyio.Event()

    def waiter():
        yield event.wait()
        print("the event was set")

    def setter():
        print("setting the event")
        event.set()
        yield

    def main():
        yield [waiter(), setter()]

    tinyio.Loop().run(main())
    # setting the event
    # the event was set
    ```
    """

    __slots__ = ("_flag", "_lock", "_sets", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._sets = 0  # how many times it has been set: a wait misses no set() after its call
        # The coroutines currently waiting, in arrival order (so that they are woken first-come
        # first-served). Joined under `_lock`, against a `set()` from another thread between
        # the look at the flag and getting in line; `set()` takes the whole line.
        self._waiters = WaitLine()
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        """Whether the event has been set (and not cleared since).

        Returns:
            `True` if set, else `False`.
        """
        return self._flag

    def set(self) -> None:
        """Set the event: every coroutine blocked in `yield event.wait()` is woken, and
        `is_set()` now returns `True`. Safe to call from any thread; setting a set event does
        nothing.
        """
        with self._lock:
            if self._flag:
                return
            self._flag = True
            self._sets += 1
            waiters = self._waiters
            self._waiters = WaitLine()
        waiters.wake_all()

    def clear(self) -> None:
        """Clear the event: coroutines that call `yield event.wait()` from now on block until it
        is set again, and `is_set()` now returns `False`. Safe to call from any thread.

        Coroutines already woken by an earlier `set()` still run (waking is not strict).
        """
        with self._lock:
            self._flag = False

    def wait(self, timeout_in_seconds: int | float | None = None) -> Coro[None]:
        """Wait until the event is set: `yield event.wait()`.

        Arguments:
            timeout_in_seconds: the longest time to wait, or `None` (the default) to wait for
                as long as it takes. After this long the waiting coroutine resumes anyway;
                check `is_set()` to know which happened.

        Returns:
            A coroutine to yield, which finishes once the event is set (at once if it already
            is, or has been set since this call, even if cleared again) or once the timeout
            has passed. Its result is `None`.

        Raises:
            TypeError, ValueError: `timeout_in_seconds` is not a non-negative number.
        """
        if timeout_in_seconds is not None:
            problem = duration_problem(timeout_in_seconds, "timeout_in_seconds")
            if problem is not None:
                raise problem
            timeout_in_seconds = float(timeout_in_seconds)
        # The count now, not at the coroutine's first step: a `set()` and `clear()` between the
        # `yield` and that step (another coroutine's turn, or a thread) must not be missed.
        return self._wait(timeout_in_seconds, self._sets)

    @starts_at_once
    def _wait(self, timeout: float | None, sets: int) -> Coro[None]:
        with self._lock:
            if self._flag or self._sets != sets:
                return
            waiters = self._waiters  # this line: `set()` may start a new one meanwhile
            wait = Wait(timeout)
            waiters.append(wait)
        # `WaitLine.wait`, inline: a generator more per waiter would cost a sixth of a wait.
        try:
            woken = yield wait
        except BaseException:
            waiters.leave(wait)
            raise
        if not woken:
            waiters.leave(wait)

    def __bool__(self) -> NoReturn:
        raise TypeError(
            "Cannot convert `tinyio.Event` to boolean. Did you mean `event.is_set()`? (To wait "
            "for it, use `yield event.wait()`.)"
        )

    def __repr__(self) -> str:
        state = "set" if self._flag else "unset"
        return f"<tinyio.Event {state}, {len(self._waiters)} waiting>"
