"""Threads: run blocking functions in worker threads without blocking the loop.

`run_in_thread` hands a `Job` to the worker threads of the current run of the loop
(`_workers.py`: reuse, and cancellation raised inside the thread) and yields the job's `Wait`.
A call whose coroutine is interrupted (a timeout) goes on at once, while a reaper waits in the
background for the thread, so that `loop.run` still ends only after the thread has.
`ThreadPool` bounds how many calls run at once with a line of places kept by the workers
(`_workers.Line`), and its `call_with_timeout` times a call from when its thread starts it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from ._core import (
    AFTER_THE_OTHERS,
    CURRENT_LOOP,
    CancelledError,
    Coro,
    Loop,
    Wait,
    cancellation_warning,
    cancelling_everything,
    duration_problem,
    failed_on_its_own,
    is_library_code,
    starts_at_once,
    waking_from_outside,
)
from ._sync import count_problem
from ._unyielded import Guard, Unyielded
from ._workers import FINISHED, Batch, Job, Line, Workers, describe, workers_of

__all__ = ["ThreadPool", "run_in_thread"]

_RUN_IN_THREAD = Unyielded("tinyio.run_in_thread(...)")
_POOL_CALL = Unyielded("pool.run_in_thread(...)")
_POOL_TIMED = Unyielded("pool.call_with_timeout(...)")
_POOL_MAP = Unyielded("pool.map(...)")

_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")


def run_in_thread(fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Coro[_R]:
    """Run a blocking function in another thread: `result = yield tinyio.run_in_thread(fn, x)`.

    ```python
    import time
    import tinyio

    def blocking_work(x):
        time.sleep(0.1)  # stands for blocking I/O, or a C extension that releases the GIL
        return x * 2

    def main():
        start = time.monotonic()
        results = yield [tinyio.run_in_thread(blocking_work, i) for i in range(10)]
        print(results, time.monotonic() - start < 0.5)

    tinyio.Loop().run(main())
    # [0, 2, 4, 6, 8, 10, 12, 14, 16, 18] True
    ```

    Any number of calls may run at once, each in its own worker thread; workers are reused
    between calls, and none outlives `loop.run`.

    Arguments:
        fn: the function to call, followed by its positional and keyword arguments.

    Returns:
        A coroutine giving what `fn(*args, **kwargs)` returns. If `fn` raises, the error is
        raised in the coroutine, with the thread's frames in its traceback.

    `fn` runs in a copy of the calling coroutine's context variables (`contextvars`), as with
    `asyncio.to_thread`: it sees their values, and what it sets stays in the thread.

    If the coroutine is cancelled (or interrupted by `tinyio.timeout`), `tinyio.CancelledError`
    is raised inside the thread, and the loop waits for the thread to finish. (Python raises
    it at the thread's next bytecode: a thread blocked inside one long C call, such as
    `time.sleep(10)`, only sees it when that call returns.) A function that catches the
    `CancelledError` and returns anyway gets a `RuntimeWarning`.

    Raises:
        TypeError: `fn` is not callable (at the call).
    """
    if not callable(fn):
        raise TypeError(f"run_in_thread needs a function to call, got {fn!r}.")
    return _run_in_thread(_RUN_IN_THREAD.arm(), fn, args, kwargs)


class _Expired(BaseException):
    """Raised by a timed thread call (`ThreadPool.call_with_timeout`) whose time ran out, after
    its thread was sent CancelledError; caught by the pool, which gives `(None, False)`."""


# Part of the coroutine that yields it (when nothing else holds it): stopping that coroutine
# (a timeout, a cancel, a lost race) stops the call too, as with `yield from`.
@starts_at_once
def _run_in_thread(
    guard: Guard | None,
    fn: Callable[..., _R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    line: Line | None = None,
    timeout: float | None = None,
) -> Coro[_R]:
    """The coroutine of a thread call. `line`: the places of the pool it is a call of (see
    `ThreadPool`); the call holds one until its function has ended, even if that is after
    this coroutine. `timeout`: seconds from when a worker starts the call, after which it is
    cancelled and `_Expired` raised here."""
    _RUN_IN_THREAD.disarm(guard)
    del guard
    loop: Loop = yield CURRENT_LOOP
    workers = workers_of(loop)
    wait = Wait()
    job = Job(fn, args, kwargs, workers, wait, line)
    started = None
    if timeout is not None:
        started = job.on_start = Wait()
    workers.submit(job)
    expired = False
    try:
        with waking_from_outside(loop):
            if started is None:
                yield wait
            else:
                yield started  # no deadline while the call waits for its place and worker
                timed = Wait(timeout)
                job.wait = timed  # the worker wakes `job.wait` once the call has ended
                if job.state == FINISHED:  # ended before the line above: it woke the old one
                    timed.wake()
                expired = not (yield timed)
    except BaseException:
        stopping = cancelling_everything(loop)
        if stopping:
            workers.cancel_all()  # all of them at once, not each in its coroutine's turn
        sent = workers.cancel(job)
        if sent and not stopping:
            # Interrupted (a timeout): go on at once, even if the thread is stuck in a long C
            # call. The call ends in the background, where a reaper waits for it, so that
            # `loop.run` still ends only after the thread has.
            yield {_reap(loop, job)}
            raise
        if sent:
            yield AFTER_THE_OTHERS  # the other coroutines clean up first, at once
            if not _wait_for_cancelled(job, loop):
                raise  # abandoned (a second Ctrl-C): the run's error names it
            _check_answer(job)
        if job.error is None:
            raise
        if stopping:
            # Reported in the exception group without a second warning about this coroutine:
            # the thread's CancelledError (its own frames, cause and context), or its error.
            failed_on_its_own(loop, job.error)
    if expired:
        if workers.cancel(job):
            # As for an interrupt above: the thread ends in the background (still holding the
            # pool's place), where its reaper waits for it.
            yield {_reap(loop, job)}
            raise _Expired
        if not job.started:  # cancelled as its worker was about to start it: it never runs
            raise _Expired
        # Else the call ended as the time ran out: its outcome stands.
    # Raised outside the `except` block, so that it keeps the thread's own `__context__`.
    if job.error is not None:
        raise job.error
    return job.result


def _reap(loop: Loop, job: Job) -> Coro[None]:
    """The end of a thread call that was sent CancelledError and whose coroutine did not wait
    for it: wait for the thread, and check how its function answered. An error other than the
    CancelledError is raised here, as any coroutine's error is."""
    wait = Wait()
    job.wait = wait  # the worker wakes `job.wait` after setting `job.ended`
    assert job.ended is not None
    if job.ended.is_set():
        wait.wake()
    try:
        with waking_from_outside(loop):
            yield wait
    except BaseException:
        # The loop is stopping: the thread was sent CancelledError too. The others clean up
        # first; then wait for it (a second Ctrl-C abandons it).
        yield AFTER_THE_OTHERS
        _wait_for_cancelled(job, loop)  # False: a second Ctrl-C abandoned it
        raise
    _check_answer(job)
    if job.error is not None and not isinstance(job.error, CancelledError):
        raise job.error


