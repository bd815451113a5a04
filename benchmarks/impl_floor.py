"""The floor: a bare round-robin of generators, with no event-loop features at all.

A deque of generators; pop one, ``send(None)`` it, append it back unless it finished. This is
the least one step of any generator-based loop can cost, so ``switch`` here divided into
tinyio's ``switch`` says how much one tinyio step costs on top of it. Only the workloads that
need nothing but stepping (``switch``, ``gather``) exist here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterable
from typing import Any


def _round_robin(generators: Iterable[Generator[None, None, Any]]) -> list[Any]:
    """Step the generators in turn until all have finished; their results in finishing order."""
    ready = deque(generators)
    popleft, append = ready.popleft, ready.append
    finished: list[Any] = []
    while ready:
        generator = popleft()
        try:
            generator.send(None)
        except StopIteration as stop:
            finished.append(stop.value)
        else:
            append(generator)
    return finished


def _leaf(i: int) -> Generator[None, None, int]:
    yield
    return i


def switch(n: int) -> int:
    def main() -> Generator[None, None, int]:
        count = 0
        for _ in range(n):
            yield
            count += 1
        return count

    return _round_robin([main()])[0]


def gather(n: int) -> list[int]:
    # Round-robin is FIFO, so the leaves finish in the order they started.
    return _round_robin([_leaf(i) for i in range(n)])
