"""The workloads written for asyncio; also run on uvloop's event loop.

`configure` picks the runner: ``asyncio.run`` for the asyncio column, ``uvloop.run`` for uvloop.
Each function runs the workload once on a fresh event loop and returns the answer to check.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

_run: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run


def configure(framework: str) -> None:
    global _run
    if framework == "uvloop":
        import uvloop

        _run = uvloop.run
    else:
        _run = asyncio.run


async def _leaf(i: int) -> int:
    await asyncio.sleep(0)
    return i


def switch(n: int) -> int:
    async def main() -> int:
        count = 0
        for _ in range(n):
            await asyncio.sleep(0)
            count += 1
        return count

    return _run(main())


def gather(n: int) -> list[int]:
    async def main() -> list[int]:
        return await asyncio.gather(*[_leaf(i) for i in range(n)])

    return _run(main())


def chain(n: int) -> int:
    async def main() -> int:
        total = 0
        for i in range(n):
            total += await _leaf(i)
        return total

    return _run(main())


def sleepers(n: int) -> list[int]:
    async def sleeper(i: int) -> int:
        await asyncio.sleep((i % 100) / 1000)
        return i

    async def main() -> list[int]:
        return await asyncio.gather(*[sleeper(i) for i in range(n)])

    return _run(main())


def event(n: int) -> list[int]:
    async def main() -> list[int]:
        flag = asyncio.Event()
        waiting = 0

        async def waiter(i: int) -> int:
            nonlocal waiting
            waiting += 1
            await flag.wait()
            return i

        async def setter() -> None:
            while waiting < n:
                await asyncio.sleep(0)
            await asyncio.sleep(0)  # the same extra step as the tinyio version
            flag.set()

        results = await asyncio.gather(*[waiter(i) for i in range(n)], setter())
        return results[:n]

    return _run(main())


def lock(n: int) -> int:
    async def main() -> int:
        mutex = asyncio.Lock()
        holders = 0

        async def worker() -> int:
            nonlocal holders
            for _ in range(10):
                async with mutex:
                    holders += 1
                    assert holders == 1
                    await asyncio.sleep(0)
                    holders -= 1
            return 1

        return sum(await asyncio.gather(*[worker() for _ in range(n)]))

    return _run(main())


def _as_completed(n: int, most_steps: int) -> list[int]:
    async def job(i: int) -> int:
        for _ in range(i % most_steps):
            await asyncio.sleep(0)
        return i

    async def main() -> list[int]:
        return sorted([await done for done in asyncio.as_completed([job(i) for i in range(n)])])

    return _run(main())


def as_completed(n: int) -> list[int]:
    return _as_completed(n, 10)


def as_completed_short(n: int) -> list[int]:
    return _as_completed(n, 5)


def queue(n: int) -> int:
    async def main() -> int:
        channel: asyncio.Queue[int] = asyncio.Queue(maxsize=100)

        async def producer() -> None:
            for i in range(n):
                await channel.put(i)

        async def consumer() -> int:
            total = 0
            for _ in range(n):
                total += await channel.get()
            return total

        _, total = await asyncio.gather(producer(), consumer())
        return total

    return _run(main())


# Awaiting a put or a get already runs it inline: the same code serves both queue workloads.
queue_inline = queue


_CURRENT: contextvars.ContextVar[int] = contextvars.ContextVar("current")


def contextvar(n: int) -> list[int]:
    async def job(i: int) -> int:
        _CURRENT.set(i)
        await asyncio.sleep(0)
        return _CURRENT.get()

    async def main() -> list[int]:
        return await asyncio.gather(*[job(i) for i in range(n)])

    return _run(main())


def settle(n: int) -> tuple[int, int]:
    async def job(i: int) -> int:
        await asyncio.sleep(0)
        if i % 10 == 0:
            raise ValueError(i)
        return i

    async def main() -> tuple[int, int]:
        outcomes = await asyncio.gather(*[job(i) for i in range(n)], return_exceptions=True)
        total = errors = 0
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                errors += 1
            else:
                total += outcome
        return total, errors

    return _run(main())


def isolate(n: int) -> tuple[int, int]:
    # asyncio has no nested loops: its nearest way to keep one failure from stopping the
    # rest is the same as for `settle`, a task each and gather(..., return_exceptions=True).
    return settle(n)


def _identity(i: int) -> int:
    return i


def threads(n: int) -> list[int]:
    async def main() -> list[int]:
        return await asyncio.gather(*[asyncio.to_thread(_identity, i) for i in range(n)])

    return _run(main())


def thread_pool(n: int) -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=16) as pool:
            return await asyncio.gather(
                *[loop.run_in_executor(pool, _identity, i) for i in range(n)]
            )

    return _run(main())