# The keyword arguments of every call of a `map`: one dict for all (a job never changes it).
_NO_KEYWORDS: dict[str, Any] = {}


def _stop(
    loop: Loop, workers: Workers, jobs: list[Job], stopping: bool
) -> Coro[BaseException | None]:
    """Stop the `jobs` of a `map` that ends early: those waiting never start, those running
    are sent CancelledError. Interrupted (a timeout: not `stopping`), the map goes on at once,
    while a reaper per thread waits for it in the background (its place stays taken until
    then). When the loop stops, this waits for them (the others clean up first), and gives
    the error a thread raised instead of returning, if any: the map's own, as for
    `run_in_thread`. (None: raise the error the map is handling.)"""
    if stopping:
        workers.cancel_all()  # all of them at once, not each in its coroutine's turn
    sent = [job for job in jobs if workers.cancel(job)]  # in order: see `Workers.cancel`
    if not sent:
        return None
    if not stopping:
        yield {_reap(loop, job) for job in sent}
        return None
    yield AFTER_THE_OTHERS
    for job in sent:
        if not _wait_for_cancelled(job, loop):
            return None  # abandoned (a second Ctrl-C): the run's error names them
        _check_answer(job)
    for job in sent:
        if job.error is not None:
            # Reported in the exception group without a second warning about the map.
            failed_on_its_own(loop, job.error)
            return job.error
    return None


