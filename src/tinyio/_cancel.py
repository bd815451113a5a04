"""Cancelling one coroutine, and racing coroutines: built on the core's `Interrupt`.

`cancel` throws `CancelledError` into a coroutine with `Interrupt` -- the primitive `timeout`
uses -- and then waits on the coroutine: if it lets the error propagate, the loop throws that
error into its waiters, here only `cancel` itself, which takes it as the sign that the
coroutine has finished. `race` runs each coroutine inline (`yield from`) in a watcher of its
own, so that cancelling a loser's watcher cancels the loser at its current `yield`.
"""

from __future__ import annotations

import types
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from ._core import (
    AFTER_THE_OTHERS,
    CURRENT_LOOP,
    CancelledError,
    Coro,
    Interrupt,
    Loop,
    cancelling_everything,
    has_run,
    starts_at_once,
    waiters_of,
    without_library_frames,
)
from ._event import Event
from ._unyielded import Guard, Unyielded

__all__ = [
    "any_unfinished",
    "async_hint",
    "cancel",
    "cancel_all_of",
    "coroutine_list",
    "hands_back",
    "race",
]

_CANCEL = Unyielded("tinyio.cancel(...)")
_RACE = Unyielded("tinyio.race(...)")

_T = TypeVar("_T")

# The coroutines that a `cancel` has thrown its CancelledError into and that have not finished
# yet, each with that error: a second `cancel` of one of them waits for the first to finish
# instead of throwing a second error into a coroutine that is already cleaning up.
_BEING_CANCELLED: weakref.WeakKeyDictionary[Coro[Any], BaseException] = weakref.WeakKeyDictionary()

_LOST = "cancelled by tinyio.race: another coroutine finished first"

# The operations that take something -- a queue's item, a lock's slot -- each with how to give
# back what it took: `give_back(arguments, result)`, given the arguments of the call that made
# the operation's coroutine. See `hands_back`.
_HANDS_BACK: dict[types.CodeType, Callable[[dict[str, Any], Any], object]] = {}

_F = TypeVar("_F", bound=Callable[..., Coro[Any]])


def hands_back(give_back: Callable[[dict[str, Any], Any], object]) -> Callable[[_F], _F]:
    """For library code: mark the generator function of an operation that takes something
    (`Queue.get`, acquiring a lock), with how to give it back: `give_back(arguments, result)`,
    `arguments` being those of the call that made the coroutine (`self` among them).

    A runner of `tinyio.race` that is such an operation, and that finishes after another has
    won -- several losers woken in the same turn, one still running when the winner cancelled
    it -- calls it in the step it finished in, before anything else runs: nothing it took is
    lost. (With two runners this cannot happen: the winner cancels the other before its next
    step. See docs/devdocs/race-takes-nothing.md.)
    """

    def mark(function: _F) -> _F:
        _HANDS_BACK[function.__code__] = give_back
        return function

    return mark


def _giving_back(coro: Coro[Any]) -> Callable[[Any], object] | None:
    """For a runner of a race: how it gives back what it took, if it is an operation marked
    with `hands_back` (read from the arguments of its call, before it starts)."""
    gen = cast("types.GeneratorType[Any, Any, Any]", coro)
    give_back = _HANDS_BACK.get(gen.gi_code)
    if give_back is None or gen.gi_frame is None:
        return None
    arguments = dict(gen.gi_frame.f_locals)
    return lambda result: give_back(arguments, result)


def async_hint(value: object, wrapped: str, among: Iterable[object] = ()) -> str:
    """For the TypeError of a library function given `value` where it needs a tinyio coroutine:
    if `value` is an `async def` coroutine, a hint at the bridges, `wrapped` showing the call
    with `tinyio.from_asyncio(coro)` in its place; else nothing. `value`, and every `async def`
    coroutine `among` the other arguments, is closed: Python would warn that it was never
    awaited, on top of the error."""
    if not isinstance(value, types.CoroutineType):
        return ""
    value.close()
    for other in among:
        close = getattr(other, "close", None)
        if isinstance(other, types.CoroutineType) and callable(close):
            close()
    return (
        " That is an `async def` coroutine, which tinyio cannot run itself: run asyncio code "
        f"through `tinyio.from_asyncio`, as in `{wrapped}` (`tinyio.from_trio` for trio code)."
    )


