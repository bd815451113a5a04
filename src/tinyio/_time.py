"""Time: sleeping without blocking the loop, and timeouts.

`sleep` is the core's primitive wait with a timeout. `timeout` runs the coroutine in the
background, waits for it with a deadline, and on expiry uses the core's `Interrupt` to throw
`TimeoutError` into it at its current `yield`.
"""

from __future__ import annotations

import types
from typing import Any, TypeVar

from ._cancel import any_unfinished, async_hint, cancel_all_of
from ._core import (
    AFTER_THE_OTHERS,
    CURRENT_LOOP,
    CancelledError,
    Coro,
    Interrupt,
    Loop,
    Wait,
    cancelling_everything,
    duration_problem,
    has_run,
    starts_at_once,
)
from ._event import Event
from ._unyielded import Guard, Unyielded

__all__ = ["TimeoutError", "sleep", "timeout"]

_T = TypeVar("_T")
_SLEEP = Unyielded("tinyio.sleep(...)")
_SLEEP_FREE = _SLEEP.free
_SLEEP_GIVE_BACK = _SLEEP_FREE.append
_TIMEOUT = Unyielded("tinyio.timeout(...)")


class TimeoutError(BaseException):
    """Thrown into a coroutine (at its current `yield`) when `tinyio.timeout` expires.

    Like `CancelledError` it derives from `BaseException`, so that `except Exception:` does
    not swallow it: let it propagate after cleaning up.
    """

    __module__ = "tinyio"  # shown in tracebacks as `tinyio.TimeoutError`; pickles by that name


def sleep(delay_in_seconds: int | float) -> Coro[None]:
    """Sleep without blocking the loop: `yield tinyio.sleep(0.5)`.

    Other coroutines run meanwhile. Accuracy is within a few milliseconds, and an expired
    sleep is honoured even while other coroutines keep the loop busy. `sleep(0)` resumes after
    the coroutines that are already ready have taken a step.

    Arguments:
        delay_in_seconds: how long to sleep, a non-negative int or float.

    Returns:
        A coroutine to yield, which finishes after the delay. Its result is `None`.

    Raises:
        TypeError, ValueError: `delay_in_seconds` is not a non-negative number (raised at
            the call, not when yielded).

    ```python
    import time
    import tinyio

    def nap(name, seconds):
        yield tinyio.sleep(seconds)
        print(f"{name} woke up")

    def main():
        start = time.monotonic()
        yield [nap("slow", 0.1), nap("quick", 0.05)]
        print(f"both slept at the same time: {time.monotonic() - start < 0.15}")

    tinyio.Loop().run(main())
    # quick woke up
    # slow woke up
    # both slept at the same time: True
    ```
    """
    problem = duration_problem(delay_in_seconds, "delay_in_seconds")
    if problem is not None:
        raise problem
    # `_SLEEP.arm()`, written out: sleeping is the hot path.
    try:
        guard = _SLEEP_FREE.pop() if _SLEEP_FREE else _SLEEP.more()
    except IndexError:  # taken by another thread in between
        guard = _SLEEP.more()
    return _sleep(float(delay_in_seconds), guard)


# Runs as part of the sleeping coroutine: cancelling or timing out that coroutine cancels its
# sleep too, rather than leaving the timer for `loop.run` to wait out.
@starts_at_once
def _sleep(delay: float, guard: Guard | None) -> Coro[None]:
    if guard is not None:  # `_SLEEP.disarm(guard)`, written out
        _SLEEP_GIVE_BACK(guard)
    del guard
    yield Wait(delay)


