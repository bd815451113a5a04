"""The worker threads behind `run_in_thread`: jobs, reuse, and cancellation inside a thread.

A call is a `Job`. The coroutine hands it to the `Workers` of the current run of the loop and
yields the job's `Wait`, which the worker wakes (from its thread) when the function has
returned or raised.

Workers are reused: a worker that finishes a job waits a little for the next one before it
retires, and when the run ends, the idle workers are stopped and joined, so that no thread
outlives `loop.run`. Any number of calls may run at once: a job that finds no idle worker
gets a new one.

A `ThreadPool`'s calls hold a place of its `Line` from when they leave the line until their
function has ended; the others wait in the line, in the worker threads' world rather than the
loop's. A worker that ends a call of a pool takes the next call of the line itself, in the
same hold of the lock that marks its own job finished: no hand-off to another thread, no turn
of the loop between two calls. `map` gives its jobs one `Batch`, which wakes the loop once,
when the last has ended or the first has failed, instead of once per call.

Cancellation raises `CancelledError` inside the thread (CPython's asynchronous exceptions).
That raise is only ever aimed at the job it was meant for: it is sent only while the job's
function is running (checked under the workers' lock), and a worker drops any that arrives
too late before it takes another job.

**The lock rule.** The workers' lock is held only across plain attribute and container
operations and calls of C functions: never across `Thread.start()`, a `join()`, an `Event`, or
any call of Python code (a comprehension and a method of ours count). On CPython 3.11, while
an asynchronous exception is pending anywhere, a thread under a tracer (pdb, coverage.py, an
IDE debugger) spins at the entry of every Python function until that exception has been
delivered, and the thread it is meant for may be blocked on this very lock: so a holder that
entered Python code would never let go (docs/devdocs/threads.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from ._core import (
    CancelledError,
    Loop,
    Wait,
    at_stop,
    ctrl_c_presses,
    hearing_ctrl_c,
    note_on_outcome,
)

__all__ = [
    "FINISHED",
    "PENDING",
    "RUNNING",
    "Batch",
    "Job",
    "Line",
    "Workers",
    "describe",
    "on_cancel",
    "workers_of",
]

# How long an idle worker waits for another job before its thread ends.
_IDLE_SECONDS: Final = 5.0
# How often a coroutine waiting for a cancelled call to end looks for a Ctrl-C.
_CANCEL_POLL_SECONDS: Final = 0.05

PENDING: Final = 0
RUNNING: Final = 1
FINISHED: Final = 2

# The lock of the workers of every run and of the lines of every pool. One, because a pool is
# not tied to a loop (the nested loop of an `isolate` may use it beside its outer loop): the
# worker that ends a call of a pool passes its place to the next call in line, whichever run's
# workers that call is for, in the same hold of the lock that marks its own job finished.
_LOCK: Final = threading.Lock()

# Raises an exception in a thread at its next bytecode. Called only with an exception, never
# with None to clear a pending one: on CPython 3.11 (not 3.12 or 3.13) that call sets the
# interpreter's "asynchronous exception pending" flag with no exception for it to deliver, so
# nothing ever resets it, and from then on every traced call in every thread spins for ever. A
# raise that is delivered resets the flag, so a late one is dropped by `_flush_late_cancel`.
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_CANCELLED: Final = ctypes.py_object(CancelledError)


class _Flush(BaseException):
    """Raised by a worker in its own thread to take the place of a late `CancelledError`."""


_FLUSH: Final = ctypes.py_object(_Flush)


def _noop() -> None:
    pass


def _flush_late_cancel(ident: int) -> None:
    """Drop a `CancelledError` sent to this thread (`ident`) that has not arrived yet.

    It is replaced by a `_Flush` raised in this same thread, which arrives at the next
    bytecode that checks for one (a Python call does) and is caught here. Delivering it, rather
    than clearing the pending one, is what keeps the interpreter's flag right on 3.11.
    """
    while True:
        try:
            _set_async_exc(ctypes.c_ulong(ident), _FLUSH)
            # One call is enough, unless another thread, taking its own exception at that very
            # moment, cleared the interpreter's "pending" flag (on 3.11 there is one flag for
            # all threads): then a new raise sets it again.
            for _ in range(100):
                _noop()
        except _Flush:
            return


def tell_still_running(what: str, calls: Sequence[object]) -> None:
    """Say on stderr, after a Ctrl-C, what the stopping loop still waits for, and how to stop
    waiting: "tinyio: Ctrl-C: the loop is stopping, but {what}:", then each of `calls`."""
    listed = "".join(f"\n  {call!r}" for call in calls)
    print(
        f"tinyio: Ctrl-C: the loop is stopping, but {what}:{listed}\n"
        "Press Ctrl-C again to abandon them: loop.run then raises KeyboardInterrupt at "
        "once, and they go on in the background until they return or the program exits.",
        file=sys.stderr,
        flush=True,
    )


def describe(fn: Callable[..., Any]) -> str:
    """How a function is named in messages: its qualified name, else its repr."""
    return getattr(fn, "__qualname__", None) or repr(fn)


class Line:
    """The places of a `ThreadPool`: at most `limit` of its jobs hold one, each from when it
    leaves the line until its function has ended (or it was cancelled before it started); the
    others wait in `waiting`, first come first served. Changed under `_LOCK` only."""

    __slots__ = ("busy", "limit", "name", "waiting")

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.busy = 0  # places held
        # Jobs waiting for a place, all PENDING (one cancelled meanwhile leaves it at once).
        # Whenever one waits, every place is held: a place that frees goes to the first.
        self.waiting: deque[Job] = deque()
        self.name = name  # how a job waiting in it describes itself: the pool's repr


class Batch:
    """What the jobs of one `ThreadPool.map` wake instead of a `Wait` each: its `wait`, once,
    when the last has ended or the first has failed (`failed`). `left` and `failed` are
    changed under `_LOCK`, by the worker that marks a job of the batch finished."""

    __slots__ = ("failed", "left", "rung", "wait")

    def __init__(self, size: int) -> None:
        self.left = size  # jobs not finished yet
        self.failed: Job | None = None  # the first job that raised
        self.rung = False
        self.wait = Wait()

    def wake(self) -> None:
        """Called by a worker once a job of the batch has finished (not under the lock)."""
        if (self.left == 0 or self.failed is not None) and not self.rung:
            self.rung = True  # two workers may both get here: a second wake does nothing
            self.wait.wake()


class Job:
    __slots__ = (
        "args",
        "batch",
        "context",
        "ended",
        "error",
        "fn",
        "interrupt",
        "kwargs",
        "line",
        "on_start",
        "queued",
        "result",
        "started",
        "state",
        "thread",
        "wait",
        "workers",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        workers: Workers,
        wait: Wait | Batch,
        line: Line | None = None,
        batch: Batch | None = None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs  # never changed: `map` gives all its jobs the same empty dict
        # The calling coroutine's context variables, which the call sees (in a copy, so that
        # what it sets stays in the thread), as with `asyncio.to_thread`.
        self.context = contextvars.copy_context()
        self.workers = workers  # of the run whose coroutine made the job
        self.state = PENDING  # changed under the workers' lock
        self.thread = 0  # the ident of the thread running it, once RUNNING
        self.result: Any = None
        self.error: BaseException | None = None
        # Woken when the job has finished: a `Wait`, or the `Batch` of the job's `map`
        # (`batch`, whose count the worker lowers as it marks the job finished).
        self.wait = wait
        self.batch = batch
        self.line = line  # the line of the pool it is a call of, if any
        self.queued = False  # waiting in `line` for a place (under the lock)
        # Set under the lock when a CancelledError is sent (made before the lock is taken:
        # the lock rule), and set when the function has ended.
        self.ended: threading.Event | None = None
        self.started = 0.0  # time.monotonic() when its function started (for diagnostics)
        # Woken as a worker is about to start the function (`ThreadPool.call_with_timeout`
        # times the call from then on), if set before the job is submitted.
        self.on_start: Wait | None = None
        # Called (by the cancelling thread) once a CancelledError has been sent, to wake the
        # function if it blocks in a wait of tinyio's own (`Queue.get_from_thread`): see
        # `on_cancel`.
        self.interrupt: Callable[[], None] | None = None

    def __repr__(self) -> str:
        call = f"{describe(self.fn)}()"
        line = self.line
        if self.queued and line is not None:
            return line.name  # what it waits for is a place in the pool
        if self.state == PENDING:
            return f"<thread call {call}, waiting for a worker>"
        if self.state == RUNNING:
            return f"<thread call {call}, running for {time.monotonic() - self.started:.3f} s>"
        return f"<thread call {call}, finished>"


class Workers:
    """The worker threads of one run of one loop, taking jobs from one queue.

    A new thread is started when a job arrives and no worker is idle. To keep a burst of
    short jobs from starting a thread each, at most one thread is starting at a time; a
    worker that takes a job and still sees jobs waiting with no idle worker starts the next.
    So threads are added as fast as they can start while there is a backlog, and no faster.
    """

    def __init__(self) -> None:
        self._lock = _LOCK
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._waiting = 0  # jobs in `_jobs`
        self._idle = 0  # workers blocked on `_jobs`
        self._starting = False  # a worker thread is being started and has not taken a job
        self._stopped = False  # the run is over: start no more threads
        self._threads: list[threading.Thread] = []
        self._running: set[Job] = set()  # jobs whose function is running
        self._cancelled = False  # the loop is cancelling everything: start no more jobs
        self._abandoned: list[Job] = []  # left running at a second Ctrl-C
        self._told_stuck = False  # said on stderr which threads a Ctrl-C waits for
        self.threads_started = 0  # for the benchmarks

    def submit(self, job: Job) -> None:
        line = job.line
        with self._lock:
            if line is not None:
                if line.busy >= line.limit:  # every place of its pool is held: in line
                    job.queued = True
                    line.waiting.append(job)
                    return
                line.busy += 1
            self._jobs.put(job)
            self._waiting += 1
            # The thread is started once the lock is released (the lock rule), and at most
            # one at a time (`_starting`), however many jobs are waiting.
            start = self._waiting > self._idle and not self._starting and not self._stopped
            if start:
                self._starting = True
        if start:
            self._start_for(job)

    def submit_all(self, jobs: list[Job], line: Line) -> None:
        """`submit` each of `jobs` (of one `map`, all calls of `line`'s pool), in one hold
        of the lock."""
        with self._lock:
            places = line.limit - line.busy
            if places > len(jobs):
                places = len(jobs)
            line.busy += places
            for index in range(places):
                self._jobs.put(jobs[index])
            for index in range(places, len(jobs)):
                job = jobs[index]
                job.queued = True
                line.waiting.append(job)
            self._waiting += places
            start = self._waiting > self._idle and not self._starting and not self._stopped
            if start:
                self._starting = True
        if start:
            self._start_for(jobs[0])

    def _start_for(self, job: Job) -> None:
        try:
            self._start_worker()
        except BaseException:  # the call fails at once, and its job never runs
            with self._lock:
                job.state = FINISHED
            self._pass_place(job, here=False)
            raise

    def _take_over(self, job: Job) -> None:
        """Run `job`, a call of a pool given its place by a worker of another run."""
        with self._lock:
            self._jobs.put(job)
            self._waiting += 1
            start = self._waiting > self._idle and not self._starting and not self._stopped
            if start:
                self._starting = True
        if start:
            # On "can't start new thread", a worker of this run that ends a job takes it.
            with contextlib.suppress(RuntimeError):
                self._start_worker()

    def _pass_place(self, job: Job, here: bool = True) -> Job | None:
        """If `job` holds a place of a pool's line (it has ended, or will never start), give
        the place to the next job in line: returned if it is for these workers and `here`
        (this thread is one of theirs and runs it next), else handed to its own workers.
        `_execute` does the same inline, in the hold of the lock that marks its job finished
        (a method must not run under it)."""
        following = None
        with self._lock:
            line = job.line
            if line is not None:
                job.line = None
                waiting = line.waiting
                if waiting:
                    following = waiting.popleft()
                    following.queued = False
                else:
                    line.busy -= 1
        if following is not None and (following.workers is not self or not here):
            following.workers._take_over(following)
            return None
        return following

    def _start_worker(self) -> None:
        # A daemon thread: one abandoned at Ctrl-C (see `wait_for_cancelled`) must not keep
        # the interpreter from exiting. Every other worker is joined by `stop`.
        thread = threading.Thread(target=self._serve, name="tinyio worker", daemon=True)
        with self._lock:
            if self._stopped:
                self._starting = False
                return
            self._threads.append(thread)
            self.threads_started += 1
        try:
            thread.start()
        except BaseException:  # no thread could be started: a later job may start one
            with self._lock:
                self._starting = False
                self._threads.remove(thread)
            raise

    def cancel(self, job: Job) -> bool:
        """Stop `job`: True if its function is running (then wait on `job.ended`)."""
        ended = threading.Event()
        with self._lock:
            if job.ended is not None:  # `cancel_all` got there first
                return True
            if job.state == PENDING:
                job.state = FINISHED  # its worker will skip it
                line = job.line
                if job.queued and line is not None:  # waiting for a place: leave the line
                    job.queued = False
                    job.line = None
                    line.waiting.remove(job)  # found near the front: `map` cancels in order
                return False
            if job.state != RUNNING:
                return False
            job.ended = ended
            _set_async_exc(ctypes.c_ulong(job.thread), _CANCELLED)
            interrupt = job.interrupt
        if interrupt is not None:
            # Inline, with no Python call between the send and this: see `on_cancel`.
            try:  # noqa: SIM105 (contextlib.suppress is Python code)
                interrupt()
            except RuntimeError:  # released already
                pass
        return True

    def cancel_all(self) -> None:
        """For a loop that cancels everything: raise CancelledError in every running job's
        thread, and let no waiting job start. The threads then stop side by side, and each
        job's coroutine, cancelled in turn, waits only for what is left of its own (see
        `cancel`). Once is enough: later calls do nothing."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True  # from now on no job starts, so `running` can only shrink
            running = list(self._running)
        events = [threading.Event() for _ in running]
        interrupts: list[Callable[[], None]] = []
        with self._lock:
            for job, ended in zip(running, events, strict=True):
                if job.state == RUNNING and job.ended is None:
                    job.ended = ended
                    _set_async_exc(ctypes.c_ulong(job.thread), _CANCELLED)
                    if job.interrupt is not None:
                        interrupts.append(job.interrupt)
        for interrupt in interrupts:  # no Python call in between: see `on_cancel`
            try:  # noqa: SIM105 (contextlib.suppress is Python code)
                interrupt()
            except RuntimeError:  # released already
                pass

    def wait_for_cancelled(self, job: Job, loop: Loop) -> bool:
        """Wait for the function of `job`, cancelled while it ran, to end: True when it has.

        After a Ctrl-C the wait is not silent: if threads are still running a second later,
        stderr says which, once. A second Ctrl-C abandons every running job (False): they
        are left to end in the background, and the run's error names them. So does a Ctrl-C
        raised in the wait (by a host loop that handles Ctrl-C itself, asyncio's second or
        trio's, or a third): it goes on as the wait's error.
        """
        assert job.ended is not None
        try:
            with hearing_ctrl_c(loop):  # trio's Ctrl-C, deferred otherwise until it ends
                return self._wait_ended(job, loop)
        except KeyboardInterrupt:
            self._abandon_running(loop)  # else the run's end would join them all the same
            raise

    def _wait_ended(self, job: Job, loop: Loop) -> bool:
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
            running = list(self._running)
        if not running:
            return
        running.sort(key=lambda job: job.started)
        threads = "1 thread is" if len(running) == 1 else f"{len(running)} threads are"
        tell_still_running(
            f"{threads} still running a call that has not responded to cancellation yet", running
        )

    def _abandon_running(self, loop: Loop) -> None:
        abandoned: list[Job] = []
        with self._lock:
            for job in self._running:
                if job not in self._abandoned:
                    abandoned.append(job)
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
        # Every coroutine has ended, so every job still queued was cancelled before it
        # started: taken out here rather than skipped by a worker, so that one that holds a
        # pool's place (no worker could be started to skip it) gives the place back.
        places: list[Job] = []
        while True:
            try:
                left = self._jobs.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                places.append(left)
        busy: set[int] = set()
        with self._lock:
            self._stopped = True
            threads = list(self._threads)
            for _ in threads:
                self._jobs.put(None)
            for job in places:
                job.state = FINISHED
            for job in self._abandoned:
                if job.state == RUNNING:
                    busy.add(job.thread)
                    if job.line is not None:
                        places.append(job)
        # An abandoned call frees its pool's place as the run ends (as its coroutine, gone,
        # would have), not when its thread ends, perhaps never: the next run gets the pool
        # at its full size.
        for job in places:
            self._pass_place(job, here=False)
        for thread in threads:
            if thread.ident not in busy:
                thread.join()

    def _serve(self) -> None:
        ident = threading.get_ident()
        me = threading.current_thread()
        lock = self._lock
        with lock:
            self._starting = False
        job: Job | None = None
        while True:
            if job is None:
                with lock:
                    self._idle += 1
                try:
                    job = self._jobs.get(timeout=_IDLE_SECONDS)
                except queue.Empty:
                    with lock:
                        self._idle -= 1
                        if self._waiting == 0:  # else a job came just now: go and take it
                            # Not listed if the `start()` that made it raised (a Ctrl-C
                            # landing in its wait for the new thread): see `_start_worker`.
                            if me in self._threads:
                                self._threads.remove(me)
                            return
                    continue
                with lock:
                    self._idle -= 1
                    if job is None:
                        return
                    self._waiting -= 1
                    start = self._waiting > self._idle and not self._starting and not self._stopped
                    if start:
                        self._starting = True
                if start:
                    # On "can't start new thread", this worker runs the job all the same.
                    with contextlib.suppress(RuntimeError):
                        self._start_worker()
            # The next call of the job's pool, if it is for this run: it is run here at once
            # (its place passed on with no hand-off to another thread).
            following = self._execute(ident, job)
            if following is not None and following.workers is not self:
                following.workers._take_over(following)
                following = None
            job.wait.wake()
            job = following

    def _execute(self, ident: int, job: Job) -> Job | None:
        """Run `job` (unless it was cancelled first); give back the next job of its pool's
        line, which now holds the place `job` held, if any."""
        # A CancelledError sent to this thread (only while the job is RUNNING) may arrive at
        # any bytecode from `state = RUNNING` until the flush below -- not only inside `fn`.
        # So all of that is inside the `try`, and if it arrives outside `fn` the loop goes
        # round again without running `fn`, keeping it as the job's outcome. After the flush
        # none can arrive: `cancel` sends none once the job is FINISHED, and `ended` (set with
        # the lock held before sending) says whether one was sent at all.
        lock = self._lock
        ran = False
        following: Job | None = None
        on_start = job.on_start
        if on_start is not None and job.state == PENDING:
            # Before the job is RUNNING, so that no CancelledError meant for it can arrive in
            # the middle of this wake-up; a job cancelled meanwhile is skipped below all the same.
            on_start.wake()
        while True:
            try:
                if not ran:
                    with lock:
                        if job.state == FINISHED or self._cancelled:
                            job.state = FINISHED  # cancelled before it started
                            skipped = True
                        else:
                            skipped = False
                            job.state = RUNNING
                            job.thread = ident
                            job.started = time.monotonic()
                            self._running.add(job)
                            _current.job = job
                    if skipped:
                        return self._pass_place(job)
                    ran = True
                    try:
                        job.result = job.context.run(job.fn, *job.args, **job.kwargs)
                    except BaseException as error:
                        job.error = error
                with lock:
                    job.state = FINISHED
                    self._running.discard(job)
                    _current.job = None
                    if job.ended is None:
                        # No CancelledError was sent, so none can interrupt this: the rest
                        # is done once. (Else it is, after the flush, in `_pass_place`.)
                        batch = job.batch
                        if batch is not None:
                            batch.left -= 1
                            if job.error is not None and batch.failed is None:
                                batch.failed = job
                        line = job.line
                        if line is not None:  # `_pass_place`, inline
                            job.line = None
                            waiting = line.waiting
                            if waiting:
                                following = waiting.popleft()
                                following.queued = False
                            else:
                                line.busy -= 1
                if job.ended is not None:  # a CancelledError was sent: it may not have come
                    _flush_late_cancel(ident)
                break
            except CancelledError as late:
                ran = True
                if job.error is None:
                    job.error = late
        if job.ended is not None:
            following = self._pass_place(job)
            job.ended.set()
        return following


