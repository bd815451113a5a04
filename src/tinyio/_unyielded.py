"""A warning for a library coroutine that was made but never yielded.

`tinyio.sleep(1)` or `tinyio.cancel(task)` written without `yield` makes a generator and drops
it: nothing sleeps, nothing is cancelled, and Python says nothing (as asyncio says "coroutine
... was never awaited", we say it here).

How, at almost no cost to a coroutine that is yielded: the library function passes its
generator a guard, an object with a `__del__` and no state, and the generator's first step
gives the guard back and drops its own reference. A guard whose generator never took a step
is freed with it, and its `__del__` warns; a guard given back is never freed, so its `__del__`
never runs. What a yielded library coroutine pays: a list `pop` and `append`.

Each library function has at most `GUARDS` guards (made as needed, kept for ever): when all
are out -- that many of its coroutines made and not yet started, a gather of thousands of
sleeps -- the next ones get `None`, no guard, and go unwatched. So a peak costs nothing (no
object made, none freed), and a missing `yield` is still seen wherever fewer are pending.

    _SLEEP = Unyielded("tinyio.sleep(...)")

    def sleep(delay):
        return _sleep(delay, _SLEEP.arm())

    def _sleep(delay, guard):
        _SLEEP.disarm(guard)
        del guard
        yield ...

Library code that makes such a coroutine for itself (and yields it at once, or drops it on
purpose) passes `None` instead of a guard: nothing to pay, nothing to warn of.

The warning is left out where tinyio itself drops the generator (a loop that stops before it
started a coroutine that was yielded to it): the frame that frees the guard is the one that
dropped the generator, and for a missing `yield` that is the user's line. Nor is `close()`
of a coroutine that is not to run warned about, as Python does not warn of an `async def`
coroutine closed before it was awaited. See docs/devdocs/missing-yield.md.
"""

from __future__ import annotations

import dis
import os
import sys
import types
import warnings
from typing import ClassVar, Final

from ._core import STEPPERS

__all__ = ["Guard", "Unyielded"]

_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The most guards a library function has out and free together.
GUARDS: Final = 64


class Guard:
    __slots__ = ()
    owner: ClassVar[Unyielded]

    def __del__(self) -> None:
        if sys.is_finalizing():  # the free guards, freed at exit
            return
        owner = self.owner
        owner.made -= 1  # a guard is gone: another may be made
        try:
            dropper = sys._getframe(1)  # pyright: ignore[reportPrivateUsage]
        except ValueError:  # freed with no Python frame running
            return
        call = owner.call
        message = f"{call} was never yielded, so it never ran: write `yield {call}`"
        if dropper.f_code.co_filename.startswith(_PACKAGE_DIR):
            code = _coroutine_ended_in(dropper)
            if code is not None:  # it was kept in a variable of a coroutine that just ended
                line = _line_calling(code, call) or code.co_firstlineno
                warnings.warn_explicit(message, RuntimeWarning, code.co_filename, line)
            return
        if _calls_close(dropper):
            return
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _coroutine_ended_in(frame: types.FrameType) -> types.CodeType | None:
    """The code of the user's coroutine whose frame just ended in the loop's step `frame`, freeing its
    variables: a guard among them was made in that coroutine and never yielded. None if `frame`
    is not a step, or what ended is one of tinyio's own coroutines (a loop's own drop)."""
    if frame.f_code not in STEPPERS:
        return None
    task = frame.f_locals.get("task")
    gen: object = getattr(task, "gen", None)
    if not isinstance(gen, types.GeneratorType) or gen.gi_frame is not None:  # not ended
        return None
    code: types.CodeType = gen.gi_code
    return None if code.co_filename.startswith(_PACKAGE_DIR) else code


def _line_calling(code: types.CodeType, call: str) -> int | None:
    """The first line of `code` that looks up the function named by `call` ("sleep" for
    "tinyio.sleep(...)"): where the coroutine was made."""
    name = call.split("(")[0].rsplit(".", 1)[-1]
    for instruction in dis.get_instructions(code):
        if instruction.argval == name and instruction.opname.startswith("LOAD_"):
            return instruction.positions.lineno if instruction.positions else None
    return None


def _calls_close(frame: types.FrameType) -> bool:
    """Whether `frame` is in a call of a method named `close`: `coro.close()` of a coroutine
    that is never to run says so on purpose (as with an `async def` coroutine, that is not
    warned about). Read from the bytecode, only when about to warn: the last attribute looked
    up before the current instruction (LOAD_METHOD on 3.11, LOAD_ATTR on 3.12 and later)."""
    attribute = None
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.offset >= frame.f_lasti:
            break
        if instruction.opname in ("LOAD_METHOD", "LOAD_ATTR"):
            attribute = instruction.argval
    return attribute == "close"


class Unyielded:
    """The guards of one library function's coroutines; `call` names it in the warning, as
    the user would write it (`"tinyio.sleep(...)"`).

    `arm()` and `disarm(guard)` for library functions whose own cost dwarfs a method call;
    the hot ones (`tinyio.sleep`) write them out, with `free` and `more()`."""

    __slots__ = ("_kind", "call", "free", "made")

    def __init__(self, call: str) -> None:
        self.call = call
        self.free: list[Guard] = []  # guards made and not out
        self.made = 0  # guards alive: out or free
        self._kind: type[Guard] = type("Guard", (Guard,), {"__slots__": (), "owner": self})

    def more(self) -> Guard | None:
        """No guard is free: a new one, unless `GUARDS` are out already (then None)."""
        if self.made >= GUARDS:
            return None
        self.made += 1
        return self._kind()

    def arm(self) -> Guard | None:
        """A guard to pass to a new generator (or None: see `more`)."""
        free = self.free
        try:
            # Tested, not caught: raising IndexError costs more than the rest together.
            return free.pop() if free else self.more()
        except IndexError:  # taken by another thread in between
            return self.more()

    def disarm(self, guard: Guard | None) -> None:
        """The generator's first step: its guard is free again."""
        if guard is not None:
            self.free.append(guard)
