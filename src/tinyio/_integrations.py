"""Other event loops: run tinyio inside asyncio or trio, and asyncio or trio code inside tinyio.

`to_asyncio` / `to_trio` drive a tinyio `Loop` through `Loop.runtime` from an async function:
a slice of tinyio steps, then a checkpoint of the host loop so its other tasks run. When the
tinyio loop is idle, the host loop waits -- without spinning -- until the next tinyio timer,
or until the tinyio loop is woken (`Idle.notify_on_wakeup`, called from any thread).

`from_asyncio` / `from_trio` run async code in a thread of its own with its own host loop, so
that the tinyio loop is never blocked. Cancelling the tinyio coroutine cancels the async task
(through the host loop's thread-safe entry point) and waits for it to finish -- without
blocking, on a `Wait` that the thread wakes, unless the loop is cancelling everything.

trio is optional: it is imported only when `to_trio` or `from_trio` is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import re
import signal
import socket
import threading
import time
import types
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, TypeVar

from ._core import (
    AFTER_THE_OTHERS,
    CURRENT_LOOP,
    CancelledError,
    Coro,
    Idle,
    Loop,
    Wait,
    cancelling_everything,
    failed_on_its_own,
    host_defers_ctrl_c,
    is_library_code,
    starts_at_once,
    waking_from_outside,
)
from ._executor import stopping_wait, wait_blocking
from ._unyielded import Guard, Unyielded

__all__ = ["from_asyncio", "from_trio", "to_asyncio", "to_trio"]

_FROM_ASYNCIO = Unyielded("tinyio.from_asyncio(...)")
_FROM_TRIO = Unyielded("tinyio.from_trio(...)")

_T = TypeVar("_T")
# The host loop calls this once it runs, with a function that cancels its task; it gives back
# the function that the host calls, in its own thread, when that cancel reached the async code.
_Started = Callable[[Callable[[], object]], Callable[[], None]]

# How long tinyio may run before the host loop gets a turn: short enough that the host's
# tasks stay responsive, long enough that a checkpoint's cost is amortised over many steps.
_SLICE_SECONDS: Final = 0.002


def _coroutine_problem(coro: object, name: str) -> TypeError | None:
    """What is wrong with `coro` as the tinyio coroutine of `name`, for it to raise."""
    if isinstance(coro, types.GeneratorType):
        return None
    hint = ""
    if inspect.iscoroutine(coro):
        hint = " (that is an `async def` coroutine: for those, see from_asyncio/from_trio)"
    return TypeError(f"{name} needs a tinyio coroutine (a generator), got {coro!r}{hint}.")


def _run_soon(trio: Any, token: Any, callback: Callable[[], object]) -> None:
    """`token.run_sync_soon(callback)`, from any thread; nothing once trio's run has ended
    (a thread abandoned at Ctrl-C may end after it, when there is no one left to wake)."""
    with contextlib.suppress(trio.RunFinishedError):
        token.run_sync_soon(callback)


# The code of the bridges' own async functions, which the host loop runs and which await the
# user's async code: an error of that code is shown from its own frames on (`_from_the_async_code`).
_ENTRIES: set[types.CodeType] = set()

_F = TypeVar("_F", bound=Callable[..., Any])


def _entry(function: _F) -> _F:
    """Mark an async function of a bridge that awaits the user's async code (see `_ENTRIES`)."""
    _ENTRIES.add(function.__code__)
    return function


