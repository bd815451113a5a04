"""Type checks of what a `tinyio.Coro` may yield, run by pyright in strict mode (see .ci/run):
`pyright tests/typing`. Nothing here is run by pytest.

A `# pyright: ignore[...]` comment states that the line *must* be an error: this file turns on
reportUnnecessaryTypeIgnoreComment, so an ignore with no error to silence fails the check.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

import threading

import tinyio


def number() -> tinyio.Coro[int]:
    yield tinyio.sleep(0)
    return 1


def every_form_the_loop_accepts() -> tinyio.Coro[None]:
    yield
    yield number()
    yield [number(), number()]
    yield {number()}
    yield []
    yield tinyio.sleep(0.01)
    yield tinyio.timeout(number(), 1)
    yield tinyio.run_in_thread(threading.get_ident)
    event = tinyio.Event()
    event.set()
    yield event.wait()
    with (yield tinyio.Lock()()):
        pass
    with (yield tinyio.Semaphore(2)()):
        pass
    queue: tinyio.Queue[int] = tinyio.Queue()
    yield queue.put(1)
    yield queue.get()
    barrier = tinyio.Barrier(1)
    yield barrier
    yield from tinyio.wait(number())


def what_the_loop_rejects() -> tinyio.Coro[None]:
    yield 5  # pyright: ignore[reportReturnType]
    yield number(), number()  # pyright: ignore[reportReturnType]
    yield "text"  # pyright: ignore[reportReturnType]
    yield [1, 2]  # pyright: ignore[reportReturnType]


def an_unannotated_coroutine():
    yield 5


def running() -> None:
    tinyio.Loop().run(every_form_the_loop_accepts())
    # An unannotated generator's yield type is inferred, so a bad yield is caught at `run`.
    tinyio.Loop().run(an_unannotated_coroutine())  # pyright: ignore[reportArgumentType]
