"""Every misuse of tinyio that the reliability suite tries, and the error each one gives.

One list, used twice so that the documentation cannot drift from the behaviour:

- tests/test_misuse.py runs every case and checks it raises (or warns) with the expected type,
  and that docs/misuse.md is exactly what `render_table()` produces from the actual errors;
- docs/gen_misuse_table.py writes docs/misuse.md from `render_table()`.

A case's `attempt` makes the mistake. What it gives is the first exception that escapes it,
or -- if none does -- the first warning it issues. Messages are shown with memory addresses
replaced by `0x…`, so that the table is the same from run to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import queue
import re
import sys
import time
import warnings
from collections.abc import Callable

import tinyio
import tinyio.testing

# ------------------------------------------------------------------ coroutines the cases use


def job():
    yield
    return "done"


def started_job():
    gen = job()
    next(gen)
    return gen


def finished_job():
    gen = job()
    for _ in gen:
        pass
    return gen


async def async_job():
    return "done"


def yielder(value):
    """A coroutine that yields `value` (the mistake) -- made fresh for each attempt."""

    def mistaken():
        yield value()

    return mistaken


async def to_asyncio_given_an_async_coroutine():
    coro = async_job()
    try:
        await tinyio.to_asyncio(coro)
    finally:
        coro.close()  # not awaited: close it, or Python warns when it is collected


def run(coro, **kwargs):
    return tinyio.Loop().run(coro, **kwargs)


def runs_a_coroutine_finished_by_another_loop():
    coro = job()
    first = tinyio.Loop()
    first.run(coro)  # a coroutine runs once; only this loop remembers its result
    return tinyio.Loop().run(coro)


def failing():
    yield
    raise ValueError("the original error")


def plain_settings():
    return {}


def gives_from_asyncio_a_host_task():
    async def host() -> None:
        task = asyncio.ensure_future(async_job())
        try:
            tinyio.from_asyncio(task)
        finally:
            await task

    asyncio.run(host())


def waits_typed_on_a_number():
    yield from tinyio.wait(42)


# ------------------------------------------------------------------ the attempts


def yields_a_tuple():
    yield job(), job()


def yields_a_list_with_a_number():
    yield [job(), 5]


def yields_a_set_with_a_string():
    yield {job(), "hello"}


def yields_an_int():
    yield 5


def total(values):
    return sum(values)


def yields_what_a_plain_function_returned():
    yield total([1, 2, 3])


def yields_a_string():
    yield "hello"


def yields_a_dict():
    yield {"timeout": 1}


def yields_an_async_coroutine():
    yield async_job()


def yields_a_started_generator():
    yield started_job()


def yields_an_uncalled_function():
    yield job


def yields_an_event():
    yield tinyio.Event()


def yields_an_uncalled_wait():
    yield tinyio.Event().wait


def yields_a_lock_without_calling_it():
    with (yield tinyio.Lock()):
        pass


def yields_an_uncalled_sleep():
    yield tinyio.sleep


def first_of_cycle(coros):
    yield coros["second"]


def second_of_cycle(coros):
    yield coros["first"]


def waits_on_a_cycle():
    coros = {}
    coros["first"] = first_of_cycle(coros)
    coros["second"] = second_of_cycle(coros)
    run(coros["first"])


def selfish(coros):
    yield coros["me"]


def waits_on_itself():
    coros = {}
    coros["me"] = selfish(coros)
    run(coros["me"])


def runs_inside_its_own_loop():
    loop = tinyio.Loop()

    def nested():
        loop.run(job())
        yield

    loop.run(nested())


def enters_a_slot_twice():
    lock = tinyio.Lock()

    def twice():
        slot = yield lock()
        with slot:
            pass
        with slot:
            pass

    run(twice())


def condition_wait_without_lock():
    condition = tinyio.Condition()

    def careless():
        yield condition.wait()

    run(careless())


def get_nowait_on_empty():
    tinyio.Queue().get_nowait()


def put_nowait_on_full():
    full = tinyio.Queue(maxsize=1)
    full.put_nowait(1)
    full.put_nowait(2)


def waits_on_a_queue_from_a_thread_in_a_coroutine():
    full = tinyio.Queue(maxsize=1)
    full.put_nowait(1)

    def producer():
        yield
        full.put_from_thread(2)

    run(producer())


def puts_into_a_shut_down_queue():
    closed = tinyio.Queue()
    closed.shutdown()

    def producer():
        yield closed.put("item")

    run(producer())


def gets_from_a_shut_down_empty_queue():
    closed = tinyio.Queue()
    closed.shutdown()
    closed.get_nowait()


def marks_too_many_tasks_done():
    q = tinyio.Queue()
    q.put_nowait("item")
    q.get_nowait()
    q.task_done()
    q.task_done()


def settles_a_started_coroutine():
    tinyio.settle([started_job()])


def settles_one_coroutine_twice():
    twice = job()
    tinyio.settle([twice, twice])


def cancels_a_coroutine_others_wait_on():
    def shared():
        yield tinyio.sleep(0.01)

    def waiter(target):
        yield target

    def main():
        target = shared()
        yield {waiter(target)}
        yield
        yield tinyio.cancel(target)

    run(main())


def cancels_a_coroutine_never_started():
    def main():
        yield tinyio.cancel(job())

    run(main())


def swallows_tinyio_cancel():
    def stubborn_ticker():
        try:
            yield tinyio.Event().wait()
        except tinyio.CancelledError:
            return "ignoring the cancellation"

    def main():
        background = stubborn_ticker()
        yield {background}
        yield
        yield tinyio.cancel(background)

    run(main())


def races_a_started_coroutine():
    tinyio.race([started_job()])


def races_a_coroutine_another_also_yields():
    def waiting(c):
        return (yield c)

    def main():
        shared = job()
        yield [waiting(shared), tinyio.race([shared, job()])]

    tinyio.Loop().run(main())


def leaves_runtime_early():
    with tinyio.Loop().runtime(job(), exception_group=None) as steps:
        next(steps)


def waits_on_a_failed_coroutine():
    loop = tinyio.Loop()
    broken = failing()
    with contextlib.suppress(ValueError):
        loop.run(broken)

    def later():
        yield broken

    loop.run(later())


def reruns_a_failed_coroutine():
    loop = tinyio.Loop()
    broken = failing()
    with contextlib.suppress(ValueError):
        loop.run(broken)
    loop.run(broken)


def stubborn():
    try:
        yield tinyio.sleep(10)
    except tinyio.CancelledError:
        return "ignored the cancellation"


def ignores_cancellation():
    def main():
        yield [stubborn(), failing()]

    with contextlib.suppress(ValueError):
        run(main())


def obstinate_function():
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.001)
    except tinyio.CancelledError:
        return "ignored the cancellation"
    return "finished"


def thread_ignores_cancellation():
    def main():
        yield [tinyio.run_in_thread(obstinate_function), fails_after_a_while()]

    with contextlib.suppress(ValueError):
        run(main())


def fails_after_a_while():
    yield tinyio.sleep(0.05)
    raise ValueError("the original error")


# ------------------------------------------------------------------ the cases


@dataclasses.dataclass(frozen=True)
class Misuse:
    mistake: str  # what the user did wrong, in words
    code: str  # the offending code, as a user would write it
    attempt: Callable[[], object]
    expected: type[BaseException] | type[Warning]


CASES: list[Misuse] = [
    # ---- running
    Misuse("Run something that is not a coroutine", "loop.run(42)", lambda: run(42), TypeError),
    Misuse(
        "Run a coroutine function without calling it",
        "loop.run(job)",
        lambda: run(job),
        TypeError,
    ),
    Misuse(
        "Run an `async def` coroutine",
        "loop.run(async_job())",
        lambda: run(async_job()),
        TypeError,
    ),
    Misuse(
        "Run a generator already started elsewhere",
        "next(gen); loop.run(gen)",
        lambda: run(started_job()),
        ValueError,
    ),
    Misuse(
        "Run a generator that already finished elsewhere",
        "list(gen); loop.run(gen)",
        lambda: run(finished_job()),
        ValueError,
    ),
    Misuse(
        "Pass something else than None/True/False as `exception_group`",
        'loop.run(job(), exception_group="yes")',
        lambda: run(job(), exception_group="yes"),
        TypeError,
    ),
    Misuse(
        "Call `run` on a loop from inside one of its own coroutines",
        "loop.run(job())  # inside loop.run",
        runs_inside_its_own_loop,
        RuntimeError,
    ),
    Misuse(
        "Leave `loop.runtime` before its generator is exhausted",
        "with loop.runtime(job(), None) as steps: next(steps)",
        leaves_runtime_early,
        RuntimeError,
    ),
    Misuse(
        "Run again a coroutine that failed in an earlier run of the loop",
        "loop.run(broken)  # broken() raised before",
        reruns_a_failed_coroutine,
        RuntimeError,
    ),
    # ---- yielding
    Misuse(
        "Yield a tuple of coroutines (instead of a list)",
        "yield job(), job()",
        lambda: run(yields_a_tuple()),
        TypeError,
    ),
    Misuse("Yield a number", "yield 5", lambda: run(yields_an_int()), TypeError),
    Misuse(
        "Yield what a function without `yield` returned",
        "yield total([1, 2, 3])",
        lambda: run(yields_what_a_plain_function_returned()),
        TypeError,
    ),
    Misuse("Yield a string", 'yield "hello"', lambda: run(yields_a_string()), TypeError),
    Misuse("Yield a dict", 'yield {"timeout": 1}', lambda: run(yields_a_dict()), TypeError),
    Misuse(
        "Yield a list holding something that is not a coroutine",
        "yield [job(), 5]",
        lambda: run(yields_a_list_with_a_number()),
        TypeError,
    ),
    Misuse(
        "Yield a set holding something that is not a coroutine",
        'yield {job(), "hello"}',
        lambda: run(yields_a_set_with_a_string()),
        TypeError,
    ),
    Misuse(
        "Yield an `async def` coroutine",
        "yield async_job()",
        lambda: run(yields_an_async_coroutine()),
        TypeError,
    ),
    Misuse(
        "Yield a generator already started elsewhere",
        "next(gen); yield gen",
        lambda: run(yields_a_started_generator()),
        ValueError,
    ),
    Misuse(
        "Yield a coroutine function without calling it",
        "yield job",
        lambda: run(yields_an_uncalled_function()),
        TypeError,
    ),
    Misuse(
        "Yield an Event instead of waiting on it",
        "yield event",
        lambda: run(yields_an_event()),
        TypeError,
    ),
    Misuse(
        "Yield `event.wait` without calling it",
        "yield event.wait",
        lambda: run(yields_an_uncalled_wait()),
        TypeError,
    ),
    Misuse(
        "Yield `tinyio.sleep` without calling it",
        "yield tinyio.sleep",
        lambda: run(yields_an_uncalled_sleep()),
        TypeError,
    ),
    Misuse(
        "Yield a Lock instead of calling it",
        "with (yield lock):",
        lambda: run(yields_a_lock_without_calling_it()),
        TypeError,
    ),
    Misuse(
        "Wait on a coroutine that failed in an earlier run of the loop",
        "yield broken  # broken() raised in an earlier run",
        waits_on_a_failed_coroutine,
        RuntimeError,
    ),
    Misuse(
        "Make two coroutines wait on each other",
        "def first(): yield second_coro  /  def second(): yield first_coro",
        waits_on_a_cycle,
        tinyio.CancelledError,
    ),
    Misuse(
        "Make a coroutine wait on itself",
        "def selfish(): yield me",
        waits_on_itself,
        tinyio.CancelledError,
    ),
    # ---- cancellation
    Misuse(
        "Catch CancelledError and return instead of letting it propagate",
        "except tinyio.CancelledError: return ...",
        ignores_cancellation,
        RuntimeWarning,
    ),
    Misuse(
        "Catch CancelledError in a thread function and return",
        "except tinyio.CancelledError: return ...  # in run_in_thread's function",
        thread_ignores_cancellation,
        RuntimeWarning,
    ),
    # ---- events and time
    Misuse(
        "Test an Event for truth",
        "if event:",
        lambda: bool(tinyio.Event()),
        TypeError,
    ),
    Misuse("Sleep for a negative time", "tinyio.sleep(-1)", lambda: tinyio.sleep(-1), ValueError),
    Misuse(
        "Sleep for NaN seconds",
        "tinyio.sleep(math.nan)",
        lambda: tinyio.sleep(math.nan),
        ValueError,
    ),
    Misuse(
        "Sleep for a string of seconds",
        'tinyio.sleep("1")',
        lambda: tinyio.sleep("1"),
        TypeError,
    ),
    Misuse(
        "Sleep for `True` seconds",
        "tinyio.sleep(True)",
        lambda: tinyio.sleep(True),
        TypeError,
    ),
    Misuse(
        "Wait on an Event with a negative timeout",
        "event.wait(-0.5)",
        lambda: tinyio.Event().wait(-0.5),
        ValueError,
    ),
    Misuse(
        "Wait on an Event with a string timeout",
        'event.wait("soon")',
        lambda: tinyio.Event().wait("soon"),
        TypeError,
    ),
    Misuse(
        "Give `timeout` something that is not a coroutine",
        "tinyio.timeout(job, 1)",
        lambda: tinyio.timeout(job, 1),
        TypeError,
    ),
    Misuse(
        "Give `timeout` a negative duration",
        "tinyio.timeout(job(), -1)",
        lambda: tinyio.timeout(job(), -1),
        ValueError,
    ),
    # ---- synchronisation
    Misuse(
        "Make a Semaphore with no slots",
        "tinyio.Semaphore(0)",
        lambda: tinyio.Semaphore(0),
        ValueError,
    ),
    Misuse(
        "Make a Semaphore with a float value",
        "tinyio.Semaphore(1.5)",
        lambda: tinyio.Semaphore(1.5),
        TypeError,
    ),
    Misuse(
        "Enter one acquired slot twice",
        "slot = yield lock(); with slot: ...; with slot: ...",
        enters_a_slot_twice,
        RuntimeError,
    ),
    Misuse("Make a Barrier for no one", "tinyio.Barrier(0)", lambda: tinyio.Barrier(0), ValueError),
    Misuse(
        "Give a Condition a Semaphore as its lock",
        "tinyio.Condition(tinyio.Semaphore(1))",
        lambda: tinyio.Condition(tinyio.Semaphore(1)),
        TypeError,
    ),
    Misuse(
        "Wait on a Condition without holding its lock",
        "yield condition.wait()  # outside with (yield condition())",
        condition_wait_without_lock,
        RuntimeError,
    ),
    Misuse(
        "Notify a negative number of waiters",
        "condition.notify(-1)",
        lambda: tinyio.Condition().notify(-1),
        ValueError,
    ),
    Misuse(
        "Make a Queue of negative size", "tinyio.Queue(-1)", lambda: tinyio.Queue(-1), ValueError
    ),
    Misuse(
        "Make a Queue with a float size",
        "tinyio.Queue(2.5)",
        lambda: tinyio.Queue(2.5),
        TypeError,
    ),
    Misuse(
        "Take from an empty Queue without waiting",
        "queue.get_nowait()",
        get_nowait_on_empty,
        queue.Empty,
    ),
    Misuse(
        "Put into a full Queue without waiting",
        "queue.put_nowait(2)  # maxsize=1, holding 1",
        put_nowait_on_full,
        queue.Full,
    ),
    Misuse(
        "Wait on a Queue with a thread's method in a coroutine",
        "queue.put_from_thread(2)  # in a coroutine",
        waits_on_a_queue_from_a_thread_in_a_coroutine,
        RuntimeError,
    ),
    Misuse(
        "Put into a Queue after shutting it down",
        'queue.shutdown(); yield queue.put("item")',
        puts_into_a_shut_down_queue,
        tinyio.QueueShutDown,
    ),
    Misuse(
        "Take from an empty Queue after shutting it down",
        "queue.shutdown(); queue.get_nowait()",
        gets_from_a_shut_down_empty_queue,
        tinyio.QueueShutDown,
    ),
    Misuse(
        "Mark more items done than were put",
        "queue.task_done()  # a second time, for one item",
        marks_too_many_tasks_done,
        ValueError,
    ),
    Misuse(
        "Shut a Queue down with a non-bool `immediate`",
        'queue.shutdown(immediate="yes")',
        lambda: tinyio.Queue().shutdown(immediate="yes"),
        TypeError,
    ),
    Misuse(
        "Cancel something that is not a coroutine",
        "tinyio.cancel(42)",
        lambda: tinyio.cancel(42),
        TypeError,
    ),
    Misuse(
        "Cancel a coroutine that others wait on",
        "yield {waiter(target)}; yield tinyio.cancel(target)",
        cancels_a_coroutine_others_wait_on,
        RuntimeError,
    ),
    Misuse(
        "Cancel a coroutine that was never started",
        "yield tinyio.cancel(job())",
        cancels_a_coroutine_never_started,
        ValueError,
    ),
    Misuse(
        "Catch the CancelledError of `tinyio.cancel` and return",
        "except tinyio.CancelledError: return ...  # cancelled by tinyio.cancel",
        swallows_tinyio_cancel,
        RuntimeWarning,
    ),
    Misuse("Race no coroutines", "tinyio.race([])", lambda: tinyio.race([]), ValueError),
    Misuse(
        "Race something that is not a coroutine",
        'tinyio.race([job(), "fast"])',
        lambda: tinyio.race([job(), "fast"]),
        TypeError,
    ),
    Misuse(
        "Race a coroutine that has already started",
        "next(gen); tinyio.race([gen])",
        races_a_started_coroutine,
        ValueError,
    ),
    Misuse(
        "Race a coroutine that another coroutine also yields",
        "yield [waiting(shared), tinyio.race([shared, job()])]",
        races_a_coroutine_another_also_yields,
        ValueError,
    ),
    Misuse(
        "Give `settle` something that is not a coroutine",
        "tinyio.settle([job(), 5])",
        lambda: tinyio.settle([job(), 5]),
        TypeError,
    ),
    Misuse(
        "Give `settle` a coroutine that has already started",
        "next(gen); tinyio.settle([gen])",
        settles_a_started_coroutine,
        ValueError,
    ),
    Misuse(
        "Give `settle` one coroutine twice",
        "tinyio.settle([coro, coro])",
        settles_one_coroutine_twice,
        ValueError,
    ),
    Misuse(
        "Give `as_completed` a number instead of coroutines",
        "tinyio.as_completed(5)",
        lambda: tinyio.as_completed(5),
        TypeError,
    ),
    Misuse(
        "Give `as_completed` something that is not a coroutine",
        "tinyio.as_completed([job(), 5])",
        lambda: tinyio.as_completed([job(), 5]),
        TypeError,
    ),
    # ---- threads, executors, isolation, other loops
    Misuse(
        "Run something that is not callable in a thread",
        "tinyio.run_in_thread(42)",
        lambda: tinyio.run_in_thread(42),
        TypeError,
    ),
    Misuse(
        "Make a ThreadPool with no threads",
        "tinyio.ThreadPool(0)",
        lambda: tinyio.ThreadPool(0),
        ValueError,
    ),
    Misuse(
        "Wait on something that is not a future",
        "tinyio.from_future(42)",
        lambda: tinyio.from_future(42),
        TypeError,
    ),
    Misuse(
        "Give `run_in_executor` something that is not an executor",
        "tinyio.run_in_executor(42, print)",
        lambda: tinyio.run_in_executor(42, print),
        TypeError,
    ),
    Misuse(
        "Isolate something that is not a coroutine",
        "tinyio.isolate(job)",
        lambda: tinyio.isolate(job),
        TypeError,
    ),
    Misuse(
        "Copy something that is not a coroutine",
        "tinyio.copy(42)",
        lambda: tinyio.copy(42),
        TypeError,
    ),
    Misuse(
        "Run a tinyio coroutine function in asyncio without calling it",
        "await tinyio.to_asyncio(job)",
        lambda: asyncio.run(tinyio.to_asyncio(job)),
        TypeError,
    ),
    Misuse(
        "Run an `async def` coroutine with `to_asyncio`",
        "await tinyio.to_asyncio(async_job())",
        lambda: asyncio.run(to_asyncio_given_an_async_coroutine()),
        TypeError,
    ),
    Misuse(
        "Give `from_asyncio` something that is not awaitable",
        "tinyio.from_asyncio(async_job)",
        lambda: tinyio.from_asyncio(async_job),
        TypeError,
    ),
    # ---- testing
    Misuse(
        "Give a loop a clock that is not one",
        "tinyio.Loop(clock=time.monotonic)",
        lambda: tinyio.Loop(clock=time.monotonic),  # pyright: ignore[reportArgumentType]
        TypeError,
    ),
    Misuse(
        "Start a virtual clock at a negative time",
        "tinyio.testing.VirtualClock(start=-1)",
        lambda: tinyio.testing.VirtualClock(start=-1),
        ValueError,
    ),
    Misuse(
        "Jump a virtual clock backwards",
        "clock.jump(-5)",
        lambda: tinyio.testing.VirtualClock().jump(-5),
        ValueError,
    ),
    Misuse(
        "Wait, typed, on something that is not a coroutine",
        "x = yield from tinyio.wait(42)",
        lambda: run(waits_typed_on_a_number()),
        TypeError,
    ),
    Misuse(
        "Gather, typed, something that is not a coroutine",
        "tinyio.gather(job(), 42)",
        lambda: tinyio.gather(job(), 42),  # pyright: ignore[reportArgumentType, reportUnknownLambdaType]
        TypeError,
    ),
    Misuse(
        "Give `from_asyncio` a Task of the asyncio loop that runs tinyio",
        "tinyio.from_asyncio(asyncio.ensure_future(fetch()))",
        gives_from_asyncio_a_host_task,
        ValueError,
    ),
    Misuse(
        "Make a coroutine fixture of a plain function",
        "@tinyio.testing.fixture def settings(): return {}",
        lambda: tinyio.testing.fixture(plain_settings),  # pyright: ignore[reportArgumentType]
        TypeError,
    ),
    Misuse(
        "Give a coroutine fixture a scope",
        '@tinyio.testing.fixture(scope="module")',
        lambda: tinyio.testing.fixture(scope="module"),
        TypeError,
    ),
    Misuse(
        "Write the coroutine fixture decorator with parentheses",
        "@tinyio.testing.fixture()",
        lambda: tinyio.testing.fixture(),
        TypeError,
    ),
    Misuse(
        "Run, in a new loop, a coroutine that another loop has finished",
        "loop.run(coro); tinyio.Loop().run(coro)",
        runs_a_coroutine_finished_by_another_loop,
        ValueError,
    ),
]


# ------------------------------------------------------------------ outcomes and the table

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def outcome(case: Misuse) -> tuple[type[BaseException] | type[Warning], str]:
    """What the attempt gives: the type and (address-free) message of its error or warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            case.attempt()
        except BaseException as error:
            return type(error), _ADDRESS.sub("0x…", str(error))
    if caught:
        return caught[0].category, _ADDRESS.sub("0x…", str(caught[0].message))
    raise AssertionError(f"{case.mistake!r} gave neither an error nor a warning")


