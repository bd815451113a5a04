"""The workloads written for tinyio.

Used for both tinyio columns: this repository's and the published release. The two share the
API exercised here (``Loop().run``, bare ``yield``, ``yield coro``, ``yield [coros]``,
``tinyio.sleep``, ``tinyio.Event``); the runner decides which ``tinyio`` gets imported.
Each function runs the workload once on a fresh loop and returns the answer to be checked.
"""

from __future__ import annotations

import contextvars
from typing import Any

import tinyio


def _leaf(i: int) -> tinyio.Coro[int]:
    yield
    return i


def _yield_n_times(n: int) -> tinyio.Coro[int]:
    count = 0
    for _ in range(n):
        yield
        count += 1
    return count


def switch(n: int) -> int:
    return tinyio.Loop().run(_yield_n_times(n))


def gather(n: int) -> list[int]:
    def main() -> tinyio.Coro[list[int]]:
        return (yield [_leaf(i) for i in range(n)])

    return tinyio.Loop().run(main())


def chain(n: int) -> int:
    def main() -> tinyio.Coro[int]:
        total = 0
        for i in range(n):
            total += yield _leaf(i)
        return total

    return tinyio.Loop().run(main())


def sleepers(n: int) -> list[int]:
    def sleeper(i: int) -> tinyio.Coro[int]:
        yield tinyio.sleep((i % 100) / 1000)
        return i

    def main() -> tinyio.Coro[list[int]]:
        return (yield [sleeper(i) for i in range(n)])

    return tinyio.Loop().run(main())


def event(n: int) -> list[int]:
    flag = tinyio.Event()
    waiting = 0

    def waiter(i: int) -> tinyio.Coro[int]:
        nonlocal waiting
        waiting += 1
        yield flag.wait()
        return i

    def setter() -> tinyio.Coro[None]:
        while waiting < n:
            yield
        yield  # let the last waiter's `wait()` take its first step
        flag.set()

    def main() -> tinyio.Coro[list[Any]]:
        results = yield [*(waiter(i) for i in range(n)), setter()]
        return results[:n]

    return tinyio.Loop().run(main())


def lock(n: int) -> int:
    mutex = tinyio.Lock()
    holders = 0

    def worker() -> tinyio.Coro[int]:
        nonlocal holders
        for _ in range(10):
            with (yield mutex()):
                holders += 1
                assert holders == 1
                yield
                holders -= 1
        return 1

    def main() -> tinyio.Coro[int]:
        return sum((yield [worker() for _ in range(n)]))

    return tinyio.Loop().run(main())


def _as_completed(n: int, most_steps: int) -> list[int]:
    def job(i: int) -> tinyio.Coro[int]:
        for _ in range(i % most_steps):
            yield
        return i

    def main() -> tinyio.Coro[list[int]]:
        results: list[int] = []
        for next_done in (yield tinyio.as_completed({job(i) for i in range(n)})):
            results.append((yield next_done))
        return sorted(results)

    return tinyio.Loop().run(main())


def as_completed(n: int) -> list[int]:
    return _as_completed(n, 10)


def as_completed_short(n: int) -> list[int]:
    return _as_completed(n, 5)


if hasattr(tinyio, "Queue"):  # not in the published release

    def queue(n: int) -> int:
        channel: Any = tinyio.Queue(maxsize=100)  # pyright: ignore[reportAttributeAccessIssue]

        def producer() -> tinyio.Coro[None]:
            for i in range(n):
                yield channel.put(i)

        def consumer() -> tinyio.Coro[int]:
            total = 0
            for _ in range(n):
                total += yield channel.get()
            return total

        def main() -> tinyio.Coro[int]:
            _, total = yield [producer(), consumer()]
            return total

        return tinyio.Loop().run(main())

    def queue_inline(n: int) -> int:
        channel: Any = tinyio.Queue(maxsize=100)  # pyright: ignore[reportAttributeAccessIssue]

        def producer() -> tinyio.Coro[None]:
            for i in range(n):
                yield from channel.put(i)

        def consumer() -> tinyio.Coro[int]:
            total = 0
            for _ in range(n):
                total += yield from channel.get()
            return total

        def main() -> tinyio.Coro[int]:
            _, total = yield [producer(), consumer()]
            return total

        return tinyio.Loop().run(main())


if hasattr(tinyio, "settle"):  # not in the published release

    def settle(n: int) -> tuple[int, int]:
        def job(i: int) -> tinyio.Coro[int]:
            yield
            if i % 10 == 0:
                raise ValueError(i)
            return i

        def main() -> tinyio.Coro[tuple[int, int]]:
            outcomes = yield tinyio.settle([job(i) for i in range(n)])  # pyright: ignore[reportAttributeAccessIssue]
            total = errors = 0
            for value, ok in outcomes:
                if ok:
                    total += value
                else:
                    errors += 1
            return total, errors

        return tinyio.Loop().run(main())

    def isolate(n: int) -> tuple[int, int]:
        def job(i: int) -> tinyio.Coro[int]:
            yield
            if i % 10 == 0:
                raise ValueError(i)
            return i

        def main() -> tinyio.Coro[tuple[int, int]]:
            outcomes = yield [tinyio.isolate(job(i)) for i in range(n)]
            total = errors = 0
            for value, ok in outcomes:
                if ok:
                    total += value
                else:
                    errors += 1
            return total, errors

        return tinyio.Loop().run(main())


_CURRENT: contextvars.ContextVar[int] = contextvars.ContextVar("current")

# The published release runs every coroutine in one context: each would read the last value.
if hasattr(tinyio, "settle"):  # a marker of this repository's tinyio

    def contextvar(n: int) -> list[int]:
        def job(i: int) -> tinyio.Coro[int]:
            _CURRENT.set(i)
            yield
            return _CURRENT.get()

        def main() -> tinyio.Coro[list[int]]:
            return (yield [job(i) for i in range(n)])

        return tinyio.Loop().run(main())


def _identity(i: int) -> int:
    return i


def threads(n: int) -> list[int]:
    def main() -> tinyio.Coro[list[int]]:
        return (yield [tinyio.run_in_thread(_identity, i) for i in range(n)])

    return tinyio.Loop().run(main())


def thread_pool(n: int) -> list[int]:
    pool = tinyio.ThreadPool(16)

    def main() -> tinyio.Coro[list[int]]:
        return (yield pool.map(_identity, range(n)))

    return tinyio.Loop().run(main())


def bridge(n: int) -> int:
    import asyncio

    return asyncio.run(tinyio.to_asyncio(_yield_n_times(n)))
