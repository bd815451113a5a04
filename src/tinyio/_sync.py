"""Synchronisation: Semaphore, Lock, Condition and Barrier.

All of them are ordinary coroutine code on top of the core's line of waiters (`WaitLine`): a
coroutine that must block gets in line and waits; whoever frees the resource hands it to the
first in line. Slots are *handed over* to the next waiter rather than put back for anyone to
grab, so there is no barging: waiters get in first-come first-served, and a coroutine that
keeps re-acquiring cannot starve the others.

These objects belong to coroutines of one loop at a time; they are not meant to be shared
with other threads (use `Event` or `Queue.put_nowait` for that).
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, TypeVar

from ._cancel import hands_back
from ._core import (
    CURRENT_LOOP,
    Coro,
    Loop,
    Wait,
    WaitLine,
    cancelling_everything,
    starts_at_once,
    waiters_of,
)

__all__ = ["Barrier", "Condition", "Lock", "Semaphore", "Slot", "count_problem"]

_T = TypeVar("_T")


def count_problem(value: object, name: str) -> Exception | None:
    """What is wrong with a count given by a user (`name` is how to call it), if anything.

    The public method raises it itself, so that the traceback ends there (not in a helper).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return TypeError(f"{name} must be an int, got {value!r}.")
    if value < 1:
        return ValueError(f"{name} must be positive (at least 1), got {value!r}.")
    return None


