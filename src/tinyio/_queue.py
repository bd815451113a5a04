"""Queue: a FIFO channel between coroutines, which other threads may feed too, and which closes."""

from __future__ import annotations

import contextlib
import queue
from collections import deque
from typing import Any, Generic, TypeVar

from ._core import Coro, WaitLine, starts_at_once

__all__ = ["Queue", "QueueShutDown"]

_T = TypeVar("_T")
_D = TypeVar("_D")


class QueueShutDown(Exception):
    """Raised by `Queue.put` (and `put_nowait`) once the queue is shut down, and by
    `Queue.get` (and `get_nowait`) once it is shut down and empty.

    An `Exception`, as in Python 3.13's `asyncio.QueueShutDown`: it reports a mistake (putting
    into a closed queue) or the end of the items, not a cancellation.
    """

    __module__ = "tinyio"  # shown in tracebacks as `tinyio.QueueShutDown`; pickles by that name


class Queue(Generic[_T]):
    """A first-in first-out queue for passing items between coroutines.

    ```python
    import tinyio

    q = tinyio.Queue(maxsize=2)

    def producer():
        for i in range(5):
            yield q.put(i)  # blocks while the queue is full
        q.shutdown()  # no more items: the consumer's loop ends once it has taken them all

    def consumer():
        total = 0
        while (item := (yield q.get_or(None))) is not None:
            total += item
        print(f"total {total}")

    def main():
        yield [producer(), consumer()]

    tinyio.Loop().run(main())
    # total 10
    ```

    `put` blocks while a bounded queue is full and `get` while the queue is empty; both are
    coroutines. `put_nowait` and `get_nowait` never block: they raise `queue.Full` /
    `queue.Empty` (from the standard library) instead. `put_nowait` and `shutdown` are safe to
    call from any thread, and wake a waiting loop at once.

    Closing: after `shutdown()`, putting raises `tinyio.QueueShutDown`, and getting does once
    the queue is empty; `get_or(default)` gives `default` then instead, which is how a
    consumer loops over the items until the end. `task_done()` and `join()` let a producer
    wait until every item put has been dealt with.

    Waking is not strict: a coroutine woken because an item arrived re-checks, and if
    `get_nowait` took that item first, it waits again.
    """

    # No lock: every change to the queue's state is one operation on a deque (append, pop,
    # popleft, remove), which is atomic, so `put_nowait` from another thread is safe without
    # one -- and `put`/`get`, the hot path, stay cheap. How that stays correct (the bound is
    # never exceeded, no wake-up is lost): docs/devdocs/lock-free-queue.md.
    __slots__ = (
        "_getters",
        "_items",
        "_joiners",
        "_maxsize",
        "_places",
        "_putters",
        "_shut_down",
        "_unfinished",
    )

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
        # Coroutines blocked in get()/put(), first come first served.
        self._getters = WaitLine()
        self._putters = WaitLine()
        # One token per item put and not yet marked done (`task_done`), so that counting
        # needs no lock either: `append` and `pop` are atomic, `+= 1` is not.
        self._unfinished: deque[None] = deque()
        self._joiners = WaitLine()  # coroutines blocked in join()
        # Set once, never cleared. Set before waking the lines; a waiter gets in line before
        # looking at it, so a waiter either sees it or is woken.
        self._shut_down = False

    @property
    def maxsize(self) -> int:
        """The most items the queue holds at once (0: no limit)."""
        return self._maxsize

    @property
    def is_shut_down(self) -> bool:
        """Whether `shutdown()` has been called."""
        return self._shut_down

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
            tinyio.QueueShutDown: the queue has been shut down.
        """
        if self._shut_down:
            raise QueueShutDown(f"Cannot put {item!r}: the queue has been shut down.")
        places = self._places
        if places is not None:
            try:
                places.pop()
            except IndexError:
                raise queue.Full(f"The queue is full ({self._maxsize} items).") from None
        self._unfinished.append(None)  # before the item: a getter may mark it done at once
        self._items.append(item)
        if self._getters:
            self._getters.wake_first()

    def get_nowait(self) -> _T:
        """Take the oldest item without blocking.

        Raises:
            queue.Empty: the queue is empty.
            tinyio.QueueShutDown: the queue is empty and has been shut down.
        """
        try:
            item = self._items.popleft()
        except IndexError:
            if self._shut_down:
                raise QueueShutDown("The queue is empty and has been shut down.") from None
            raise queue.Empty("The queue is empty.") from None
        self._give_place_back()
        return item

    @starts_at_once
    def put(self, item: _T) -> Coro[None]:
        """Put `item` into the queue, waiting while it is full: `yield q.put(item)`.

        Raises:
            tinyio.QueueShutDown: the queue is shut down, before or while this waits.
        """
        if self._shut_down:
            raise QueueShutDown(f"Cannot put {item!r}: the queue has been shut down.")
        places = self._places
        if places is not None:
            while True:
                try:
                    places.pop()
                    break
                except IndexError:
                    yield from self._wait_in(self._putters, places)
                    if self._shut_down:
                        raise QueueShutDown(
                            f"Cannot put {item!r}: the queue was shut down while it waited "
                            "for a free place."
                        ) from None
        self._unfinished.append(None)
        self._items.append(item)
        if self._getters:
            self._getters.wake_first()

    @starts_at_once
    def get(self) -> Coro[_T]:
        """Take the oldest item, waiting while the queue is empty: `item = yield q.get()`.

        Raises:
            tinyio.QueueShutDown: the queue is shut down and empty, before or while this
                waits. (To loop until then without catching it, use `get_or`.)
        """
        items = self._items
        while True:
            try:
                item = items.popleft()
                break
            except IndexError:
                if self._shut_down:
                    raise QueueShutDown("The queue is empty and has been shut down.") from None
                yield from self._wait_in(self._getters, items)
        self._give_place_back()
        return item

    @starts_at_once
    def get_or(self, default: _D) -> Coro[_T | _D]:
        """Like `get`, but give `default` once the queue is shut down and empty.

        So a consumer takes every item until the producer calls `shutdown()`, with no
        sentinel item per consumer and no `try`:

        ```python
        import tinyio

        q = tinyio.Queue()

        def worker(name):
            while (item := (yield q.get_or(None))) is not None:
                print(name, item)
                yield

        def producer():
            for item in ["a", "b", "c"]:
                yield q.put(item)
            q.shutdown()

        def main():
            yield [producer(), worker("one"), worker("two")]

        tinyio.Loop().run(main())
        # one a
        # two b
        # one c
        ```

        Pick a `default` that is never an item (a fresh `object()` if `None` can be one).
        This is a `while` loop rather than `for item in queue`: a `for` loop asks for its next
        item without yielding, so it could not wait for one.
        """
        items = self._items
        while True:
            try:
                item = items.popleft()
                break
            except IndexError:
                if self._shut_down:
                    return default
                yield from self._wait_in(self._getters, items)
        self._give_place_back()
        return item

    def _give_place_back(self) -> None:
        places = self._places
        if places is not None:
            places.append(None)
            if self._putters:
                self._putters.wake_first()

    def task_done(self) -> None:
        """Mark one item taken from the queue as dealt with (for `join`). Safe from any thread.

        Raises:
            ValueError: called more times than items were put.
        """
        unfinished = self._unfinished
        try:
            unfinished.pop()
        except IndexError:
            raise ValueError(
                "task_done() was called more times than items were put into the queue."
            ) from None
        if not unfinished and self._joiners:
            self._joiners.wake_all()

    @starts_at_once
    def join(self) -> Coro[None]:
        """Wait until every item put into the queue has been marked done: `yield q.join()`.

        Every `put` (and `put_nowait`) counts one item; every `task_done()` marks one done. At
        once if none is unfinished. A `shutdown(immediate=True)` marks the items it drops as
        done.

        ```python
        import tinyio

        q = tinyio.Queue()
        done = []

        def worker():
            while (item := (yield q.get_or(None))) is not None:
                yield tinyio.sleep(0.01)  # stands for the work
                done.append(item * 10)
                q.task_done()

        def main():
            for i in range(3):
                q.put_nowait(i)
            yield {worker()}
            yield q.join()
            print(done)
            q.shutdown()  # lets the worker finish, and so loop.run return

        tinyio.Loop().run(main())
        # [0, 10, 20]
        ```
        """
        unfinished = self._unfinished
        if not unfinished:
            return
        joiners = self._joiners
        wait = joiners.join()
        if not unfinished:  # all done between the look and getting in line
            joiners.leave(wait)
            return
        yield from joiners.wait(wait)

    def shutdown(self, immediate: bool = False) -> None:
        """Close the queue: no more items can be put. Safe from any thread; idempotent.

        From now on `put` and `put_nowait` raise `tinyio.QueueShutDown`. `get` and
        `get_nowait` still give the items already in the queue, then raise it (`get_or`
        gives its default instead). Every coroutine blocked in `put`, `get` or `get_or` is
        woken and acts accordingly.

        ```python
        import tinyio

        q = tinyio.Queue()

        def main():
            q.put_nowait("kept")
            q.shutdown()
            print((yield q.get()), (yield q.get_or("the end")))
            q.put_nowait("lost")  # raises

        try:
            tinyio.Loop().run(main())
        except tinyio.QueueShutDown as error:
            print(error)
        # kept the end
        # Cannot put 'lost': the queue has been shut down.
        ```

        Arguments:
            immediate: also drop the items still in the queue (marking each done, for
                `join`), so that getters stop at once.

        Raises:
            TypeError: `immediate` is not a bool.
        """
        if type(immediate) is not bool:  # pyright: ignore[reportUnnecessaryComparison]
            raise TypeError(f"shutdown's immediate must be True or False, got {immediate!r}.")
        self._shut_down = True
        if immediate:
            items = self._items
            while True:
                try:
                    items.popleft()
                except IndexError:
                    break
                self._give_place_back()
                with contextlib.suppress(IndexError):
                    self._unfinished.pop()
            if not self._unfinished and self._joiners:
                self._joiners.wake_all()
        self._getters.wake_all()
        self._putters.wake_all()

    def _wait_in(self, line: WaitLine, available: deque[Any]) -> Coro[None]:
        """Wait in `line` until woken because `available` (items, or free places) is not
        empty, or because the queue was shut down."""
        wait = line.join()
        if available or self._shut_down:
            # It became available (or the queue was shut down) after we looked and before we
            # got in line, and whoever did it may have seen nobody waiting: leave the line and
            # look again. (If a waker took us out of the line first, its wake-up goes to a wait
            # never yielded: no matter, as we are about to take what it announced.)
            line.leave(wait)
            return
        # Gone (an error, a cancellation, a timeout) once a waker took us out of the line, with
        # or without waking us yet: the line wakes the next in line instead, which looks again.
        yield from line.wait(wait)

    def __repr__(self) -> str:
        bound = f"/{self._maxsize}" if self._maxsize else ""
        closed = ", shut down" if self._shut_down else ""
        return (
            f"<tinyio.Queue {len(self._items)}{bound} items, {len(self._getters)} getting, "
            f"{len(self._putters)} putting{closed}>"
        )
