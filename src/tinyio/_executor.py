"""Futures and executors: wait on a `concurrent.futures.Future`-like object without blocking.

Built on the core's primitive `Wait`: the future's done-callback (which may run in any thread)
wakes it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Final, ParamSpec, Protocol, TypeVar

from ._core import (
    AFTER_THE_OTHERS,
    CURRENT_LOOP,
    Coro,
    Loop,
    Wait,
    cancelling_everything,
    ctrl_c_presses,
    failed_on_its_own,
    hearing_ctrl_c,
    note_on_outcome,
    starts_at_once,
    waking_from_outside,
)
from ._unyielded import Guard, Unyielded
from ._workers import describe, tell_still_running

__all__ = ["from_future", "run_in_executor"]

_FROM_FUTURE = Unyielded("tinyio.from_future(...)")
_RUN_IN_EXECUTOR = Unyielded("tinyio.run_in_executor(...)")

# How often a loop that is stopping, waiting for a running executor call, looks for a Ctrl-C.
_POLL_SECONDS: Final = 0.05

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
        is cancelled or timed out, `future.cancel()` is called: a call that has not started
        never runs. One that is already running cannot be stopped (a process pool lets it
        finish): the coroutine goes on at once all the same, and `loop.run` returns only
        once the call has ended -- as for a thread, a second Ctrl-C abandons it.

    Raises:
        TypeError: `future` lacks one of those methods (at the call).
    """
    missing = [m for m in ("add_done_callback", "result", "cancel") if not hasattr(future, m)]
    if missing:
        raise TypeError(
            f"from_future needs a future (with add_done_callback, result and cancel), got "
            f"{future!r}, which has no {', '.join(missing)}."
        )
    return _from_future(_FROM_FUTURE.arm(), future)


@starts_at_once
def _from_future(
    guard: Guard | None, future: FutureLike[_R], loop: Loop | None = None, job: object = None
) -> Coro[_R]:
    """The coroutine of `from_future`. `loop`: the running loop, if the caller has it (a
    call submitted by us, whose coroutine may be stopped as soon as it is submitted); `job`:
    what the loop's reports say this coroutine waits on (`run_in_executor`'s call)."""
    _FROM_FUTURE.disarm(guard)
    del guard
    ended = threading.Event()
    # The wait the coroutine (or the reaper) yields now; the done-callback, which may run in
    # any thread, sets `ended` before it wakes it, the waiter puts a new one here before it
    # looks at `ended`, so at least one of them sees the other.
    waits = [Wait()]

    def done(_: object) -> None:
        ended.set()
        waits[0].wake()

    future.add_done_callback(done)
    try:
        if loop is None:
            loop = yield CURRENT_LOOP  # inside the `try`: cancelled here, it cancels the future
        with waking_from_outside(loop):
            yield waits[0]
    except BaseException:
        if future.cancel():  # a call that has not started never will
            # Nothing runs: done now, whenever (if ever) its callbacks come. Those of an
            # asyncio future come from its own loop, which may not be running at all.
            ended.set()
        if loop is not None and not ended.is_set():
            # It runs: `loop.run` must not return before it has ended.
            call = future if job is None else job
            if cancelling_everything(loop):
                with stopping_wait(ended, call):
                    yield AFTER_THE_OTHERS  # the other coroutines clean up first, at once
                    wait_blocking(loop, ended, call)
            else:
                # Interrupted (a timeout): go on at once, while a reaper waits for the call in
                # the background, as for a thread call.
                yield {_reap(loop, ended, waits, call)}
        raise
    return future.result()


def _reap(loop: Loop, ended: threading.Event, waits: list[Wait], call: object) -> Coro[None]:
    """Wait, without blocking the loop, for an executor call (`call`: as messages name it)
    whose coroutine was stopped while the call ran (a running future cannot be cancelled), so
    that `loop.run` ends after it."""
    try:
        while True:
            waits[0] = Wait()
            if ended.is_set():
                return
            with waking_from_outside(loop):
                yield waits[0]
    except BaseException:
        with stopping_wait(ended, call):
            yield AFTER_THE_OTHERS  # the loop is stopping: the others clean up first, at once
            wait_blocking(loop, ended, call)
        raise