class Slot(contextlib.AbstractContextManager[None]):
    """One acquired slot of a semaphore: enter it once with `with`, and it is released on exit."""

    __slots__ = ("_entered", "_give_back", "held")

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back = give_back  # the semaphore's: hands the slot on, or puts it back
        self._entered = False
        # True from when the slot is taken until it is released (and False again while a
        # Condition.wait has handed the lock back).
        self.held = False

    def __enter__(self) -> None:
        if self._entered:
            raise RuntimeError(
                "This acquired slot was already entered. Use a new `semaphore()` call in each "
                "`with (yield semaphore())`, do not re-use it (the same for `lock()`): each "
                "acquisition gives a context to enter once."
            )
        self._entered = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give the slot back (once: later calls do nothing)."""
        if self.held:
            self.held = False
            self._give_back()


class _UnenteredSlot(Slot):
    """A slot that `yield semaphore()` has acquired but whose `with` block has not begun.

    `yield semaphore()` runs the acquisition as part of the yielding coroutine (see
    `starts_at_once`), so it normally enters the `with` block in the same step. But the
    acquisition may also be yielded as a plain coroutine that others share, or the slot be
    received and never entered (the coroutine is cancelled, or simply never writes `with`).
    Then no `with` block will ever release the slot; it is released here instead, when the
    slot object is dropped: at once by reference counting, or -- when a crashed loop's
    records of its coroutines are in a reference cycle -- at the next garbage collection.

    `__enter__` turns the object into a plain `Slot`, so that deallocating an entered slot
    runs no Python code: a Ctrl-C arriving inside `__del__` would be printed and lost.

    A slot that is dropped still held is a mistake of the program's (it was meant to be
    entered), which held the lock from the acquisition until the drop -- perhaps much later
    than the user's last reference went, as the loop may still hold the last value it sent
    into a coroutine. So, as an unclosed file does, it warns with a `ResourceWarning` (after
    giving the place back, so that a warning turned into an error cannot keep it). The slot is
    created in the user's call (`lock()`), so that where tracemalloc can trace the object
    (`source=`; not on 3.11, whose tracemalloc misses objects of classes with a `__dict__`
    slot in their bases), `warnings` shows where it was acquired.
    """

    __slots__ = ()  # none of its own: `__enter__` changes its class to `Slot`

    def __enter__(self) -> None:
        self.__class__ = Slot  # pyright: ignore[reportAttributeAccessIssue]
        Slot.__enter__(self)

    def __del__(self) -> None:
        if self.held:
            self.release()
            warnings.warn(
                f"A slot of {_owner_name(self._give_back)} was acquired but never entered or released: write "
                "`with (yield lock()):` (or call `.release()` on what the yield gave). It was "
                "given back only now, when it was dropped; the lock was held until then.",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )


def _slot_given_back(arguments: dict[str, Any], slot: Slot) -> None:
    """How an acquisition that lost a `tinyio.race` gives back the slot it took (see
    `_cancel.hands_back`)."""
    slot.release()


def _owner_name(give_back: Callable[[], None]) -> str:
    pool = getattr(give_back, "__self__", None)  # `_SlotPool.release`, bound
    return pool.name if isinstance(pool, _SlotPool) else "a tinyio semaphore"


class _SlotPool:
    """The slots of a semaphore (or lock), and the line of coroutines waiting for one."""

    __slots__ = ("available", "give_back", "holder", "initial", "name", "waiters")

    def __init__(self, value: int, name: str) -> None:
        self.name = name  # what the warning of a slot dropped unentered calls its owner
        self.give_back = self.release  # bound once: each acquired slot holds it
        self.initial = value
        self.available = value
        # Coroutines blocked in `take`, first come first served: a waiter leaves the line
        # exactly when it is handed a slot (or gives up waiting).
        self.waiters = WaitLine()
        # For a lock, the slot of its last acquisition, for Condition. Weak, so that a slot
        # whose waiter never got it is still dropped and released (see `_UnenteredSlot`).
        self.holder: weakref.ref[Slot] | None = None

    def take(self, slot: Slot) -> Generator[Any, Any, None]:
        """Wait for a slot (unless one is free and nobody waits), and give it to `slot`."""
        if self.available > 0 and not self.waiters:
            self.available -= 1
        else:
            # `WaitLine.wait`, inline: on this path a generator more would cost 5% of a lock.
            waiters = self.waiters
            wait = Wait()
            waiters.append(wait)
            try:
                yield wait
            except BaseException:
                if waiters.leave(wait):
                    self.release()  # handed a slot, but gone before using it: pass it on
                raise
        slot.held = True

    def release(self) -> None:
        waiters = self.waiters
        if waiters:
            waiters.popleft().wake()  # hand the slot straight over (`wake_first`, inline)
        else:
            self.available += 1


class _PoolUser:
    """What a Semaphore, a Lock and the Conditions that share a lock have in common: a pool of
    slots (a Condition's is its lock's, which it reaches through the lock)."""

    __slots__ = ("_pool",)

    def __init__(self, pool: _SlotPool) -> None:
        self._pool = pool


class Semaphore(_PoolUser):
    """Limits coroutines so that at most `value` of them can access a resource concurrently.

    ```python
    import tinyio

    semaphore = tinyio.Semaphore(2)
    inside = []

    def worker(i):
        with (yield semaphore()):
            inside.append(i)
            print(f"worker {i} in with {inside}")
            yield tinyio.sleep(0.01 * (i + 1))
            inside.remove(i)

    def main():
        yield [worker(i) for i in range(3)]

    tinyio.Loop().run(main())
    # worker 0 in with [0]
    # worker 1 in with [0, 1]
    # worker 2 in with [1, 2]
    ```

    Waiters get in first-come first-served. The slot is released when the `with` block
    exits, also on error or cancellation. `yield semaphore()` gives a context manager that
    can be entered once; one that is never entered (its coroutine was cancelled or timed out
    just as it got the slot) releases the slot when it is dropped.
    """

    __slots__ = ()

    def __init__(self, value: int) -> None:
        """A semaphore with `value` free slots.

        Arguments:
            value: the maximum number of concurrent holders, at least 1.

        Raises:
            ValueError: `value` is less than 1.
            TypeError: `value` is not an int.
        """
        problem = count_problem(value, "`tinyio.Semaphore(value=...)`")
        if problem is not None:
            raise problem
        super().__init__(_SlotPool(value, f"a tinyio.Semaphore({value}) at {id(self):#x}"))

    @property
    def value(self) -> int:
        """How many more coroutines could acquire the semaphore right now."""
        return self._pool.available

    def locked(self) -> bool:
        """Whether acquiring now would block (every slot is held)."""
        return self._pool.available == 0

    def __call__(self) -> Coro[contextlib.AbstractContextManager[None]]:
        """Block until the semaphore can be entered: `with (yield semaphore()):`."""
        pool = self._pool
        return self._acquire(_UnenteredSlot(pool.give_back))  # made here: see it

    @hands_back(_slot_given_back)
    @starts_at_once
    def _acquire(self, slot: Slot) -> Generator[Any, Any, Slot]:
        yield from self._pool.take(slot)
        return slot

    def __repr__(self) -> str:
        return (
            f"<tinyio.Semaphore {self._pool.available}/{self._pool.initial} free, "
            f"{len(self._pool.waiters)} waiting>"
        )


class Lock(_PoolUser):
    """Prevents multiple coroutines from accessing a single resource at the same time.

    ```python
    import tinyio

    lock = tinyio.Lock()
    log = []

    def worker(name):
        with (yield lock()):
            log.append(f"{name} in")
            yield
            log.append(f"{name} out")

    def main():
        yield [worker("a"), worker("b")]
        print(log)

    tinyio.Loop().run(main())
    # ['a in', 'a out', 'b in', 'b out']
    ```

    This is `tinyio.Semaphore(1)` with a name that says what it is for.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_SlotPool(1, f"a tinyio.Lock at {id(self):#x}"))

    @property
    def value(self) -> int:
        """How many more coroutines could acquire the lock right now: 1 while it is free, 0
        while it is held (as `Semaphore.value`, for the `Semaphore(1)` that a lock is)."""
        return self._pool.available

    def locked(self) -> bool:
        """Whether the lock is held."""
        return self._pool.available == 0

    def __call__(self) -> Coro[contextlib.AbstractContextManager[None]]:
        """Block until the lock can be entered: `with (yield lock()):`."""
        pool = self._pool
        return self._acquire(_UnenteredSlot(pool.give_back))  # made here: see it

    @hands_back(_slot_given_back)
    @starts_at_once
    def _acquire(self, slot: Slot) -> Generator[Any, Any, Slot]:
        pool = self._pool
        yield from pool.take(slot)
        pool.holder = weakref.ref(slot)
        return slot

    def __repr__(self) -> str:
        state = "locked" if self.locked() else "unlocked"
        return f"<tinyio.Lock {state}, {len(self._pool.waiters)} waiting>"


