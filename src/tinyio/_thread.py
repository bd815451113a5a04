"""Threads: run blocking functions in worker threads without blocking the loop.

A call is a `_Job`. The coroutine hands it to the worker threads of the current run of the
loop and yields the job's `Wait`, which the worker wakes (from its thread) when the function
has returned or raised.

Workers are reused: a worker that finishes a job waits a little for the next one before it
retires, and when the run ends, the idle workers are stopped and joined, so that no thread
outlives `loop.run`. Any number of calls may run at once: a job that finds no idle worker
gets a new one.

Cancellation raises `CancelledError` inside the thread (CPython's asynchronous exceptions) and
waits for the thread to finish the call. That raise is only ever aimed at the job it was
meant for: it is sent only while the job's function is running (checked under the workers'
lock), and a worker drops any that arrives too late before it takes another job.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Final, ParamSpec, TypeVar

from ._core import (
    CURRENT_LOOP,
    CancelledError,
    Coro,
    Interrupt,
    Loop,
    Wait,
    at_stop,
    cancellation_warning,
    cancelling_everything,
    ctrl_c_presses,
    failed_on_its_own,
    is_library_code,
    note_on_outcome,
    waking_from_outside,
)
from ._event import Event
from ._sync import Semaphore, Slot, count_problem

__all__ = ["ThreadPool", "run_in_thread"]

_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")

# How long an idle worker waits for another job before its thread ends.
_IDLE_SECONDS: Final = 5.0
# How often a coroutine waiting for a cancelled call to end looks for a Ctrl-C.
_CANCEL_POLL_SECONDS: Final = 0.05

_PENDING: Final = 0
_RUNNING: Final = 1
_FINISHED: Final = 2


def _raise_in_thread(ident: int, exception: type[BaseException]) -> None:
    """Raise `exception` in the thread `ident` at its next bytecode.

    Never called with None to clear a pending one: on CPython 3.11 (not 3.12 or 3.13) that
    call sets the interpreter's "asynchronous exception pending" flag with no exception for
    it to deliver, so nothing ever resets it, and from then on any traced call (pdb,
    coverage.py, IDE debuggers) in any thread spins for ever. A raise that is delivered
    resets the flag, so a late one is dropped by `_flush_late_cancel` instead.
    """
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exception))


def _raise_in_threads(idents: list[int], exception: type[BaseException]) -> None:
    """`_raise_in_thread` for each of `idents`, with only C calls from the first to the last:
    on CPython 3.11 under a tracer, a pending asynchronous exception makes each Python call
    of the sending thread wait until it is delivered, and a worker whose function has just
    returned, waiting for the lock that the sender holds, cannot take it."""
    set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    raised = ctypes.py_object(exception)
    for ident in idents:
        set_async_exc(ctypes.c_ulong(ident), raised)


class _Flush(BaseException):
    """Raised by a worker in its own thread to take the place of a late `CancelledError`."""


def _noop() -> None:
    pass


def _flush_late_cancel(ident: int) -> None:
    """Drop a `CancelledError` sent to this thread (`ident`) that has not arrived yet.

    It is replaced by a `_Flush` raised in this same thread, which arrives at the next
    bytecode that checks for one (a Python call does) and is caught here. Delivering it, rather
    than clearing the pending one, is what keeps the interpreter's flag right on 3.11 (see
    `_raise_in_thread`).
    """
    try:
        _raise_in_thread(ident, _Flush)
        for _ in range(1_000):  # one call is enough; the rest only guard against a surprise
            _noop()
    except _Flush:
        pass


class _Job:
    __slots__ = (
        "args",
        "context",
        "ended",
        "error",
        "fn",
        "kwargs",
        "result",
        "started",
        "state",
        "thread",
        "wait",
    )

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        # The calling coroutine's context variables, which the call sees (in a copy, so that
        # what it sets stays in the thread), as with `asyncio.to_thread`.
        self.context = contextvars.copy_context()
        self.state = _PENDING  # changed under the workers' lock
        self.thread = 0  # the ident of the thread running it, once _RUNNING
        self.result: Any = None
        self.error: BaseException | None = None
        self.wait = Wait()  # woken when the job has finished
        self.ended: threading.Event | None = None  # made by `cancel`, set when finished
        self.started = 0.0  # time.monotonic() when its function started (for diagnostics)

    def __repr__(self) -> str:
        call = f"{_describe(self.fn)}()"
        if self.state == _PENDING:
            return f"<thread call {call}, waiting for a worker>"
        if self.state == _RUNNING:
            return f"<thread call {call}, running for {time.monotonic() - self.started:.3f} s>"
        return f"<thread call {call}, finished>"


class _Workers:
    """The worker threads of one run of one loop, taking jobs from one queue.

    A new thread is started when a job arrives and no worker is idle. To keep a burst of
    short jobs from starting a thread each, at most one thread is starting at a time; a
    worker that takes a job and still sees jobs waiting with no idle worker starts the next.
    So threads are added as fast as they can start while there is a backlog, and no faster.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._waiting = 0  # jobs in `_jobs`
        self._idle = 0  # workers blocked on `_jobs`
        self._starting = False  # a worker thread has been started but has not taken a job
        self._stopped = False  # the run is over: start no more threads
        self._threads: list[threading.Thread] = []
        self._running: set[_Job] = set()  # jobs whose function is running
        self._cancelled = False  # the loop is cancelling everything: start no more jobs
        self._abandoned: list[_Job] = []  # left running at a second Ctrl-C
        self._told_stuck = False  # said on stderr which threads a Ctrl-C waits for
        self.threads_started = 0  # for the benchmarks

    def submit(self, job: _Job) -> None:
        with self._lock:
            self._jobs.put(job)
            self._waiting += 1
            self._start_worker_if_needed()

    def _start_worker_if_needed(self) -> None:
        # Called with the lock held.
        if self._waiting > self._idle and not self._starting and not self._stopped:
            # A daemon thread: one abandoned at Ctrl-C (see `wait_for_cancelled`) must not
            # keep the interpreter from exiting. Every other worker is joined by `stop`.
            thread = threading.Thread(target=self._serve, name="tinyio worker", daemon=True)
            thread.start()
            self._threads.append(thread)
            self._starting = True
            self.threads_started += 1

    def cancel(self, job: _Job) -> bool:
        """Stop `job`: True if its function is running (then wait on `job.ended`)."""
        with self._lock:
            if job.ended is not None:  # `cancel_all` got there first
                return True
            if job.state == _PENDING:
                job.state = _FINISHED  # its worker will skip it
                return False
            if job.state == _RUNNING:
                self._send_cancel(job)
                return True
            return False

    def cancel_all(self) -> None:
        """For a loop that cancels everything: raise CancelledError in every running job's
        thread, and let no waiting job start. The threads then stop side by side, and each
        job's coroutine, cancelled in turn, waits only for what is left of its own (see
        `cancel`). Once is enough: later calls do nothing."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            targets = [job for job in self._running if job.ended is None]
            for job in targets:
                job.ended = threading.Event()
            _raise_in_threads([job.thread for job in targets], CancelledError)

    @staticmethod
    def _send_cancel(job: _Job) -> None:
        # Called with the lock held, for a _RUNNING job.
        job.ended = threading.Event()
        _raise_in_thread(job.thread, CancelledError)

    def wait_for_cancelled(self, job: _Job, loop: Loop) -> bool:
        """Wait for the function of `job`, cancelled while it ran, to end: True when it has.

        After a Ctrl-C the wait is not silent: if threads are still running a second later,
        stderr says which, once. A second Ctrl-C abandons every running job (False): they
        are left to end in the background, and the run's error names them.
        """
        assert job.ended is not None
        while not job.ended.wait(_CANCEL_POLL_SECONDS):
            if job in self._abandoned:
                return False
            count, first = ctrl_c_presses(loop)
            if count >= 2:
                self._abandon_running(loop)
                return False
            if count == 1 and not self._told_stuck and time.monotonic() - first >= 1.0:
                self._told_stuck = True
                self._tell_stuck()
        return True

    def _tell_stuck(self) -> None:
        with self._lock:
            running = sorted(self._running, key=lambda job: job.started)
        if not running:
            return
        threads = "1 thread is" if len(running) == 1 else f"{len(running)} threads are"
        calls = "".join(f"\n  {job!r}" for job in running)
        print(
            f"tinyio: Ctrl-C: the loop is stopping, but {threads} still running a call that "
            f"has not responded to cancellation yet:{calls}\n"
            "Press Ctrl-C again to abandon them: loop.run then raises KeyboardInterrupt at "
            "once, and they go on in the background until they return or the program exits.",
            file=sys.stderr,
            flush=True,
        )

    def _abandon_running(self, loop: Loop) -> None:
        with self._lock:
            abandoned = [job for job in self._running if job not in self._abandoned]
            self._abandoned.extend(abandoned)
        if abandoned:
            threads = "1 thread" if len(abandoned) == 1 else f"{len(abandoned)} threads"
            calls = "".join(f"\n  {job!r}" for job in abandoned)
            note_on_outcome(
                loop,
                f"tinyio: a second Ctrl-C abandoned {threads} still running (daemon threads, "
                f"ending when their call returns or the program exits):{calls}",
            )

    def stop(self) -> None:
        """End every worker thread (all idle: the run is over, or abandoned) and wait for
        the idle ones."""
        with self._lock:
            self._stopped = True
            threads = list(self._threads)
            for _ in threads:
                self._jobs.put(None)
            busy = {job.thread for job in self._abandoned if job.state == _RUNNING}
        for thread in threads:
            if thread.ident not in busy:
                thread.join()

    def _serve(self) -> None:
        ident = threading.get_ident()
        me = threading.current_thread()
        with self._lock:
            self._starting = False
        while True:
            with self._lock:
                self._idle += 1
            try:
                job = self._jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._waiting == 0:  # else a job came just now: go and take it
                        self._threads.remove(me)
                        return
                continue
            with self._lock:
                self._idle -= 1
                if job is None:
                    return
                self._waiting -= 1
                self._start_worker_if_needed()
            self._execute(ident, job)
            job.wait.wake()

    def _execute(self, ident: int, job: _Job) -> None:
        # A CancelledError sent to this thread (only while the job is _RUNNING) may arrive at
        # any bytecode from `state = _RUNNING` until the flush below -- not only inside
        # `fn`. So all of that is inside the `try`, and if it arrives outside `fn` the loop
        # goes round again without running `fn`, keeping it as the job's outcome. After the
        # flush none can arrive: `cancel` sends none once the job is _FINISHED, and `ended`
        # (set with the lock held before sending) says whether one was sent at all.
        ran = False
        while True:
            try:
                if not ran:
                    with self._lock:
                        if job.state == _FINISHED or self._cancelled:
                            job.state = _FINISHED  # cancelled before it started
                            return
                        job.state = _RUNNING
                        job.thread = ident
                        job.started = time.monotonic()
                        self._running.add(job)
                    ran = True
                    try:
                        job.result = job.context.run(job.fn, *job.args, **job.kwargs)
                    except BaseException as error:
                        job.error = error
                with self._lock:
                    job.state = _FINISHED
                    self._running.discard(job)
                if job.ended is not None:  # a CancelledError was sent: it may not have come
                    _flush_late_cancel(ident)
                break
            except CancelledError as late:
                ran = True
                if job.error is None:
                    job.error = late
        if job.ended is not None:
            job.ended.set()


def _workers_of(loop: Loop) -> _Workers:
    workers = _workers_by_loop.get(loop)
    if workers is None:
        workers = _Workers()

        def stop() -> None:
            _workers_by_loop.pop(loop, None)
            workers.stop()

        # The stop callback first, so that no workers are left that no one stops.
        at_stop(loop, stop)
        _workers_by_loop[loop] = workers
    return workers


_workers_by_loop: dict[Loop, _Workers] = {}


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
    return _run_in_thread(fn, args, kwargs)


def _run_in_thread(
    fn: Callable[..., _R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    slot: Slot | None = None,
) -> Coro[_R]:
    """The coroutine of a thread call. `slot`: the pool's place it holds (see `ThreadPool`),
    handed to the call's reaper if the call outlives this coroutine."""
    loop: Loop = yield CURRENT_LOOP
    workers = _workers_of(loop)
    job = _Job(fn, args, kwargs)
    workers.submit(job)
    try:
        with waking_from_outside(loop):
            yield job.wait
    except BaseException:
        stopping = cancelling_everything(loop)
        if stopping:
            workers.cancel_all()  # all of them at once, not each in its coroutine's turn
        sent = workers.cancel(job)
        if sent and not stopping:
            # Interrupted (a timeout): go on at once, even if the thread is stuck in a long C
            # call. The call ends in the background, where a reaper waits for it, so that
            # `loop.run` still ends only after the thread has.
            yield {_reap(loop, job, None if slot is None else slot.hand_over())}
            raise
        if sent:
            if not workers.wait_for_cancelled(job, loop):
                raise  # abandoned (a second Ctrl-C): the run's error names it
            _check_answer(job)
        if job.error is None:
            raise
        if stopping:
            # Reported in the exception group without a second warning about this coroutine:
            # the thread's CancelledError (its own frames, cause and context), or its error.
            failed_on_its_own(loop, job.error)
    # Raised outside the `except` block, so that it keeps the thread's own `__context__`.
    if job.error is not None:
        raise job.error
    return job.result


