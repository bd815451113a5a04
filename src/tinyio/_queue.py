"""Queue: a FIFO channel between coroutines, which other threads may feed too."""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Generic, TypeVar

from ._loop import Coro, Wait

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

    __slots__ = ("_getters", "_items", "_lock", "_maxsize", "_putters")

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
        # Coroutines blocked in get()/put(), first come first served. Guarded by `_lock`,
        # together with `_items`, because put_nowait may come from another thread.
        self._getters: deque[Wait] = deque()
        self._putters: deque[Wait] = deque()
        self._lock = threading.Lock()

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
        return 0 < self._maxsize <= len(self._items)

    def put_nowait(self, item: _T) -> None:
        """Put `item` into the queue without blocking. Safe from any thread.

        Raises:
            queue.Full: the queue is bounded and full.
        """
        with self._lock:
            if 0 < self._maxsize <= len(self._items):
                raise queue.Full(f"The queue is full ({self._maxsize} items).")
            self._items.append(item)
            if self._getters:
                self._getters.popleft().wake()

    def get_nowait(self) -> _T:
        """Take the oldest item without blocking.

        Raises:
            queue.Empty: the queue is empty.
        """
        with self._lock:
            if not self._items:
                raise queue.Empty("The queue is empty.")
            item = self._items.popleft()
            if self._putters:
                self._putters.popleft().wake()
            return item

    def put(self, item: _T) -> Coro[None]:
        """Put `item` into the queue, waiting while it is full: `yield q.put(item)`."""
        return self._put(item)

    def _put(self, item: _T) -> Coro[None]:
        while True:
            with self._lock:
                if not 0 < self._maxsize <= len(self._items):
                    self._items.append(item)
                    if self._getters:
                        self._getters.popleft().wake()
                    return
                wait = Wait()
                self._putters.append(wait)
            yield from self._block(wait, self._putters)

    def get(self) -> Coro[_T]:
        """Take the oldest item, waiting while the queue is empty: `item = yield q.get()`."""
        return self._get()

    def _get(self) -> Coro[_T]:
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    if self._putters:
                        self._putters.popleft().wake()
                    return item
                wait = Wait()
                self._getters.append(wait)
            yield from self._block(wait, self._getters)

    def _block(self, wait: Wait, waiters: deque[Wait]) -> Coro[None]:
        try:
            yield wait
        except BaseException:
            with self._lock:
                if wait.woken:
                    # Woken for an item (or a free place) but gone: wake the next in line.
                    if waiters:
                        waiters.popleft().wake()
                else:
                    waiters.remove(wait)
            raise

    def __repr__(self) -> str:
        bound = f"/{self._maxsize}" if self._maxsize else ""
        return (
            f"<tinyio.Queue {len(self._items)}{bound} items, {len(self._getters)} getting, "
            f"{len(self._putters)} putting>"
        )
