"""A library coroutine made but never yielded (a missing `yield`) warns, naming the call and
the line; one that is yielded, closed on purpose, or dropped by a stopping loop does not."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import tinyio
from tinyio._unyielded import Guard


def job():
    yield
    return 1


async def async_job():
    return 1


async def trio_job():
    return 1


POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def waited_process_wait():
    proc = tinyio.open_process(["true"])
    tinyio.Loop().run(proc.wait())  # reaped: the next wait() would give its status at once
    return proc.wait()


MADE: dict[str, Callable[[], Any]] = {
    "tinyio.sleep(...)": lambda: tinyio.sleep(1),
    "tinyio.timeout(...)": lambda: tinyio.timeout(job(), 1),
    "tinyio.cancel(...)": lambda: tinyio.cancel(job()),
    "tinyio.race(...)": lambda: tinyio.race([job()]),
    "tinyio.settle(...)": lambda: tinyio.settle([job()]),
    "tinyio.isolate(...)": lambda: tinyio.isolate(job()),
    "tinyio.run_in_thread(...)": lambda: tinyio.run_in_thread(print),
    "tinyio.run_in_executor(...)": lambda: tinyio.run_in_executor(POOL, print),
    "tinyio.from_future(...)": lambda: tinyio.from_future(concurrent.futures.Future()),
    "tinyio.from_asyncio(...)": lambda: tinyio.from_asyncio(asyncio.sleep(0)),
    "tinyio.from_trio(...)": lambda: tinyio.from_trio(trio_job),
    "tinyio.run_process(...)": lambda: tinyio.run_process(["true"]),
    "proc.wait()": waited_process_wait,
    "pool.run_in_thread(...)": lambda: tinyio.ThreadPool(1).run_in_thread(print),
    "pool.call_with_timeout(...)": lambda: tinyio.ThreadPool(1).call_with_timeout(1, print),
    "pool.map(...)": lambda: tinyio.ThreadPool(1).map(print, [1]),
}


@pytest.mark.parametrize("call", sorted(MADE))
def test_a_library_coroutine_dropped_without_yield_warns_naming_the_call_and_line(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MADE[call]()  # the missing `yield`
        line = sys._getframe().f_lineno - 1
    # An inner coroutine given to it (`timeout(job(), 1)`) is not one of ours: one warning.
    ours = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert [str(w.message) for w in ours if call in str(w.message)] == [
        f"{call} was never yielded, so it never ran: write `yield {call}`"
    ]
    found = next(w for w in ours if call in str(w.message))
    # The lambda's line is where the coroutine was dropped (returned, then discarded here):
    # either is the user's code, never tinyio's.
    assert found.filename == __file__
    assert found.lineno in (line, MADE[call].__code__.co_firstlineno)


def test_the_line_named_is_the_one_missing_its_yield():
    def main():
        tinyio.sleep(0.01)
        yield

    with pytest.warns(RuntimeWarning, match=r"tinyio\.sleep\(\.\.\.\) was never yielded") as got:
        tinyio.Loop().run(main())
    assert got[0].filename == __file__
    assert got[0].lineno == main.__code__.co_firstlineno + 1


@pytest.mark.parametrize("ending", ["returns", "raises"])
def test_one_kept_in_a_variable_of_a_coroutine_warns_when_that_coroutine_ends(ending):
    # The loop's own step frees it (the coroutine's frame ends inside `gen.send`): the
    # warning names the line that made it, in the coroutine that kept it.
    def main():
        _pending = tinyio.run_in_thread(print, "never")  # the missing `yield`
        yield
        if ending == "raises":
            raise ValueError("ended")

    def run():
        try:
            tinyio.Loop().run(main())
        except ValueError:
            assert ending == "raises"

    with pytest.warns(RuntimeWarning, match=r"tinyio\.run_in_thread\(\.\.\.\) was never") as got:
        run()
    # Ended by an error, its frame lives on in the traceback, freed by the user's frame that
    # drops the error (`run` here): that line is named.
    made = main.__code__.co_firstlineno + 1
    assert [w.filename for w in got] == [__file__]
    assert ending == "raises" or got[0].lineno == made


def test_yielded_library_coroutines_do_not_warn():
    async def async_work():
        return 2

    def main():
        yield tinyio.sleep(0)
        yield tinyio.timeout(job(), 1)
        yield tinyio.race([job()])
        yield tinyio.settle([job()])
        yield tinyio.isolate(job())
        yield tinyio.run_in_thread(int)
        yield tinyio.from_asyncio(async_work())
        background = job()
        yield {background}
        yield tinyio.cancel(background)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tinyio.Loop().run(main())


def test_closing_a_coroutine_that_is_not_to_run_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coro = tinyio.run_in_thread(print, "never")
        coro.close()
        del coro


def test_a_loop_that_stops_before_starting_a_yielded_coroutine_does_not_warn():
    def main():
        yield {tinyio.sleep(1), tinyio.run_in_thread(print, "background")}
        raise ValueError("at once")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="at once"):
            tinyio.Loop().run(main())


def test_a_peak_of_pending_coroutines_makes_at_most_64_guards():
    def main():
        yield [tinyio.sleep(0) for _ in range(2000)]

    tinyio.Loop().run(main())
    gc.collect()
    guards = [
        o for o in gc.get_objects() if isinstance(o, Guard) and o.owner.call == "tinyio.sleep(...)"
    ]
    assert len(guards) <= 64


def test_a_missing_yield_is_still_seen_after_many_and_after_a_peak():
    def main():
        yield [tinyio.sleep(0) for _ in range(500)]

    tinyio.Loop().run(main())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(200):  # each one's guard is freed with it, and another made
            tinyio.sleep(1)
    assert len(caught) == 200
    assert all("tinyio.sleep(...) was never yielded" in str(w.message) for w in caught)


class _Racy(list):
    """A free list that another thread empties between the check and the `pop`."""

    def __bool__(self) -> bool:
        return True


def test_a_free_list_emptied_by_another_thread_meanwhile_still_gives_a_guard(monkeypatch):
    # (With the library's own guards: a guard freed by the test would warn.)
    import tinyio._time

    timeout_guards = tinyio._time._TIMEOUT
    free = timeout_guards.free
    monkeypatch.setattr(timeout_guards, "free", _Racy())
    guard = timeout_guards.arm()
    monkeypatch.undo()
    assert isinstance(guard, Guard)
    free.append(guard)  # given back, as its generator's first step would
    monkeypatch.setattr(tinyio._time, "_SLEEP_FREE", _Racy())
    tinyio.Loop().run(tinyio.sleep(0))  # the guard made anew, given back at the first step


def test_no_guard_once_all_are_out_and_one_again_once_given_back():
    import tinyio._time

    timeout_guards = tinyio._time._TIMEOUT
    out = []
    while (guard := timeout_guards.arm()) is not None:
        out.append(guard)
    assert len(out) <= 64
    timeout_guards.disarm(None)  # nothing to give back
    timeout_guards.disarm(out.pop())
    again = timeout_guards.arm()
    assert isinstance(again, Guard)
    for guard in [again, *out]:
        timeout_guards.disarm(guard)
