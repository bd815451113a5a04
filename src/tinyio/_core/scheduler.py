"""The scheduler: the one part of tinyio that knows how coroutines are scheduled.

Design, in the order a reader needs it:

1. A coroutine is a plain generator. Each one is wrapped in a `Task` (`tasks.py`); a FIFO
   queue holds the tasks ready to take a step. One step is one `gen.send(value)`, in
   `_run_ready`, the hot path.

2. What a coroutine may yield, in the order `_run_ready` tests for it:
   - nothing (`yield`): go to the back of the ready queue;
   - a coroutine (a generator): wait for its result, starting it if it is new
     (`_wait_on_coroutine`) -- or, for a library operation marked with `starts_at_once`
     that nothing else refers to, run it as part of the yielder (see 3.);
   - a `Wait`, the primitive wait, woken by `Wait.wake()` from any thread or by its timeout;
     a `DescriptorWait`, woken also by its file descriptor (the wake-ups room's selector);
   - a list of coroutines: wait for all (`_gather`); a set: start them in the background;
   - for library code: `Interrupt(coro, error)`, to throw `error` into another coroutine;
     `CURRENT_LOOP`, to be sent this loop; an object whose type has a `_tinyio_wait_`
     method (a `Barrier`), standing for the coroutine that method gives.
   Anything else is thrown back into the coroutine as a `TypeError`. Events, sleeping, locks,
   queues, threads and the rest are coroutine code built on these, using the core through
   `tinyio._core`; this module imports none of them (docs/devdocs/architecture.md).

3. Fairness: whatever becomes ready -- started, woken by an event, a timer, a finished
   dependency or another thread -- goes to the back of the ready queue. Timers and wake-ups
   from other threads are collected once per *round* (a pass over what was ready when it
   began): a busy loop never starves them, and no system call is made while work is ready.
   One exception, for speed: an operation marked with `starts_at_once` (`Queue.get`,
   `Event.wait`, ...). Its yielder goes to the back as usual; at its turn the operation takes
   its first step, and if that finishes it, the yielder goes on at once, as if it had written
   `yield` and then `yield from` the operation (`_start_at_once`).

4. Each coroutine runs in its own `contextvars.Context`, a copy of its starter's (the root's
   of the caller of `run`'s), entered only when it is not the one the loop is in already (the
   root's): a loop of one coroutine pays nothing for it. See docs/devdocs/contexts.md.

5. Results are remembered per loop and held weakly: a finished coroutine's result lives
   exactly as long as the generator object does (see `_tasks` and `_retire`).

6. Any error crashes the loop: `_fail` records it and the step stops; the driver and the
   crash room (`loop.py`, `crash.py`) do the rest, off the hot path.

The timers (`timers.py`) and the wake-ups from other threads (`wakeups.py`) are objects this
class owns, read once per round; the other rooms are functions of the task records; none
imports this module. The hot handlers stay methods of this one class: one more Python call
per step would cost a fifth of a `switch` step (see docs/devdocs/architecture.md).
"""

from __future__ import annotations

import contextvars
import heapq
import sys
import types
import weakref
from collections import deque
from typing import Any, Final, Literal, cast

from . import ctrl_c, messages
from .cycles import find_cycle
from .hooks import Run
from .tasks import (
    DONE,
    FAILED,
    INTERRUPTED,
    NO_GENERATOR,
    RUNNING,
    Gather,
    Gen,
    Task,
    is_fresh,
    task_of,
)
from .timers import COMPACT_AFTER, Clock, Timers
from .waits import (
    AT_ONCE,
    CURRENT_LOOP,
    UNSHARED,
    CancelledError,
    DescriptorWait,
    Interrupt,
    Wait,
)
from .wakeups import Wakeups

__all__ = ["Scheduler"]

# What `Scheduler._start_at_once` gives when the coroutine that yielded has not taken a step.
_WAITING: Final = object()
_CRASHED: Final = object()


# What `_root_context` is until a run begins (`Loop._drive` sets the root's): one for every
# loop, as it is only compared by identity.
_NO_CONTEXT: Final = contextvars.Context()


