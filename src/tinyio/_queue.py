"""Queue: a FIFO channel between coroutines, which other threads may feed too."""

from __future__ import annotations

import contextlib
import queue
from collections import deque
from typing import Any, Generic, TypeVar

from ._loop import Coro, Wait, starts_at_once

__all__ = ["Queue"]

_T = TypeVar("_T")


class Queue(Generic[_T]):
    """A first-in first-out queue for passing items between coroutines.

    ```python
    import tinyio

    q = tinyio.Queue(maxsize=2)

    def producer():
        for i in range(5):
            yield q.put(i)  # blocks while the queue is full
        yield q.put(None)

    def consumer():
        total = 0
        while (item := (yield q.get())) is not None:
            total += item
        print(f"total {total}")

    def main():
        yield [producer(), consumer()]

    tinyio.Loop().run(main())
    # total 10
    ```

    `put` blocks while a bounded queue is full and `get` while the queue is empty; both are
    coroutines. `put_nowait` and `get_nowait` never block: they raise `queue.Full` /
    `queue.Empty` (from the standard library) instead. `put_nowait` is safe to call from any
    thread, and wakes a waiting loop at once.

    Waking is not strict: a coroutine woken because an item arrived re-checks, and if
    `get_nowait` took that item first, it waits again.
    """

    # No lock: every change to the queue's state is one operation on a deque (append, pop,
    # popleft, remove), which is atomic, so `put_nowait` from another thread is safe without
    # one -- and `put`/`get`, the hot path, stay cheap. How that stays correct (the bound is
    # never exceeded, no wake-up is lost): docs/devdocs/lock-free-queue.md.
    __slots__ = ("_getters", "_items", "_maxsize", "_places", "_putters")

    def __init__(self, maxsize: int = 0) -> None:
        """An empty queue.

        Arguments:
            maxsize: the most items the queue holds at once; 0 (the default) for no limit.
        """
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Queue maxsize must be an int, got {maxsize!r}.")
        if maxsize < 0:
            raise ValueError(f"Queue maxsize must be 0 (unbounded) or more, got {maxsize!r}.")
        self._maxsize = maxsize
        self._items: deque[_T] = deque()
        # A bounded queue's free places, as tokens: an item is put only after taking one
        # (`pop`, which fails when there is none), and a place is given back after an item is
        # taken. Two threads can never both take the last place. None when unbounded.
        self._places: deque[None] | None = deque([None] * maxsize) if maxsize else None
        # Coroutines blocked in get()/put(), first come first served. A waker takes an entry
        # out of its line before waking it.
        self._getters: deque[Wait] = deque()
        self._putters: deque[Wait] = deque()

    @property
    def maxsize(self) -> int:
        """The most items the queue holds at once (0: no limit)."""
        return self._maxsize

    def qsize(self) -> int:
        """The number of items in the queue."""
        return len(self._items)

    def empty(self) -> bool:
        """Whether the queue holds no items."""
        return not self._items

    def full(self) -> bool:
        """Whether `put` would block."""
        return self._places is not None and not self._places

    def put_nowait(self, item: _T) -> None:
        """Put `item` into the queue without blocking. Safe from any thread.

        Raises:
            queue.Full: the queue is bounded and full.
        """
        places = self._places
        if places is not None:
            try:
                places.pop()
            except IndexError:
                raise queue.Full(f"The queue is full ({self._maxsize} items).") from None
        self._items.append(item)
        if self._getters:
            _wake_first(self._getters)

    def get_nowait(self) -> _T:
        """Take the oldest item without blocking.

        Raises:
            queue.Empty: the queue is empty.
        """
        try:
            item = self._items.popleft()
        except IndexError:
            raise queue.Empty("The queue is empty.") from None
        places = self._places
        if places is not None:
            places.append(None)
            if self._putters:
                _wake_first(self._putters)
        return item

    @starts_at_once
    def put(self, item: _T) -> Coro[None]:
        """Put `item` into the queue, waiting while it is full: `yield q.put(item)`."""
        places = self._places
        if places is not None:
            while True:
                try:
                    places.pop()
                    break
                except IndexError:
                    yield from _wait_for(self._putters, places)
        self._items.append(item)
        if self._getters:
            _wake_first(self._getters)

    @starts_at_once
    def get(self) -> Coro[_T]:
        """Take the oldest item, waiting while the queue is empty: `item = yield q.get()`."""
        items = self._items
        while True:
            try:
                item = items.popleft()
                break
            except IndexError:
                yield from _wait_for(self._getters, items)
        places = self._places
        if places is not None:
            places.append(None)
            if self._putters:
                _wake_first(self._putters)
        return item

    def __repr__(self) -> str:
        bound = f"/{self._maxsize}" if self._maxsize else ""
        return (
            f"<tinyio.Queue {len(self._items)}{bound} items, {len(self._getters)} getting, "
            f"{len(self._putters)} putting>"
        )


def _wake_first(waiters: deque[Wait]) -> None:
    """Take the first of `waiters` out of the line and wake it (skipping any already awake)."""
    while True:
        try:
            wait = waiters.popleft()
        except IndexError:
            return
        if not wait.woken:
            wait.wake()
            return


def _wait_for(waiters: deque[Wait], available: deque[Any]) -> Coro[None]:
    """Wait in line until woken because `available` (items, or free places) is not empty."""
    wait = Wait()
    waiters.append(wait)
    if available:
        # It became available after we looked and before we got in line, and whoever made it
        # so may have seen nobody waiting: leave the line and look again. (If a waker took us
        # out of the line first, its wake-up goes to a wait never yielded: no matter, as we
        # are about to take what it announced.)
        with contextlib.suppress(ValueError):
            waiters.remove(wait)
        return
    try:
        yield wait
    except BaseException:
        # Gone (an error, a cancellation, a timeout) before using what we were woken for, if
        # we were: pass it on. Either we are still in line, and leave it; or a waker took us
        # out of it, and we cannot tell whether it has woken us yet. Waking the next in line
        # whenever there is something for them is right in both cases (at worst, spurious).
        with contextlib.suppress(ValueError):
            waiters.remove(wait)
        if available and waiters:
            _wake_first(waiters)
        raise
