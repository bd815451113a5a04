"""Ctrl-C while loops run in the main thread: a scheduled event, not an error on any line.

Python's own SIGINT handler raises `KeyboardInterrupt` at whatever bytecode the main thread
runs, and inside the loop's bookkeeping that can skip cleanup, lose a result, or lose the
interrupt itself. So while a loop runs in the main thread and SIGINT's handler is Python's
default, ours is installed instead (and the default put back when the outermost such run
ends). It looks at the frame the signal interrupted:

- in user code -- a step of a coroutine, or code outside any loop, such as the driver of
  `Loop.runtime` -- it raises `KeyboardInterrupt` right there, as Python would: busy user
  code stays interruptible, and the interrupt becomes that coroutine's error;
- in tinyio's own code (or in a `__del__`, or in code that tinyio's code called other than a
  coroutine step), it records the interrupt and rings the loops' bells: the loop raises it at
  its next safe point, between two rounds or when it wakes up, as a crash.

A third Ctrl-C in one run is raised wherever it lands, as Python's own handler would: the way
out when cleanup itself never ends. Loops in other threads, loops driven by asyncio or trio
(which have handlers of their own), and programs that installed a handler of their own are
left alone -- except in a blocking wait of a loop driven by a host whose handler defers Ctrl-C
while tinyio's code runs (trio's, under KI protection): see `heard_in_blocking_wait`. See
docs/devdocs/ctrl-c.md.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time
import types
from collections.abc import Callable
from typing import Any, Final, Protocol

from .tracebacks import is_library_code

__all__ = [
    "STEPPERS",
    "Ringable",
    "guard",
    "heard_in_blocking_wait",
    "presses",
    "take_pending",
    "unguard",
]

_MAIN_THREAD_ID: Final = threading.main_thread().ident
_CO_GENERATOR: Final = 0x20  # `inspect.CO_GENERATOR`, without importing inspect


def _raw_signal_functions() -> tuple[Callable[[int], object], Callable[[int, Any], object]]:
    """`getsignal` and `signal` of `_signal`, the C module under `signal`: `signal`'s own
    wrap their values in enums, which made them 50 times slower (86 us a run, 4 calls)."""
    try:
        raw: Any = importlib.import_module("_signal")
    except ImportError:  # pragma: no cover - not CPython
        return signal.getsignal, signal.signal
    return raw.getsignal, raw.signal


_getsignal, _setsignal = _raw_signal_functions()
_SIGINT: Final = int(signal.SIGINT)


class Ringable(Protocol):
    """What a guarded loop gives the handler to ring: its wake-ups (`wakeups.Wakeups`)."""

    def ring(self) -> None:
        """Make the loop reach a safe point soon, waking it if it sleeps."""
        ...


class _State:
    """Shared by the loops running in the main thread: they are nested, innermost last."""

    __slots__ = ("first_press", "installed", "loops", "pending", "presses", "replaced")

    def __init__(self) -> None:
        # A dict used as an ordered set: nested loops may end in any order (`isolate` regions
        # side by side end first-started first), and with a list, ending each of N such loops
        # cost O(N).
        self.loops: dict[Ringable, None] = {}
        self.installed = False  # our handler replaced Python's default (or `replaced`)
        # A host loop's handler that ours replaced for a blocking run inside it (see `guard`).
        self.replaced: object = signal.default_int_handler
        self.presses = 0  # SIGINTs during the outermost guarded run
        self.first_press = 0.0  # time.monotonic() of the first of them
        self.pending = False  # one was recorded, to be raised at a loop's next safe point


_STATE: Final = _State()


def _after_fork_in_child() -> None:  # pragma: no cover - runs in the child (test_ctrl_c.py)
    """A process forked while a loop ran (a `ProcessPoolExecutor` worker started by a call of
    `run_in_executor`, say) runs none of the parent's loops, and their runs never end in it to
    put Python's handler back: it gets Python's handler now, so that Ctrl-C interrupts it as
    it would without tinyio (it kept ours for good, and treated SIGINT as a loop's)."""
    state = _STATE
    if not state.installed:
        return
    state.loops.clear()
    state.installed = False
    state.presses = 0
    state.pending = False
    if _getsignal(_SIGINT) is _on_sigint:
        _setsignal(_SIGINT, signal.default_int_handler)


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)

# The code of the loop's functions that step a coroutine (`gen.send`/`gen.throw`): a user frame
# called directly from one of them is a coroutine's step. Filled in by the scheduler.
STEPPERS: Final[set[types.CodeType]] = set()


def _in_user_code(frame: types.FrameType | None) -> bool:
    """Whether an exception raised at `frame` travels only through user code to a coroutine
    step (or out of every loop), where the loop expects errors."""
    called: types.FrameType | None = None  # the frame that `frame`'s caller called
    while frame is not None:
        code = frame.f_code
        if is_library_code(code.co_filename):
            # tinyio's own code: only a coroutine that it is stepping may take the error.
            return (
                called is not None
                and code in STEPPERS
                and bool(called.f_code.co_flags & _CO_GENERATOR)
            )
        if code.co_name == "__del__":
            return False  # an error raised here cannot propagate: Python would drop it
        called = frame
        frame = frame.f_back
    return called is not None  # outside every loop (no frame at all: say it is ours)