def timeout(coro: Coro[_T], timeout_in_seconds: int | float) -> Coro[tuple[_T | None, bool]]:
    """Run `coro`, but give up on it after `timeout_in_seconds`.

    ```python
    import tinyio

    def slow():
        try:
            yield tinyio.sleep(0.2)
            return "finished"
        finally:
            print("slow cleaned up")

    def quick():
        yield tinyio.sleep(0.01)
        return "finished"

    def main():
        print((yield tinyio.timeout(quick(), 1)))
        print((yield tinyio.timeout(slow(), 0.05)))

    tinyio.Loop().run(main())
    # ('finished', True)
    # slow cleaned up
    # (None, False)
    ```

    Arguments:
        coro: the coroutine to run.
        timeout_in_seconds: how long to wait for it, a non-negative int or float.

    Returns:
        A coroutine giving `(result, True)` if `coro` finished in time. Otherwise it throws
        `tinyio.TimeoutError` into `coro` at the `yield` where it is suspended, so that it can
        clean up, waits for it to end, and gives `(None, False)`. Coroutines that `coro` was
        waiting on are not cancelled (others may be waiting on them too): they run to their
        end, and `loop.run` waits for them. (tinyio's own coroutines yielded as they are
        made, such as `yield tinyio.sleep(...)`, `yield queue.get()`, `yield lock()` or
        `yield tinyio.run_in_thread(f)`, are the exception: they run as part of `coro` and
        are interrupted with it -- in the example, the
        `sleep(0.2)` that `slow` waited on ends with it.)

    A timeout of 0 fires at once, as in asyncio and trio: `coro` gives its result only if it
    finishes without yielding at all; otherwise `TimeoutError` is thrown in at its first
    `yield`. (So `timeout(queue.get(), 0)` takes an item that is there, and gives up at once
    if there is none.)

    If the timeout is itself stopped -- cancelled (`tinyio.cancel`), timed out by a timeout
    around it, or a loser of `tinyio.race` -- it cancels `coro` (`tinyio.CancelledError` at its
    current `yield`) and waits for it to clean up before the error goes on. At a crash or a
    Ctrl-C too, its caller's `finally` runs only after `coro` (and a thread call it runs)
    has cleaned up.

    Raises:
        TypeError: `coro` is not a coroutine (at the call).
        ValueError: the timeout is negative or NaN (at the call); `TypeError` if it is not
            a number.
    """
    if not isinstance(coro, types.GeneratorType):
        raise TypeError(
            f"timeout needs a coroutine (a generator), got {coro!r}."
            + async_hint(coro, "tinyio.timeout(tinyio.from_asyncio(coro), seconds)")
        )
    problem = duration_problem(timeout_in_seconds, "timeout_in_seconds")
    if problem is not None:
        raise problem
    return _timeout(_TIMEOUT.arm(), coro, float(timeout_in_seconds))


@starts_at_once
def _timeout(guard: Guard | None, coro: Coro[_T], seconds: float) -> Coro[tuple[_T | None, bool]]:
    _TIMEOUT.disarm(guard)
    del guard
    ended = Event()
    outcome: list[Any] = []
    failures: list[BaseException] = []
    expired = TimeoutError(f"timed out after {seconds:g} seconds")
    # A coroutine new to the loop runs inline in `watch`, so that its error comes out of
    # `timeout` for the caller to catch; one the loop already knows (others may wait on it
    # too) is waited on, and its error crashes the loop as usual.
    loop: Loop = yield CURRENT_LOOP
    fresh = coro.gi_frame is not None and not coro.gi_suspended  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    inline = fresh and not has_run(loop, coro)

    def watch() -> Coro[None]:
        try:
            outcome.append((yield from coro) if inline else (yield coro))
        except TimeoutError as error:
            if error is not expired:
                failures.append(error)
        except CancelledError:
            raise  # the loop is stopping (or `coro` was cancelled): not an error of `coro`
        except BaseException as error:
            failures.append(error)
        ended.set()

    watcher = watch()
    yield {watcher}
    interrupted = False
    try:
        if seconds > 0:  # `timeout(coro, 0)` fires at once: at `coro`'s first `yield`
            yield ended.wait(seconds)
        if not ended.is_set():
            interrupted = yield Interrupt(watcher if inline else coro, expired)
            yield ended.wait()
    except BaseException:
        # Stopped itself -- cancelled, timed out by a timeout around it, a loser of a race --
        # it stops what it runs (`coro` itself if inline, else its wait on `coro`) before the
        # error goes on, as `yield from` would. The loop cancels everything itself if crashing.
        if cancelling_everything(loop):
            if any_unfinished([watcher]):  # it cleans up after the others: wait for it
                yield AFTER_THE_OTHERS
            raise
        yield cancel_all_of(  # not empty: the loop is not cancelling everything
            loop, [watcher], "cancelled because the tinyio.timeout running it was stopped"
        )
        raise
    if outcome and not interrupted:
        return outcome[0], True
    if failures:
        raise failures[0]  # outside any `except` block: it keeps its own context
    return None, False
