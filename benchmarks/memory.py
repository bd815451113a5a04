"""Memory per waiting coroutine: tinyio next to asyncio, uvloop and trio.

    python benchmarks/memory.py            # N = 100,000 waiting coroutines
    python benchmarks/memory.py -n 20000   # another N
    python benchmarks/memory.py --smoke    # N = 2,000: checks that it runs (CI), in seconds

For each framework and each way of waiting -- on an Event, or asleep on a timer -- a fresh
subprocess starts N coroutines that all wait, and measures, at the moment all of them are
waiting, how much memory they take, divided by N:

- "Python heap": bytes allocated by Python objects (tracemalloc), in one run; and "peak",
  the most the heap held at any moment until then (starting N coroutines may need more
  than keeping them waiting: the list of them, a framework's queue of tasks to start);
- "RSS": growth of the process's resident memory, in a second run without tracemalloc (this
  includes the allocator's overhead and fragmentation, so it is what the machine pays).

A waiting coroutine counts everything its framework needs for it: for tinyio the generator,
the loop's record of it and the small coroutine it waits in (`event.wait()` or `sleep`); for
asyncio the coroutine and its Task; for trio the coroutine and its task in a nursery. The
program that starts them (a list of N coroutines, or N tasks) is counted too, as each framework
needs one. Results are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FRAMEWORKS = ["tinyio", "asyncio", "uvloop", "trio"]
WAITS = ["event", "sleep"]

# Run in the child. `measure()` is called when all N coroutines are waiting, and returns what
# the child reports; `baseline()` before any of them exists.
CHILD = r"""
import gc, json, sys, time, tracemalloc

framework, wait, n, use_tracemalloc = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"


def rss_bytes():
    with open("/proc/self/statm") as statm:
        import os
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def baseline():
    gc.collect()
    if use_tracemalloc:
        tracemalloc.start()
        return tracemalloc.get_traced_memory()[0]
    return rss_bytes()


def measure(start):
    if use_tracemalloc:
        now, peak = tracemalloc.get_traced_memory()
        result["peak"] = (peak - start) / n
    else:
        now = rss_bytes()
    return (now - start) / n


result = {}

if framework == "tinyio":
    import tinyio

    event = tinyio.Event()

    class Done(Exception):
        pass

    def waiter():
        if wait == "event":
            yield event.wait()
        else:
            yield tinyio.sleep(3600)

    def probe(start):
        yield  # FIFO: every waiter has taken its first step, and now waits
        yield  # ...and the coroutine each one waits in has taken its first step too
        result["bytes"] = measure(start)
        if wait == "event":
            event.set()
        else:
            raise Done  # cancels the sleepers

    def main(start):
        yield [*[waiter() for _ in range(n)], probe(start)]

    start = baseline()
    try:
        tinyio.Loop().run(main(start))
    except Done:
        pass

elif framework in ("asyncio", "uvloop"):
    import asyncio

    async def main(start):
        event = asyncio.Event()

        async def waiter():
            if wait == "event":
                await event.wait()
            else:
                await asyncio.sleep(3600)

        tasks = [asyncio.create_task(waiter()) for _ in range(n)]
        await asyncio.sleep(0)  # every task has started, and now waits
        result["bytes"] = measure(start)
        event.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    start = baseline()
    if framework == "uvloop":
        import uvloop

        uvloop.run(main(start))
    else:
        asyncio.run(main(start))

elif framework == "trio":
    import trio
    import trio.testing

    async def main(start):
        event = trio.Event()

        async def waiter():
            if wait == "event":
                await event.wait()
            else:
                await trio.sleep(3600)

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            result["bytes"] = measure(start)
            nursery.cancel_scope.cancel()

    start = baseline()
    trio.run(main, start)

print(json.dumps(result))
"""


def measure(framework: str, wait: str, n: int, use_tracemalloc: bool) -> dict[str, float] | None:
    """What one child reports: bytes per coroutine ("bytes", and with tracemalloc "peak")."""
    process = subprocess.run(
        [sys.executable, "-c", CHILD, framework, wait, str(n), "1" if use_tracemalloc else "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if process.returncode != 0:
        message = process.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"  {framework}/{wait}: failed: {message[0]}", file=sys.stderr)
        return None
    return json.loads(process.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000, help="waiting coroutines (100,000)")
    parser.add_argument("--smoke", action="store_true", help="N = 2,000: just check it runs")
    args = parser.parse_args()
    n = 2_000 if args.smoke else args.n

    rows: list[tuple[str, str, dict[str, float] | None, dict[str, float] | None]] = []
    for wait in WAITS:
        for framework in FRAMEWORKS:
            heap = measure(framework, wait, n, use_tracemalloc=True)
            rss = measure(framework, wait, n, use_tracemalloc=False)
            rows.append((wait, framework, heap, rss))
            print(f"  measured {framework} waiting on {wait}", file=sys.stderr)

    asyncio_heap = {wait: heap for wait, framework, heap, _ in rows if framework == "asyncio"}
    print(f"Memory per waiting coroutine, {n:,} coroutines waiting at once")
    print(f"(Python {sys.version.split()[0]}; bytes per coroutine)\n")
    print("| waiting on | framework | Python heap | heap vs asyncio | heap peak | RSS |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for wait, framework, heap, rss in rows:
        reference = asyncio_heap.get(wait)
        ratio = "n/a"
        if heap is not None and reference is not None:
            ratio = f"{heap['bytes'] / reference['bytes']:.2f}x"
        shown_heap = f"{heap['bytes']:,.0f}" if heap is not None else "failed"
        shown_peak = f"{heap['peak']:,.0f}" if heap is not None else "failed"
        shown_rss = f"{rss['bytes']:,.0f}" if rss is not None else "failed"
        label = "an Event" if wait == "event" else "a timer (sleep)"
        print(f"| {label} | {framework} | {shown_heap} | {ratio} | {shown_peak} | {shown_rss} |")
    # The other frameworks are optional (uvloop is not everywhere); tinyio itself must work.
    if any(framework == "tinyio" and None in (heap, rss) for _, framework, heap, rss in rows):
        sys.exit("measuring tinyio failed")


if __name__ == "__main__":
    main()