def coroutine_list(coros: object, caller: str) -> list[Coro[Any]] | TypeError:
    """`coros` as a list, for the library functions taking an iterable of coroutines; or, for
    the public function to raise where the mistake was made, the TypeError naming `caller` of
    a single coroutine (an easy slip, as `timeout` takes one) or of something not iterable."""
    # A generator expression is an iterable of coroutines; any other generator is taken for a
    # coroutine (a generator function producing coroutines is told to make a list of them).
    if isinstance(coros, types.GeneratorType) and coros.gi_code.co_name != "<genexpr>":
        return TypeError(
            f"{caller} needs a list (or other iterable) of coroutines, got the single coroutine "
            f"{coros!r}. To pass just one, write `{caller}([coro])`. (If it is a generator "
            "that produces coroutines, pass a list of them.)"
        )
    try:
        return list(cast("Iterable[Coro[Any]]", coros))
    except TypeError:
        return TypeError(f"{caller} needs a list (or other iterable) of coroutines, got {coros!r}.")


def cancel(coro: Coro[Any]) -> Coro[None]:
    """Cancel a running coroutine, and wait until it has finished: `yield tinyio.cancel(coro)`.

    ```python
    import tinyio

    def ticker():
        try:
            while True:
                print("tick")
                yield tinyio.sleep(0.02)
        finally:
            print("ticker cleaned up")

    def main():
        background = ticker()
        yield {background}
        yield tinyio.sleep(0.03)
        yield tinyio.cancel(background)
        print("ticker stopped")

    tinyio.Loop().run(main())
    # tick
    # tick
    # ticker cleaned up
    # ticker stopped
    ```

    `tinyio.CancelledError` is thrown into `coro` at the `yield` where it is suspended, so that
    it can clean up (`finally`, `with`); yielding `cancel(coro)` returns once `coro` has
    finished. Cancelling a coroutine that has already finished does nothing.

    What `coro` was waiting on is not cancelled (another coroutine may share it), except
    tinyio's own coroutines yielded as they are made -- `sleep`, `event.wait()`, a queue's
    `get`, acquiring a lock, a thread call, a `timeout`, and the like -- which run as part of
    `coro` and are cancelled with it. Cancel a coroutine that
    `coro` yielded separately, or have `coro` run it with `yield from`.

    Cancelling is for a coroutine that nothing waits on: one started in the background with
    `yield {coro}`. If other coroutines wait on `coro`, it is an error (they would get a
    cancellation they did not ask for): cancel them instead, or give them a deadline with
    `tinyio.timeout`. A coroutine that catches the `CancelledError` and returns gets a
    `RuntimeWarning`, like one that ignores the cancellation of a crashing loop; one that
    catches it and goes on running is waited for.

    Arguments:
        coro: the coroutine to cancel, running in the loop of the coroutine that yields this.

    Returns:
        A coroutine to yield, which finishes once `coro` has. Its result is `None`.

    Raises:
        TypeError: `coro` is not a coroutine (at the call).
        RuntimeError: other coroutines wait on `coro` (when yielded; the error names them).
        ValueError: `coro` has never been started in this loop (when yielded).
    """
    if not isinstance(coro, types.GeneratorType):
        hint = async_hint(
            coro,
            "running = tinyio.from_asyncio(coro)`, started with `yield {running}`, then "
            "`yield tinyio.cancel(running)",
        )
        raise TypeError(f"cancel needs a coroutine (a generator), got {coro!r}.{hint}")
    return _cancel(_CANCEL.arm(), coro, "cancelled by tinyio.cancel")


def _name(gen: Coro[Any]) -> str:
    code = getattr(gen, "gi_code", None)
    return f"{code.co_qualname}()" if isinstance(code, types.CodeType) else repr(gen)


def _cancel(guard: Guard | None, coro: Coro[Any], reason: str) -> Coro[None]:
    _CANCEL.disarm(guard)
    del guard
    loop: Loop = yield CURRENT_LOOP
    pending = _BEING_CANCELLED.get(coro)
    if pending is not None:
        # Cancelled already by another `cancel` (say a shutdown path and a signal path at
        # once): wait with it until the coroutine has finished.
        try:
            yield coro
        except BaseException as raised:
            if raised is pending:
                return
            raise
        return
    cancelling = yield from _throw_cancellation(loop, coro, reason)
    if cancelling is not None:
        yield from _until_cancelled(cancelling)


