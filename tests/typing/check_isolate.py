"""Type checks of `tinyio.isolate`, run by pyright in strict mode: `pyright tests/typing`.

What it gives back on failure is typed as what it can be -- it catches `Exception`s only, so
never a bare `BaseException` -- narrowed by `exception_group`. (tests/test_isolate.py checks
that the values at run time are of these types.)
"""

# pyright: strict, reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from typing import Literal, assert_type

import tinyio


def number() -> tinyio.Coro[int]:
    yield
    return 1


def isolating(flag: bool) -> tinyio.Coro[None]:
    outcome = yield from tinyio.wait(tinyio.isolate(number()))
    assert_type(
        outcome,
        tuple[int, Literal[True]]
        | tuple[Exception | BaseExceptionGroup[BaseException], Literal[False]],
    )
    # The flag tells the two apart (narrowed by `match`; plain unpacking loses the link).
    match outcome:
        case (value, True):
            assert_type(value, int)
        case (error, False):
            # Not a bare `BaseException`, as the old annotation claimed: isolate never gives one.
            assert_type(error, Exception | BaseExceptionGroup[BaseException])

    alone = yield from tinyio.wait(tinyio.isolate(number(), exception_group=False))
    assert_type(alone, tuple[int, Literal[True]] | tuple[Exception, Literal[False]])
    match alone:
        case (error, False):
            assert_type(error, Exception)
            print(error.exceptions)  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownArgumentType]
        case _:
            pass

    grouped = yield from tinyio.wait(tinyio.isolate(number(), exception_group=True))
    assert_type(
        grouped,
        tuple[int, Literal[True]] | tuple[BaseExceptionGroup[BaseException], Literal[False]],
    )

    either = yield from tinyio.wait(tinyio.isolate(number(), flag))
    assert_type(
        either,
        tuple[int, Literal[True]]
        | tuple[Exception | BaseExceptionGroup[BaseException], Literal[False]],
    )
