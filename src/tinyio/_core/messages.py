"""The words of every misuse error, hint and warning the loop core gives.

They are long on purpose: each says what went wrong and what to write instead (see
docs/misuse.md). Kept apart so that the code that raises them reads as code. Nothing here has a
side effect, but `describe_yield` and `describe_run_argument`, which close an `async def`
coroutine given by mistake (so that Python does not also warn that it was never awaited).
"""

from __future__ import annotations

import math
import sys
import types
from typing import Final, cast

from .tracebacks import is_library_code
from .waits import CancelledError, Wait

__all__ = [
    "ALREADY_RUNNING",
    "REPORT_PREFIX",
    "cancel_message",
    "cancellation_warning",
    "cycle_found",
    "describe_run_argument",
    "describe_yield",
    "duration_problem",
    "failed_earlier",
    "hint_for",
    "invalid_member",
    "library_name",
    "name",
    "started_elsewhere",
    "virtual_deadlock",
    "yielder",
]

# The start of the note of what every coroutine was doing (added once per error).
REPORT_PREFIX: Final = "tinyio: the loop"

ALREADY_RUNNING: Final = (
    "Cannot call `loop.run` (or `loop.runtime`) whilst the loop is currently running. To run "
    "coroutines from inside a coroutine, yield them; to block on separate work, create a new "
    "`tinyio.Loop()`."
)


def name(gen: object) -> str:
    """How a coroutine is named in messages: `f()`, by its function's qualified name; or by
    the display name it was given (`tinyio.named`), quoted."""
    code = getattr(gen, "gi_code", None)
    if isinstance(code, types.CodeType):
        given = getattr(gen, "__qualname__", code.co_qualname)
        if given != code.co_qualname:
            return f"{given!r} ({code.co_qualname}())"
        return f"{code.co_qualname}()"
    return repr(gen)


def yielder(gen: object) -> str:
    """`name` of the coroutine that yielded what `gen`'s step gave: the innermost of its
    `yield from` chain (a user's coroutine run by a `timeout`, not tinyio's runner)."""
    inner: object = gen
    while True:
        nested: object = getattr(inner, "gi_yieldfrom", None)  # pyright: ignore[reportUnknownArgumentType]
        if type(nested) is not types.GeneratorType:
            return name(inner)
        inner = cast(object, nested)


def duration_problem(value: object, name: str) -> Exception | None:
    """What is wrong with a number of seconds given by a user, if anything.

    The public function raises it itself, so that the traceback ends where the mistake was
    made, in the function the user called, not in this helper.
    """
    # The usual case first, as cheaply as it can be told (every `sleep` asks).
    kind = type(value)
    if kind is float:
        if value >= 0.0:  # pyright: ignore[reportOperatorIssue] - a float; False for NaN
            return None
    elif kind is int and 0 <= value <= _LARGEST_FLOAT:  # pyright: ignore[reportOperatorIssue]
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return TypeError(f"{name} must be a number of seconds (an int or float), got {value!r}.")
    if isinstance(value, int) and value > _LARGEST_FLOAT:  # `math.isnan` would overflow
        return ValueError(
            f"{name} is too large to be a number of seconds (an int above the largest float, "
            "about 1.8e308); for no limit, pass math.inf."
        )
    if value < 0 or math.isnan(value):  # in this order: a huge negative int overflows isnan
        return ValueError(f"{name} must be a non-negative number of seconds, got {value!r}.")
    return None


_LARGEST_FLOAT: Final = int(sys.float_info.max)


def failed_earlier(gen: object, doing: str) -> str:
    """`doing` ("run", "wait on") a coroutine that failed in an earlier run of the loop."""
    prefix = f"The coroutine {name(gen)}" if doing == "run" else f"Cannot wait on {name(gen)}: it"
    return f"{prefix} failed or was cancelled in an earlier run of this loop, so it has no result."


def started_elsewhere(gen: object, doing: str) -> str:
    """`doing` ("run", "wait on") a generator already started outside the loop."""
    return (
        f"Cannot {doing} {gen!r}, which is a generator that has already started (or has "
        "finished) without this loop knowing it: as part of another coroutine (`yield from` "
        "it, or a tinyio.timeout or race that ran it), by hand, or in another loop; so the "
        "loop cannot know its result. A generator runs once: for a fresh coroutine, call its "
        "function again."
    )


def cycle_found(gens: list[object]) -> str:
    """Coroutines each waiting on the next, and the last on the first."""
    names = " -> ".join(name(gen) for gen in gens)
    return (
        f"Cycle detected in `tinyio` loop: {names}. Each of these coroutines waits on the next, "
        "so none of them could ever finish."
    )


