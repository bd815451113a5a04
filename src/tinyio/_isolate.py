"""Isolation: run coroutines in a nested loop whose failure does not crash the outer one.

`isolate` drives a second `Loop` through `Loop.runtime`, one step per turn of the coroutine
that drives it, so the two loops advance together. When the inner loop is idle, the driving
coroutine waits in the outer loop on a `Wait` -- with the inner loop's next timer as its
timeout, and woken by the inner loop's wake-ups -- so neither loop spins or blocks the other.
"""

from __future__ import annotations

import types
from typing import Any, Literal, TypeAlias, TypeGuard, TypeVar, overload

from ._core import (
    CURRENT_LOOP,
    CancelledError,
    Coro,
    Idle,
    Loop,
    Wait,
    clock_of,
    ctrl_c_presses,
    lend_selector,
    note_on_outcome,
    starts_at_once,
    waits_on_outside,
    waking_from_outside,
    without_library_frames,
)
from ._event import Event
from ._unyielded import Guard, Unyielded

__all__ = ["copy", "isolate"]

_ISOLATE = Unyielded("tinyio.isolate(...)")

_T = TypeVar("_T")

# What `isolate` gives back when something inside failed: it catches an `Exception`, or a group
# whose original error (its first member) is one. With `exception_group=True` that is always a
# group, which holds `CancelledError`s (`BaseException`s); with `False`, never a group.
_Failure: TypeAlias = Exception | BaseExceptionGroup[BaseException]


@overload
def isolate(
    coro: Coro[_T], exception_group: Literal[False]
) -> Coro[tuple[_T, Literal[True]] | tuple[Exception, Literal[False]]]: ...
@overload
def isolate(
    coro: Coro[_T], exception_group: Literal[True]
) -> Coro[tuple[_T, Literal[True]] | tuple[BaseExceptionGroup[BaseException], Literal[False]]]: ...
@overload
def isolate(
    coro: Coro[_T], exception_group: bool | None = None
) -> Coro[tuple[_T, Literal[True]] | tuple[_Failure, Literal[False]]]: ...
def isolate(
    coro: Coro[_T], exception_group: bool | None = None
) -> Coro[tuple[_T, Literal[True]] | tuple[_Failure, Literal[False]]]:
    """Run `coro` so that if it (or anything it starts) fails, only it is cancelled.

    ```python
    import tinyio

    def flaky():
        yield tinyio.sleep(0.01)
        raise ValueError("flaky failed")

    def steady():
        yield tinyio.sleep(0.02)
        return "steady finished"

    def main():
        (error, ok), result = yield [tinyio.isolate(flaky()), steady()]
        print(ok, repr(error))
        print(result)

    tinyio.Loop().run(main())
    # False ValueError('flaky failed')
    # steady finished
    ```

    `coro` runs in a nested loop that advances together with this one. Coroutines inside
    and outside can talk through `Event`s and `Queue`s. The coroutines that `coro` yields
    must be new to the nested loop: to use a result of the outer loop inside, hand in a
    `tinyio.copy` of it.

    Arguments:
        coro: the coroutine to run in isolation.
        exception_group: as for `Loop.run`: what error is given when something fails inside.

    Returns:
        A coroutine giving `(result, True)` if `coro` finished, or `(error, False)` if an
        `Exception` was raised inside -- then everything inside has been cancelled, and the
        outer loop runs on. A `BaseException` that is not an `Exception` (such as
        `KeyboardInterrupt`) propagates. The `error` is typed as what it can be: an
        `Exception` with `exception_group=False`; a `BaseExceptionGroup` (whose first member
        is the `Exception` that was raised; the others may be `CancelledError`s) with `True`;
        either with `None`. If the outer loop cancels the isolating coroutine,
        everything inside is cancelled too.

    Raises:
        TypeError: `coro` is not a coroutine (at the call).
    """
    if not isinstance(coro, types.GeneratorType):
        raise TypeError(f"isolate needs a coroutine (a generator), got {coro!r}.")
    if exception_group is not None and not isinstance(exception_group, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"exception_group must be None, True or False, got {exception_group!r}.")
    return _isolate(_ISOLATE.arm(), coro, exception_group)


