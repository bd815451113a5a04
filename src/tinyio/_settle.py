"""settle: every coroutine's result or error, in one gather, without a nested loop each.

Each coroutine runs inline (`yield from`) inside a small wrapper coroutine, and the wrappers are
gathered like any list. An error raised by the coroutine is then an ordinary Python exception
in the wrapper's frame, which catches it: no loop machinery is involved, so the cost per
coroutine is one extra generator frame, not a nested loop as with `isolate`.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, Literal, TypeAlias, TypeVar, cast

from ._cancel import async_hint, cancel_all_of, coroutine_list
from ._core import CURRENT_LOOP, Coro, Loop, starts_at_once, without_library_frames
from ._unyielded import Guard, Unyielded

__all__ = ["settle"]

_SETTLE = Unyielded("tinyio.settle(...)")

_T = TypeVar("_T")

_Outcome: TypeAlias = tuple[_T, Literal[True]] | tuple[Exception, Literal[False]]


def settle(coros: Iterable[Coro[_T]]) -> Coro[list[_Outcome[_T]]]:
    """Run coroutines side by side, and give each one's result or `Exception`.

    ```python
    import tinyio

    def fetch(x):
        yield tinyio.sleep(0.01)
        if x == 2:
            raise ValueError(f"no page {x}")
        return f"page {x}"

    def main():
        for value, ok in (yield tinyio.settle([fetch(1), fetch(2), fetch(3)])):
            print(ok, repr(value))

    tinyio.Loop().run(main())
    # True 'page 1'
    # False ValueError('no page 2')
    # True 'page 3'
    ```

    Like `yield [a, b, c]`, but an `Exception` raised by one coroutine does not crash the
    loop: it becomes that coroutine's outcome, and the others run on. Use it where asyncio
    would use `gather(..., return_exceptions=True)`; it costs about as much as a plain gather.

    What is caught is what `try: ... except Exception:` around `yield from coro` would
    catch: errors raised in `coro` itself and in what it runs with `yield from`. A coroutine
    that `coro` *yields* is a separate coroutine of the loop, whose error crashes the loop as
    usual (others may be waiting on it too); to contain everything a coroutine starts, use
    `tinyio.isolate`. A `BaseException` that is not an `Exception` (`KeyboardInterrupt`,
    `tinyio.CancelledError`, `tinyio.TimeoutError`) is not caught: it propagates, and
    crashes the loop, as it would anywhere.

    Arguments:
        coros: the coroutines to run (a list, or any iterable of generators). They must be
            new -- not started, and not given to anything else -- as each runs inside its
            wrapper, not as a coroutine of the loop of its own.

    Returns:
        A coroutine giving a list with one pair per coroutine, in the order of `coros`:
        `(result, True)` if it returned, `(error, False)` if it raised an `Exception` (with
        its traceback, less tinyio's own frames). The same shape as `tinyio.isolate` and
        `tinyio.timeout` give.

    Raises:
        TypeError: a member of `coros` is not a generator (at the call).
        ValueError: a member of `coros` has already started, or appears twice (at the call).
    """
    listed = coroutine_list(coros, "settle")
    if isinstance(listed, TypeError):
        raise listed
    coros = listed
    generator = types.GeneratorType
    for coro in coros:
        if type(coro) is not generator or coro.gi_frame is None or coro.gi_suspended:
            raise _rejection(cast(object, coro), coros)
    if len(set(coros)) != len(coros):
        seen: set[Coro[_T]] = set()
        for coro in coros:
            if coro in seen:
                raise ValueError(
                    f"settle got the coroutine {coro!r} twice: each runs once, so give it once."
                )
            seen.add(coro)
    return _settle(_SETTLE.arm(), coros)


def _rejection(coro: object, coros: list[Any]) -> TypeError | ValueError:
    """Why `coro` cannot be settled, for `settle` to raise."""
    if not isinstance(coro, types.GeneratorType):
        return TypeError(
            f"settle needs coroutines (generators), got {coro!r} among its inputs."
            + async_hint(coro, "tinyio.settle([tinyio.from_asyncio(coro), ...])", coros)
        )
    return ValueError(
        f"settle needs new coroutines, got {coro!r}, which has already started (or finished). "
        "settle runs each coroutine inside its own wrapper, so it cannot share one that runs "
        "elsewhere: yield that one directly."
    )


@starts_at_once
def _settle(guard: Guard | None, coros: list[Coro[_T]]) -> Coro[list[_Outcome[_T]]]:
    _SETTLE.disarm(guard)
    del guard
    loop: Loop = yield CURRENT_LOOP
    wrappers = [_outcome(coro) for coro in coros]
    try:
        return (yield wrappers)
    except BaseException:
        # settle itself was cancelled or timed out: so are the coroutines it runs, as for
        # `race`.
        stopping = cancel_all_of(
            loop, wrappers, "cancelled because the tinyio.settle was cancelled"
        )
        if stopping:
            yield stopping
        raise


def _outcome(coro: Coro[_T]) -> Coro[_Outcome[_T]]:
    gen = cast("types.GeneratorType[Any, Any, Any]", coro)
    if gen.gi_suspended or gen.gi_frame is None:
        # Started between the call to `settle` and now (yielded elsewhere meanwhile).
        raise ValueError(
            f"settle's coroutine {coro!r} was started elsewhere before settle ran it: "
            "give settle coroutines that nothing else yields."
        )
    try:
        return (yield from coro), True
    except Exception as error:
        # As out of `Loop.run`: the traceback shows the coroutine, not this wrapper.
        return error.with_traceback(without_library_frames(error.__traceback__)), False
