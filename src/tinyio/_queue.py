"""Queue: a FIFO channel between coroutines, which other threads may feed too, and which closes.

Plain threads may also wait on it (`put_from_thread`, `get_from_thread`): such a thread gets in
the same lines as the coroutines, with a wait of its own kind (`_ThreadWait`) that wakes the
thread instead of a coroutine, so that coroutines and threads are served in one order.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import queue
import threading
import time
from collections import deque
from typing import Any, Final, Generic, TypeVar

from ._cancel import hands_back
from ._core import CancelledError, Coro, Wait, WaitLine, duration_problem, starts_at_once
from ._workers import on_cancel

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


# The directory of the loop core (where `Wait` is defined): a frame of its code on the stack
# means that a loop is taking a step in this thread (a coroutine, or code it calls, runs).
_CORE_DIR: Final = os.path.dirname(Wait.__init__.__code__.co_filename) + os.sep


def _in_a_loop_step() -> bool:
    here = inspect.currentframe()
    frame = None if here is None or here.f_back is None else here.f_back.f_back
    while frame is not None:
        if frame.f_code.co_filename.startswith(_CORE_DIR):
            return True
        frame = frame.f_back
    return False


def _noop() -> None:
    pass


# How a `get` that lost a `tinyio.race` gives back the item it took (see `_cancel.hands_back`).
def _get_given_back(arguments: dict[str, Any], item: Any) -> None:
    arguments["self"]._hand_back(item)


def _get_or_given_back(arguments: dict[str, Any], item: Any) -> None:
    if item is not arguments["default"]:  # the default is not an item: nothing was taken
        arguments["self"]._hand_back(item)


class _ThreadWait(Wait):
    """A place in a queue's line for a plain thread: waking it wakes the thread. Never yielded.

    The thread blocks on `gate`, a lock taken at the start; waking it, or interrupting it when
    its call is cancelled (`gate.release`, called by the cancelling thread), releases it. The
    interrupt must be a C function: see `_workers.on_cancel`."""

    __slots__ = ("gate",)

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Lock()
        self.gate.acquire()

    def wake(self) -> None:
        self.woken = True
        with contextlib.suppress(RuntimeError):  # released already (woken, or interrupted)
            self.gate.release()

    def block(self, deadline: float | None) -> bool:
        """Block until woken or interrupted (True), or until `deadline` (`time.monotonic()`)."""
        if deadline is None:
            return self.gate.acquire()
        return self.gate.acquire(timeout=max(0.0, deadline - time.monotonic()))


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

    def put_from_thread(self, item: _T, timeout: int | float | None = None) -> None:
        """Put `item` into the queue from a thread that is not running a loop, blocking that
        thread while the queue is full, as `queue.Queue.put` does.

        ```python
        import threading
        import tinyio

        q = tinyio.Queue(maxsize=2)

        def producer():  # a plain thread: it waits while the queue is full
            for i in range(5):
                q.put_from_thread(i)
            q.shutdown()

        def main():
            thread = threading.Thread(target=producer)
            thread.start()
            total = 0
            while (item := (yield q.get_or(None))) is not None:
                total += item
            print(f"total {total}")
            thread.join()  # it has ended: no wait

        tinyio.Loop().run(main())
        # total 10
        ```

        The thread gets in line with the coroutines blocked in `put`, first come first served,
        and a coroutine's `get` wakes it as it frees a place.

        Arguments:
            item: what to put.
            timeout: the most seconds to wait for a free place; None (the default): no limit.

        Raises:
            queue.Full: the timeout passed with the queue still full (`timeout=0`: it is full).
            tinyio.QueueShutDown: the queue is shut down, before or while this waits.
            RuntimeError: called in a thread where a loop is taking a step (from a coroutine,
                or code it calls): blocking there would stop the coroutines that are to free a
                place. A coroutine writes `yield q.put(item)` instead.
            tinyio.CancelledError: the thread is a tinyio thread call (`run_in_thread`, a
                `ThreadPool`) that was cancelled while this waited: its loop crashed, or the
                call was timed out; the wait ends at once.

        What wakes a plain thread of your own: a free place, the timeout, or `shutdown()`.
        It belongs to no loop, so when the loop using the queue ends, nothing tells it: shut
        the queue down then (`finally: q.shutdown()`), or give a timeout. See the page on
        synchronisation.
        """
        if timeout is not None:
            problem = duration_problem(timeout, "put_from_thread's timeout")
            if problem is not None:
                raise problem
        if _in_a_loop_step():
            raise RuntimeError(
                "q.put_from_thread() blocks its thread, and this thread is running a tinyio "
                "loop (it was called from a coroutine, or code a coroutine calls): it would stop "
                "the coroutines that are to free a place. In a coroutine, write "
                "`yield q.put(item)`; `q.put_nowait(item)` does not block."
            )
        if self._shut_down:
            raise QueueShutDown(f"Cannot put {item!r}: the queue has been shut down.")
        places = self._places
        if places is not None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    places.pop()
                    break
                except IndexError:
                    if not self._wait_in_thread(self._putters, places, deadline):
                        raise queue.Full(
                            f"The queue is still full ({self._maxsize} items) after "
                            f"{timeout:g} seconds."
                        ) from None
                    if self._shut_down:
                        raise QueueShutDown(
                            f"Cannot put {item!r}: the queue was shut down while it waited "
                            "for a free place."
                        ) from None
        self._unfinished.append(None)
        self._items.append(item)
        if self._getters:
            self._getters.wake_first()

    def get_from_thread(self, timeout: int | float | None = None) -> _T:
        """Take the oldest item from a thread that is not running a loop, blocking that thread
        while the queue is empty, as `queue.Queue.get` does.

        ```python
        import threading
        import tinyio

        q = tinyio.Queue()
        results = []

        def consumer():  # a plain thread: it waits while the queue is empty
            try:
                while True:
                    results.append(q.get_from_thread() * 10)
            except tinyio.QueueShutDown:  # shut down, and every item taken
                pass

        def main():
            thread = threading.Thread(target=consumer)
            thread.start()
            for i in range(3):
                yield q.put(i)
            q.shutdown()
            yield tinyio.run_in_thread(thread.join)  # without blocking the loop
            print(results)

        tinyio.Loop().run(main())
        # [0, 10, 20]
        ```

        The thread gets in line with the coroutines blocked in `get`, first come first served,
        and a coroutine's `put` wakes it.

        Arguments:
            timeout: the most seconds to wait for an item; None (the default): no limit.

        Raises:
            queue.Empty: the timeout passed with the queue still empty (`timeout=0`: it is).
            tinyio.QueueShutDown: the queue is shut down and empty, before or while this waits.
            RuntimeError: called in a thread where a loop is taking a step (from a coroutine,
                or code it calls): blocking there would stop the coroutines that are to put an
                item. A coroutine writes `item = yield q.get()` instead.
            tinyio.CancelledError: the thread is a tinyio thread call (`run_in_thread`, a
                `ThreadPool`) that was cancelled while this waited; the wait ends at once.

        As for `put_from_thread`, a plain thread of your own is woken by an item, the timeout
        or `shutdown()` only: shut the queue down when the loop using it ends.
        """
        if timeout is not None:
            problem = duration_problem(timeout, "get_from_thread's timeout")
            if problem is not None:
                raise problem
        if _in_a_loop_step():
            raise RuntimeError(
                "q.get_from_thread() blocks its thread, and this thread is running a tinyio "
                "loop (it was called from a coroutine, or code a coroutine calls): it would stop "
                "the coroutines that are to put an item. In a coroutine, write "
                "`item = yield q.get()`; `q.get_nowait()` does not block."
            )
        items = self._items
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                item = items.popleft()
                break
            except IndexError:
                if self._shut_down:
                    raise QueueShutDown("The queue is empty and has been shut down.") from None
                if not self._wait_in_thread(self._getters, items, deadline):
                    raise queue.Empty(
                        f"The queue is still empty after {timeout:g} seconds."
                    ) from None
        self._give_place_back()
        return item

    def _wait_in_thread(
        self, line: WaitLine, available: deque[Any], deadline: float | None
    ) -> bool:
        """`_wait_in` for a thread: block it in `line` until woken because `available` is not
        empty or the queue was shut down (True), or until `deadline` (False)."""
        wait = _ThreadWait()
        line.append(wait)
        if available or self._shut_down:  # as in `_wait_in`: look again, out of the line
            line.leave(wait)
            return True
        # A worker thread's wait ends as soon as its call is cancelled (see `_workers`).
        on_cancel(wait.gate.release)
        try:
            if wait.block(deadline) and not wait.woken:  # interrupted
                # The CancelledError was sent before the wait was interrupted: it arrives at
                # the thread's next bytecodes. Should it not, raise one all the same (a late
                # one is then dropped by the worker).
                for _ in range(1_000):
                    _noop()
                raise CancelledError("The thread call was cancelled while it waited on a queue.")
        except BaseException:
            # Handed an item or a place, but gone before taking it: to the next in line.
            if line.leave(wait):
                line.wake_first()
            raise
        finally:
            on_cancel(None)
        # Timed out: out of the line -- unless handed something at that moment: then take it.
        return wait.woken or line.leave(wait)

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

    @hands_back(_get_given_back)
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

    @hands_back(_get_or_given_back)
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

    def _hand_back(self, item: _T) -> None:
        """Put back first an item that a `get` took for a coroutine that is not to have it: a
        loser of `tinyio.race` that got it after the race was decided. Called in the step of
        the `get`, so nothing came in between: the queue is as if it had never been taken, and
        the item goes to the next getter in line."""
        places = self._places
        if places is not None:
            # The place the `get` gave back. (Gone if a `put_nowait` from another thread took
            # it meanwhile: then the queue holds one more than its bound until the next get.)
            with contextlib.suppress(IndexError):
                places.pop()
        self._items.appendleft(item)
        if self._getters:
            self._getters.wake_first()

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
