"""A guided tour of tinyio: `python -m tinyio`.

Each section is a small demo function registered with `@_section(title)`; `main()` runs them in
order, printing each title as a heading. To show off a new feature, add a section at the end.
The tour only uses the public API, so it doubles as a smoke test of an installed tinyio.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import tinyio

_Demo = Callable[[], None]
_SECTIONS: list[tuple[str, _Demo]] = []


def _section(title: str) -> Callable[[_Demo], _Demo]:
    """Register a demo function as the next section of the tour."""

    def register(demo: _Demo) -> _Demo:
        _SECTIONS.append((title, demo))
        return demo

    return register


def _say(text: str) -> None:
    print(f"  {text}")


# --------------------------------------------------------------------------- the sections


@_section("Coroutines are generators: yield a coroutine to wait for its result")
def _coroutines() -> None:
    def double(x: int) -> tinyio.Coro[int]:
        yield tinyio.sleep(0.01)
        return 2 * x

    def main() -> tinyio.Coro[int]:
        y: int = yield double(21)
        _say(f"double(21) gave {y}")
        return y

    _say(f"loop.run(main()) returned {tinyio.Loop().run(main())}")


@_section("Gather: yield a list of coroutines to run them at the same time")
def _gather() -> None:
    def download(name: str, seconds: float) -> tinyio.Coro[str]:
        yield tinyio.sleep(seconds)
        _say(f"{name} finished after {seconds} s")
        return name.upper()

    def main() -> tinyio.Coro[None]:
        start = time.monotonic()
        names: list[str] = yield [download("slow", 0.2), download("fast", 0.1)]
        _say(f"results in list order: {names}")
        _say(f"0.3 s of sleeps took {time.monotonic() - start:.1f} s in all")

    tinyio.Loop().run(main())


@_section("Background: yield a set to start coroutines without waiting for them")
def _background() -> None:
    def chore() -> tinyio.Coro[None]:
        yield tinyio.sleep(0.05)
        _say("background chore done")

    def main() -> tinyio.Coro[str]:
        yield {chore()}
        _say("main carries on at once, and returns")
        return "main's result"

    result = tinyio.Loop().run(main())
    _say(f"loop.run waited for the background chore, then returned {result!r}")


@_section("Events: coroutines wait until another one (or another thread) sets a flag")
def _events() -> None:
    ready = tinyio.Event()

    def worker(name: str) -> tinyio.Coro[None]:
        _say(f"{name} waits for the event")
        yield ready.wait()
        _say(f"{name} goes")

    def set_from_another_thread() -> None:
        time.sleep(0.02)  # blocking work in an ordinary thread
        _say("another thread sets the event")
        ready.set()

    def main() -> tinyio.Coro[None]:
        threading.Thread(target=set_from_another_thread).start()
        yield [worker("a"), worker("b")]
        timeout = tinyio.Event()
        yield timeout.wait(0.05)
        _say(f"a wait with a timeout gave up; is_set() = {timeout.is_set()}")

    tinyio.Loop().run(main())


@_section("Sleeping: tinyio.sleep pauses one coroutine, never the loop")
def _sleeping() -> None:
    def ticker(name: str, every: float, times: int) -> tinyio.Coro[None]:
        for tick in range(1, times + 1):
            yield tinyio.sleep(every)
            _say(f"{name} tick {tick}")

    def main() -> tinyio.Coro[None]:
        yield [ticker("fast", 0.02, 3), ticker("slow", 0.05, 1)]

    tinyio.Loop().run(main())


@_section("Errors: one failure cancels everything else, and `finally` blocks run")
def _errors() -> None:
    def worker(name: str) -> tinyio.Coro[None]:
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            _say(f"{name} was cancelled")
            raise
        finally:
            _say(f"{name}'s finally block ran")

    def failing() -> tinyio.Coro[None]:
        yield tinyio.sleep(0.02)
        raise ValueError("something went wrong")

    def main() -> tinyio.Coro[None]:
        yield [worker("a"), worker("b"), failing()]

    try:
        tinyio.Loop().run(main())
    except ValueError as error:
        _say(f"loop.run raised the original error: {error!r}")


@_section("Nested loops: a coroutine may block in another loop's run")
def _nesting() -> None:
    def inner(x: int) -> tinyio.Coro[int]:
        yield tinyio.sleep(0.01)
        return x * 10

    def blocking_helper(x: int) -> int:
        # An ordinary function that happens to use tinyio inside.
        return tinyio.Loop().run(inner(x))

    def outer() -> tinyio.Coro[int]:
        a = blocking_helper(1)
        b: int = yield inner(2)
        _say(f"inner loop gave {a}, outer loop gave {b}")
        return a + b

    _say(f"total: {tinyio.Loop().run(outer())}")


@_section("Synchronisation: a Semaphore lets at most n coroutines in at once")
def _synchronisation() -> None:
    semaphore = tinyio.Semaphore(2)
    inside: list[int] = []
    most_inside = 0

    def job(number: int) -> tinyio.Coro[None]:
        nonlocal most_inside
        with (yield semaphore()):
            inside.append(number)
            most_inside = max(most_inside, len(inside))
            yield tinyio.sleep(0.01)
            inside.remove(number)

    def main() -> tinyio.Coro[None]:
        yield [job(number) for number in range(6)]

    tinyio.Loop().run(main())
    _say(f"6 jobs ran, at most {most_inside} at a time")


@_section(
    "as_completed: results in the order they finish (the synchronisation page's demo, sped up)"
)
def _as_completed() -> None:
    def sleep(x: int) -> tinyio.Coro[int]:
        yield tinyio.sleep(x / 100)  # the docs' demo sleeps x seconds; the tour is in a hurry
        return x

    def as_completed_demo() -> tinyio.Coro[None]:
        for out in (yield tinyio.as_completed({sleep(7), sleep(2), sleep(4)})):
            out = yield out
            _say(f"As completed demo: {out}")

    tinyio.Loop().run(as_completed_demo())


@_section("Barrier and Lock: wait for each other, take turns")
def _barrier_and_lock() -> None:
    barrier = tinyio.Barrier(value=3)
    lock = tinyio.Lock()
    log: list[str] = []

    def runner(name: str, laps: int) -> tinyio.Coro[None]:
        for _ in range(laps):
            yield
        log.append(f"{name} at the barrier")
        yield barrier  # the same as `yield barrier.wait()`
        with (yield lock()):
            log.append(f"{name} has the lock")
            yield
            log.append(f"{name} releases it")

    def main() -> tinyio.Coro[None]:
        yield [runner("a", 3), runner("b", 1), runner("c", 2)]

    tinyio.Loop().run(main())
    for line in log:
        _say(line)


@_section("Queues: a producer and a consumer, with back-pressure")
def _queues() -> None:
    queue: tinyio.Queue[int | None] = tinyio.Queue(maxsize=2)

    def producer() -> tinyio.Coro[None]:
        for item in range(5):
            yield queue.put(item)  # waits while the queue is full
        yield queue.put(None)

    def consumer() -> tinyio.Coro[int]:
        total = 0
        while (item := (yield queue.get())) is not None:
            total += item
        return total

    def main() -> tinyio.Coro[None]:
        _, total = yield [producer(), consumer()]
        _say(f"the consumer added up to {total}")

    tinyio.Loop().run(main())


@_section("Threads and timeouts: blocking calls run in threads; give up on slow work")
def _threads_and_timeouts() -> None:
    def blocking(x: int) -> int:
        time.sleep(0.05)
        return x * x

    def slow() -> tinyio.Coro[str]:
        try:
            yield tinyio.sleep(0.1)
            return "finished"
        finally:
            _say("slow() was interrupted and cleaned up")

    def main() -> tinyio.Coro[None]:
        start = time.monotonic()
        squares: list[int] = yield [tinyio.run_in_thread(blocking, x) for x in range(10)]
        _say(f"10 blocking calls of 0.05 s: {squares} in {time.monotonic() - start:.2f} s")
        result = yield tinyio.timeout(slow(), 0.02)
        _say(f"timeout(slow(), 0.02) gave {result}")

    tinyio.Loop().run(main())


@_section("Isolation: a failure inside tinyio.isolate does not crash the rest")
def _isolation() -> None:
    def flaky() -> tinyio.Coro[None]:
        yield
        raise ValueError("flaky failed")

    def main() -> tinyio.Coro[None]:
        error, ok = yield tinyio.isolate(flaky())
        _say(f"isolate(flaky()) gave ({error!r}, {ok}); the loop carries on")

    tinyio.Loop().run(main())


@_section("asyncio: run tinyio inside asyncio, and asyncio code inside tinyio")
def _asyncio() -> None:
    import asyncio

    async def fetch(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    def tinyio_side() -> tinyio.Coro[int]:
        value: int = yield tinyio.from_asyncio(fetch(41))
        return value

    async def asyncio_side() -> None:
        _say(
            f"asyncio awaited a tinyio coroutine, which awaited asyncio: {await tinyio.to_asyncio(tinyio_side())}"
        )

    asyncio.run(asyncio_side())


@_section("When things go wrong: a stuck loop explains itself (python -m tinyio --demo-deadlock)")
def _diagnostics_hint() -> None:
    _say("an interrupted loop (Ctrl-C), or one that finds a cycle, adds a note to the error:")
    _say("a tree of what every coroutine was waiting on. With TINYIO_REPORT_EVERY_CRASH=1 every")
    _say("crash gets it. Run `python -m tinyio --demo-deadlock` to see one.")


def demo_deadlock() -> None:
    """Two coroutines each wait for the other; a watchdog gives up, and the report says why."""
    ping, pong = tinyio.Event(), tinyio.Event()

    def first() -> tinyio.Coro[None]:
        yield ping.wait()  # never set: `second` is waiting too
        pong.set()

    def second() -> tinyio.Coro[None]:
        yield pong.wait()
        ping.set()

    def watchdog() -> tinyio.Coro[None]:
        yield tinyio.sleep(0.2)
        raise RuntimeError("deadlock: nothing happened for 0.2 s, giving up")

    def main() -> tinyio.Coro[None]:
        yield [first(), second(), watchdog()]

    print("Running two coroutines that wait for each other, with a 0.2 s watchdog...")
    # An ordinary error gets the report only on request (an interrupt or a cycle always does).
    os.environ["TINYIO_REPORT_EVERY_CRASH"] = "1"
    try:
        tinyio.Loop().run(main())
    except RuntimeError as error:
        print()
        print(f"{type(error).__name__}: {error}")
        for note in getattr(error, "__notes__", []):
            print(note)


# --------------------------------------------------------------------------- running the tour


def main() -> None:
    """Print the tour: each section's title, then what its demo prints."""
    if "--demo-deadlock" in sys.argv[1:]:
        demo_deadlock()
        return
    print("A tour of tinyio: an event loop whose coroutines are plain generators.")
    start = time.monotonic()
    for number, (title, demo) in enumerate(_SECTIONS, start=1):
        print()
        print(f"{number}. {title}")
        demo()
    print()
    print(f"Tour finished in {time.monotonic() - start:.1f} s. Read more in the docs/ folder.")


if __name__ == "__main__":
    main()