def _wait_for_cancelled(job: Job, loop: Loop) -> bool:
    """`Workers.wait_for_cancelled`, for a coroutine being cancelled. A Ctrl-C raised in the
    wait -- a host loop's (asyncio's second, under `to_asyncio`, raised wherever it lands) or a
    third -- ends it as the coroutine's error, not as a cancellation it mishandled: no warning
    blames the coroutine."""
    try:
        return workers_of(loop).wait_for_cancelled(job, loop)
    except KeyboardInterrupt as interrupt:
        failed_on_its_own(loop, interrupt)
        raise


def _check_answer(job: Job) -> None:
    """Warn, as for a coroutine, if the function of `job`, which was sent CancelledError,
    returned, or raised another exception while handling it (an error it raised before the
    CancelledError arrived is not an answer: it is reported without a warning)."""
    error = job.error
    if isinstance(error, CancelledError):
        return
    if error is None:
        problem = f"returned `{job.result!r}`"
    elif _raised_while_handling_cancellation(error):
        problem = f"raised the exception `{type(error).__name__}: {error}`"
    else:
        return
    # Point at the function's own code: where it raised, else where it is defined.
    code = getattr(job.fn, "__code__", None)
    filename, lineno = ("<thread>", 0) if code is None else (code.co_filename, code.co_firstlineno)
    tb = None if error is None else error.__traceback__
    while tb is not None:
        if not is_library_code(tb.tb_frame.f_code.co_filename):
            filename, lineno = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    warnings.warn_explicit(
        cancellation_warning(
            f"Coroutine tinyio.run_in_thread({describe(job.fn)}), in its thread,", problem
        ),
        RuntimeWarning,
        filename=filename,
        lineno=lineno,
    )


def _raised_while_handling_cancellation(error: BaseException) -> bool:
    seen: set[int] = set()
    context = error.__context__
    while context is not None and id(context) not in seen:
        if isinstance(context, CancelledError):
            return True
        seen.add(id(context))
        context = context.__context__
    return False


