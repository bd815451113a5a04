"""as_completed: results in the order they finish, built on background coroutines and Waits."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, TypeVar

from ._cancel import coroutine_list
from ._core import Coro, Wait

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
        TypeError: `coros` is not an iterable of coroutines -- say a number, or a single
            coroutine rather than a list of one -- or a member of it is not a coroutine
            (raised at the call).
    """
    listed = coroutine_list(coros, "as_completed")
    if isinstance(listed, TypeError):
        raise listed
    coros = listed
    for coro in coros:
        if not isinstance(coro, types.GeneratorType):
            raise TypeError(
                f"as_completed needs coroutines (generators), got {coro!r} among its inputs."
            )
    return _as_completed(coros)


def _as_completed(coros: list[Coro[_T]]) -> Coro[Iterable[Coro[_T]]]:
    arrivals = _Arrivals(len(coros))
    yield {arrivals.watch(coro) for coro in coros}
    return [arrivals.result(k) for k in range(len(coros))]


class _Arrivals:
    """The results of one `as_completed`, in the order they arrived, and who waits for which.

    Per input this costs the watching coroutine and, only for a result asked for before it
    arrives, one `Wait`, rather than an Event per input and a coroutine of `Event.wait` per
    result.
    """

    __slots__ = ("results", "total", "waits")

    def __init__(self, total: int) -> None:
        self.total = total
        self.results: list[Any] = []
        self.waits: dict[int, Wait] = {}  # the k-th result, asked for before it arrived

    def watch(self, coro: Coro[Any]) -> Coro[None]:
        results = self.results
        results.append((yield coro))
        wait = self.waits.pop(len(results) - 1, None)
        if wait is not None:
            wait.wake()

    def result(self, k: int) -> Coro[Any]:
        if k >= len(self.results):
            # One generator per k, so one Wait per k (each is yielded once).
            wait = self.waits[k] = Wait()
            yield wait
        return self.results[k]

    def __repr__(self) -> str:
        return f"<tinyio.as_completed: {len(self.results)} of {self.total} results arrived>"