def describe_yield(value: object) -> str:
    """Why a coroutine may not yield `value`, and what to yield instead."""
    if isinstance(value, tuple):
        given = cast(tuple[object, ...], value)
        members = ", ".join(_as_written(member) for member in given)
        return (
            f"yielded the tuple ({members}{',' if len(given) == 1 else ''}). To wait on several "
            "coroutines at once, yield a list of them (`yield [a, b]`), not a tuple "
            "(`yield a, b`)."
        )
    if isinstance(value, types.CoroutineType):
        value.close()
        return (
            f"yielded {value!r}, an `async def` coroutine. tinyio coroutines are generators; "
            "to run async code from tinyio use `tinyio.from_asyncio`."
        )
    if isinstance(value, types.AsyncGeneratorType):
        return (
            f"yielded {value!r}, an async generator (an `async def` with `yield`). tinyio "
            "coroutines are plain generators: write the function with `def`, not `async def`."
        )
    module = type(value).__module__
    if module.startswith("concurrent.futures"):
        return (
            f"yielded {value!r}, a concurrent.futures.Future, which tinyio waits on through "
            "`yield tinyio.from_future(future)` (a thread's, a pool's); or run the work with "
            "`tinyio.run_in_executor(pool, fn)`."
        )
    if module.startswith("asyncio"):
        return (
            f"yielded {value!r}, an asyncio object, which only an asyncio loop can wait on: "
            "run asyncio code from tinyio with `yield tinyio.from_asyncio(coroutine)`."
        )
    if callable(value):
        hint = " Did you forget to call it?"
    elif module == "builtins":  # a plain value: most often what `f()` returned
        hint = (
            " If it is what a call gave (`yield f()`), that function has no `yield` in its body:"
            " it is not a generator function, and calling it ran it to the end and gave this"
            " value."
        )
    else:
        hint = ""
    return (
        f"yielded {value!r}, which tinyio cannot wait on.{hint} A coroutine may yield nothing, "
        "a coroutine (a generator), a list of coroutines (wait for all), a set of coroutines "
        "(start in the background), or a tinyio object such as `event.wait()`."
    )


def invalid_member(gen: object, kind: str, item: object) -> str:
    """A yielded list or set (`kind`) holding something that is not a coroutine."""
    return (
        f"Invalid yield: {yielder(gen)} yielded a {kind} containing {item!r}, which is not a "
        f"coroutine (a generator). Every member of a yielded {kind} must be one."
    )


def describe_run_argument(value: object) -> str:
    """Why `Loop.run` cannot run `value`, which is not a generator."""
    if isinstance(value, types.CoroutineType):
        value.close()
        return (
            f"Loop.run expects a tinyio coroutine (a generator), got {value!r}, an `async def` "
            "coroutine, which is not a coroutine tinyio can run. To run async code, use "
            "asyncio, or `tinyio.from_asyncio` inside tinyio."
        )
    if callable(value):
        return (
            f"Loop.run expects a tinyio coroutine (a generator object), got {value!r}, which "
            "is not a coroutine. Did you forget to call it?"
        )
    if isinstance(value, list | tuple | set | frozenset):
        return (
            f"Loop.run runs one coroutine, got a {type(cast(object, value)).__name__} "
            f"({value!r}). To run "
            "several, run one that yields them: `def main(): return (yield [a(), b()])`, "
            "then `loop.run(main())`."
        )
    if isinstance(value, types.AsyncGeneratorType):
        return (
            f"Loop.run expects a tinyio coroutine (a generator object), got {value!r}, an "
            "async generator: write the function with `def`, not `async def`."
        )
    return (
        f"Loop.run expects a tinyio coroutine (a generator object), got {value!r}, which is "
        "not a coroutine. (A "
        "function with no `yield` in its body is not a generator function: calling it ran "
        "it to the end and gave this value.)"
    )


def cancellation_warning(who: str, problem: str) -> str:
    """The message of the RuntimeWarning for `who` (say "Coroutine f()"), which answered a
    `CancelledError` by doing `problem` ("returned `1`") instead of letting it propagate."""
    return (
        f"{who} did not respond properly to cancellation: on receiving tinyio.CancelledError it "
        f"should clean up and let the CancelledError propagate. Instead, the coroutine {problem}. "
        "Resources it holds may not have been released."
    )