@starts_at_once
def _isolate(
    guard: Guard | None, coro: Coro[_T], exception_group: bool | None
) -> Coro[tuple[_T, Literal[True]] | tuple[_Failure, Literal[False]]]:
    _ISOLATE.disarm(guard)
    del guard
    try:
        outer: Loop = yield CURRENT_LOOP
    except CancelledError as error:
        # Cancelled before the nested loop began (`yield {isolate(foo())}`, then an error at
        # once): `coro` still sees the cancellation, at its first yield, so that its
        # `finally` runs (see docs/devdocs/background-coroutines.md).
        _cancel_unstarted(coro, error)
        raise
    inner = Loop(clock=clock_of(outer))  # one clock: a virtual one jumps for both loops
    lend_selector(inner, outer)  # one selector: the inner loop's descriptor waits are ours
    cancelled: CancelledError | None = None  # thrown in by the outer loop, at one of our yields
    try:
        with inner.runtime(coro, exception_group) as steps:
            while True:
                try:
                    idle = next(steps)
                except StopIteration as stop:
                    return stop.value, True
                except BaseException as error:
                    if _is_ordinary(error):
                        # As out of `Loop.run`: the traceback shows the coroutines, not us.
                        trimmed = without_library_frames(error.__traceback__)
                        return error.with_traceback(trimmed), False
                    raise
                try:
                    if idle is None:
                        yield  # one inner step per turn: let the outer loop's coroutines run
                    else:
                        assert isinstance(idle, Idle)
                        wake = Wait(idle.timeout)
                        if idle.notify_on_wakeup(wake.wake):
                            if waits_on_outside(inner):  # a thread call inside: the clock
                                with waking_from_outside(outer):  # must wait for it
                                    yield wake
                            else:
                                yield wake
                except CancelledError as error:
                    cancelled = error
                    raise
    except KeyboardInterrupt as interrupt:
        # Cancelled because of Ctrl-C, the inner loop stopped its coroutines, and a second
        # Ctrl-C meanwhile (which abandons a stuck thread call) ended that with a
        # KeyboardInterrupt of its own. The outer loop raises the Ctrl-C: we let the
        # cancellation propagate, as a coroutine should, so that `run` raises a plain
        # KeyboardInterrupt, not a group with a warning.
        if cancelled is not None and ctrl_c_presses(outer)[0] > 0:
            for note in getattr(interrupt, "__notes__", ()):  # what the inner run abandoned
                if not note.startswith("tinyio: the loop was interrupted"):
                    note_on_outcome(outer, note)
            raise cancelled from None
        raise


def _cancel_unstarted(coro: Coro[Any], error: CancelledError) -> None:
    """Start `coro` up to its first yield, then throw a copy of `error` in there."""
    try:
        next(coro)
        coro.throw(CancelledError(*error.args))
    except (CancelledError, StopIteration):
        return
    coro.close()  # it went on after the cancellation: it may not run on


def _is_ordinary(error: BaseException) -> TypeGuard[_Failure]:
    """An `Exception`, or a group whose original error (its first member) is one."""
    if isinstance(error, BaseExceptionGroup):
        return _is_ordinary(error.exceptions[0])  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return isinstance(error, Exception)


def copy(coro: Coro[_T]) -> Coro[Coro[_T]]:
    """Start `coro` in this loop, and give a fresh coroutine with the same result.

    ```python
    import tinyio

    def config():
        yield tinyio.sleep(0.01)
        return {"retries": 3}

    def inside(settings):
        settings = yield settings
        return settings["retries"]

    def main():
        shared = config()
        handle = yield tinyio.copy(shared)
        retries, ok = yield tinyio.isolate(inside(handle))
        print(retries, ok, (yield shared))

    tinyio.Loop().run(main())
    # 3 True {'retries': 3}
    ```

    A coroutine runs in one loop only. `copy` is how a result of this loop reaches an
    isolated one: yield `copy(coro)` here, then hand the coroutine it gives into `isolate`.
    Yielding that coroutine (in any loop) gives the very same object `coro` returns, once it
    has; or raises the same error, if `coro` was interrupted (by `tinyio.timeout`).

    Raises:
        TypeError: `coro` is not a coroutine (at the call).
    """
    if not isinstance(coro, types.GeneratorType):
        raise TypeError(f"copy needs a coroutine (a generator), got {coro!r}.")
    return _copy(coro)


def _copy(coro: Coro[_T]) -> Coro[Coro[_T]]:
    finished = Event()
    outcome: list[Any] = []

    def watch() -> Coro[None]:
        try:
            outcome.append((True, (yield coro)))
        except CancelledError:
            # Its loop crashed: a copy yielded later (perhaps in another loop) must not wait
            # for ever, nor pretend to have a result.
            outcome.append((False, CancelledError("the coroutine that was copied was cancelled")))
            raise
        except BaseException as error:  # the error of an interrupt (e.g. a timeout) of `coro`
            outcome.append((False, error))
        finally:
            finished.set()

    def fresh() -> Coro[_T]:
        yield finished.wait()
        ok, value = outcome[0]
        if ok:
            return value
        raise value

    yield {watch()}
    return fresh()