class Condition(_PoolUser):
    """Lets coroutines wait until notified, while sharing a lock.

    ```python
    import tinyio

    condition = tinyio.Condition()
    items = []

    def consumer():
        with (yield condition()):
            yield condition.wait_for(lambda: items)
            print(f"consumed {items.pop()}")

    def producer():
        with (yield condition()):
            items.append("apple")
            condition.notify()

    def main():
        yield [consumer(), producer()]

    tinyio.Loop().run(main())
    # consumed apple
    ```

    `with (yield condition()):` acquires the lock. Inside, `yield condition.wait()` releases
    it, blocks until another coroutine calls `notify()`/`notify_all()`, and re-acquires it
    before resuming. Waking is not strict: re-check the state you wait for, or use
    `wait_for(predicate)`, which does that for you.
    """

    __slots__ = ("_lock", "_waiters")

    def __init__(self, lock: Lock | None = None) -> None:
        """A condition variable sharing `lock`.

        Arguments:
            lock: the `tinyio.Lock` to use; by default a new one.
        """
        if lock is None:
            lock = Lock()
        elif not isinstance(lock, Lock):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Condition needs a tinyio.Lock, got {lock!r}.")
        super().__init__(lock._pool)
        self._lock = lock
        self._waiters = WaitLine()  # the coroutines in `wait()`, to notify first come first

    def __call__(self) -> Coro[contextlib.AbstractContextManager[None]]:
        """Acquire the underlying lock: `with (yield condition()):`."""
        return self._lock()

    def locked(self) -> bool:
        """Whether the underlying lock is held."""
        return self._lock.locked()

    def wait(self) -> Coro[None]:
        """Release the lock, wait until notified, then re-acquire it: `yield condition.wait()`.

        A wait that is cancelled (`tinyio.cancel`, a lost `tinyio.race`) or timed out
        (`tinyio.timeout`) leaves the line of waiters -- a notification it was handed goes to
        the next in line -- and takes the lock back before the error propagates, as in asyncio
        and trio: the code of the `with` block never runs without the lock. (When the whole
        loop is stopping, after an error or a Ctrl-C, it does not wait for the lock.)

        Raises:
            RuntimeError: the lock is not held.
        """
        holder = self._held_slot("wait")
        if isinstance(holder, RuntimeError):
            raise holder
        return self._wait(holder)

    def _held_slot(self, method: str) -> Slot | RuntimeError:
        """The slot holding the lock; or, for `method` to raise, the error saying it is not
        held. Like asyncio's, a tinyio lock is not owned by a coroutine: this checks that the
        lock is held, not by whom (see the docs)."""
        reference = self._pool.holder
        holder = None if reference is None else reference()
        if holder is None or not holder.held:
            return RuntimeError(
                f"condition.{method}() needs the condition's lock: call it inside "
                "`with (yield condition()):`."
            )
        return holder

    # Runs as part of the waiting coroutine (`starts_at_once`), so that a cancel or a timeout
    # of that coroutine is thrown in here first: the wait leaves the line (a notification
    # handed to it goes on to the next in line) and takes the lock back before the error
    # propagates, as asyncio and trio do, so that the `with` block's code never runs without
    # the lock. Not when the loop is cancelling everything: nothing may wait then.
    @starts_at_once
    def _wait(self, holder: Slot) -> Coro[None]:
        loop: Loop = yield CURRENT_LOOP
        waiters = self._waiters
        wait = waiters.join()
        holder.release()
        try:
            yield from waiters.wait(wait)
        except BaseException as error:
            if cancelling_everything(loop):
                raise
            stopped = error
        else:
            stopped = None
        yield from self._reacquire(holder, loop, stopped)

    def _reacquire(self, holder: Slot, loop: Loop, stopped: BaseException | None) -> Coro[None]:
        """Take the lock back into the same slot, so that the `with` block releases it as
        usual; then raise `stopped`, the error that ended the wait, if any. An error thrown in
        meanwhile (a cancel once notified, or a second interrupt) is raised instead, once the
        lock is back; and as the notification it was handed then goes unused, it goes to the
        next in line (at worst a spurious wake-up, which a condition allows: asyncio does the
        same)."""
        pool = self._pool
        notified = stopped is None
        while True:
            try:
                yield from pool.take(holder)
            except BaseException as error:
                if cancelling_everything(loop):
                    raise
                stopped = error
            else:
                break
        pool.holder = weakref.ref(holder)
        if stopped is not None:
            if notified:
                self._waiters.wake_first()
            raise stopped

    def wait_for(self, predicate: Callable[[], _T]) -> Coro[_T]:
        """Wait until `predicate()` is true: `yield condition.wait_for(lambda: ...)`.

        The predicate is checked with the lock held, first at once and then after each
        notification. Returns its last (true) value. Cancelled or timed out, it leaves as
        `wait` does, with the lock held again.
        """
        if not callable(predicate):
            raise TypeError(f"wait_for needs a callable predicate, got {predicate!r}.")
        holder = self._held_slot("wait_for")
        if isinstance(holder, RuntimeError):
            raise holder
        return self._wait_for(holder, predicate)

    @starts_at_once
    def _wait_for(self, holder: Slot, predicate: Callable[[], _T]) -> Coro[_T]:
        result = predicate()
        while not result:
            yield from self._wait(holder)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        """Wake up to `n` of the coroutines waiting in `wait()`, first come first served.

        Raises:
            TypeError: `n` is not an int (a bool or a float such as `1.0` is not one either).
            ValueError: `n` is negative (0 wakes nobody).
        """
        if isinstance(n, bool) or not isinstance(n, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"notify needs an int, got {n!r}.")
        if n < 0:
            raise ValueError(f"notify needs a non-negative int, got {n!r}.")
        for _ in range(min(n, len(self._waiters))):
            self._waiters.wake_first()

    def notify_all(self) -> None:
        """Wake every coroutine waiting in `wait()`."""
        self.notify(len(self._waiters))

    def __repr__(self) -> str:
        return f"<tinyio.Condition {len(self._waiters)} waiting, {self._lock!r}>"


