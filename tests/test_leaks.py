"""Nothing outlives a run: no thread, no file descriptor, no object of the loop.

Checked with `threading.enumerate()`, the process's open file descriptors (the `fds` fixture:
`/proc/self/fd` on Linux, `/dev/fd` on macOS and the BSDs; where neither exists it reports
none, so those checks pass vacuously there rather than being skipped), weak references to the
loop, to every coroutine and to the values they return, and `gc` (every live object of a
tinyio type: the loop's records of its coroutines, Events, waits, queues...) -- after runs that
use every feature, after runs that crash, are interrupted by Ctrl-C or are stopped by their
driver while threads, nested loops and asyncio are busy, and over a thousand runs of one
long-lived loop, which must not grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator

import pytest
import trio

import tinyio
from tinyio._unyielded import Guard


@pytest.fixture
def fds() -> Callable[[], set[str]]:
    """A function listing the process's open file descriptors, chosen for this platform."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(directory):
            # Listing the directory opens one descriptor, closed before the list is returned:
            # it is in both the "before" and the "after" listing, so it never counts as new.
            return lambda: set(os.listdir(directory))
    return set


def tinyio_objects() -> list[object]:
    """Every object alive (and tracked by gc) whose type comes from the tinyio package, but
    the free guards that library functions keep for reuse (a few dozen at most each: see
    `test_the_free_guards_of_a_library_function_are_few_after_a_peak`)."""
    return [o for o in gc.get_objects() if is_tinyio_type(type(o)) and not isinstance(o, Guard)]


def is_tinyio_type(cls: type) -> bool:
    module = getattr(cls, "__module__", None)  # not always a str: some metaclasses define it
    return isinstance(module, str) and (module == "tinyio" or module.startswith("tinyio."))


class Baseline:
    """What existed before the test: threads, file descriptors, tinyio objects."""

    def __init__(self, fds: Callable[[], set[str]]) -> None:
        gc.collect()
        self._list_fds = fds
        self.threads = set(threading.enumerate())
        self.fds = fds()
        self.objects = {id(o) for o in tinyio_objects()}

    def new_threads(self) -> set[threading.Thread]:
        return set(threading.enumerate()) - self.threads

    def new_fds(self) -> set[str]:
        return self._list_fds() - self.fds

    def new_objects(self) -> list[str]:
        gc.collect()
        return [repr(o) for o in tinyio_objects() if id(o) not in self.objects]


@pytest.fixture
def baseline(fds) -> Baseline:
    return Baseline(fds)


