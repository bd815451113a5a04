"""Time: sleeping without blocking the loop, and timeouts.

`sleep` is the core's primitive wait with a timeout. `timeout` runs the coroutine in the
background, waits for it with a deadline, and on expiry uses the core's `Interrupt` to throw
`TimeoutError` into it at its current `yield`.
"""

from __future__ import annotations

import contextlib
import types
from typing import Any, TypeVar

from ._core import Coro, Interrupt, Wait, check_duration, starts_at_once
from ._event import Event

__all__ = ["TimeoutError", "sleep", "timeout"]

_T = TypeVar("_T")


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
    return _sleep(check_duration(delay_in_seconds, "delay_in_seconds"))


# Runs as part of the sleeping coroutine: cancelling or timing out that coroutine cancels its
# sleep too, rather than leaving the timer for `loop.run` to wait out.
@starts_at_once
def _sleep(delay: float) -> Coro[None]:
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
        end, and `loop.run` waits for them. (Operations on tinyio's objects, such as
        `yield tinyio.sleep(...)`, `yield queue.get()` or `yield lock()`, are the exception:
        they run as part of `coro` and are interrupted with it -- in the example, the
        `sleep(0.2)` that `slow` waited on ends with it.)

    Raises:
        TypeError: `coro` is not a coroutine (at the call).
        ValueError: the timeout is negative or NaN (at the call); `TypeError` if it is not
            a number.
    """
    if not isinstance(coro, types.GeneratorType):
        raise TypeError(f"timeout needs a coroutine (a generator), got {coro!r}.")
    seconds = check_duration(timeout_in_seconds, "timeout_in_seconds")
    return _timeout(coro, seconds)


def _timeout(coro: Coro[_T], seconds: float) -> Coro[tuple[_T | None, bool]]:
    ended = Event()
    outcome: list[Any] = []

    def watch() -> Coro[None]:
        # If it lets our TimeoutError propagate, that is a clean exit.
        with contextlib.suppress(TimeoutError):
            outcome.append((yield coro))
        ended.set()

    yield {watch()}
    yield ended.wait(seconds)
    if outcome:
        return outcome[0], True
    if not ended.is_set():
        error = TimeoutError(f"timed out after {seconds:g} seconds")
        yield Interrupt(coro, error)
        yield ended.wait()
    return None, False
