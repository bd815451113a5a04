"""Futures and executors: wait on a `concurrent.futures.Future`-like object without blocking.

Built on the core's primitive `Wait`: the future's done-callback (which may run in any thread)
wakes it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, ParamSpec, Protocol, TypeVar

from ._core import CURRENT_LOOP, Coro, Loop, Wait, waking_from_outside

__all__ = ["from_future", "run_in_executor"]

_R = TypeVar("_R")
_R_co = TypeVar("_R_co", covariant=True)
_P = ParamSpec("_P")


class FutureLike(Protocol[_R_co]):
    """What `from_future` needs: the parts of `concurrent.futures.Future` it uses."""

    def add_done_callback(self, fn: Callable[[Any], object], /) -> object: ...
    def result(self, timeout: float | None = None) -> _R_co: ...
    def cancel(self) -> bool: ...


def from_future(future: FutureLike[_R]) -> Coro[_R]:
    """Wait for a `concurrent.futures.Future` without blocking the loop: `yield from_future(f)`.

    ```python
    from concurrent.futures import ThreadPoolExecutor
    import tinyio

    def main():
        with ThreadPoolExecutor(max_workers=2) as executor:
            future = executor.submit(pow, 2, 10)
            print((yield tinyio.from_future(future)))

    tinyio.Loop().run(main())
    # 1024
    ```

    Arguments:
        future: a `concurrent.futures.Future`, or anything with `add_done_callback`,
            `result` and `cancel` methods (for example a Dask future).

    Returns:
        A coroutine giving the future's result, or raising its exception. If the coroutine
        is cancelled, `future.cancel()` is called. (A future that is already running may not
        be cancellable: a process pool, for one, lets it finish in the background.)

    Raises:
        TypeError: `future` lacks one of those methods (at the call).
    """
    missing = [m for m in ("add_done_callback", "result", "cancel") if not hasattr(future, m)]
    if missing:
        raise TypeError(
            f"from_future needs a future (with add_done_callback, result and cancel), got "
            f"{future!r}, which has no {', '.join(missing)}."
        )
    return _from_future(future)


def _from_future(future: FutureLike[_R]) -> Coro[_R]:
    wait = Wait()
    future.add_done_callback(lambda _: wait.wake())
    try:
        loop: Loop = yield CURRENT_LOOP  # inside the `try`: cancelled here, it cancels the future
        with waking_from_outside(loop):
            yield wait
    except BaseException:
        future.cancel()
        raise
    return future.result()


def run_in_executor(
    executor: Executor, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
) -> Coro[_R]:
    """Run `fn(*args, **kwargs)` in a `concurrent.futures.Executor`: `yield run_in_executor(...)`.

    For CPU-bound work use a `ProcessPoolExecutor`; when one machine is not enough, a
    distributed engine's executor (Dask's `Client.get_executor()`).

    ```python
    from concurrent.futures import ProcessPoolExecutor
    import tinyio

    def main():
        with ProcessPoolExecutor(max_workers=2) as executor:
            results = yield [tinyio.run_in_executor(executor, pow, 3, n) for n in range(5)]
        print(results)

    if __name__ == "__main__":
        tinyio.Loop().run(main())
    # [1, 3, 9, 27, 81]
    ```

    The call is submitted when the coroutine first runs, not when `run_in_executor` is
    called. Cancelling the coroutine cancels the future (see `from_future`).

    Raises:
        TypeError: `executor` has no `submit`, or `fn` is not callable (at the call).
    """
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(f"run_in_executor needs an executor (with submit), got {executor!r}.")
    if not callable(fn):
        raise TypeError(f"run_in_executor needs a function to call, got {fn!r}.")
    return _run_in_executor(executor, fn, args, kwargs)


def _run_in_executor(
    executor: Executor, fn: Callable[..., _R], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Coro[_R]:
    # Inline (`yield from`), so that the call's error is the caller's to catch.
    if isinstance(executor, ThreadPoolExecutor):
        # In a copy of the calling coroutine's context variables, as `run_in_thread` does. Only
        # for threads: a context cannot be pickled for another process or machine.
        context = contextvars.copy_context()
        return (yield from _from_future(executor.submit(context.run, fn, *args, **kwargs)))
    return (yield from _from_future(executor.submit(fn, *args, **kwargs)))
