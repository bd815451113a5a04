"""as_completed: results in the order they finish, built on background coroutines and Events."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, TypeVar

from ._core import Coro
from ._event import Event

__all__ = ["as_completed"]

_T = TypeVar("_T")


def as_completed(coros: Iterable[Coro[_T]]) -> Coro[Iterable[Coro[_T]]]:
    """Schedules multiple coroutines, iterating through their outputs in the order that they complete.

    ```python
    import tinyio

    def nap(x):
        yield tinyio.sleep(x / 100)
        return x

    def main():
        for next_done in (yield tinyio.as_completed({nap(7), nap(2), nap(4)})):
            print((yield next_done))

    tinyio.Loop().run(main())
    # 2
    # 4
    # 7
    ```

    Arguments:
        coros: the coroutines to run (a set, list or any iterable of generators).

    Returns:
        A coroutine; yielding it starts all of `coros` in the background and gives an
        iterable of coroutines, one per input. Yielding the k-th of them gives the k-th
        result to complete. They may be yielded in any order, and several at once.

    Raises:
        TypeError: a member of `coros` is not a coroutine (raised at the call).
    """
    coros = list(coros)
    for coro in coros:
        if not isinstance(coro, types.GeneratorType):
            raise TypeError(
                f"as_completed needs coroutines (generators), got {coro!r} among its inputs."
            )
    return _as_completed(coros)


def _as_completed(coros: list[Coro[_T]]) -> Coro[Iterable[Coro[_T]]]:
    finished: list[Any] = []
    # finished[k] is known once arrivals[k] is set.
    arrivals = [Event() for _ in coros]

    def watch(coro: Coro[_T]) -> Coro[None]:
        finished.append((yield coro))
        arrivals[len(finished) - 1].set()

    def kth(k: int) -> Coro[_T]:
        yield arrivals[k].wait()
        return finished[k]

    yield {watch(coro) for coro in coros}
    return [kth(k) for k in range(len(coros))]
