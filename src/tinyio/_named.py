"""Display names: `tinyio.named(coro, "fetch user 42")` names a coroutine in what tinyio says.

A coroutine is a generator, and a generator's `__qualname__` is its own (it starts as its
function's): setting it is how a name is given, with nothing kept aside and nothing on the hot
path. The loop's reports (`Loop.snapshot`, the report after Ctrl-C) and its warnings and
messages read it; Python's own tracebacks keep showing the function, as they show code.
"""

from __future__ import annotations

import types
from typing import TypeVar

from ._core import Coro

__all__ = ["named"]

_T = TypeVar("_T")


def named(coro: Coro[_T], name: str) -> Coro[_T]:
    """Give `coro` a display name, for the loop's reports and messages: `yield tinyio.named(
    fetch(42), "fetch user 42")`.

    ```python
    import tinyio

    def fetch(user):
        yield tinyio.sleep(0.01)

    def main():
        yield {tinyio.named(fetch(42), "fetch user 42")}
        yield
        print([node["name"] for node in loop.snapshot()])  # main's tree, then fetch's

    loop = tinyio.Loop()
    loop.run(main())
    # ['main', 'fetch user 42']
    ```

    Arguments:
        coro: the coroutine (a generator), started or not.
        name: what to call it: any non-empty string.

    Returns:
        `coro` itself, named: yield it, or pass it on, as you would have.

    Raises:
        TypeError: `coro` is not a generator, or `name` not a string (at the call).
        ValueError: `name` is empty or only blanks.
    """
    if not isinstance(coro, types.GeneratorType):
        raise TypeError(f"named needs a coroutine (a generator), got {coro!r}.")
    if not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"named needs a name that is a string, got {name!r}.")
    if not name.strip():
        raise ValueError(f"named needs a name that is not blank, got {name!r}.")
    coro.__qualname__ = name
    return coro