def _from_the_async_code(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback of an error that came out of the host loop's run in a bridge's thread,
    from the user's async code on: without the host's `run` machinery and the bridge's entry
    (`_ENTRIES`) that awaited it, which read as if the user had called them. (Unchanged if the
    error never passed through an entry: the host loop's own.)"""
    entry = tb
    while entry is not None and entry.tb_frame.f_code not in _ENTRIES:
        entry = entry.tb_next
    if entry is None:  # pragma: no cover - the host's own failure, before it ran the code
        return tb
    while entry.tb_next is not None and entry.tb_next.tb_frame.f_code in _ENTRIES:
        entry = entry.tb_next
    return entry.tb_next


def _past_the_bridge(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback of an error out of `to_asyncio`/`to_trio`, without their own frames in
    front (the tinyio coroutines' frames follow, as out of `Loop.run`)."""
    while tb is not None and is_library_code(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def _import_trio() -> Any:
    try:
        import trio  # pyright: ignore[reportMissingTypeStubs]
    except ImportError as error:
        raise ImportError(
            "tinyio.to_trio and tinyio.from_trio need trio, which is not installed: "
            "`pip install trio`."
        ) from error
    return trio


async def _drive(
    coro: Coro[_T],
    exception_group: bool | None,
    checkpoint: Callable[[], Awaitable[object]],
    wait_idle: Callable[[Idle], Awaitable[None]],
    around: contextlib.AbstractContextManager[None],
) -> _T:
    """Run `coro` in a new tinyio loop, in slices between the host's checkpoints, inside
    `around` (entered first: it covers the stop in `runtime`'s exit)."""
    with around, Loop().runtime(coro, exception_group) as steps:
        while True:
            deadline = time.monotonic() + _SLICE_SECONDS
            while True:
                try:
                    state = next(steps)
                except StopIteration as stop:
                    return stop.value
                if state is not None or time.monotonic() >= deadline:
                    break
            if state is None:
                await checkpoint()
            else:
                assert isinstance(state, Idle)
                await wait_idle(state)


async def to_asyncio(coro: Coro[_T], exception_group: bool | None = None) -> _T:
    """Run a tinyio coroutine inside asyncio: `result = await tinyio.to_asyncio(coro)`.

    ```python
    import asyncio
    import tinyio

    def tinyio_side(event):
        yield event.wait()  # set by an asyncio task
        yield tinyio.sleep(0.01)
        return "tinyio finished"

    async def asyncio_side(event):
        await asyncio.sleep(0.01)
        event.set()

    async def main():
        event = tinyio.Event()
        result, _ = await asyncio.gather(tinyio.to_asyncio(tinyio_side(event)), asyncio_side(event))
        print(result)

    asyncio.run(main())
    # tinyio finished
    ```

    The tinyio coroutines run in the asyncio thread, interleaved with asyncio's other tasks;
    while they wait for a timer or a thread, asyncio is idle, not polling.

    Arguments:
        coro: the tinyio coroutine to run.
        exception_group: as for `Loop.run`.

    Returns:
        What `coro` returns. An error in the tinyio coroutines cancels them all and is raised
        here; cancelling the asyncio task cancels the tinyio coroutines (which get to clean
        up), then lets `asyncio.CancelledError` propagate.
    """
    if (problem := _coroutine_problem(coro, "to_asyncio")) is not None:
        raise problem
    host = asyncio.get_running_loop()

    async def wait_idle(idle: Idle) -> None:
        woken = asyncio.Event()

        def wake() -> None:  # from any thread; also from a thread abandoned at Ctrl-C that
            # ends after the host loop has closed, when there is no one left to wake
            with contextlib.suppress(RuntimeError):
                host.call_soon_threadsafe(woken.set)

        if idle.notify_on_wakeup(wake):
            # Waiting on descriptors: asyncio watches the tinyio loop's selector for us.
            descriptor = idle.descriptor()
            if descriptor is not None:
                host.add_reader(descriptor, woken.set)
            # The timeout is a timer of the host's that sets the event too, not asyncio's own
            # timeouts: on 3.11 both `wait_for` and `asyncio.timeout` can turn a cancellation
            # that comes as the deadline passes (Ctrl-C under `asyncio.run`) into a timeout,
            # which would be swallowed here, and the run went on for ever.
            timer = None if idle.timeout is None else host.call_later(idle.timeout, woken.set)
            try:
                await woken.wait()
            finally:
                if timer is not None:
                    timer.cancel()
                if descriptor is not None:
                    host.remove_reader(descriptor)

    try:
        return await _drive(
            coro,
            exception_group,
            functools.partial(asyncio.sleep, 0),
            wait_idle,
            _SignalsWake(host),
        )
    except BaseException as error:
        # A bare `raise` inside `except` adds no entry for this frame (Python 3.11+).
        error.__traceback__ = _past_the_bridge(error.__traceback__)
        raise


class _SignalsWake(contextlib.AbstractContextManager[None]):
    """In the main thread, while no wake-up descriptor is set for signals (`asyncio.run` sets
    none for its SIGINT handler): set one that `host` watches. A signal caught just before the
    main thread sleeps in the host's `select` -- or caught by another thread, a tinyio worker
    in `time.sleep` say -- then wakes that `select`, and the handler runs at once. Without it,
    such a Ctrl-C was handled only when the host next woke: at the next timer, perhaps 600 s
    later (about 1 Ctrl-C in 100 with a thread running; asyncio's own race, which tinyio's
    idle waits made common)."""

    __slots__ = ("_host", "_pair")

    def __init__(self, host: asyncio.AbstractEventLoop) -> None:
        self._host = host
        self._pair: tuple[socket.socket, socket.socket] | None = None

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # set_wakeup_fd is the main thread's, and signals are handled there
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        if previous != -1:  # someone's (asyncio's, for `add_signal_handler`): theirs wakes
            signal.set_wakeup_fd(previous)
            reader.close()
            writer.close()
            return
        self._pair = reader, writer
        self._host.add_reader(reader.fileno(), self._drain)

    def _drain(self) -> None:
        assert self._pair is not None
        with contextlib.suppress(OSError):
            self._pair[0].recv(4096)

    def __exit__(self, *exc_info: object) -> None:
        pair = self._pair
        if pair is None:
            return
        self._pair = None
        reader, writer = pair
        current = signal.set_wakeup_fd(-1)
        if current != writer.fileno():  # replaced meanwhile: the new one stays
            signal.set_wakeup_fd(current)
        with contextlib.suppress(RuntimeError):  # the host loop closed already
            self._host.remove_reader(reader.fileno())
        reader.close()
        writer.close()


async def to_trio(coro: Coro[_T], exception_group: bool | None = None) -> _T:
    """Run a tinyio coroutine inside trio: `result = await tinyio.to_trio(coro)`.

    ```python
    import trio
    import tinyio

    def tinyio_side():
        yield tinyio.sleep(0.01)
        return "tinyio finished"

    async def main():
        print(await tinyio.to_trio(tinyio_side()))

    trio.run(main)
    # tinyio finished
    ```

    As `to_asyncio`, for trio (which must be installed). Cancelling the trio task cancels the
    tinyio coroutines, then lets trio's `Cancelled` propagate.
    """
    if (problem := _coroutine_problem(coro, "to_trio")) is not None:
        raise problem
    trio = _import_trio()
    token = trio.lowlevel.current_trio_token()

    async def wait_idle(idle: Idle) -> None:
        with trio.move_on_after(float("inf") if idle.timeout is None else idle.timeout) as scope:
            if idle.notify_on_wakeup(functools.partial(_run_soon, trio, token, scope.cancel)):
                # Waiting on descriptors: trio watches the tinyio loop's selector for us.
                descriptor = idle.descriptor()
                if descriptor is None:
                    await trio.sleep_forever()
                else:
                    await trio.lowlevel.wait_readable(descriptor)
            else:
                await trio.lowlevel.checkpoint()

    # Under KI protection: trio's Ctrl-C handler then never raises inside the tinyio loop's
    # machinery (a lock half taken, a wait half registered), but delivers the interrupt at
    # this task's next checkpoint, between two slices of steps; it leaves `runtime` from there,
    # which cancels every tinyio coroutine first (devdocs/ctrl-c.md).
    drive = trio.lowlevel.enable_ki_protection(_drive)
    # A blocking wait for a stuck thread at the stop never reaches a checkpoint: it hears
    # Ctrl-C itself (`host_defers_ctrl_c`).
    try:
        return await drive(
            coro, exception_group, trio.lowlevel.checkpoint, wait_idle, host_defers_ctrl_c()
        )
    except BaseException as error:
        error.__traceback__ = _past_the_bridge(error.__traceback__)  # as in `to_asyncio`
        raise


def from_asyncio(coro: Awaitable[_T]) -> Coro[_T]:
    """Run asyncio code from tinyio: `result = yield tinyio.from_asyncio(some_async_fn())`.

    ```python
    import asyncio
    import tinyio

    async def fetch(x):
        await asyncio.sleep(0.01)
        return x * 2

    def main():
        results = yield [tinyio.from_asyncio(fetch(i)) for i in range(3)]
        print(results)

    tinyio.Loop().run(main())
    # [0, 2, 4]
    ```

    The awaitable runs in a thread of its own, in a fresh asyncio event loop, so the tinyio
    loop is never blocked, with a copy of the calling coroutine's context variables.

    Returns:
        A coroutine giving what `coro` returns, or raising what it raises. Cancelling the
        tinyio coroutine cancels the asyncio task -- it gets `asyncio.CancelledError` and may
        clean up -- and waits for it to finish, without blocking the tinyio loop meanwhile
        (its other coroutines run on); `loop.run` returns only once the thread has ended
        (at Ctrl-C, as for a thread call: a second Ctrl-C abandons it).

    Raises:
        TypeError: `coro` is not awaitable (at the call).
        ValueError: `coro` is an `asyncio.Task` or `asyncio.Future`, which belongs to the
            asyncio loop that made it and cannot be awaited from the fresh one (at the call).
            Pass the coroutine itself; for work that must run in an asyncio loop of yours
            (for instance the one running tinyio through `tinyio.to_asyncio`), use
            `tinyio.from_future(asyncio.run_coroutine_threadsafe(coro, that_loop))`.
    """
    if isinstance(coro, asyncio.Future):
        running: object = getattr(coro, "get_coro", lambda: None)()
        name = getattr(running, "__qualname__", None)
        what = f"an asyncio {type(coro).__name__}" + (f" running {name}()" if name else "")
        raise ValueError(
            f"from_asyncio cannot wait on {what}: it belongs to the asyncio loop that made it, "
            "and from_asyncio runs async code in a fresh asyncio loop in another thread, where "
            "awaiting it would hang. Pass the coroutine itself "
            "(`tinyio.from_asyncio(fetch())`, not a Task or Future made from it); to run it in "
            "that loop, use `tinyio.from_future(asyncio.run_coroutine_threadsafe(coro, loop))`."
        )
    if not inspect.isawaitable(coro):
        raise TypeError(f"from_asyncio needs an awaitable (e.g. `async_fn()`), got {coro!r}.")

    @_entry
    async def main(started: _Started) -> _T:
        task = asyncio.current_task()
        assert task is not None
        host = asyncio.get_running_loop()

        def cancel() -> None:  # in the host's thread: `task` is suspended or done
            if task.cancel():
                took_effect()  # it will see the CancelledError at its `await`

        took_effect = started(lambda: host.call_soon_threadsafe(cancel))
        return await coro

    def run(started: _Started) -> _T:
        return asyncio.run(main(started))

    return _from_asyncio(_FROM_ASYNCIO.arm(), _UnlessStarted(_closer(coro)), run, coro)


def from_trio(async_fn: Callable[[], Awaitable[_T]] | Coroutine[Any, Any, _T]) -> Coro[_T]:
    """Run trio code from tinyio: `result = yield tinyio.from_trio(some_async_fn())`.

    ```python
    import trio
    import tinyio

    async def fetch(x):
        await trio.sleep(0.01)
        return x * 2

    def main():
        print((yield tinyio.from_trio(fetch(21))))

    tinyio.Loop().run(main())
    # 42
    ```

    As `from_asyncio`, for trio (which must be installed): the coroutine (or a zero-argument
    async function) runs in a thread of its own under `trio.run`. Cancelling the tinyio
    coroutine cancels it (trio's `Cancelled` is raised inside) and waits for it to finish.

    Raises:
        TypeError: `async_fn` is neither a coroutine nor a callable, or is a builtin or a class
            (at the call); or, at the `yield`, the function was called and returned something
            that cannot be awaited (a synchronous function: use `tinyio.run_in_thread`).
        ImportError: trio is not installed.
    """
    trio = _import_trio()
    never_started: Callable[[], object] = _closer(async_fn)
    if inspect.iscoroutine(async_fn):
        coroutine = async_fn

        @_entry
        async def call() -> Any:
            return await coroutine

    elif callable(async_fn) and not inspect.isbuiltin(async_fn) and not inspect.isclass(async_fn):
        call = async_fn  # pyright: ignore[reportAssignmentType]
    else:
        raise TypeError(
            f"from_trio needs a coroutine or an async function of no arguments, got {async_fn!r}."
        )

    @_entry
    async def main(started: _Started) -> Any:
        token = trio.lowlevel.current_trio_token()
        returned = False

        def cancel() -> None:  # in trio's thread
            if not returned:
                took_effect()
                scope.cancel()

        with trio.CancelScope() as scope:
            took_effect = started(lambda: token.run_sync_soon(cancel))
            awaitable = call()
            if not inspect.isawaitable(awaitable):
                returned = True
                return _NotAwaitable(awaitable)
            value = await awaitable
            returned = True
            return value
        raise CancelledError("the trio code was cancelled")

    def run(started: _Started) -> Any:
        return trio.run(main, started)

    return _from_trio(
        _FROM_TRIO.arm(),
        _UnlessStarted(never_started),
        run,
        trio.Cancelled,
        async_fn,
        never_started,
    )


class _UnlessStarted:
    """Calls `callback` when freed, unless the coroutine it was given to took its first step
    (`callback` set to None then): a `from_asyncio`/`from_trio` coroutine that an interrupt drops
    in the turn before its first step (they start at once) closes its async coroutine, so that
    Python does not warn that it was never awaited."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback: Callable[[], object] | None = callback

    def __del__(self) -> None:
        callback = self.callback
        if callback is not None:
            self.callback = None
            callback()


# The coroutines of `from_asyncio` and `from_trio`, which the loop's reports name after them.


@starts_at_once
def _from_asyncio(
    guard: Guard | None,
    unless_started: _UnlessStarted,
    run: Callable[[_Started], _T],
    coro: Awaitable[_T],
) -> Coro[_T]:
    _FROM_ASYNCIO.disarm(guard)
    del guard
    unless_started.callback = None
    del unless_started
    return (
        yield from _in_own_thread(run, asyncio.CancelledError, "from_asyncio", coro, _closer(coro))
    )


@starts_at_once
def _from_trio(
    guard: Guard | None,
    unless_started: _UnlessStarted,
    run: Callable[[_Started], Any],
    cancelled_type: type[BaseException],
    async_fn: object,
    never_started: Callable[[], object],
) -> Coro[Any]:
    _FROM_TRIO.disarm(guard)
    del guard
    unless_started.callback = None
    del unless_started
    value = yield from _in_own_thread(run, cancelled_type, "from_trio", async_fn, never_started)
    if isinstance(value, _NotAwaitable):
        # Raised here, at the user's `yield`, not in trio's thread under trio's frames.
        raise TypeError(
            f"from_trio needs an async function (or a coroutine): {async_fn!r} was called and "
            f"returned {value.value!r}, which cannot be awaited. Did you mean "
            "`tinyio.run_in_thread(...)` for a synchronous function?"
        )
    return value


class _NotAwaitable:
    """What `from_trio`'s trio side gives back when the function it called returned something
    that is not awaitable (a synchronous function passed by mistake)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


def _closer(awaitable: object) -> Callable[[], object]:
    """What closes `awaitable` if it is an `async def` coroutine, so that one stopped before
    its thread started (say by `tinyio.timeout(..., 0)`) is not warned about as never awaited."""
    close = getattr(awaitable, "close", None)
    if inspect.iscoroutine(awaitable) and callable(close):
        return close
    return lambda: None


class _Bridged:
    """A call of `from_asyncio` or `from_trio`, as messages name it: `<asyncio call fetch() in
    its own thread, running for 1.2 s>`; and where its warnings point."""

    __slots__ = ("code", "label", "name", "started")

    def __init__(self, name: str, awaitable: object) -> None:
        self.name = name
        code = getattr(awaitable, "cr_code", None) or getattr(awaitable, "__code__", None)
        self.code: types.CodeType | None = code if isinstance(code, types.CodeType) else None
        self.label = repr(awaitable) if self.code is None else f"{self.code.co_qualname}()"
        self.started = time.monotonic()

    def __repr__(self) -> str:
        running = time.monotonic() - self.started
        host = self.name.removeprefix("from_")
        return f"<{host} call {self.label} in its own thread, running for {running:.3f} s>"


def _in_own_thread(
    run: Callable[[_Started], _T],
    cancelled_type: type[BaseException],
    name: str,
    awaitable: object,
    never_started: Callable[[], object],
) -> Coro[_T]:
    # `run(started)` runs the host loop; the host calls `started(cancel)` once running, and
    # the function this gives back if `cancel` reached the async code before it returned.
    outcome: list[Any] = []
    cancel: list[Callable[[], object]] = []
    running = threading.Event()  # the host loop has started, or the call has ended
    ended = threading.Event()  # the call has ended: `outcome` has it
    cancelled = [False]  # the host's task was told to cancel (once: a second would be news)
    reached = [False]  # that cancel reached the async code before it returned
    # The wait the coroutine yields now, which the thread wakes whenever something changed:
    # the host loop started, or the call ended. The coroutine puts a new one here before it
    # looks at what changed, the thread changes things before it wakes this one, so at least
    # one of them sees the other (as for `Wait.wake`).
    wait = [Wait()]
    context: list[contextvars.Context] = []  # the calling coroutine's, copied when it starts
    job = _Bridged(name, awaitable)  # named `job` for the loop's reports

    def started(cancel_task: Callable[[], object]) -> Callable[[], None]:
        cancel.append(cancel_task)
        running.set()
        wait[0].wake()
        return took_effect

    def took_effect() -> None:
        reached[0] = True

    def target() -> None:
        try:
            outcome.append((True, context[0].run(run, started)))
        except BaseException as error:
            error.__traceback__ = _from_the_async_code(error.__traceback__)
            outcome.append((False, error))
        finally:
            ended.set()
            running.set()
            wait[0].wake()

    def cancel_task() -> None:
        # Once the host loop runs (else nothing is done: call again once it does).
        if cancel and not cancelled[0] and not ended.is_set():
            cancelled[0] = True
            with contextlib.suppress(RuntimeError):  # the host loop has just closed
                cancel[0]()

    def until(loop: Loop, done: Callable[[], bool]) -> Coro[None]:
        # Wait, without blocking the loop, until the thread has made `done()` true.
        while True:
            wait[0] = Wait()
            if done():
                return
            with waking_from_outside(loop):
                yield wait[0]

    def wait_for_thread(loop: Loop) -> bool:
        # For a loop that cancels everything: cancel the host's task once it runs, and block
        # until the thread has ended (True), unless a second Ctrl-C abandons it (False).
        note = f"the thread of a tinyio.{name} call still running (a daemon thread, ending "
        note += "when its task does or the program exits)"
        if not wait_blocking(loop, running, job, note):
            return False
        cancel_task()
        if not wait_blocking(loop, ended, job, note):
            return False
        thread.join()
        return True

    def stop(loop: Loop) -> Coro[bool]:
        # Cancel the host's task, and wait for the thread to end (True; False: a second
        # Ctrl-C abandoned it): without blocking the loop (so that a task that takes long to
        # clean up does not stall every other coroutine), unless the loop is cancelling
        # everything, when nothing may wait: the other coroutines then clean up first. If
        # something stops the wait in turn, the thread is still waited for (blocking), so
        # that `loop.run` never returns before it has ended.
        if not cancelling_everything(loop):
            try:
                yield from until(loop, running.is_set)
                cancel_task()
                yield from until(loop, ended.is_set)
            except BaseException as error:
                if cancelling_everything(loop) and not isinstance(error, GeneratorExit):
                    with stopping_wait(ended, job):
                        cancel_task()
                        yield AFTER_THE_OTHERS
                        wait_for_thread(loop)  # False: abandoned, which the run's error says
                else:
                    running.wait()  # at once: the host loop is starting
                    cancel_task()
                    thread.join()
                raise
            thread.join()
            return True
        with stopping_wait(ended, job):
            cancel_task()  # it cleans up while the others do
            yield AFTER_THE_OTHERS
            return wait_for_thread(loop)

    try:
        loop: Loop = yield CURRENT_LOOP
    except BaseException:
        never_started()  # stopped before its thread started: the async code never runs
        raise
    context.append(contextvars.copy_context())
    # A daemon thread: one abandoned at a second Ctrl-C must not keep the program from
    # exiting. Every other one is joined before the coroutine ends.
    thread = threading.Thread(target=target, name=f"tinyio {name}", daemon=True)
    thread.start()
    try:
        yield from until(loop, ended.is_set)
    except BaseException:
        if not (yield from stop(loop)):
            raise  # abandoned (a second Ctrl-C): the run's error names it
        ok, value = outcome[0]
        # A value is a bad answer only to a cancellation that reached the async code: one
        # that returned before the cancel came (in the host's thread) never saw it, and its
        # value is dropped, as the stop goes on.
        if ok and reached[0]:
            message = (
                f"The async code run by tinyio.{name} did not respond properly to "
                f"cancellation: it returned {value!r} instead of letting the cancellation "
                "propagate."
            )
            if job.code is None:
                warnings.warn(message, RuntimeWarning, stacklevel=1)
            else:  # at the async code, not here
                filename, lineno = job.code.co_filename, job.code.co_firstlineno
                warnings.warn_explicit(message, RuntimeWarning, filename, lineno)
        elif not ok and not isinstance(value, cancelled_type | CancelledError):
            raise failed_on_its_own(loop, value) from None
        raise
    thread.join()
    ok, value = outcome[0]
    if ok:
        return value
    wrong = _wrong_host(name, job.label, value)
    if wrong is not None:
        raise wrong from value
    raise value


def _wrong_host(name: str, label: str, error: BaseException) -> TypeError | None:
    """The error to raise instead of `error`, if it is the host loop's complaint that the async
    code (`label`) awaited another library's (asyncio code under `from_trio`, or trio code under
    `from_asyncio`): which bridge to use. None for any other error."""
    if name == "from_trio" and isinstance(error, TypeError):
        found = re.match(r"trio\.run received unrecognized yield message (.*?)\. ", str(error))
        if found is None:
            return None
        return TypeError(
            f"from_trio runs trio code, but {label} awaited something that is not trio's: trio "
            f"was handed {found[1]}, as by asyncio code (`await asyncio.sleep(...)`, an asyncio "
            "future). Run asyncio code with `tinyio.from_asyncio(...)`."
        )
    if name == "from_asyncio" and isinstance(error, RuntimeError):
        found = re.match(r"Task got bad yield: (.*)", str(error))
        if found is None:
            return None
        if "trio" in found[1]:
            advice = "That is trio code: run it with `tinyio.from_trio(...)`."
        else:
            advice = "Run trio code with `tinyio.from_trio(...)`."
        return TypeError(
            f"from_asyncio runs asyncio code, but {label} awaited something that is not "
            f"asyncio's: asyncio was handed {found[1]}. {advice}"
        )
    return None