def yielded_at_a_stop_warning(who: str, yielded: object) -> str:
    """The message of the RuntimeWarning for `who`, cancelled as its loop stops, which yielded
    `yielded` in its cleanup (it is then closed there)."""
    return (
        f"{who} did not respond properly to cancellation: {_yielded(yielded)} in its "
        "cleanup while the loop was stopping (after an error or a Ctrl-C), when a coroutine can "
        "wait for nothing any more. It was closed at that `yield` (GeneratorExit was raised "
        "there), so the cleanup after it did not run, and resources it holds may not have been "
        "released. A `yield` in cleanup is fine in a coroutine cancelled on its own (by "
        "`tinyio.cancel`, a timeout or a lost race); cleanup that may run as the whole loop "
        "stops must not yield."
    )


def library_name(code: types.CodeType) -> str:
    """What one of tinyio's coroutines stands for, by its code: `tinyio.Event.wait` for
    `Event.wait`, `tinyio.sleep` for `_sleep`."""
    return "tinyio." + code.co_qualname.replace("._", ".").lstrip("_")


def _as_written(value: object) -> str:
    """A value as its author wrote it: `tinyio.sleep(...)` for one of tinyio's coroutines,
    `f()` for one of theirs; else its repr."""
    code = getattr(value, "gi_code", None)
    if isinstance(code, types.CodeType):
        if is_library_code(code.co_filename):
            return f"{library_name(code)}(...)"
        return name(value)
    return repr(value)


def _yielded(value: object) -> str:
    """What a coroutine did, yielding `value`, as its author wrote it: `tinyio.sleep(...)` for one of
    tinyio's coroutines (not `<generator object _sleep at 0x...>`), `f()` for one of theirs, a
    wait of one of tinyio's objects (`yield from event.wait()`) as such; else its repr."""
    if isinstance(getattr(value, "gi_code", None), types.CodeType):
        return f"it yielded `{_as_written(value)}`"
    if isinstance(value, Wait):
        return "it waited on one of tinyio's operations (with `yield from`)"
    return f"it yielded `{value!r}`"


def cancel_message(reason: BaseException, failed: str | None, waits_on_failed: bool) -> str:
    """Why a coroutine is cancelled: `reason` was raised by the coroutine named `failed` (None:
    the loop was interrupted or stopped). For one that was waiting on it, what to write
    instead to handle that error."""
    what = type(reason).__name__ + (f": {reason}" if str(reason) else "")
    if failed is None:
        if isinstance(reason, CancelledError) and str(reason):
            return str(reason)
        return f"Cancelled because the loop was interrupted by {what}."
    if not waits_on_failed:
        return f"Cancelled because another coroutine, {failed}, raised {what}."
    return (
        f"Cancelled because {failed}, which this coroutine was waiting on, raised {what}. "
        f"A `try`/`except` around `yield {failed}` cannot catch that error (other coroutines "
        "may be waiting on it too, so the whole loop stops). To handle the error here, run "
        f"it as part of this coroutine: `yield from {failed}` inside the `try`. To let a "
        "part of the program fail without stopping the rest, run that part in "
        "`tinyio.isolate`."
    )


def hint_for(error: BaseException) -> str | None:
    """A hint for two mistakes that Python reports in its own words, far from tinyio."""
    if isinstance(error, AttributeError) and error.name == "send":
        iterator = type(error.obj).__name__  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        if iterator in ("list_iterator", "tuple_iterator", "set_iterator"):
            return (
                "tinyio hint: `yield from [a, b]` does not wait on a list of coroutines (it "
                "iterates over the list). To run them at the same time and wait for all, write "
                "`yield [a, b]`; to run one as part of this coroutine, `yield from a`."
            )
    if isinstance(error, TypeError) and "context manager protocol" in str(error):
        kind = str(error).split("'")[1] if str(error).count("'") >= 2 else ""
        if kind in ("generator", "Lock", "Semaphore", "Condition"):
            return (
                "tinyio hint: a tinyio lock, semaphore or condition is acquired with `yield`, "
                "which waits for it: write `with (yield lock()):`, not `with lock():` or "
                "`with lock:`."
            )
    return None


def virtual_deadlock(seconds: float) -> str:
    """The error of a loop under a virtual clock that nothing can wake any more."""
    return (
        "Deadlock under a virtual clock: no coroutine is ready, no timer is set, and no "
        "thread call, executor call or descriptor wait is pending, so nothing in the loop can "
        f"ever wake its coroutines (after {seconds:g} s of real time, no thread of yours woke "
        "one either). The report below says what each one waits for."
    )