def _on_sigint(signum: int, frame: types.FrameType | None) -> None:
    state = _STATE
    if state.loops:
        state.presses += 1
        if state.presses == 1:
            state.first_press = time.monotonic()
    # No loop (a stale copy of this handler, installed by someone after a run), a third press,
    # or user code: raise it right there.
    if not state.loops or state.presses >= 3 or _in_user_code(frame):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            # A bare `raise` inside `except` adds no entry for this frame: the traceback ends
            # in the code that was interrupted, as with Python's own handler.
            interrupt.__traceback__ = None
            raise
    state.pending = True
    for loop in state.loops:
        loop.ring()


def guard(loop: Ringable, blocking: bool) -> bool:
    """Called as a run of `loop` starts: whether its Ctrl-Cs are ours to handle (then call
    `unguard` when the run ends). `blocking`: a plain `run`, not driven step by step."""
    if threading.get_ident() != _MAIN_THREAD_ID:
        return False
    state = _STATE
    current = _getsignal(_SIGINT)
    if current is _on_sigint and state.installed:
        state.loops[loop] = None  # a nested loop
        return True
    if state.loops:
        return False
    if current is not signal.default_int_handler:
        # Someone else's handler (the program's, or a host loop's that drives this one):
        # theirs. But a host loop's, asyncio's or trio's, during a plain `run` called from
        # its code, can do nothing while that run blocks it (asyncio's ignored the first
        # press; the third landed anywhere): ours stands in for the run, and theirs is put
        # back after it.
        if not (blocking and _is_a_host_loop_s(current)):
            return False
        state.replaced = current
    else:
        state.replaced = signal.default_int_handler
    state.presses = 0
    state.pending = False
    state.loops[loop] = None
    _setsignal(_SIGINT, _on_sigint)
    state.installed = True
    return True


def unguard(loop: Ringable) -> bool:
    """Called as a guarded run of `loop` ends: whether a Ctrl-C recorded during it is still
    to be raised (it is then taken: raise `KeyboardInterrupt`)."""
    state = _STATE
    loops = state.loops
    loops.pop(loop, None)
    pending = state.pending
    state.pending = False
    if not loops and state.installed:
        state.installed = False
        # If the program installed a handler of its own meanwhile, it stays.
        if _getsignal(_SIGINT) is _on_sigint:
            _setsignal(_SIGINT, state.replaced)
        state.replaced = signal.default_int_handler
    return pending


def _is_a_host_loop_s(handler: object) -> bool:
    """Whether `handler` is the SIGINT handler of an `asyncio.run` (a `functools.partial` of
    a `Runner` method) or of a `trio.run`, told by its module, without importing them. Not a
    handler the program gave asyncio (`loop.add_signal_handler`): it stays theirs."""
    function = getattr(handler, "func", handler)
    module = getattr(function, "__module__", None) or ""
    return module == "asyncio.runners" or module.startswith("trio._core.")


def take_pending() -> bool:
    """Take the recorded Ctrl-C, if any: True if there was one (raise it)."""
    pending = _STATE.pending
    _STATE.pending = False
    return pending


def presses() -> tuple[int, float]:
    """How many Ctrl-Cs came during the current guarded run, and when the first came."""
    return _STATE.presses, _STATE.first_press


def _raise_interrupt(signum: int, frame: types.FrameType | None) -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        interrupt.__traceback__ = None  # as in `_on_sigint`: the traceback ends where it landed
        raise


class heard_in_blocking_wait:
    """`with heard_in_blocking_wait(wanted):` around a wait that blocks the main thread and
    that only a Ctrl-C should end early (a cancelled thread that does not return): if
    `wanted` -- the loop is driven by a host whose SIGINT handler defers Ctrl-C while tinyio's
    code runs, and would so deliver it only once the wait is over -- SIGINT raises
    `KeyboardInterrupt` inside the wait meanwhile; the host's handler is put back after (if no
    one replaced ours meanwhile). Elsewhere, and for a handler that is not a Python function
    (SIG_IGN, SIG_DFL), it does nothing."""

    __slots__ = ("_host",)

    def __init__(self, wanted: bool) -> None:
        self._host: Callable[[int, types.FrameType | None], object] | None = None
        if not wanted or threading.get_ident() != _MAIN_THREAD_ID:
            return
        current = _getsignal(_SIGINT)
        if callable(current) and current not in (
            _raise_interrupt,
            _on_sigint,
            signal.default_int_handler,
        ):
            self._host = current

    def __enter__(self) -> None:
        if self._host is not None:
            _setsignal(_SIGINT, _raise_interrupt)

    def __exit__(self, *exc_info: object) -> None:
        if self._host is not None and _getsignal(_SIGINT) is _raise_interrupt:
            _setsignal(_SIGINT, self._host)
