"""Errors through the bridges read like the user's call stack, and the wrong bridge says which
one to use (issue 21, from a new-user trial).

Out of `to_asyncio`/`to_trio`, an error of the tinyio coroutines shows the `await` and then
their frames, as out of `Loop.run`: not the bridge's `to_asyncio` and `_drive`. Out of
`from_asyncio`/`from_trio`, an error of the async code shows the user's `yield` and then the
async code's frames: not the host loop's `run` machinery nor the bridge's `main`, which read as
if the user had called them. Asyncio code given to `from_trio`, or trio code to `from_asyncio`,
fails with a TypeError naming the bridge to use, not the host loop's bare complaint.
"""

import asyncio
import os

import pytest

import tinyio

trio = pytest.importorskip("trio")

TINYIO = os.path.dirname(tinyio.__file__) + os.sep


class Boom(Exception):
    pass


def failing_tinyio():
    yield tinyio.sleep(0)
    raise Boom("in tinyio")


def tinyio_main():
    yield from failing_tinyio()


def frames(info):
    """The (file, function) of each entry of the traceback that pytest caught."""
    return [(str(entry.path), entry.name) for entry in info.traceback]


def tinyio_frames(info):
    return [(path, name) for path, name in frames(info) if path.startswith(TINYIO)]


def test_an_error_out_of_to_asyncio_shows_no_frame_of_the_bridge():
    async def host():
        await tinyio.to_asyncio(tinyio_main())

    with pytest.raises(Boom) as info:
        asyncio.run(host())
    assert tinyio_frames(info) == []
    names = [name for path, name in frames(info) if path == __file__]
    assert names[-3:] == ["host", "tinyio_main", "failing_tinyio"]


def test_an_error_out_of_to_trio_shows_no_frame_of_the_bridge():
    async def host():
        await tinyio.to_trio(tinyio_main())

    with pytest.raises(Boom) as info:
        trio.run(host)
    assert tinyio_frames(info) == []
    names = [name for path, name in frames(info) if path == __file__]
    assert names[-3:] == ["host", "tinyio_main", "failing_tinyio"]


async def failing_asyncio():
    await asyncio.sleep(0)
    raise Boom("in asyncio")


async def failing_trio():
    await trio.sleep(0)
    raise Boom("in trio")


@pytest.mark.parametrize(
    "call",
    [
        lambda: tinyio.from_asyncio(failing_asyncio()),
        lambda: tinyio.from_trio(failing_trio()),
        lambda: tinyio.from_trio(failing_trio),
    ],
    ids=["from_asyncio", "from_trio-coroutine", "from_trio-function"],
)
def test_an_error_of_the_async_code_shows_the_yield_then_the_async_code(call):
    def main():
        yield call()

    with pytest.raises(Boom) as info:
        tinyio.Loop().run(main())
    # Only this file's frames: no tinyio frame, none of asyncio's or trio's `run`.
    names = [name for _, name in frames(info)]
    assert {path for path, _ in frames(info)} == {__file__}, frames(info)
    assert names[-2] == "main"
    assert names[-1] in ("failing_asyncio", "failing_trio")


async def uses_asyncio():
    await asyncio.sleep(0)


async def uses_trio():
    await trio.sleep(0)


@pytest.mark.parametrize(
    ("call", "label", "cause"),
    [
        (lambda: tinyio.from_trio(uses_asyncio()), "uses_asyncio()", TypeError),
        (lambda: tinyio.from_trio(uses_asyncio), "uses_asyncio()", TypeError),
        (lambda: tinyio.from_trio(asyncio.sleep(0)), "sleep()", TypeError),
    ],
    ids=["coroutine", "function", "asyncio.sleep"],
)
def test_asyncio_code_given_to_from_trio_says_to_use_from_asyncio(call, label, cause):
    def main():
        yield call()

    with pytest.raises(TypeError, match="from_trio runs trio code") as info:
        tinyio.Loop().run(main())
    message = str(info.value)
    assert f"but {label} awaited something that is not trio's" in message
    assert "tinyio.from_asyncio(...)" in message
    assert isinstance(info.value.__cause__, cause)  # trio's own complaint, with its frames
    assert {path for path, _ in frames(info)} == {__file__}, frames(info)


@pytest.mark.parametrize(
    ("call", "label"),
    [
        (lambda: tinyio.from_asyncio(uses_trio()), "uses_trio()"),
        (lambda: tinyio.from_asyncio(trio.sleep(0)), "sleep()"),
    ],
    ids=["coroutine", "trio.sleep"],
)
def test_trio_code_given_to_from_asyncio_says_to_use_from_trio(call, label):
    def main():
        yield call()

    with pytest.raises(TypeError, match="from_asyncio runs asyncio code") as info:
        tinyio.Loop().run(main())
    message = str(info.value)
    assert f"but {label} awaited something that is not asyncio's" in message
    assert "That is trio code: run it with `tinyio.from_trio(...)`" in message
    assert isinstance(info.value.__cause__, RuntimeError)  # asyncio's own complaint
    assert {path for path, _ in frames(info)} == {__file__}, frames(info)


def test_other_foreign_awaits_under_from_asyncio_still_name_the_bridges():
    class Odd:
        def __await__(self):
            yield 42

    async def uses_odd():
        await Odd()

    def main():
        yield tinyio.from_asyncio(uses_odd())

    with pytest.raises(TypeError, match="asyncio was handed 42\\.") as info:
        tinyio.Loop().run(main())
    assert "Run trio code with `tinyio.from_trio(...)`" in str(info.value)


@pytest.mark.parametrize(
    ("bridge", "error_type"),
    [(tinyio.from_trio, TypeError), (tinyio.from_asyncio, RuntimeError)],
    ids=["from_trio", "from_asyncio"],
)
def test_async_code_raising_an_error_of_the_same_type_itself_is_left_alone(bridge, error_type):
    # The TypeError trio raises for a foreign yield, the RuntimeError asyncio raises: the same
    # types, raised by the user's code, go on as they are.
    async def raises_alike():
        raise error_type("something else entirely")

    def main():
        yield bridge(raises_alike())

    with pytest.raises(error_type, match=r"^something else entirely$"):
        tinyio.Loop().run(main())
