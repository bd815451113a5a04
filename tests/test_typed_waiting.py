"""`tinyio.wait` and `tinyio.gather`: typed forms of `yield coro` and `yield [coros]` that behave
exactly like them (the types themselves are checked by pyright, in tests/typing/)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest

import tinyio


def _value(x: int) -> tinyio.Coro[int]:
    yield
    return x


def _interleaving(waiter: Callable[[tinyio.Coro[int]], tinyio.Coro[int]]) -> list[str]:
    """The order of steps of a coroutine that waits three times (with `waiter`) among others
    that only yield: a change in the number of turns a wait takes shows here."""
    log: list[str] = []

    def busy(name: str) -> tinyio.Coro[None]:
        for step in range(8):
            log.append(f"{name}{step}")
            yield

    def main() -> tinyio.Coro[None]:
        yield {busy("a")}  # one at a time: the order of a set's members is arbitrary
        yield {busy("b")}
        for step in range(3):
            log.append(f"main got {(yield from waiter(_value(step)))}")

    tinyio.Loop().run(main())
    return log


def _plain_yield(coro: tinyio.Coro[int]) -> tinyio.Coro[int]:
    return (yield coro)


def test_wait_gives_the_result_and_takes_the_same_turns_as_a_plain_yield() -> None:
    assert _interleaving(tinyio.wait) == _interleaving(_plain_yield)
    assert "main got 2" in _interleaving(tinyio.wait)


def test_gather_gives_a_tuple_in_order_and_takes_the_same_turns_as_a_list() -> None:
    def gathered(coro: tinyio.Coro[int]) -> tinyio.Coro[int]:
        first, second = yield from tinyio.gather(coro, _value(100))
        assert second == 100
        return first

    def listed(coro: tinyio.Coro[int]) -> tinyio.Coro[int]:
        first, second = yield [coro, _value(100)]
        assert second == 100
        return first

    assert _interleaving(gathered) == _interleaving(listed)

    def main() -> tinyio.Coro[tuple[int, ...]]:
        return (yield from tinyio.gather(*[_value(i) for i in range(10)]))

    assert tinyio.Loop().run(main()) == tuple(range(10))
    assert tinyio.Loop().run(tinyio.gather()) == ()


def test_a_library_operation_waited_on_with_wait_still_starts_at_once() -> None:
    # A queue item is handed over in the same turn as the get starts: no other coroutine's step
    # comes between `put_nowait` and the getter receiving the item, with `yield` or with `wait`.
    def run(typed: bool) -> list[str]:
        log: list[str] = []
        queue: tinyio.Queue[str] = tinyio.Queue()
        queue.put_nowait("item")

        def other() -> tinyio.Coro[None]:
            for step in range(3):
                log.append(f"other {step}")
                yield

        def getter() -> tinyio.Coro[None]:
            item = (yield from tinyio.wait(queue.get())) if typed else (yield queue.get())
            log.append(f"got {item}")

        def main() -> tinyio.Coro[None]:
            yield [getter(), other()]

        tinyio.Loop().run(main())
        return log

    assert run(typed=True) == run(typed=False)


def test_an_error_raised_through_wait_shows_only_the_users_frames() -> None:
    def failing() -> tinyio.Coro[None]:
        yield
        raise ValueError("broken")

    def main() -> tinyio.Coro[None]:
        yield from tinyio.wait(failing())

    with pytest.raises(ValueError, match="broken") as caught:
        tinyio.Loop().run(main())
    names = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert names[-2:] == ["main", "failing"]
    assert "_wait" not in names


def test_a_timeout_waited_on_with_wait_gives_its_usual_result() -> None:
    def main() -> tinyio.Coro[str]:
        result, ok = yield from tinyio.wait(tinyio.timeout(tinyio.sleep(10), 0.01))
        assert (result, ok) == (None, False)
        return "timed out cleanly"

    assert tinyio.Loop().run(main()) == "timed out cleanly"


@pytest.mark.parametrize("bad", [42, None, _value, [_value(1)]])
def test_wait_and_gather_refuse_what_is_not_a_coroutine(bad: object) -> None:
    def main() -> tinyio.Coro[None]:
        yield from tinyio.wait(bad)  # pyright: ignore[reportArgumentType]

    # At the `yield from`, in the coroutine that made the mistake.
    with pytest.raises(TypeError, match=r"tinyio\.wait needs a coroutine \(a generator\), got"):
        tinyio.Loop().run(main())
    # At the call.
    with pytest.raises(TypeError, match=r"tinyio\.gather needs coroutines \(generators\), got"):
        tinyio.gather(_value(1), bad)  # pyright: ignore[reportArgumentType, reportUnknownVariableType]