class _Cancelling:
    """A cancellation thrown into `coro` (`_throw_cancellation`), to wait for
    (`_until_cancelled`): its error, whether it was thrown, and where `coro` was suspended, for
    the warning if it does not let the cancellation propagate."""

    __slots__ = ("coro", "error", "interrupted", "module", "where")

    def __init__(
        self, coro: Coro[Any], error: BaseException, where: tuple[str, int], module: str
    ) -> None:
        self.coro = coro
        self.error = error
        self.where = where
        self.module = module
        self.interrupted = False


def _throw_cancellation(loop: Loop, coro: Coro[Any], reason: str) -> Coro[_Cancelling | None]:
    """The first half of `cancel`: throw a `CancelledError` into `coro`, in this step. None if
    `coro` has finished already (nothing to wait for)."""
    waiters = waiters_of(loop, coro)
    if waiters is None:
        if has_run(loop, coro):
            return None  # finished already: nothing to cancel
        gen = cast("types.GeneratorType[Any, Any, Any]", coro)
        if gen.gi_suspended or gen.gi_running:
            raise ValueError(
                f"Cannot cancel {_name(coro)}: it runs as part of another coroutine (one that "
                "runs it with `yield from`, or a tinyio.timeout or race that runs it), not as a "
                "coroutine of the loop's own. Cancel that one instead (the timeout or race); "
                "or start it with `yield {coro}` to cancel it on its own."
            )
        raise ValueError(
            f"Cannot cancel {_name(coro)}: it has not been started in this loop, so there is "
            "nothing to cancel. (Start it first, e.g. with `yield {coro}`; or, to keep it from "
            "running, do not yield it.)"
        )
    if waiters:
        names = ", ".join(dict.fromkeys(_name(waiter) for waiter in waiters))
        raise RuntimeError(
            f"Cannot cancel {_name(coro)}: other coroutines wait on it ({names}), and would "
            "get a cancellation they did not ask for. Cancel those instead, or give them a "
            "deadline with tinyio.timeout."
        )
    # Where it is suspended, for the warning if it does not let the cancellation propagate.
    gen = cast("types.GeneratorType[Any, Any, Any]", coro)
    frame = gen.gi_frame
    cancelling = _Cancelling(
        coro,
        CancelledError(reason),
        (gen.gi_code.co_filename, gen.gi_code.co_firstlineno if frame is None else frame.f_lineno),
        "" if frame is None else str(frame.f_globals.get("__name__", "")),
    )
    _BEING_CANCELLED[coro] = cancelling.error  # before the yield: a second `cancel` may run
    cancelling.interrupted = yield Interrupt(coro, cancelling.error)
    if not cancelling.interrupted:
        del _BEING_CANCELLED[coro]
    return cancelling


def _until_cancelled(cancelling: _Cancelling) -> Coro[None]:
    """The second half of `cancel`: wait until the coroutine has finished; warn if it
    returned instead of letting the cancellation propagate."""
    coro, error, interrupted = cancelling.coro, cancelling.error, cancelling.interrupted
    try:
        result = yield coro
    except BaseException as raised:
        _BEING_CANCELLED.pop(coro, None)
        if raised is error or not interrupted:
            # It let our CancelledError propagate: cancelled. (Or another interrupt, a
            # `timeout`, got there first, and it let that one's error propagate: finished.)
            return
        raise
    _BEING_CANCELLED.pop(coro, None)
    if interrupted:
        warnings.warn_explicit(
            f"Coroutine {_name(coro)} did not respond properly to cancellation: on receiving "
            f"tinyio.CancelledError it returned {result!r}, instead of letting the "
            "CancelledError propagate. Resources it holds may not have been released.",
            RuntimeWarning,
            filename=cancelling.where[0],
            lineno=cancelling.where[1],
            module=cancelling.module,
        )


