"""The workloads written for trio.

trio has no gather: a nursery starts the children and each stores its result in a list.
Each function runs the workload once in a fresh ``trio.run`` and returns the answer to check.
"""

from __future__ import annotations

import trio


async def _leaf(i: int) -> int:
    await trio.sleep(0)
    return i


def switch(n: int) -> int:
    async def main() -> int:
        count = 0
        for _ in range(n):
            await trio.sleep(0)
            count += 1
        return count

    return trio.run(main)


def gather(n: int) -> list[int]:
    async def main() -> list[int]:
        results = [-1] * n

        async def child(i: int) -> None:
            results[i] = await _leaf(i)

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(child, i)
        return results

    return trio.run(main)


def chain(n: int) -> int:
    async def main() -> int:
        total = 0
        for i in range(n):
            total += await _leaf(i)
        return total

    return trio.run(main)


def sleepers(n: int) -> list[int]:
    async def main() -> list[int]:
        results = [-1] * n

        async def sleeper(i: int) -> None:
            await trio.sleep((i % 100) / 1000)
            results[i] = i

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(sleeper, i)
        return results

    return trio.run(main)


def event(n: int) -> list[int]:
    async def main() -> list[int]:
        flag = trio.Event()
        results = [-1] * n
        waiting = 0

        async def waiter(i: int) -> None:
            nonlocal waiting
            waiting += 1
            await flag.wait()
            results[i] = i

        async def setter() -> None:
            while waiting < n:
                await trio.sleep(0)
            await trio.sleep(0)  # the same extra step as the tinyio version
            flag.set()

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(waiter, i)
            nursery.start_soon(setter)
        return results

    return trio.run(main)


def lock(n: int) -> int:
    async def main() -> int:
        mutex = trio.Lock()
        holders = 0
        finished = 0

        async def worker() -> None:
            nonlocal holders, finished
            for _ in range(10):
                async with mutex:
                    holders += 1
                    assert holders == 1
                    await trio.sleep(0)
                    holders -= 1
            finished += 1

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(worker)
        return finished

    return trio.run(main)


def queue(n: int) -> int:
    async def main() -> int:
        send, receive = trio.open_memory_channel[int](100)
        total = 0

        async def producer() -> None:
            async with send:
                for i in range(n):
                    await send.send(i)

        async def consumer() -> None:
            nonlocal total
            async with receive:
                async for item in receive:
                    total += item

        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            nursery.start_soon(consumer)
        return total

    return trio.run(main)


# Awaiting a put or a get already runs it inline: the same code serves both queue workloads.
queue_inline = queue


def _identity(i: int) -> int:
    return i


def _to_threads(n: int, limiter_size: int | None) -> list[int]:
    async def main() -> list[int]:
        results = [-1] * n
        limiter = trio.CapacityLimiter(limiter_size or n)

        async def call(i: int) -> None:
            results[i] = await trio.to_thread.run_sync(_identity, i, limiter=limiter)

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(call, i)
        return results

    return trio.run(main)


def threads(n: int) -> list[int]:
    return _to_threads(n, None)


def thread_pool(n: int) -> list[int]:
    return _to_threads(n, 16)
