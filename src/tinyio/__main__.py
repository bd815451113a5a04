"""A guided tour of tinyio: `python -m tinyio`.

Each section is a small demo function registered with `@_section(title)`; `main()` runs them in
order, printing each title as a heading. To show off a new feature, add a section at the end.
The tour only uses the public API, so it doubles as a smoke test of an installed tinyio.
"""

from __future__ import annotations

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


# --------------------------------------------------------------------------- running the tour


def main() -> None:
    """Print the tour: each section's title, then what its demo prints."""
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