def race(coros: Iterable[Coro[_T]]) -> Coro[tuple[int, _T]]:
    """Run coroutines side by side; give the first to finish, and cancel the others.

    ```python
    import tinyio

    def mirror(name, seconds):
        try:
            yield tinyio.sleep(seconds)
            return f"data from {name}"
        finally:
            print(f"{name} cleaned up")

    def main():
        index, result = yield tinyio.race([mirror("slow", 0.1), mirror("fast", 0.01)])
        print(index, result)

    tinyio.Loop().run(main())
    # fast cleaned up
    # slow cleaned up
    # 1 data from fast
    ```

    They start together, in no particular order (as with `yield {...}`). The winner is the
    first to finish -- by returning or by raising -- in the order the race sees them; of two
    ready in the same turn, whichever takes its step first wins. The others are cancelled as
    with `tinyio.cancel` -- `tinyio.CancelledError` is thrown in at their current `yield` --
    and have finished cleaning up before the race returns. If the race itself is cancelled or
    timed out, all of them are cancelled, and have cleaned up, before the error goes on; at a
    crash or a Ctrl-C too, its caller cleans up after them.

    A loser takes nothing. The others are cancelled in the step in which the winner finishes,
    before they take another: one woken in the same turn (by an item, a free lock, a set event)
    is cancelled at its `yield` instead of going on, one not started yet never starts. So a
    loser that is one of tinyio's operations leaves what it was after: `q.get()` its item in
    the queue, in order, for the next getter; `lock()`, `semaphore()` or `condition()` the
    slot free (or to the next in line). With three runners or more, the winner cancels the
    others one turn after another, and a loser woken in the same turn may finish meanwhile;
    if it is such an operation, it gives back what it took in the step it took it (the item
    goes back to the front of the queue, the slot is released). A coroutine of yours that
    finishes so has its result dropped, as the race cannot know how to give it back: race
    the operation itself (`tinyio.race([q.get(), stop.wait()])`) rather than a coroutine
    wrapping it when what it takes must not be lost with three runners or more.

    No error of a runner is lost, and none crashes the loop by itself: like every library
    coroutine, the race raises it, catchable around `yield from tinyio.race(...)`, with the
    caller's line at the top of its traceback (`yield tinyio.race(...)` crashes the loop with
    it, as for any coroutine). The rule, as for a task group in trio:

    - The winner raised: once the others have cleaned up, the race raises its error.
    - A loser raised instead of being cancelled -- its clean-up raised, or, of three runners
      or more, it failed in the same turn after the winner had finished but before the race
      could cancel it: the race raises that error even though the winner returned, since
      dropping it would hide a failure. A note on it names the loser and the winner; the
      winner's result is dropped.
    - Several raised: the race raises a `BaseExceptionGroup` of their errors (an
      `ExceptionGroup` if all are `Exception`s), in the order it saw them (a winner that
      raised first); its message names each one's coroutine and index. Catch it with
      `except*`.
    - A loser that just returns after the winner (as above: of three runners or more) has its
      result dropped; one that catches the `CancelledError` and returns gets a
      `RuntimeWarning`, as with `cancel`.
    - If the race was itself stopped and a runner's clean-up raised, that error goes on instead
      of the cancellation (which becomes its `__context__`), as a `finally` that raises would.

    Arguments:
        coros: the coroutines to race (at least one). They must be new -- not started, and not
            yielded by anything else -- as each runs inside a watcher of its own.

    Returns:
        A coroutine giving `(index, result)`: the position in `coros` of the first to finish,
        and what it returned.

    Raises:
        TypeError: a member of `coros` is not a coroutine (at the call).
        ValueError: `coros` is empty, or has a coroutine twice or one that has already
            started (at the call); a coroutine was yielded elsewhere before the race ran it
            (when yielded).
        Whatever the coroutines raise, when yielded: as above.
    """
    listed = coroutine_list(coros, "race")
    if isinstance(listed, TypeError):
        raise listed
    coros = listed
    if not coros:
        raise ValueError("race needs at least one coroutine: with none, nothing could win.")
    seen: set[int] = set()
    for coro in coros:
        if not isinstance(coro, types.GeneratorType):
            raise TypeError(
                f"race needs coroutines (generators), got {coro!r} among its inputs."
                + async_hint(coro, "tinyio.race([tinyio.from_asyncio(coro), ...])", coros)
            )
        if id(coro) in seen:
            raise ValueError(f"race got the coroutine {coro!r} twice: give each once.")
        seen.add(id(coro))
        if coro.gi_frame is None or coro.gi_suspended or coro.gi_running:
            raise ValueError(
                f"race needs new coroutines, got {coro!r}, which has already started (or "
                "finished). race runs each coroutine inside a watcher of its own, so that it "
                "can cancel the losers: it cannot share one that runs elsewhere."
            )
    return _race(_RACE.arm(), coros)