class Result:
    """A value returned by a coroutine, weakly referenced by the tests."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------- a program using every feature


def blocking(x):
    time.sleep(0.001)
    return x


async def asyncio_side(x):
    await asyncio.sleep(0.001)
    return x


async def trio_side(x):
    await trio.sleep(0.001)
    return x


def small(i, event, queue, lock):
    yield tinyio.sleep(0.001)
    yield event.wait(0.05)
    with (yield lock()):
        yield
    yield queue.put(i)
    return (yield queue.get())


def make_result(i):
    yield
    return Result(i)


def everything(generators: list[weakref.ref], result_refs: list[weakref.ref]):
    """Uses every kind of thing that could leak; records weak references to its coroutines
    and to results that it does not hand on."""
    event = tinyio.Event()
    queue = tinyio.Queue(maxsize=2)
    lock = tinyio.Lock()
    condition = tinyio.Condition()
    barrier = tinyio.Barrier(2)
    threading.Thread(target=event.set).start()
    children = [small(i, event, queue, lock) for i in range(4)]
    generators.extend(weakref.ref(c) for c in children)
    gathered = yield children
    in_thread = yield tinyio.run_in_thread(blocking, 1)
    pooled = yield tinyio.ThreadPool(2).map(blocking, range(3))
    from_asyncio = yield tinyio.from_asyncio(asyncio_side(2))
    from_trio = yield tinyio.from_trio(trio_side(3))
    isolated = yield tinyio.isolate(small(9, event, tinyio.Queue(), tinyio.Lock()))
    timed_out = yield tinyio.timeout(tinyio.sleep(1), 0.001)

    def notified():
        with (yield condition()):
            yield condition.wait_for(lambda: True)

    yield [notified(), barrier.wait(), barrier.wait()]
    results = []
    for next_done in (yield tinyio.as_completed([blocking_coro(x) for x in range(3)])):
        results.append((yield next_done))
    made = yield [make_result(i) for i in range(3)]
    assert made == [Result(0), Result(1), Result(2)]
    result_refs.extend(weakref.ref(r) for r in made)
    yield {tinyio.sleep(0.001)}  # a background coroutine still running when this one returns
    return gathered, in_thread, pooled, from_asyncio, from_trio, isolated, timed_out, results


def blocking_coro(x):
    return (yield tinyio.run_in_thread(blocking, x))


def test_a_run_using_every_feature_leaves_no_thread_fd_or_object_behind(baseline):
    generators: list[weakref.ref] = []
    results: list[weakref.ref] = []
    loop = tinyio.Loop()
    main = everything(generators, results)
    generators.append(weakref.ref(main))
    result = loop.run(main)
    assert result[0] == [0, 1, 2, 3]
    assert result[1:5] == (1, [0, 1, 2], 2, 3)
    assert result[5] == (9, True)
    assert result[6] == (None, False)
    assert sorted(result[7]) == [0, 1, 2]
    # Threads and file descriptors: gone as soon as `run` returns.
    assert baseline.new_threads() == set()
    assert baseline.new_fds() == set()
    # Objects: gone once nothing refers to them (cycles, e.g. through tracebacks, need gc).
    loop_ref = weakref.ref(loop)
    del loop, main
    gc.collect()
    assert loop_ref() is None
    assert [ref for ref in generators if ref() is not None] == []
    assert len(results) == 3
    assert [ref for ref in results if ref() is not None] == []
    assert baseline.new_objects() == []


def test_to_asyncio_and_to_trio_leave_no_thread_fd_or_object_behind(baseline):

    def inside():
        yield tinyio.sleep(0.001)
        return (yield tinyio.run_in_thread(blocking, 5))

    assert asyncio.run(tinyio.to_asyncio(inside())) == 5

    async def under_trio():
        return await tinyio.to_trio(inside())

    assert trio.run(under_trio) == 5
    assert baseline.new_threads() == set()
    assert baseline.new_fds() == set()
    assert baseline.new_objects() == []


# ---------------------------------------------------------------- crashes leave nothing either


class Crash(Exception):
    pass


def busy_thread(started: threading.Event):
    started.set()
    while True:  # until CancelledError is raised in this thread
        time.sleep(0.001)


async def busy_asyncio(started: threading.Event):
    started.set()
    await asyncio.sleep(60)


def crash_when(how: str, *events: threading.Event):
    while not all(event.is_set() for event in events):
        yield tinyio.sleep(0.001)
    if how == "error":
        raise Crash("while threads, asyncio and a nested loop were busy")
    if how == "ctrl_c":
        # A real SIGINT: Python's handler raises KeyboardInterrupt at the next bytecode.
        signal.raise_signal(signal.SIGINT)
        time.sleep(1)  # (never reached: interrupted at once)
    yield tinyio.sleep(60)  # "driver stopped": the driver gives up on the loop meanwhile


def run_until_stopped(loop: tinyio.Loop, coro, ready: Callable[[], bool]) -> None:
    """Drive `loop` through `runtime` until `ready()`, then leave with an error: the loop
    cancels every coroutine (as when the host of `to_asyncio` cancels it)."""

    def drive() -> None:
        with loop.runtime(coro, exception_group=None) as steps:
            while not ready():
                block = next(steps)
                if block is not None:
                    block()
            raise Crash("the driver stopped")

    with pytest.raises(Crash, match="the driver stopped"):
        drive()


@pytest.mark.parametrize(
    ("how", "exception_group"),
    [
        ("error", None),
        ("error", False),
        ("error", True),
        ("ctrl_c", None),
        ("ctrl_c", True),
        ("driver_stopped", None),
    ],
)
def test_a_crash_while_everything_is_busy_leaves_nothing_behind(baseline, how, exception_group):
    thread_started = threading.Event()
    asyncio_started = threading.Event()
    never = tinyio.Event()
    finally_ran = []
    generators: list[weakref.ref] = []

    def guarded(name, coro):
        generators.append(weakref.ref(coro))
        try:
            return (yield coro)
        finally:
            finally_ran.append(name)

    def main(never):
        yield [
            guarded("thread", tinyio.run_in_thread(busy_thread, thread_started)),
            guarded("asyncio", tinyio.from_asyncio(busy_asyncio(asyncio_started))),
            guarded("isolated", tinyio.isolate(never.wait())),
            guarded("pool", tinyio.ThreadPool(1).run_in_thread(time.sleep, 0.001)),
            guarded("waiter", never.wait()),
            guarded("crash", crash_when(how, thread_started, asyncio_started)),
        ]

    loop = tinyio.Loop()
    root = main(never)
    generators.append(weakref.ref(root))
    if how == "driver_stopped":
        run_until_stopped(loop, root, lambda: len(generators) == 7 and asyncio_started.is_set())
    else:
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with pytest.raises(BaseException) as excinfo:  # noqa: PT011 - checked just below
                loop.run(root, exception_group=exception_group)
        finally:
            signal.signal(signal.SIGINT, previous)
        error = excinfo.value
        if exception_group:
            assert isinstance(error, BaseExceptionGroup)
            # The original error, then the CancelledError of each cancelled coroutine.
            assert len(error.exceptions) > 1
            assert all(isinstance(e, tinyio.CancelledError) for e in error.exceptions[1:])
            error = error.exceptions[0]
        assert isinstance(error, Crash if how == "error" else KeyboardInterrupt)
        del excinfo, error
    assert sorted(finally_ran) == ["asyncio", "crash", "isolated", "pool", "thread", "waiter"]
    assert baseline.new_threads() == set()
    assert baseline.new_fds() == set()
    loop_ref = weakref.ref(loop)
    del loop, root, never  # the test's own Event is not a leak
    gc.collect()
    assert loop_ref() is None
    assert [ref for ref in generators if ref() is not None] == []
    assert baseline.new_objects() == []


# ---------------------------------------------------------------- a long-lived loop does not grow


def one_run_of_work(i: int, keep: list):
    event = tinyio.Event()
    queue = tinyio.Queue()
    lock = tinyio.Lock()

    def setter():
        yield
        event.set()

    def consumer():
        with (yield lock()):
            yield event.wait()
        return (yield queue.get())

    def producer():
        yield queue.put(i)

    results = yield [consumer(), producer(), setter(), tinyio.sleep(0)]
    thread_result = yield tinyio.run_in_thread(int, i)
    kept = keep_one(i)
    keep.append((i, kept))  # the loop remembers its result while the test keeps it
    yield kept
    return results[0] + thread_result


def keep_one(i):
    yield
    return i


@contextlib.contextmanager
def coverage_paused() -> Iterator[None]:
    """Stop coverage.py's measurement inside the block, when the suite runs under it
    (`pytest --cov`): it keeps a few objects for every thread ever started, which a test
    counting the objects and bytes that a thousand runs leave behind would see."""
    coverage = sys.modules.get("coverage")
    current = coverage.Coverage.current() if coverage is not None else None
    if current is None:
        yield
        return
    current.stop()
    try:
        yield
    finally:
        current.start()


def test_a_long_lived_loop_running_a_thousand_runs_does_not_grow(baseline):
    loop = tinyio.Loop()
    keep: list = []
    with coverage_paused():
        grown, more_objects = memory_and_objects_grown_over_a_thousand_runs(loop, keep)
    # 900 more runs: a leak of even one small object per run would show as 50 KB or more.
    assert grown < 32 * 1024, f"grew by {grown} bytes over 900 runs"
    assert more_objects < 100, f"{more_objects} more objects after 900 runs"
    assert baseline.new_threads() == set()
    assert baseline.new_fds() == set()
    loop_ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert loop_ref() is None
    assert baseline.new_objects() == []


def memory_and_objects_grown_over_a_thousand_runs(loop: tinyio.Loop, keep: list) -> tuple[int, int]:
    tracemalloc.start()
    try:
        for i in range(100):  # warm up: caches, free lists, the first worker thread
            assert loop.run(one_run_of_work(i, keep)) == 2 * i
        keep.clear()
        gc.collect()
        memory_at_100, _ = tracemalloc.get_traced_memory()
        objects_at_100 = len(gc.get_objects())
        for i in range(100, 1000):
            assert loop.run(one_run_of_work(i, keep)) == 2 * i
            if len(keep) > 10:
                # Results stay available while their coroutine is referenced...
                assert [loop.run(coro) for _, coro in keep] == [j for j, _ in keep]
                keep.clear()  # ...and are dropped when it is not.
        keep.clear()
        gc.collect()
        memory_at_1000, _ = tracemalloc.get_traced_memory()
        objects_at_1000 = len(gc.get_objects())
    finally:
        tracemalloc.stop()
    return memory_at_1000 - memory_at_100, objects_at_1000 - objects_at_100


def test_remembered_results_are_dropped_with_their_coroutine():
    loop = tinyio.Loop()
    coros = [keep_one(i) for i in range(1000)]
    refs = [weakref.ref(c) for c in coros]
    assert loop.run(gather_all(coros)) == list(range(1000))
    # While referenced, each result is remembered (a later run gets it without re-running).
    assert [loop.run(c) for c in coros[:3]] == [0, 1, 2]
    objects_before = len(tinyio_objects())
    del coros
    assert [ref for ref in refs if ref() is not None] == []  # freed without even needing gc
    # ...and the loop's record of each went with it.
    assert objects_before - len(tinyio_objects()) >= 1000


def gather_all(coros):
    return (yield list(coros))