class Scheduler:
    """The ready queue, the task table and one step; `Loop` drives it (see `loop.py`)."""

    # Slots: an isolated loop per connection (`serve_tcp`) made a dictionary of these per loop.
    __slots__ = (
        "__weakref__",
        "_crash",
        "_crashed_name",
        "_crashed_task",
        "_cycles",
        "_forget_callback",
        "_live",
        "_ready",
        "_root_context",
        "_run",
        "_tasks",
        "_timers",
        "_wakeups",
    )

    def __init__(self, clock: Clock | None) -> None:
        # Invariant: a task is in `_ready` at most once, and only while `waiting_on is None`.
        self._ready: deque[Task] = deque()
        # Every task whose generator is alive, running or finished (oldest first), by a weak
        # reference to the generator: it hashes like the generator while that lives, and
        # `_forget_callback` drops the entry when it dies. So results are held exactly as long
        # as their coroutine is, and a long-lived loop does not grow.
        self._tasks: dict[weakref.ref[Gen], Task] = {}
        # Called by CPython when a generator dies. A C function, not Python code: there a pending
        # Ctrl-C would be raised, and an error in a weakref callback is printed, then lost. The
        # entry is always there to pop: only this callback removes entries.
        self._forget_callback = self._tasks.pop
        self._live = 0  # number of unfinished tasks
        self._timers = Timers(clock, self._resume)
        self._wakeups = Wakeups(self._resume)
        self._run = Run(self._tasks, self._timers, self._wakeups)
        # The context `_run_ready` runs in: the root coroutine's (see `Loop._drive`).
        self._root_context = _NO_CONTEXT
        self._crash: BaseException | None = None
        self._crashed_task: Task | None = None
        self._crashed_name = ""  # the name of its coroutine, for the CancelledErrors' messages
        # The errors thrown for cycles in this run (None: none yet).
        self._cycles: list[BaseException] | None = None

    def _run_ready(self, one_step: bool) -> None:
        """The hot path: step ready coroutines until none is ready (or just one step).

        Works in rounds: a round steps each coroutine that was ready when it began, and
        between rounds the loop collects expired timers and wake-ups from other threads.
        Stops early if a coroutine raises.
        """
        ready = self._ready
        popleft = ready.popleft
        append = ready.append
        generator_type = types.GeneratorType
        at_once = AT_ONCE
        getrefcount = sys.getrefcount
        unshared = UNSHARED
        entered = self._root_context  # the context this runs in (see `Loop._drive`)
        timer_heap = self._timers.heap  # compacted in place, so this stays the heap
        wakeups = self._wakeups
        while True:
            countdown = 1 if one_step else len(ready)
            if not countdown:
                return
            while countdown:
                countdown -= 1
                task = popleft()
                try:
                    if task.instead is None:
                        if task.context is entered:
                            yielded = task.gen.send(task.value)
                        else:
                            yielded = task.context.run(task.gen.send, task.value)
                    else:
                        instead = task.instead
                        task.instead = None
                        task.value = None  # not sent: drop it (see `_retire`)
                        if type(instead) is generator_type:
                            if task.context is entered:
                                yielded = self._start_at_once(task, instead)  # pyright: ignore[reportUnknownArgumentType]
                            else:
                                yielded = task.context.run(self._start_at_once, task, instead)  # pyright: ignore[reportUnknownArgumentType]
                            if yielded is _WAITING:
                                continue
                            if yielded is _CRASHED:
                                return
                        elif task.context is entered:
                            yielded = task.gen.throw(instead)
                        else:
                            yielded = task.context.run(task.gen.throw, instead)
                except StopIteration as stop:
                    self._finish(task, stop.value)
                    if task.at_once and one_step:
                        # Its yielder is now first in line: step it too, so that no driver
                        # (`isolate`, `to_asyncio`) can cancel it while it holds the result.
                        countdown += 1
                    continue
                except BaseException as error:
                    if error is task.interrupted_by:
                        self._pass_on_interrupt(task, error)
                        continue
                    self._fail(task, error)
                    return
                if yielded is None:
                    task.value = None
                    append(task)
                elif type(yielded) is generator_type:
                    if id(yielded.gi_code) in at_once and getrefcount(yielded) == unshared:  # pyright: ignore[reportUnknownMemberType]
                        # See `starts_at_once`: its first step at this task's next turn.
                        task.instead = yielded  # pyright: ignore[reportAttributeAccessIssue]
                        append(task)
                        continue
                    self._wait_on_coroutine(task, yielded)  # pyright: ignore[reportUnknownArgumentType]
                elif type(yielded) is Wait:
                    self._wait_on_wait(task, yielded)
                else:
                    self._wait_on_other(task, yielded)
            if timer_heap:
                self._timers.fire()
            if wakeups.pending:  # also set while descriptors are waited on
                self._collect_wakeups(one_step)
            if one_step:
                return

    def _new_task(self, gen: Gen, context: contextvars.Context) -> Task:
        task = Task(gen, context)
        self._tasks[weakref.ref(gen, self._forget_callback)] = task
        self._live += 1
        self._ready.append(task)
        return task

    def _start_at_once(self, task: Task, gen: Gen) -> object:
        """`task`'s turn, after it yielded `gen` (see `starts_at_once`): take `gen`'s first
        step; if that finishes it, step `task` with its result and give what `task` yields
        (its errors and StopIteration propagate, as from any step). Else give _WAITING (`gen`
        is now a task that `task` waits on), or _CRASHED (`gen` raised: the loop crashes)."""
        try:
            first = gen.send(None)
        except StopIteration as stop:
            result = stop.value
        except BaseException as error:
            self._fail(self._started_at_once(task, gen), error)
            return _CRASHED
        else:
            child = self._started_at_once(task, gen)
            if type(first) is Wait:  # what the library's operations yield
                self._wait_on_wait(child, first)
            else:
                self._wait_on_other(child, first)
            return _WAITING
        # Outside the `except` block, so that an error of `task` gets no misleading context.
        return task.gen.send(result)

    def _started_at_once(self, task: Task, gen: Gen) -> Task:
        """The task for `gen`, which `task` yielded and which took its first step without
        finishing: `task` now waits on it."""
        child = Task(gen, task.context)  # part of `task`, as with `yield from`: its context too
        child.at_once = True
        self._tasks[weakref.ref(gen, self._forget_callback)] = child
        self._live += 1
        child.waiters = [task]
        task.waiting_on = child
        return child

    def _finish(self, task: Task, result: Any) -> None:
        task.result = result
        task.state = DONE
        task.gen = NO_GENERATOR  # as `_retire`, inlined: this is on the hot path
        self._live -= 1
        waiters = task.waiters
        if waiters is not None:
            task.waiters = None
            append = self._ready.appendleft if task.at_once else self._ready.append
            for waiter in waiters:
                if type(waiter) is Task:
                    waiter.waiting_on = None
                    waiter.value = result
                    append(waiter)
                else:
                    assert type(waiter) is Gather
                    waiter.pending -= 1
                    if waiter.pending == 0:
                        parent = waiter.parent
                        parent.waiting_on = None
                        parent.value = [t.result for t in waiter.tasks]
                        append(parent)

    def _fail(self, task: Task, error: BaseException) -> None:
        """`task` raised `error`: the loop crashes (see `Loop._final_error`)."""
        self._crash = error
        self._crashed_task = task
        self._crashed_name = messages.name(task.gen)
        task.state = FAILED
        self._retire(task)

    def _retire(self, task: Task) -> None:
        """Drop a finished task's references to its generator (see `_tasks`) and to a value
        never sent (say a lock's slot, acquired for it at once: dropping it releases it)."""
        task.gen = NO_GENERATOR
        task.waiting_on = None
        task.value = None
        task.instead = None  # perhaps a coroutine that was to start at once: it never will
        self._live -= 1

    def _known_or_fresh(self, task: Task, gen: Gen) -> Task | Literal[False] | None:
        """The task for `gen` if the loop knows it, None if it is fresh. Else False, once an
        error saying why `task` cannot wait on it is thrown into `task`."""
        child = self._tasks.get(weakref.ref(gen))
        if child is not None:
            if child.state == FAILED:
                self._throw(task, RuntimeError(messages.failed_earlier(gen, "wait on")))
                return False
            return child
        if not is_fresh(gen):
            self._throw(task, ValueError(messages.started_elsewhere(gen, "wait on")))
            return False
        return None

    def _wait_on_coroutine(self, task: Task, gen: Gen) -> None:
        child = self._tasks.get(weakref.ref(gen))
        if child is None and gen.gi_frame is not None and not gen.gi_suspended:
            # The common case, a coroutine new to the loop: `_new_task`, inlined.
            child = Task(gen, task.context.copy())
            self._tasks[weakref.ref(gen, self._forget_callback)] = child
            self._live += 1
            self._ready.append(child)
            child.waiters = [task]
            task.waiting_on = child
            return
        child = self._known_or_fresh(task, gen)
        if child is False:
            return
        assert child is not None  # a fresh one took the branch above
        if child.state == DONE:
            task.value = child.result
            self._ready.append(task)
        elif child.state == INTERRUPTED:
            assert child.raised is not None
            self._throw(task, child.raised)
        elif not self._closes_cycle(task, [child]):
            if child.waiters is None:
                child.waiters = [task]
            else:
                child.waiters.append(task)
            task.waiting_on = child

    def _wait_on_wait(self, task: Task, wait: Wait) -> None:
        if wait.task is not None:
            self._throw(task, RuntimeError(f"{wait!r} was yielded twice; each is yielded once."))
            return
        wait.waker = self._wakeups
        wait.task = task
        task.waiting_on = wait
        if wait.woken:
            self._resume(wait, True)
        elif wait.timeout is not None:
            timers = self._timers
            deadline = timers.now() + wait.timeout
            wait.deadline = deadline
            heapq.heappush(timers.heap, (deadline, next(timers.counter), wait))

    def _wait_on_descriptor(self, task: Task, wait: DescriptorWait) -> None:
        if wait.task is None:  # else `_wait_on_wait` throws: yielded twice
            try:
                self._wakeups.register(wait)
            except Exception as error:  # busy, a descriptor that cannot be waited on, EMFILE
                self._throw(task, error)
                return
        self._wait_on_wait(task, wait)

    def _wait_on_other(self, task: Task, yielded: object) -> None:
        """Act on a yield of any other form than the three that `_run_ready` handles inline
        (or on what an operation that started at once yields first)."""
        if type(yielded) is list:
            self._gather(task, yielded)  # pyright: ignore[reportUnknownArgumentType]
        elif type(yielded) is set:
            self._background(task, yielded)  # pyright: ignore[reportUnknownArgumentType]
        elif type(yielded) is DescriptorWait:
            self._wait_on_descriptor(task, yielded)
        elif type(yielded) is Interrupt:
            task.value = self._interrupt(task, yielded)
            self._ready.append(task)
        elif yielded is CURRENT_LOOP:
            task.value = self
            self._ready.append(task)
        elif yielded is None:
            task.value = None
            self._ready.append(task)
        elif type(yielded) is types.GeneratorType:
            self._wait_on_coroutine(task, cast(Gen, yielded))
        else:
            as_coroutine = getattr(type(yielded), "_tinyio_wait_", None)
            if as_coroutine is not None:
                # A tinyio object (e.g. a Barrier) standing for one of its coroutines.
                self._wait_on_coroutine(task, as_coroutine(yielded))
            else:
                problem = messages.describe_yield(yielded)
                self._throw(
                    task, TypeError(f"Invalid yield: {messages.yielder(task.gen)} {problem}")
                )

    def _check_members(self, task: Task, kind: str, items: list[Any] | set[Any]) -> bool:
        for item in items:
            if type(item) is not types.GeneratorType:
                self._throw(task, TypeError(messages.invalid_member(task.gen, kind, item)))
                return False
        return True

    def _gather(self, task: Task, gens: list[Gen]) -> None:
        if not self._check_members(task, "list", gens):
            return
        tasks: list[Task | None] = []
        for gen in gens:
            known = self._known_or_fresh(task, gen)
            if known is False:
                return
            tasks.append(known)
        for known in tasks:
            if known is not None and known.raised is not None:  # INTERRUPTED: pass it on
                self._throw(task, known.raised)
                return
        unfinished = {t: None for t in tasks if t is not None and t.state == RUNNING}
        if unfinished and self._closes_cycle(task, list(unfinished)):
            return
        all_tasks: list[Task] = []
        for gen, known in zip(gens, tasks, strict=True):
            if known is None:
                # A fresh coroutine may appear twice in one list: start it once.
                known = self._tasks.get(weakref.ref(gen)) or self._new_task(
                    gen, task.context.copy()
                )
                unfinished[known] = None
            all_tasks.append(known)
        if not unfinished:
            task.value = [t.result for t in all_tasks]
            self._ready.append(task)
            return
        gather = Gather(task, all_tasks, len(unfinished))
        for child in unfinished:
            if child.waiters is None:
                child.waiters = [gather]
            else:
                child.waiters.append(gather)
        task.waiting_on = gather

    def _background(self, task: Task, gens: set[Gen]) -> None:
        if not self._check_members(task, "set", gens):
            return
        fresh: list[Gen] = []
        for gen in gens:
            known = self._known_or_fresh(task, gen)
            if known is False:
                return
            if known is None:
                fresh.append(gen)
        context = task.context
        for gen in fresh:
            self._new_task(gen, context.copy())
        task.value = None
        self._ready.append(task)

    def _interrupt(self, task: Task, interrupt: Interrupt) -> bool:
        target = self._tasks.get(weakref.ref(cast(Gen, interrupt.gen)))
        if (
            target is None
            or target is task
            or target.state != RUNNING
            or isinstance(target.instead, BaseException)  # being interrupted already
        ):
            return False
        # Inside an operation that started at once, the error goes to the operation first,
        # as with `yield from`; if it lets the error propagate, so may `target`.
        inner = target.waiting_on
        while type(inner) is Task and inner.at_once and inner.instead is None:
            target.interrupted_by = interrupt.error
            target = inner
            inner = target.waiting_on
        in_ready = target.waiting_on is None
        self._detach(target)
        target.interrupted_by = interrupt.error
        target.instead = interrupt.error
        if not in_ready:
            self._ready.append(target)
        return True

    def _detach(self, task: Task) -> None:
        """Stop `task` waiting on whatever it waits on (it is about to be resumed otherwise)."""
        waiting_on = task.waiting_on
        task.waiting_on = None  # so that a Wait's wake-up or timer is ignored from now on
        if type(waiting_on) is Task:
            if waiting_on.waiters is not None:
                waiting_on.waiters.remove(task)
        elif type(waiting_on) is Gather:
            for child in dict.fromkeys(waiting_on.tasks):
                if child.waiters is not None and waiting_on in child.waiters:
                    child.waiters.remove(waiting_on)

    def _pass_on_interrupt(self, task: Task, error: BaseException) -> None:
        """`task` let the error of an `Interrupt` propagate: throw it into its waiters."""
        task.state = INTERRUPTED
        task.raised = error
        self._retire(task)
        waiters = task.waiters or []
        task.waiters = None
        for waiter in waiters:
            parent = task_of(waiter)
            self._detach(parent)
            self._throw(parent, error)

    def _throw(self, task: Task, error: BaseException) -> None:
        """Raise `error` inside `task` at the `yield` it just made (where the mistake is)."""
        task.instead = error
        self._ready.append(task)

    def _closes_cycle(self, task: Task, targets: list[Task]) -> bool:
        """Whether `task` waiting on `targets` would close a cycle; if so, throw it into `task`."""
        path = find_cycle(task, targets)
        if path is None:
            return False
        cycle = CancelledError(messages.cycle_found([t.gen for t in [task, *path]]))
        if self._cycles is None:
            self._cycles = []
        self._cycles.append(cycle)  # reported if it crashes the loop
        self._throw(task, cycle)
        return True

    def _resume(self, wait: Wait, woken: bool) -> None:
        task = wait.task
        if task is not None and task.waiting_on is wait:
            task.waiting_on = None
            task.value = woken
            self._ready.append(task)
            if woken and wait.deadline is not None:  # its timer's entry is dead now
                timers = self._timers
                timers.dead += 1
                if timers.dead > COMPACT_AFTER and timers.dead * 2 > len(timers.heap):
                    timers.compact()

    def _collect_wakeups(self, one_step: bool = False) -> None:
        """Resume what other threads woke, and the waits whose descriptors are ready. A safe
        point: a Ctrl-C recorded by tinyio's SIGINT handler since the last one is raised here
        (unless the loop is stopping already)."""
        wakeups = self._wakeups
        wakeups.drain()
        wakeups.poll(len(self._ready) if one_step else None)
        run = self._run
        # Not while it is stopping already: see `Loop._final_error`.
        if run.guarded and self._crash is None and not run.cancelling and ctrl_c.take_pending():
            raise KeyboardInterrupt

    # For the SIGINT handler: a user frame that these call directly is a coroutine's step.
    ctrl_c.STEPPERS.update({_run_ready.__code__, _start_at_once.__code__})