class _Arrival:
    """A coroutine waiting at a closed barrier: its place in the count until the barrier opens
    (and then its index), or until it leaves."""

    __slots__ = ("gen", "index", "loop", "wait", "waited_on")

    def __init__(self) -> None:
        self.gen: weakref.ref[Coro[Any]] | None = None  # the arrival's own coroutine
        self.loop: Loop | None = None
        self.wait = Wait()
        self.waited_on = False  # whether some coroutine waited on it when it arrived
        self.index: int | None = None  # given when the barrier opens; None: it left

    def abandoned(self) -> bool:
        """Whether the coroutine that waited on this arrival stopped waiting (it was cancelled
        or timed out while the arrival's own coroutine, a task of its own, went on waiting)."""
        gen = None if self.gen is None else self.gen()
        if gen is None:
            return True
        if not self.waited_on or self.loop is None:
            return False  # a background or root coroutine: nobody waits on it by design
        return not waiters_of(self.loop, gen)


class Barrier:
    """Prevents coroutines from progressing until at least `value` of them have reached it.

    ```python
    import tinyio

    barrier = tinyio.Barrier(3)

    def runner(laps):
        for _ in range(laps):
            yield
        index = yield barrier.wait()
        yield barrier  # the same as `yield barrier.wait()`: passes at once now
        return index

    def main():
        slow, quick, medium = yield [runner(3), runner(1), runner(2)]
        print(f"quick arrived {quick}, medium {medium}, slow {slow}")

    tinyio.Loop().run(main())
    # quick arrived 0, medium 1, slow 2
    ```

    `wait()` returns the arrival index (0, 1, ...) of each coroutine. Once `value` have
    arrived, all of them go on; later arrivals pass at once. An arrival that is cancelled or
    timed out before the barrier opens leaves: it no longer counts, and those after it move up.
    """

    __slots__ = ("_arrivals", "_passed", "_value")

    def __init__(self, value: int) -> None:
        """A barrier for `value` coroutines.

        Arguments:
            value: the number of coroutines that must arrive before any goes on, at least 1.

        Raises:
            ValueError: `value` is less than 1.
            TypeError: `value` is not an int.
        """
        problem = count_problem(value, "`tinyio.Barrier(value=...)`")
        if problem is not None:
            raise problem
        self._value: int = value
        # The coroutines waiting while the barrier is closed, in the order they arrived.
        self._arrivals: list[_Arrival] = []
        self._passed: int | None = None  # once open: how many have passed (the next index)

    def wait(self) -> Coro[int]:
        """Block until the barrier can be passed; gives this coroutine's arrival index."""
        return self._start()

    def _tinyio_wait_(self) -> Coro[int]:
        # `yield barrier` means `yield barrier.wait()` (see the loop core).
        return self._start()

    def _start(self) -> Coro[int]:
        arrival = _Arrival()
        gen = self._wait(arrival)
        arrival.gen = weakref.ref(gen)
        return gen

    # Runs as part of the arriving coroutine (`starts_at_once`), so that its cancellation or
    # timeout is thrown in here, and the arrival leaves before the error propagates. (Yielded
    # as `yield barrier`, the core runs it as a task of its own, which is not interrupted with
    # its yielder: such an arrival is found to have been abandoned, and leaves, when the
    # barrier next counts its arrivals.)
    @starts_at_once
    def _wait(self, arrival: _Arrival) -> Coro[int]:
        if self._passed is not None:
            index = self._passed
            self._passed += 1
            return index
        arrivals = self._arrivals
        self._leave_if_abandoned()
        if len(arrivals) + 1 >= self._value:
            for index, waiting in enumerate(arrivals):
                waiting.index = index
                waiting.wait.wake()
            index = len(arrivals)
            self._passed = index + 1
            arrivals.clear()
            return index
        arrivals.append(arrival)
        wait = arrival.wait
        try:
            loop: Loop = yield CURRENT_LOOP
            arrival.loop = loop
            gen = None if arrival.gen is None else arrival.gen()
            arrival.waited_on = gen is not None and bool(waiters_of(loop, gen))
            if not wait.woken:
                yield wait
        except BaseException:
            if arrival.index is None:  # the barrier has not opened for it: leave
                self._leave(arrival)
            raise
        # None if it left, abandoned: then nothing waits on it to receive this.
        return arrival.index  # pyright: ignore[reportReturnType]

    def _leave(self, arrival: _Arrival) -> None:
        with contextlib.suppress(ValueError):  # not in the count any more
            self._arrivals.remove(arrival)

    def _leave_if_abandoned(self) -> None:
        """Take out of the count the arrivals whose waiter has stopped waiting, and end them."""
        for arrival in [a for a in self._arrivals if a.abandoned()]:
            self._leave(arrival)
            arrival.wait.wake()  # with no index: its coroutine ends, unseen

    def __repr__(self) -> str:
        if self._passed is None:  # closed: those waiting (not those abandoned, about to leave)
            arrived = sum(not arrival.abandoned() for arrival in self._arrivals)
        else:
            arrived = self._passed
        return f"<tinyio.Barrier {arrived}/{self._value} arrived>"