def _reap(loop: Loop, job: _Job, slot: Slot | None) -> Coro[None]:
    """The end of a thread call that was sent CancelledError and whose coroutine did not wait
    for it: wait for the thread, check how its function answered, then free the pool's place.
    An error other than the CancelledError is raised here, as any coroutine's error is."""
    with slot if slot is not None else contextlib.nullcontext():
        wait = Wait()
        job.wait = wait  # the worker wakes `job.wait` after setting `job.ended`
        assert job.ended is not None
        if job.ended.is_set():
            wait.wake()
        try:
            with waking_from_outside(loop):
                yield wait
        except BaseException:
            job.ended.wait()  # the loop is stopping: the thread was sent CancelledError too
            raise
        _check_answer(job)
    if job.error is not None and not isinstance(job.error, CancelledError):
        raise job.error


def _check_answer(job: _Job) -> None:
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
            f"Coroutine tinyio.run_in_thread({_describe(job.fn)}), in its thread,", problem
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


def _describe(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


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

    __slots__ = ("_max_threads", "_semaphore")

    def __init__(self, max_threads: int) -> None:
        """A pool running at most `max_threads` calls at once.

        Arguments:
            max_threads: the most calls that run at the same time, at least 1.
        """
        problem = count_problem(max_threads, "max_threads")
        if problem is not None:
            raise problem
        self._max_threads: int = max_threads
        self._semaphore = Semaphore(max_threads)

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
        return self._limited(fn, args, kwargs)

    def _limited(
        self, fn: Callable[..., _R], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Coro[_R]:
        slot: Slot = yield self._semaphore()
        with slot:
            # Run inline (`yield from`), so that its error is the caller's to catch.
            return (yield from _run_in_thread(fn, args, kwargs, slot))

    def map(self, fn: Callable[[_T], _R], xs: Iterable[_T]) -> Coro[list[_R]]:
        """Call `fn(x)` for each `x` of `xs` in the pool: `results = yield pool.map(fn, xs)`.

        Returns:
            A coroutine giving the list of results, in the order of `xs`.
        """
        if not callable(fn):
            raise TypeError(f"map needs a function to call, got {fn!r}.")
        return self._map(fn, list(xs))

    def _map(self, fn: Callable[[_T], _R], xs: list[_T]) -> Coro[list[_R]]:
        # Each call runs inline in a coroutine of its own that catches its error, so that the
        # first error is raised here, to the caller of `map` (not crashing the loop); the
        # other calls are then stopped (CancelledError in their threads) and end on their own.
        if not xs:
            return []
        loop: Loop = yield CURRENT_LOOP
        results: list[Any] = [None] * len(xs)
        left = [len(xs)]
        failures: list[BaseException] = []
        done = Event()
        stop = CancelledError(
            f"Cancelled because another call of ThreadPool.map({_describe(fn)}, ...) ended the map."
        )

        def call(index: int, x: _T) -> Coro[None]:
            try:
                results[index] = yield from self._limited(fn, (x,), {})
            except BaseException as error:
                if error is stop:
                    return
                if cancelling_everything(loop):
                    raise
                failures.append(error)
                done.set()
                return
            left[0] -= 1
            if left[0] == 0:
                done.set()

        calls = [call(index, x) for index, x in enumerate(xs)]

        def start_in_order() -> Coro[None]:
            yield calls  # a gather starts them in order (a set would not); none raises

        yield {start_in_order()}
        try:
            yield done.wait()
        except BaseException:
            if not cancelling_everything(loop):  # interrupted (a timeout): stop the calls
                for running in calls:
                    yield Interrupt(running, stop)
            raise
        if failures:
            for running in calls:
                yield Interrupt(running, stop)
            raise failures[0]
        return results

    def __repr__(self) -> str:
        return f"<tinyio.ThreadPool max_threads={self._max_threads}>"
