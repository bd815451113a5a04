"""The public `Loop`: the scheduler, with the driver that enters, steps and leaves it.

`Loop.run` and `Loop.runtime` share one driver, `_drive`: it checks in (the running flag, the
Ctrl-C guard, the run's record for the hooks), calls the scheduler's step while anything is
ready, blocks -- or, under `runtime`, yields an `Idle` -- while nothing is, and on a crash asks
the crash room (`crash.py`) for the error to raise, after cancelling everything. Whatever
happens, it checks out again: the stop callbacks of `at_stop`, the guard, the record.

This is the only module besides the interface that imports the scheduler: the rooms the
scheduler is made of never do.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
import types
import weakref
from collections.abc import Callable, Generator
from typing import Any, TypeVar, cast

from . import crash, ctrl_c, hooks, messages
from .diagnostics import format_snapshot, take_snapshot
from .scheduler import Scheduler
from .tasks import FAILED, INTERRUPTED, RUNNING, Gen, Task, is_fresh, task_of
from .timers import Clock
from .tracebacks import stitched_traceback, trim_chain, without_library_frames
from .waits import CancelledError, Coro
from .wakeups import Idle

__all__ = ["Loop"]

_T = TypeVar("_T")

# What `Loop._drive` gives back: `(True, result)`, or `(False, error_to_raise)`.
_Outcome = tuple[bool, Any]


class Loop(Scheduler):
    """An event loop for tinyio coroutines.

    A loop runs a coroutine -- and every coroutine that it starts -- to completion:

    ```python
    import tinyio

    def add_one(x):
        yield tinyio.sleep(0.01)
        return x + 1

    def main():
        a, b = yield [add_one(1), add_one(2)]
        return a + b

    loop = tinyio.Loop()
    print(loop.run(main()))
    # 5
    ```

    Loops keep no global state: create as many as you like, in any thread, and nest them
    (a coroutine may block in another loop's `run`). Each coroutine runs at most once per
    loop; the loop remembers finished coroutines' results for as long as the generator
    object itself is alive, so a later `run` may wait on coroutines an earlier one finished.

    Arguments:
        clock: where timers and timeouts read the time. `None` (the default): the system's
            monotonic clock. For tests, a `tinyio.testing.VirtualClock`, which starts at 0 and
            jumps to the next timer as soon as the loop has nothing else to do: a test of a
            30-second retry finishes at once, with the same result every run. See the
            "Testing" docs page.

    Raises:
        TypeError: `clock` has no `time()` and `advance_to(deadline)` methods.
    """

    __slots__ = ("_quiet_since", "_running")

    def __init__(self, *, clock: Clock | None = None) -> None:
        if clock is not None and not (
            callable(getattr(clock, "time", None)) and callable(getattr(clock, "advance_to", None))
        ):
            raise TypeError(
                f"clock must be a clock such as tinyio.testing.VirtualClock() (with time() and "
                f"advance_to(deadline) methods), or None for the system's clock; got {clock!r}."
            )
        super().__init__(clock)
        self._running = False
        # Under a clock of our own: since when (real time) nothing in the loop could wake a
        # coroutine (see `_idle`); None while something can.
        self._quiet_since: float | None = None

    def time(self) -> float:
        """The time on this loop's clock, in seconds: what its timers and timeouts count in.

        The system's monotonic clock (`time.monotonic()`), unless the loop was given another
        (`Loop(clock=...)`); a `tinyio.testing.VirtualClock` starts at 0.

        ```python
        import tinyio
        from tinyio.testing import VirtualClock

        def main():
            yield tinyio.sleep(30)

        loop = tinyio.Loop(clock=VirtualClock())
        print(loop.time())
        loop.run(main())
        print(loop.time())
        # 0.0
        # 30.0
        ```
        """
        return self._timers.now()

    def run(self, coro: Coro[_T], exception_group: bool | None = None) -> _T:
        """Run `coro`, and everything it starts, until all of it has finished.

        Arguments:
            coro: the coroutine (a generator object) to run.
            exception_group: what to raise if a coroutine raises. `None` (the default):
                the original error, or a `BaseExceptionGroup` of it and any different
                errors that coroutines raised while being cancelled. `False`: always the
                original error alone. `True`: always a group -- the original error, the
                other errors, then the `CancelledError` of each cancelled coroutine.

        Returns:
            What `coro` returned. If this loop already finished `coro` in an earlier run,
            its result is returned again at once.

        Raises:
            TypeError: `coro` is not a generator.
            ValueError: `coro` was already started outside this loop.
            RuntimeError: this loop is already running.

        `coro` runs in a copy of the caller's `contextvars` context, and each coroutine it
        starts in a copy of its starter's (see the Loops page of the docs).

        `run` returns once `coro` *and* every coroutine started in the background with
        `yield {...}` have finished. If any coroutine raises, every other unfinished one
        has `tinyio.CancelledError` thrown in at its `yield`, and the error is raised here.
        """
        try:
            known = self._prepare(coro, exception_group)
            try:
                next(self._drive(coro, known, exception_group, each_step=False))
            except StopIteration as stop:
                ok, value = stop.value
            else:  # pragma: no cover - `_drive` never yields when not driven step by step
                raise AssertionError("unreachable")
            if ok:
                return value
            raise value
        except BaseException as error:
            # No frame of the loop's machinery (this one included) reaches the user: the
            # traceback becomes the coroutines' call stack (see `_final_error`), or nothing for
            # an argument error, and the caller's frame is added in front as it propagates.
            # A bare `raise` inside `except` adds no entry for this frame (Python 3.11+).
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise

    def runtime(
        self, coro: Coro[_T], exception_group: bool | None
    ) -> contextlib.AbstractContextManager[Generator[Callable[[], None] | None, None, _T]]:
        """Drive the loop step by step, e.g. from inside another event loop.

        The context manager gives a generator. Each `next()` on it advances the loop: it
        yields `None` after each step, or -- when there is nothing to do until a timer
        fires or another thread wakes the loop -- a zero-argument callable which blocks
        until then (call it, perhaps in a worker thread, before the next `next()`). A driver
        that must not block instead reads the callable's `timeout` (seconds until the next
        timer, or None) and registers `notify_on_wakeup(callback)`, which is called from any
        thread when the loop is woken -- see `tinyio.to_asyncio` for one. When
        `coro` and everything it started have finished, the generator returns `coro`'s
        result (as `StopIteration.value`); if a coroutine raised, it raises like
        `Loop.run` does.

        Arguments: as for `Loop.run`.

        Leaving the context with an exception cancels every unfinished coroutine. Leaving
        it normally before the generator is exhausted is a bug (the coroutines would leak):
        they are cancelled too, and `RuntimeError` is raised.

        ```python
        import tinyio

        def main():
            yield
            yield tinyio.sleep(0.01)
            return "done"

        loop = tinyio.Loop()
        steps = 0
        with loop.runtime(main(), exception_group=None) as gen:
            while True:
                try:
                    block = next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                if block is None:
                    steps += 1
                else:
                    block()
        print(result, steps >= 2)
        # done True
        ```
        """
        return _Runtime(self, coro, exception_group)

    def snapshot(self) -> list[dict[str, Any]]:
        """What every unfinished coroutine of this loop is doing, as data.

        Safe to call from another thread while the loop runs (for logging, or a status page);
        the same information is added as a note to the error when the loop crashes, is
        interrupted, or finds a cycle.

        ```python
        import tinyio

        loop = tinyio.Loop()
        event = tinyio.Event()

        def waiter():
            yield event.wait()

        def main():
            yield {waiter()}
            yield
            print([node["name"] for node in loop.snapshot()])
            event.set()

        loop.run(main())
        # ['main', 'waiter']
        ```

        Returns:
            A list of trees, one per coroutine that nothing waits on. Each node is a dict:
            `id` (a number), `name` (the function's qualified name; `tinyio.Event.wait` and
            the like for tinyio's own coroutines, with `on`: what they wait on), `file` and
            `line` (where it is suspended), `state` (`"ready"`, `"waiting"`, `"waiting on"`,
            `"waiting on all of"`, with `of`: how many it yielded in that list; its unfinished
            ones are its `children`), `seconds_left` (if it waits with a timer),
            `waited_on_by` (if several coroutines wait on it), and `children`: the nodes of
            what it waits on. A coroutine shown before appears again as `{"id": n, "see": n}`.
        """
        return take_snapshot(self._tasks, self._timers.now())  # timers count on the loop's clock

    def _prepare(self, coro: object, exception_group: object) -> Task | None:
        """Check the arguments of `run`/`runtime`: the finished task for `coro`, or None."""
        if exception_group is not None and type(exception_group) is not bool:
            raise TypeError(
                f"exception_group must be None, True or False, got {exception_group!r}."
            )
        if not isinstance(coro, types.GeneratorType):
            raise TypeError(messages.describe_run_argument(coro))
        coro = cast(Gen, coro)
        if self._running:
            raise RuntimeError(messages.ALREADY_RUNNING)
        known = self._tasks.get(weakref.ref(coro))
        if known is not None:
            if known.state == FAILED:
                raise RuntimeError(messages.failed_earlier(coro, "run"))
            return known
        if not is_fresh(coro):
            raise ValueError(messages.started_elsewhere(coro, "run"))
        return None

    def _drive(
        self, coro: Coro[Any], known: Task | None, exception_group: bool | None, each_step: bool
    ) -> Generator[Callable[[], None] | None, None, _Outcome]:
        """Run until done. Yields None per step (if `each_step`) and, if `each_step`, a
        blocker when idle (otherwise it blocks itself)."""
        if known is not None:
            return True, known.result
        if self._running:  # a second `runtime` entered before the first one's first step
            raise RuntimeError(messages.ALREADY_RUNNING)
        self._crash = None
        self._crashed_task = None
        self._cycles = None
        self._quiet_since = None
        run = self._run
        wakeups = self._wakeups
        outcome: BaseException | None = None  # the error the run ends with
        try:
            self._running = True
            hooks.enter(self, run)
            run.guarded = ctrl_c.guard(wakeups, blocking=not each_step)
            lender = hooks.lender_of(self)
            if lender is not None:
                wakeups.lend(lender)
            get_ident = threading.get_ident
            wakeups.owner = get_ident()
            ready = self._ready
            root = self._new_task(cast(Gen, coro), contextvars.copy_context())
            self._root_context = root.context
            while True:
                try:
                    if ready:
                        # In the root's context: its steps, and those of the coroutines it
                        # started at once, need no `Context.run` of their own.
                        root.context.run(self._run_ready, each_step)
                        if each_step and self._crash is None:
                            wakeups.owner = None
                            yield None
                            wakeups.owner = get_ident()
                    elif self._live == 0:
                        # A root that let an interrupt's error propagate (it was cancelled, see
                        # `tinyio.cancel`) has that error as its result: raise it.
                        if root.state == INTERRUPTED:
                            return False, root.raised
                        return True, root.result
                    else:
                        self._idle(each_step)
                        if ready or not each_step:
                            continue
                        # Nothing came meanwhile: the driver waits, in its own way.
                        wakeups.owner = None
                        yield Idle(wakeups, self._timers.until_next())
                        wakeups.watch(None)
                        wakeups.owner = get_ident()
                        self._timers.fire()
                        self._collect_wakeups()
                except GeneratorExit:
                    raise
                except BaseException as error:  # Ctrl-C while blocked, or a bug of ours
                    if self._crash is None:
                        self._crash = error
                if self._crash is not None:
                    # Outside any `except` block, so that the CancelledErrors thrown in get
                    # no misleading `__context__`.
                    outcome = self._final_error(exception_group)
                    return False, outcome
        except GeneratorExit:
            # The driver stopped early (see `runtime`): clean up, then let it go.
            self._cancel_all(CancelledError("The loop driving these coroutines was stopped."))
            raise
        finally:
            wakeups.owner = None
            self._running = False
            wakeups.close_selector()
            try:
                self._call_stop_callbacks()
            finally:
                hooks.leave(self)
                if run.guarded:
                    run.guarded = False
                    # A Ctrl-C recorded after the last safe point: the run raises it.
                    if ctrl_c.unguard(wakeups) and not crash.is_ctrl_c(outcome):
                        interrupt = KeyboardInterrupt()
                        interrupt.__context__ = outcome
                        for note in run.notes:  # left by a stop that cut the run short
                            interrupt.add_note(note)
                        run.notes.clear()
                        raise interrupt

    def _idle(self, each_step: bool) -> None:
        """Nothing is ready: collect what came meanwhile (under `runtime`, the driver ran other
        code since the last step); if still nothing, and the loop is not driven step by step,
        sleep until there is work (or jump a clock of our own to the next timer)."""
        timers = self._timers
        timers.fire()
        self._collect_wakeups()
        if self._ready or each_step:
            return
        if timers.clock is not None:
            # A clock of our own never runs by itself: jump to the next timer, or wait for the
            # work outside the loop (a thread call) that is running to wake us.
            if timers.jumped():
                return
            timeout = None
            io = self._wakeups.io
            if not timers.outside and (io is None or not io.waiting):
                # No timer, no thread call, no descriptor: only a thread of the user's can
                # wake a coroutine now. Give it a moment of real time, then say it is stuck.
                timeout = self._deadlock_after()
        else:
            timeout = timers.until_next()
        wakeups = self._wakeups
        owner = wakeups.owner
        wakeups.owner = None
        wakeups.block(timeout)
        wakeups.owner = owner
        timers.fire()
        self._collect_wakeups()
        if self._ready:
            self._quiet_since = None

    def _deadlock_after(self) -> float:
        """Idle under a clock of our own with nothing that could wake a coroutine: how long
        to block for a thread of the user's to wake one, or raise if that time is up."""
        now = time.monotonic()
        since = self._quiet_since
        if since is None:
            self._quiet_since = since = now
        left = since + DEADLOCK_SECONDS - now
        if left > 0:
            return left
        self._quiet_since = None
        error = RuntimeError(messages.virtual_deadlock(DEADLOCK_SECONDS))
        forest = take_snapshot(self._tasks, self._timers.now())
        error.add_note(
            format_snapshot(
                forest, f"{messages.REPORT_PREFIX} is stuck; what its coroutines wait for:"
            )
        )
        raise error

    def _call_stop_callbacks(self) -> None:
        run = self._run
        callbacks = run.stop_callbacks
        run.stop_callbacks = []
        for callback in callbacks:
            callback()

    def _final_error(self, exception_group: bool | None) -> BaseException:
        """After a crash: cancel everything, and give the error that the run raises."""
        error = self._crash
        assert error is not None
        error.__traceback__, chain = stitched_traceback(error, self._crashed_task)
        crash.add_notes(
            error,
            isinstance(error, KeyboardInterrupt) or self._crashed_task is None,
            self._cycles or [],
            self._tasks,
            self._timers.now(),  # timers count on the loop's clock
        )
        others, cancelled = self._cancel_all(error, chain)
        self._crash = None
        self._crashed_task = None
        self._crashed_name = ""
        self._cycles = None
        for note in self._run.notes:
            error.add_note(note)
        self._run.notes.clear()
        final = crash.final_group(error, others, cancelled, exception_group)
        trim_chain(final)  # what it was raised while handling: without our frames either
        if self._run.guarded and ctrl_c.take_pending() and not crash.is_ctrl_c(final):
            # Ctrl-C while the loop was stopping for another error: the run ends as a Ctrl-C
            # does, with that error as its context.
            interrupt = KeyboardInterrupt()
            interrupt.__context__ = final
            return interrupt
        return final

    def _cancel_all(
        self, reason: BaseException, chain: set[Task] | None = None
    ) -> tuple[list[BaseException], list[BaseException]]:
        """Throw CancelledError into every unfinished task, newest first (see
        `crash.cancel_each`), then forget all that was pending."""
        failed = self._crashed_task
        failed_name = None if failed is None else self._crashed_name
        direct_waiters = {task_of(w) for w in failed.waiters or ()} if failed else set[Task]()

        def message(task: Task) -> str:
            return messages.cancel_message(reason, failed_name, task in direct_waiters)

        run = self._run
        run.cancelling = True
        try:
            running = [t for t in list(self._tasks.values()) if t.state == RUNNING]
            errors = crash.cancel_each(running, message, chain or set(), run.independent)
        finally:
            run.cancelling = False
        # Nothing is left to run: forget what was pending.
        run.independent.clear()
        self._ready.clear()
        self._timers.clear()
        self._live = 0
        self._wakeups.drain()
        return errors


# Under a virtual clock, how long (in real seconds) a loop that nothing inside it can wake
# waits for a thread of the user's to wake it before it raises (see `Loop._idle`).
DEADLOCK_SECONDS = 1.0


class _Runtime(
    Generator[Callable[[], None] | None, None, _T],
    contextlib.AbstractContextManager[Generator[Callable[[], None] | None, None, _T]],
):
    """What `Loop.runtime` returns: a context manager that is itself the generator it gives.

    A class rather than `contextlib.contextmanager`, so that an error raised on entering or
    leaving shows none of the loop's frames, and none of contextlib's; and the generator itself
    rather than a generator around `Loop._drive`, which an isolated loop (one per connection of
    a server) would hold for its whole life, and step through at each of its steps.
    """

    __slots__ = ("_coro", "_driving", "_entered", "_exception_group", "_finished", "_loop")

    def __init__(self, loop: Loop, coro: Coro[_T], exception_group: bool | None) -> None:
        self._loop = loop
        self._coro = coro
        self._exception_group = exception_group
        self._entered = False
        self._finished = False
        self._driving: Generator[Callable[[], None] | None, None, _Outcome] | None = None

    def __enter__(self) -> Generator[Callable[[], None] | None, None, _T]:
        try:
            if self._entered:
                raise RuntimeError("Each `loop.runtime(...)` can be entered once.")
            loop = self._loop
            known = loop._prepare(self._coro, self._exception_group)  # pyright: ignore[reportPrivateUsage]
        except BaseException as error:
            # A bare `raise` inside `except` adds no entry for this frame (see `Loop.run`).
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise
        self._entered = True
        self._driving = loop._drive(self._coro, known, self._exception_group, True)  # pyright: ignore[reportPrivateUsage]
        return self

    def __next__(self) -> Callable[[], None] | None:
        driving = self._driving
        if driving is None:
            raise RuntimeError("Enter `loop.runtime(...)` (`with ... as steps:`) before stepping.")
        try:
            return driving.send(None)
        except StopIteration as stop:
            outcome: _Outcome | None = stop.value
        except BaseException as error:
            self._finished = True  # the loop's generator raised: it is over
            # As in `Loop.run`: none of the loop's frames in the traceback.
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise
        self._finished = True
        if outcome is None:  # stepped again after the end: as a finished generator
            raise StopIteration
        ok, value = outcome
        if ok:
            raise StopIteration(value)
        try:
            raise value  # outside the `except` above: no misleading context
        except BaseException as error:
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise

    def send(self, value: None) -> Callable[[], None] | None:
        return self.__next__()

    def throw(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, error: BaseException | type[BaseException], *rest: object
    ) -> Callable[[], None] | None:
        """Throw `error` in where the loop is suspended: it crashes with it, as a Ctrl-C while
        it blocks would (every unfinished coroutine is cancelled), and the error is raised."""
        if rest and isinstance(rest[0], BaseException):  # the old form: throw(type, value)
            error = rest[0]
        elif isinstance(error, type):
            error = error()
        driving = self._driving
        if driving is None:
            raise error
        try:
            return driving.throw(error)
        except StopIteration as stop:
            outcome: _Outcome = stop.value
        except BaseException as raised:
            self._finished = True
            raised.__traceback__ = without_library_frames(raised.__traceback__)
            raise
        self._finished = True
        ok, value = outcome
        if ok:
            raise StopIteration(value)
        try:
            raise value  # outside the `except` above: no misleading context
        except BaseException as error:
            error.__traceback__ = without_library_frames(error.__traceback__)
            raise

    def close(self) -> None:
        if self._driving is not None:
            self._driving.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        drive = self._driving
        assert drive is not None
        # Closing the loop's own generator cancels every unfinished coroutine (see
        # `Loop._drive`); closing a finished one does nothing.
        drive.close()
        if exc is not None or self._finished:
            return
        try:
            raise RuntimeError(
                f"Left `loop.runtime({messages.name(self._coro)}, ...)` with the loop only "
                f"partially completed: its generator was not exhausted, so the coroutine "
                f"{self._coro!r} had not finished. Its unfinished coroutines have been "
                "cancelled. Keep calling `next()` until it raises `StopIteration`."
            )
        except RuntimeError as error:
            error.__traceback__ = None  # no frame of ours: the `with` statement's is next
            raise