class _Stopping:
    """The calls outside the loop that stopping loops are about to wait for, blocking (their
    coroutines have yielded `AFTER_THE_OTHERS`, or are blocked in `wait_blocking`): named on
    stderr, all at once, when a Ctrl-C has kept waiting for a second. Per thread, since the
    loops whose Ctrl-Cs tinyio handles all run in the main one."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, threading.Event, object]] = []  # (thread, ended, call)
        self.told = 0.0  # when the Ctrl-C came whose waits were named (`ctrl_c_presses`)
        # The calls a second Ctrl-C abandoned (their `ended`), noted all at once by the first
        # wait to see that press; and when the first Ctrl-C of that run came.
        self.abandoned: set[int] = set()
        self.abandoned_for = 0.0

    @contextlib.contextmanager
    def waiting(self, ended: threading.Event, call: object) -> Generator[None]:
        if any(listed is ended for _, listed, _ in self.calls):  # listed already
            yield
            return
        entry = (threading.get_ident(), ended, call)
        self.calls.append(entry)
        try:
            yield
        finally:
            self.calls.remove(entry)

    def tell(self) -> None:
        me = threading.get_ident()
        running = [
            call for thread, ended, call in self.calls if thread == me and not ended.is_set()
        ]
        if not running:
            return
        calls = "1 call is" if len(running) == 1 else f"{len(running)} calls are"
        tell_still_running(f"{calls} still running outside it, which it waits for", running)

    def abandon(
        self, loop: Loop, first: float, ended: threading.Event, call: object, what: str
    ) -> None:
        """A second Ctrl-C of the run whose first came at `first`: abandon every call this
        thread's stopping loops wait for, with one note naming them all (not one per call,
        each after the last one's poll)."""
        if self.abandoned_for != first:
            self.abandoned_for = first
            self.abandoned.clear()
        if id(ended) in self.abandoned:
            return  # noted with the others already
        me = threading.get_ident()
        running = [(e, c) for thread, e, c in self.calls if thread == me and not e.is_set()]
        if not any(e is ended for e, _ in running):
            running.append((ended, call))
        self.abandoned.update(id(e) for e, _ in running)
        if len(running) == 1:
            note_on_outcome(loop, f"tinyio: a second Ctrl-C abandoned {what}: {call!r}")
            return
        calls = "".join(f"\n  {c!r}" for _, c in running)
        note_on_outcome(
            loop,
            f"tinyio: a second Ctrl-C abandoned {len(running)} calls still running outside "
            f"the loop:{calls}",
        )


_STOPPING: Final = _Stopping()


def stopping_wait(ended: threading.Event, call: object) -> contextlib.AbstractContextManager[None]:
    """`with stopping_wait(ended, call): yield AFTER_THE_OTHERS; wait_blocking(...)`: so that
    a call that a stopping loop is to wait for is named at a Ctrl-C even before its turn."""
    return _STOPPING.waiting(ended, call)


def wait_blocking(loop: Loop, ended: threading.Event, call: object, abandoned: str = "") -> bool:
    """For a loop that cancels everything: block until the running `call` has ended (`ended`
    is set), True then -- unless Ctrl-C is pressed twice, which abandons it, as for a thread
    call (the run's error says so), and gives False.

    As for a thread call, the wait is not silent: if it still goes on a second after a Ctrl-C,
    stderr names the calls it waits for. `abandoned`: how the note names what is left running
    (by default, an executor call). A Ctrl-C raised here (a third, or one of a host loop's,
    asyncio's say, which handles Ctrl-C under `to_asyncio`) ends the wait too: it is the
    coroutine's error, reported without a warning about its cancellation."""
    with _STOPPING.waiting(ended, call), hearing_ctrl_c(loop):
        try:
            # Presses first, then the wait: once a second Ctrl-C has come, each of the calls
            # waited for in turn is abandoned at once, not after a poll each.
            while not ended.is_set():
                count, first = ctrl_c_presses(loop)
                if count >= 2:
                    what = abandoned or "an executor call still running"
                    _STOPPING.abandon(loop, first, ended, call, what)
                    return False
                if count == 1 and _STOPPING.told != first and time.monotonic() - first >= 1.0:
                    _STOPPING.told = first
                    _STOPPING.tell()
                ended.wait(_POLL_SECONDS)
        except KeyboardInterrupt as interrupt:
            failed_on_its_own(loop, interrupt)
            raise
    return True