def _type_name(kind: type) -> str:
    module = kind.__module__
    if module == "builtins":
        return kind.__qualname__
    public = module.lstrip("_")  # e.g. queue.Empty is defined in _queue
    if getattr(sys.modules.get(public), kind.__qualname__, None) is kind:
        module = public
    return f"{module}.{kind.__qualname__}"


def _code_span(text: str) -> str:
    """`text` as a Markdown code span (safe inside a table cell)."""
    fence = "`"
    while fence in text:
        fence += "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


HEADER = """\
# Misuse and the errors it gives

<!-- Generated by docs/gen_misuse_table.py from tests/misuse_cases.py. Do not edit by hand:
     tests/test_misuse.py fails if this page differs from what the cases actually produce. -->

tinyio tries to fail loudly, at the line where a mistake was made, with a message that says
what was wrong and what to do instead -- never to hang or to misbehave later. Each row below is
a mistake that the test suite makes on purpose (`tests/misuse_cases.py`), with the error it
actually gets: the table is generated from those runs, and a test checks that it is up to date.
Memory addresses in messages are shown as `0x…`.

Where the error is raised: a mistake in the arguments of a function raises at the call; a bad
`yield` has the error thrown into the coroutine at that `yield` (so the traceback points at
it), which then crashes the loop like any uncaught error, so `loop.run` raises it. Warnings
are `RuntimeWarning`s issued while the loop cancels its coroutines.

"""


def render_table() -> str:
    """The whole of docs/misuse.md."""
    lines = ["| # | Mistake | Code | Error | Message |", "| --- | --- | --- | --- | --- |"]
    for number, case in enumerate(CASES, start=1):
        kind, message = outcome(case)
        lines.append(
            f"| {number} | {_cell(case.mistake)} | {_cell(_code_span(case.code))} | "
            f"`{_type_name(kind)}` | {_cell(_code_span(message))} |"
        )
    return HEADER + "\n".join(lines) + "\n"