class ThreadPool:
    """Runs blocking functions in threads, at most `max_threads` of them at once.

    ```python
    import threading
    import time
    import tinyio

    pool = tinyio.ThreadPool(max_threads=2)
    running = []

    def work(x):
        running.append(x)
        time.sleep(0.01)
        peak = len(running)
        running.remove(x)
        return peak

    def main():
        peaks = yield pool.map(work, range(6))
        print(max(peaks) <= 2)

    tinyio.Loop().run(main())
    # True
    ```
    """

    __slots__ = ("_line", "_max_threads")

    def __init__(self, max_threads: int) -> None:
        """A pool running at most `max_threads` calls at once.

        Arguments:
            max_threads: the most calls that run at the same time, at least 1.
        """
        problem = count_problem(max_threads, "max_threads")
        if problem is not None:
            raise problem
        self._max_threads: int = max_threads
        # Its places, and the calls waiting for one: in the worker threads' world, so that a
        # worker that ends a call takes the next one itself (see `_workers.Line`).
        self._line = Line(max_threads, f"<tinyio.ThreadPool max_threads={max_threads}>")

    @property
    def max_threads(self) -> int:
        """The most calls that run at the same time."""
        return self._max_threads

    def run_in_thread(
        self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Coro[_R]:
        """Like `tinyio.run_in_thread`, but waits for a free place in the pool first."""
        if not callable(fn):
            raise TypeError(f"run_in_thread needs a function to call, got {fn!r}.")
        return self._limited(_POOL_CALL.arm(), fn, args, kwargs)

    @starts_at_once
    def _limited(
        self,
        guard: Guard | None,
        fn: Callable[..., _R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Coro[_R]:
        _POOL_CALL.disarm(guard)
        del guard
        # Inline (`yield from`), so that its error is the caller's to catch, and a yielder that
        # gives up takes the call out of the line (it never starts).
        return (yield from _run_in_thread(None, fn, args, kwargs, self._line))

    def call_with_timeout(
        self,
        timeout_in_seconds: int | float,
        fn: Callable[_P, _R],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Coro[tuple[_R | None, bool]]:
        """Call `fn(*args, **kwargs)` in the pool, timing the call alone:
        `result, finished = yield pool.call_with_timeout(seconds, fn, x)`.

        ```python
        import time
        import tinyio

        pool = tinyio.ThreadPool(max_threads=2)

        def work(seconds):
            time.sleep(seconds)
            return seconds

        def main():
            # Six calls of 0.05 s, two at a time: the last ones wait 0.1 s for a place, which
            # their 0.08 s do not count.
            print((yield [pool.call_with_timeout(0.08, work, 0.05) for _ in range(6)]))
            print((yield pool.call_with_timeout(0.02, work, 0.2)))

        tinyio.Loop().run(main())
        # [(0.05, True), (0.05, True), (0.05, True), (0.05, True), (0.05, True), (0.05, True)]
        # (None, False)
        ```

        The call waits for a place in the pool with no deadline; its `timeout_in_seconds`
        start when a worker thread starts it. Then, as `tinyio.timeout` of the call would:

        Returns:
            A coroutine giving `(result, True)` if `fn` returned in time, else `(None, False)`
            once the time has run out: `tinyio.CancelledError` is then raised inside the
            thread, and the call's place in the pool stays taken until the thread has ended
            (so the pool never runs more than `max_threads` threads, even after timeouts). If
            `fn` raises in time, the error is raised in the coroutine.

        The number of seconds comes first, so that `fn`'s keyword arguments are all its own:
        a `timeout=` among them is passed to `fn`.

        Raises:
            TypeError: `fn` is not callable, or the timeout is not a number (at the call).
            ValueError: the timeout is negative or NaN (at the call).
        """
        problem = duration_problem(timeout_in_seconds, "call_with_timeout's timeout_in_seconds")
        if problem is not None:
            raise problem
        if not callable(fn):
            raise TypeError(f"call_with_timeout needs a function to call, got {fn!r}.")
        return self._timed(_POOL_TIMED.arm(), fn, args, kwargs, float(timeout_in_seconds))

    @starts_at_once
    def _timed(
        self,
        guard: Guard | None,
        fn: Callable[..., _R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        seconds: float,
    ) -> Coro[tuple[_R | None, bool]]:
        _POOL_TIMED.disarm(guard)
        del guard
        try:  # inline, as in `_limited`
            result = yield from _run_in_thread(None, fn, args, kwargs, self._line, seconds)
        except _Expired:
            return None, False
        return result, True

    def map(self, fn: Callable[[_T], _R], xs: Iterable[_T]) -> Coro[list[_R]]:
        """Call `fn(x)` for each `x` of `xs` in the pool: `results = yield pool.map(fn, xs)`.

        Returns:
            A coroutine giving the list of results, in the order of `xs`.
        """
        if not callable(fn):
            raise TypeError(f"map needs a function to call, got {fn!r}.")
        try:
            arguments = list(xs)
        except TypeError:
            raise TypeError(
                f"map needs an iterable of arguments for {describe(fn)}, got {xs!r}."
            ) from None
        return self._map(_POOL_MAP.arm(), fn, arguments)

    @starts_at_once
    def _map(self, guard: Guard | None, fn: Callable[[_T], _R], xs: list[_T]) -> Coro[list[_R]]:
        _POOL_MAP.disarm(guard)
        del guard
        # One job per input, all submitted at once: each waits in the pool's line for a place,
        # and the worker that ends one takes the next itself. The jobs wake this coroutine
        # once, through their `Batch`: when the last has ended, or the first has failed. That
        # error is raised here, to the caller of `map` (not crashing the loop); the other
        # calls are then stopped (those waiting never start; CancelledError in the threads of
        # those running, which end on their own).
        if not xs:
            return []
        loop: Loop = yield CURRENT_LOOP
        workers = workers_of(loop)
        line = self._line
        batch = Batch(len(xs))
        jobs = [Job(fn, (x,), _NO_KEYWORDS, workers, batch, line, batch) for x in xs]
        own_error = None
        try:
            workers.submit_all(jobs, line)  # in the `try`: if it fails, the others never start
            with waking_from_outside(loop):
                yield batch.wait
        except BaseException:
            own_error = yield from _stop(loop, workers, jobs, cancelling_everything(loop))
            if own_error is None:
                raise
        if own_error is not None:
            # Outside the `except` block, so that it keeps the thread's own `__context__`.
            raise own_error
        failed = batch.failed
        if failed is not None:
            error = failed.error
            assert error is not None
            stopping = cancelling_everything(loop)
            yield from _stop(loop, workers, jobs, stopping)
            if stopping:
                failed_on_its_own(loop, error)
            raise error
        return [job.result for job in jobs]

    def __repr__(self) -> str:
        return f"<tinyio.ThreadPool max_threads={self._max_threads}>"
