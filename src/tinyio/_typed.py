"""Typed waiting: `x = yield from tinyio.wait(coro)` and `a, b = yield from tinyio.gather(...)`.

A type checker cannot know what a `yield` gives back: the loop sends it, so `x = yield coro` is
`Any`. `yield from` a generator gives that generator's return type, so these two wrap the plain
yields in one small generator each. They add no scheduling turn: `yield from` passes the
coroutine (or the list) straight up to the loop, exactly as `yield` would, and sends the result
straight back down. The cost is less than one generator creation per wait (measured: see
docs/typing.md).
"""

from __future__ import annotations

import types
from typing import Any, Final, TypeVar, overload

from ._core import Coro

__all__ = ["gather", "wait"]

_T = TypeVar("_T")
_T1 = TypeVar("_T1")
_T2 = TypeVar("_T2")
_T3 = TypeVar("_T3")
_T4 = TypeVar("_T4")
_T5 = TypeVar("_T5")
_T6 = TypeVar("_T6")

_GENERATOR: Final = types.GeneratorType


def wait(coro: Coro[_T], /) -> Coro[_T]:
    """Wait for `coro`, typed: `x = yield from tinyio.wait(coro)` gives `x` the type `T` of a
    `Coro[T]`, where `x = yield coro` gives `Any`.

    ```python
    import tinyio

    def answer() -> tinyio.Coro[int]:
        yield tinyio.sleep(0.01)
        return 42

    def main() -> tinyio.Coro[None]:
        x = yield from tinyio.wait(answer())  # a type checker knows: x is an int
        print(x + 1)

    tinyio.Loop().run(main())
    # 43
    ```

    It behaves exactly as `yield coro` -- same turns, same result, same errors, and tinyio's
    own operations (`queue.get()`, `lock()`) still run as part of the caller -- at the cost of
    one small generator.

    Raises:
        TypeError: `coro` is not a coroutine (at the `yield from`).
    """
    # Moved into a list emptied at the yield, so that once yielded nothing but the loop holds
    # the coroutine: an operation that `starts_at_once` is only started at once when unshared
    # (its reference count tells).
    box: list[Coro[_T]] = [coro]
    if type(coro) is not _GENERATOR:
        raise TypeError(f"tinyio.wait needs a coroutine (a generator), got {coro!r}.")
    del coro
    return (yield box.pop())


@overload
def gather(coro1: Coro[_T1], /) -> Coro[tuple[_T1]]: ...
@overload
def gather(coro1: Coro[_T1], coro2: Coro[_T2], /) -> Coro[tuple[_T1, _T2]]: ...
@overload
def gather(
    coro1: Coro[_T1], coro2: Coro[_T2], coro3: Coro[_T3], /
) -> Coro[tuple[_T1, _T2, _T3]]: ...
@overload
def gather(
    coro1: Coro[_T1], coro2: Coro[_T2], coro3: Coro[_T3], coro4: Coro[_T4], /
) -> Coro[tuple[_T1, _T2, _T3, _T4]]: ...
@overload
def gather(
    coro1: Coro[_T1], coro2: Coro[_T2], coro3: Coro[_T3], coro4: Coro[_T4], coro5: Coro[_T5], /
) -> Coro[tuple[_T1, _T2, _T3, _T4, _T5]]: ...
@overload
def gather(
    coro1: Coro[_T1],
    coro2: Coro[_T2],
    coro3: Coro[_T3],
    coro4: Coro[_T4],
    coro5: Coro[_T5],
    coro6: Coro[_T6],
    /,
) -> Coro[tuple[_T1, _T2, _T3, _T4, _T5, _T6]]: ...
@overload
def gather(*coros: Coro[_T]) -> Coro[tuple[_T, ...]]: ...
def gather(*coros: Coro[Any]) -> Coro[tuple[Any, ...]]:
    """Run coroutines concurrently, typed: `a, b = yield from tinyio.gather(f(), g())` gives a
    tuple of their result types, where `a, b = yield [f(), g()]` gives `Any`.

    ```python
    import tinyio

    def name() -> tinyio.Coro[str]:
        yield tinyio.sleep(0.02)
        return "tinyio"

    def size() -> tinyio.Coro[int]:
        yield tinyio.sleep(0.01)
        return 4

    def main() -> tinyio.Coro[None]:
        label, count = yield from tinyio.gather(name(), size())  # a str and an int
        print(label.upper(), count * 2)

    tinyio.Loop().run(main())
    # TINYIO 8
    ```

    The same as `tuple((yield [coro1, coro2, ...]))`: the results in the order given, and if
    one raises, the loop crashes as for any gather. Up to six coroutines get a tuple of their
    separate types; more (or `gather(*many)`) get `tuple[T, ...]`.

    Raises:
        TypeError: an argument is not a coroutine (at the call).
    """
    for coro in coros:
        if type(coro) is not types.GeneratorType:
            raise TypeError(f"tinyio.gather needs coroutines (generators), got {coro!r}.")
    return _gather(list(coros))


def _gather(coros: list[Coro[Any]]) -> Coro[tuple[Any, ...]]:
    return tuple((yield coros))