# Code flags (`inspect.CO_*`): of an `async def`, a generator function, an async generator.
_CO_GENERATOR: Final = 0x20
_CO_COROUTINE: Final = 0x80
_CO_ASYNC_GENERATOR: Final = 0x200


def not_for_a_thread(fn: object, caller: str) -> TypeError | None:
    """What is wrong with running `fn`, a callable, in a thread (or an executor), if it is a
    function that makes a coroutine rather than doing the work (the call would hand back a
    coroutine object, never run): the error for `caller` to raise at the user's call."""
    code = getattr(fn, "__code__", None)  # a Python function or method; not a partial
    flags: int = getattr(code, "co_flags", 0)
    if not flags & (_CO_GENERATOR | _CO_COROUTINE | _CO_ASYNC_GENERATOR):
        return None
    named = getattr(fn, "__qualname__", repr(fn))
    if flags & _CO_COROUTINE:
        return TypeError(
            f"{caller} runs a plain function, but {named} is an `async def`: calling it "
            f"would only make its coroutine. Run it with "
            f"`yield tinyio.from_asyncio({named}(...))` (or `tinyio.from_trio` for trio code)."
        )
    if flags & _CO_ASYNC_GENERATOR:
        return TypeError(
            f"{caller} runs a plain function, but {named} is an async generator function, "
            "which only an async loop can run."
        )
    return TypeError(
        f"{caller} runs a plain function, but {named} is a generator function: its calls "
        f"are tinyio coroutines, to yield (`yield {named}(...)`), not to run in a thread."
    )


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
    problem = not_for_a_thread(fn, "run_in_executor")
    if problem is not None:
        raise problem
    return _run_in_executor(_RUN_IN_EXECUTOR.arm(), executor, fn, args, kwargs)


@starts_at_once
def _run_in_executor(
    guard: Guard | None,
    executor: Executor,
    fn: Callable[..., _R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Coro[_R]:
    _RUN_IN_EXECUTOR.disarm(guard)
    del guard
    # Inline (`yield from`), so that the call's error is the caller's to catch. The loop first:
    # stopped once the call is submitted, the coroutine must know whose run is to wait for it.
    loop = yield CURRENT_LOOP
    if isinstance(executor, ThreadPoolExecutor):
        # In a copy of the calling coroutine's context variables, as `run_in_thread` does. Only
        # for threads: a context cannot be pickled for another process or machine.
        context = contextvars.copy_context()
        future = executor.submit(context.run, fn, *args, **kwargs)
    else:
        future = executor.submit(fn, *args, **kwargs)
    return (yield from _from_future(None, future, loop, _Call(fn, executor, future)))


class _Call:
    """An executor call, as reports name it: `<executor call work() in ThreadPoolExecutor,
    running for 0.2 s>`."""

    __slots__ = ("executor", "fn", "future", "submitted")

    def __init__(self, fn: Callable[..., Any], executor: Executor, future: Any) -> None:
        self.fn = fn
        self.executor = executor
        self.future = future
        self.submitted = time.monotonic()

    def __repr__(self) -> str:
        call = f"{describe(self.fn)}() in {type(self.executor).__name__}"
        if self.future.done():
            return f"<executor call {call}, finished>"
        state = "running" if self.future.running() else "queued"
        return f"<executor call {call}, {state}, submitted {time.monotonic() - self.submitted:.3f} s ago>"
