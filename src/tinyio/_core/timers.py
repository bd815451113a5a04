"""Timers: a heap of deadlines on the loop's clock, which is the system's or a virtual one.

The scheduler reads the heap once per round (an expired timer is honoured at the next round
even while the loop stays busy) and pushes to it, inline, for each wait with a timeout; this
room does the rest. Entries are removed lazily: one whose wait was woken before its deadline
stays in the heap, counted in `dead`, and is skipped when popped; when dead entries are most of
the heap, it is compacted, in place (the scheduler holds the list itself).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Final, Protocol

from .waits import Wait

__all__ = ["COMPACT_AFTER", "Clock", "Timers"]

# Compact the heap when more than this many entries are dead, and they are most of it.
COMPACT_AFTER: Final = 256

# The heaps' tie-breakers, shared by every loop: they only need to grow within one heap, and a
# counter per loop cost each (isolated) loop 56 bytes. `next()` on it is atomic.
_TIE_BREAKERS: Final = itertools.count()


class Clock(Protocol):
    """What a loop needs of a clock other than the system's: see `tinyio.testing.VirtualClock`.

    The loop reads `time()` where it sets and checks timers (once per round, never per step),
    and when it has nothing to do but wait for a timer -- no coroutine ready, no thread call
    running -- it calls `advance_to(deadline)` instead of sleeping: a virtual clock moves at
    once to the next timer's deadline.
    """

    def time(self) -> float:
        """The current time, in seconds; it never goes back."""
        ...

    def advance_to(self, deadline: float) -> None:
        """Move the clock forward to `deadline` (the loop's next timer)."""
        ...


class Timers:
    """The timers of one loop, and its clock."""

    __slots__ = ("clock", "counter", "dead", "heap", "now", "outside", "resume")

    def __init__(self, clock: Clock | None, resume: Callable[[Wait, bool], None]) -> None:
        self.clock = clock  # None: the system's
        # Where timers read the time: once per round and once per wait with a timeout.
        self.now: Callable[[], float] = time.monotonic if clock is None else clock.time
        # Min-heap of (deadline, tie-breaker, wait), the tie-breaker from `counter`.
        self.heap: list[tuple[float, int, Wait]] = []
        self.counter = _TIE_BREAKERS
        self.dead = 0  # entries whose wait was woken before its deadline
        # How many waits are to be woken by work outside the loop (see `waking_from_outside`):
        # while any is, a virtual clock does not jump.
        self.outside = 0
        self.resume = resume  # the scheduler's: a fired timer resumes its wait with False

    def fire(self) -> None:
        """Resume every wait whose deadline has passed."""
        heap = self.heap
        if not heap:
            return
        now = self.now()
        while heap and heap[0][0] <= now:
            wait = heapq.heappop(heap)[2]
            task = wait.task
            if task is not None and task.waiting_on is wait:
                self.resume(wait, False)
            elif self.dead > 0:
                self.dead -= 1

    def compact(self) -> None:
        """Drop the dead entries, in place (the scheduler counts them, inline, as it wakes
        their waits, and calls this once they are more than `COMPACT_AFTER` and most of it)."""
        heap = self.heap
        heap[:] = [entry for entry in heap if _is_live(entry[2])]
        heapq.heapify(heap)
        self.dead = 0

    def until_next(self) -> float | None:
        """Seconds until the next deadline (perhaps a dead entry's), None if there is none."""
        if not self.heap:
            return None
        return max(0.0, self.heap[0][0] - self.now())

    def jumped(self) -> bool:
        """Idle, with a clock of our own: move it to the next live timer, unless work outside
        the loop may still wake us first. Whether it moved (then that timer is due)."""
        if self.outside:
            return False
        heap = self.heap
        while heap:
            deadline, _, wait = heap[0]
            if _is_live(wait):
                assert self.clock is not None
                self.clock.advance_to(deadline)
                return True
            heapq.heappop(heap)  # a dead entry: its wait was woken before its deadline
            if self.dead > 0:
                self.dead -= 1
        return False

    def clear(self) -> None:
        """Forget every timer (the loop has cancelled everything)."""
        self.heap.clear()
        self.dead = 0


def _is_live(wait: Wait) -> bool:
    task = wait.task
    return task is not None and task.waiting_on is wait