def cancel_all_of(loop: Loop, coros: list[Coro[Any]], reason: str) -> list[Coro[None]]:
    """For a library coroutine of `loop` that was itself cancelled or timed out: what to yield
    to cancel the coroutines it started, all at once. Nothing when the whole loop is crashing:
    it cancels them itself (and a coroutine being cancelled by a crash must not yield)."""
    if cancelling_everything(loop):
        return []
    return [_cancel(None, coro, reason) for coro in coros]


def any_unfinished(coros: list[Coro[Any]]) -> bool:
    """For a library coroutine of a loop cancelling everything, which runs `coros` in the
    background: whether one has not finished yet, having been put off by the loop (it waits on
    work outside the loop, a thread, which `AFTER_THE_OTHERS` puts after the others). The
    library coroutine then yields `AFTER_THE_OTHERS` too, so that its own error goes on only
    once they have finished, and its caller cleans up after them, innermost first."""
    return any(
        cast("types.GeneratorType[Any, Any, Any]", coro).gi_frame is not None for coro in coros
    )


@starts_at_once
def _race(guard: Guard | None, coros: list[Coro[_T]]) -> Coro[tuple[int, _T]]:
    _RACE.disarm(guard)
    del guard
    loop: Loop = yield CURRENT_LOOP
    first_done = Event()
    # The first to finish, by returning or raising: [index, what it returned, True] or
    # [index, None, False]; or [None, None, False] once the race itself was stopped, so that
    # no other may win.
    winner: list[Any] = []
    # Every error of a runner other than its cancellation by the race, in the order the race
    # saw them: (index, error, whether it came while the runner was being cancelled).
    failures: list[tuple[int, BaseException, bool]] = []

    # The losers that the winner's watcher cancelled itself, at once, by index: the race waits
    # for them to finish (see `stop_the_others`).
    stopped: dict[int, _Cancelling] = {}

    def stop_the_others(index: int) -> Coro[None]:
        """The winner's watcher, as its runner finishes: cancel the others in this step, not
        once the race has been woken. In between, a loser woken in the same turn would take the
        item or the slot it was woken for (and drop it), one not started yet would start, one
        whose operation was due to start would take what it finds. Each throw costs this
        watcher a turn, so with several losers one may still finish meanwhile: see `watch`."""
        if cancelling_everything(loop):
            return  # the loop is crashing: it cancels everything itself
        for other, watcher in enumerate(watchers):
            # Skipped: the winner, a loser that has finished, and one that a cancel of the
            # race itself is cancelling already.
            if other == index or watcher in _BEING_CANCELLED or waiters_of(loop, watcher) != []:
                continue
            cancelling = yield from _throw_cancellation(loop, watcher, _LOST)
            if cancelling is not None:
                stopped[other] = cancelling

    def watch(index: int, coro: Coro[_T]) -> Coro[None]:
        if winner:
            # The race was decided before this runner took a step: it never starts, so it
            # takes nothing (and has nothing to clean up).
            coro.close()
            return
        give_back = giving_back[index]
        done_cancelling: BaseException | None = None
        result: Any = None  # bound on every path that reaches its use: for pyright
        try:
            gen = cast("types.GeneratorType[Any, Any, Any]", coro)
            if gen.gi_frame is None or gen.gi_suspended or has_run(loop, coro):
                # Yielded elsewhere meanwhile: driven from here too, it would run twice at
                # once and give both of its drivers wrong results.
                raise ValueError(
                    f"race's coroutine {gen.__qualname__}() was started elsewhere before the "
                    "race ran it: "
                    "give race coroutines that nothing else yields. To race one that others "
                    "wait on too, race a coroutine of yours that waits on it "
                    "(`def waiting(c): return (yield c)`)."
                )
            result = yield from coro
        except BaseException as error:
            if cancelling_everything(loop):
                raise  # the loop is crashing: it cancels everything itself
            cancelling = _BEING_CANCELLED.get(watchers[index])
            if error is cancelling:
                raise  # cancelled, as a loser or with the race: the cancel waits for this
            # An error of the runner itself -- the first to finish, or a loser failing before
            # it was cancelled or while it cleaned up: kept, for the race to raise.
            failures.append((index, error, cancelling is not None))
            won = not winner
            if won:
                winner.extend((index, None, False))
            # If it was cancelled all the same, the cancel is done: its error is raised below,
            # outside this `except`: inside, Python would make the error its context, and cut
            # the error's own link to this cancellation (a cycle), losing what the error was
            # raised while handling.
            done_cancelling = cancelling
        else:
            won = not winner
            if won:
                winner.extend((index, result, True))
            elif give_back is not None:
                # A loser whose operation finished after the race was decided, before its
                # cancellation reached it: what it took goes back, as if never taken.
                give_back(result)
        if won:
            yield from stop_the_others(index)
            first_done.set()
        if done_cancelling is not None:
            raise done_cancelling

    # How each runner that is one of tinyio's operations taking something (a queue's `get`, a
    # lock's acquisition) gives back what it took, should it finish after another won.
    giving_back = [_giving_back(coro) for coro in coros]
    watchers = [watch(index, coro) for index, coro in enumerate(coros)]
    yield set(watchers)
    try:
        yield first_done.wait()
    except BaseException as stopped_race:
        if not winner:
            winner.extend((None, None, False))
        if cancelling_everything(loop) and any_unfinished(watchers):
            # A watcher waits, to clean up, on work outside the loop (a thread): the loop
            # cancels it after the others (see `AFTER_THE_OTHERS`); the race goes on only
            # then, so that its caller cleans up after what the race runs.
            yield AFTER_THE_OTHERS
        stopping = cancel_all_of(loop, watchers, "cancelled because the tinyio.race was cancelled")
        if stopping:
            yield stopping
        if not failures:
            raise
        # A runner failed rather than being cancelled: its error goes on instead, with the
        # cancellation as its context, as a `finally` that raises would.
        context: BaseException | None = stopped_race
    else:
        index, value, _ = winner
        yield [
            _until_cancelled(stopped[i]) if i in stopped else _cancel(None, w, _LOST)
            for i, w in enumerate(watchers)
            if i != index
        ]
        if not failures:
            return index, value
        context = None
    error = _race_error(coros, failures, winner)
    if context is not None:
        error.__context__ = context
    tb = error.__traceback__
    try:
        raise error
    except BaseException:
        error.__traceback__ = tb  # the caller's frame comes first, as out of `loop.run`
        raise  # a bare re-raise adds no entry for this frame


