"""Time: sleeping without blocking the loop. Built on the core's primitive wait with a timeout."""

from __future__ import annotations

from ._loop import Coro, Wait, check_duration

__all__ = ["sleep"]


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


def _sleep(delay: float) -> Coro[None]:
    yield Wait(delay)
