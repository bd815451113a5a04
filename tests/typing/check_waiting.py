"""Type checks of the typed waiting API, run by pyright in strict mode (see .ci/run):
`pyright tests/typing`. Nothing here is run by pytest; a wrong type is a pyright error.

A `# pyright: ignore[...]` comment states that the line *must* be an error: this file turns on
reportUnnecessaryTypeIgnoreComment, so an ignore with no error to silence fails the check.
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from typing import Any, assert_type

import tinyio
from tinyio.testing import VirtualClock


def number() -> tinyio.Coro[int]:
    yield tinyio.sleep(0)
    return 1


def text() -> tinyio.Coro[str]:
    yield
    return "a"


def nothing() -> tinyio.Coro[None]:
    yield


def waiting() -> tinyio.Coro[None]:
    # A plain yield is untyped: the loop sends the result.
    untyped = yield number()
    assert_type(untyped, Any)

    x = yield from tinyio.wait(number())
    assert_type(x, int)
    s = yield from tinyio.wait(text())
    assert_type(s, str)
    none = yield from tinyio.wait(nothing())
    assert_type(none, None)

    # tinyio's own operations are coroutines with precise result types too.
    queue: tinyio.Queue[bytes] = tinyio.Queue()
    item = yield from tinyio.wait(queue.get())
    assert_type(item, bytes)
    result = yield from tinyio.wait(tinyio.timeout(number(), 1.0))
    assert_type(result, tuple[int | None, bool])
    thread_result = yield from tinyio.wait(tinyio.run_in_thread(len, "abc"))
    assert_type(thread_result, int)

    # A wrong use is caught.
    y = yield from tinyio.wait(number())
    y.upper()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    yield from tinyio.wait(42)  # pyright: ignore[reportArgumentType]


def gathering() -> tinyio.Coro[None]:
    one = yield from tinyio.gather(number())
    assert_type(one, tuple[int])
    pair = yield from tinyio.gather(number(), text())
    assert_type(pair, tuple[int, str])
    a, b, c = yield from tinyio.gather(number(), text(), nothing())
    assert_type(a, int)
    assert_type(b, str)
    assert_type(c, None)
    six = yield from tinyio.gather(number(), text(), number(), text(), number(), text())
    assert_type(six, tuple[int, str, int, str, int, str])
    many = yield from tinyio.gather(*[number() for _ in range(10)])
    assert_type(many, tuple[int, ...])
    first, second = yield from tinyio.gather(number(), text())
    second.upper()
    first.upper()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


def loops_and_clocks() -> None:
    loop = tinyio.Loop(clock=VirtualClock())
    assert_type(loop.time(), float)
    assert_type(loop.run(number()), int)
    assert_type(tinyio.Loop().run(gathering()), None)
    tinyio.Loop(clock=42)  # pyright: ignore[reportArgumentType]