def _race_error(
    coros: list[Coro[Any]], failures: list[tuple[int, BaseException, bool]], winner: list[Any]
) -> BaseException:
    """What a race raises when runners failed: the one error, or a group of them in the order
    the race saw them (the first to finish first), as `loop.run` gives several independent
    errors. Each traceback starts at the caller's frame, as out of `loop.run`."""
    for _, error, _ in failures:
        error.__traceback__ = without_library_frames(error.__traceback__)

    def runner(index: int) -> str:
        return f"{_name(coros[index])} (index {index} in the race)"

    def when(cancelling: bool) -> str:
        return "while it was being cancelled" if cancelling else "before it could be cancelled"

    won_index, _, returned = winner
    if won_index is None:
        one = several = "the tinyio.race was itself cancelled or timed out"
    elif returned:
        won = f"{runner(won_index)} had finished first, but the race raises"
        one = f"{won} this error rather than lose it"
        several = f"{won} their errors rather than lose them"
    else:
        one = several = ""
    if len(failures) == 1:
        index, error, cancelling = failures[0]
        if index != won_index:
            error.add_note(
                f"Raised by {runner(index)}, a {'runner' if won_index is None else 'loser'} "
                f"of tinyio.race, {when(cancelling)}: " + one + "."
            )
        return error
    listed = "; ".join(
        f"{runner(index)}, " + ("the first to finish" if index == won_index else when(cancelling))
        for index, _, cancelling in failures
    )
    return BaseExceptionGroup(
        f"{len(failures)} coroutines of a tinyio.race failed: {listed}"
        + (f" ({several})" if several else ""),
        [error for _, error, _ in failures],
    )
