"""The FIFO line of waiters that every feature making coroutines queue is built on.

Locks and semaphores (for a slot), queues (for an item or a free place), conditions (for a
notification) and events (for the flag) all keep their waiting coroutines in a `WaitLine`, the
part that curio calls `SchedFIFO` and trio a `ParkingLot`. What they differ in -- what is
handed over, and how to pass it on -- they say in the calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .waits import Coro, Wait

__all__ = ["WaitLine"]


class WaitLine(deque[Wait]):
    """A first-come first-served line of coroutines, each waiting to be handed something.

    A waiter gets in line (`join`) and yields its `Wait` (`wait`). A waker hands the first in
    line what it waits for by taking its wait out of the line, then waking it (`wake_first`,
    `wake_all`). So a wait is in the line exactly while its coroutine waits and nobody has
    handed it anything yet. A waiter that stops waiting for another reason -- an error thrown
    in (a cancellation, `tinyio.timeout`) or its own timeout -- always leaves the line; and if
    a waker took it out first, what it was handed is passed on (`pass_on`), so that it reaches
    the next in line instead of being lost.

    A deque, so that asking whether anyone waits (`if line:`) costs no Python call, and every
    change to the line is one deque operation, which is atomic: wakers may run in any thread
    (`Queue.put_nowait`). Waiters get in line in the loop's thread. The hottest users (acquiring
    a lock, waiting on an event) write the steps of `join`, `wait` and `wake_first` inline --
    `append` a `Wait`, yield it, `leave` if stopped; `popleft().wake()` -- as a generator or a
    call more per wait would cost them 5 to 18%; the rules are the same.
    """

    __slots__ = ()

    def join(self, timeout: float | None = None) -> Wait:
        """Get in line: the wait to give `wait` (perhaps after looking again at what is
        waited for, which another thread may have made available meanwhile)."""
        wait = Wait(timeout)
        self.append(wait)
        return wait

    def leave(self, wait: Wait) -> bool:
        """Take `wait` out of the line, if it is still in it. True if it was not: a waker took
        it out first, so it has been (or is being) handed something."""
        if wait.woken:
            return True
        try:
            self.remove(wait)
        except ValueError:
            return True
        return False

    def wait(self, wait: Wait, pass_on: Callable[[], object] | None = None) -> Coro[bool]:
        """Yield `wait`, which is in line, until handed something (True), or until its
        timeout passes (False). Stopped by an error, it leaves the line, or passes on what it
        was handed, before the error propagates: to the next in line (`wake_first`), or as
        `pass_on()` says (a semaphore's slot goes back to the semaphore if nobody waits)."""
        try:
            woken = yield wait
        except BaseException:
            if self.leave(wait):
                if pass_on is None:
                    self.wake_first()
                else:
                    pass_on()
            raise
        # Timed out: out of the line -- unless handed something at that moment: then take it.
        return woken or self.leave(wait)

    def wake_first(self) -> bool:
        """Hand the first in line what it waits for: take it out of the line and wake it.
        False if nobody waits."""
        try:
            wait = self.popleft()
        except IndexError:
            return False
        wait.wake()
        return True

    def wake_all(self) -> None:
        """Hand every waiter what it waits for, first come first."""
        while True:
            try:
                wait = self.popleft()
            except IndexError:
                return
            wait.wake()