class _Current(threading.local):
    job: Job | None = None  # in a worker thread: the job whose function it runs


_current = _Current()


def on_cancel(callback: Callable[[], None] | None) -> None:
    """For a function about to block in a wait of tinyio's own: if the calling thread is a
    worker running a job, call `callback` as soon as that job is sent CancelledError (at once
    if it has been), from the cancelling thread, so that the wait ends and the CancelledError,
    raised at the thread's next bytecode, arrives. `None`: not any more. Elsewhere: nothing.

    `callback` must be a function written in C, such as a `threading.Lock`'s `release`: it is
    called right after the CancelledError is sent, when on 3.11 under a tracer the cancelling
    thread would spin at the entry of any Python function until the thread it was sent to has
    taken it -- and that thread is blocked until `callback` has run. A RuntimeError it raises
    (a lock released already) is ignored."""
    job = _current.job
    if job is None:
        return
    job.interrupt = callback
    if callback is not None and job.ended is not None:  # sent before the line above
        with contextlib.suppress(RuntimeError):
            callback()


def workers_of(loop: Loop) -> Workers:
    """The `Workers` of the current run of `loop`, made on first use and stopped (joined) when
    the run ends."""
    workers = _workers_by_loop.get(loop)
    if workers is None:
        workers = Workers()

        def stop() -> None:
            _workers_by_loop.pop(loop, None)
            workers.stop()

        # The stop callback first, so that no workers are left that no one stops.
        at_stop(loop, stop)
        _workers_by_loop[loop] = workers
    return workers


_workers_by_loop: dict[Loop, Workers] = {}
