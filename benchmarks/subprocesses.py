"""Subprocesses side by side: `tinyio.run_process` against asyncio's `create_subprocess_exec`
(+ `communicate()`) and trio's `run_process`, one child after another, in interleaved rounds.

    python benchmarks/subprocesses.py            # 1,000 runs of each workload
    python benchmarks/subprocesses.py --runs 50  # quicker
    python benchmarks/subprocesses.py --rounds 10  # the runs in 10 rounds, not 5

Two workloads: `true` (the cost of starting, watching and reaping a child) and a child that
writes 1 MiB to its captured stdout (the cost of draining a pipe). Printed: milliseconds per
run for each library, and asyncio's and trio's time as a ratio to tinyio's (above 1: tinyio is
ahead). Other load on the machine shows in every number; read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import tinyio

ECHO_1_MIB = [sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'x' * (1 << 20))"]
WORKLOADS = {"true": (["true"], False), "echo 1 MiB": (ECHO_1_MIB, True)}


def time_tinyio(command: list[str], capture: bool, runs: int) -> float:
    def main():
        for _ in range(runs):
            yield tinyio.run_process(command, capture_stdout=capture)

    start = time.perf_counter()
    tinyio.Loop().run(main())
    return time.perf_counter() - start


def time_asyncio(command: list[str], capture: bool, runs: int) -> float:
    async def main() -> None:
        for _ in range(runs):
            proc = await asyncio.create_subprocess_exec(
                *command, stdout=subprocess.PIPE if capture else None
            )
            await proc.communicate()

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def time_trio(command: list[str], capture: bool, runs: int) -> float:
    import trio

    async def main() -> None:
        for _ in range(runs):
            await trio.run_process(command, capture_stdout=capture)

    start = time.perf_counter()
    trio.run(main)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=1000, help="runs of each workload, each library"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds the runs are split into"
    )
    args = parser.parse_args()
    runs: int = args.runs
    rounds = max(1, min(args.rounds, runs))
    libraries: dict[str, Callable[[list[str], bool, int], float]] = {
        "tinyio": time_tinyio,
        "asyncio": time_asyncio,
        "trio": time_trio,
    }
    for name, (command, capture) in WORKLOADS.items():
        # Round by round, each library in turn (the order rotating): a load that comes and
        # goes on the machine falls on every library alike, not on whichever ran then.
        took = dict.fromkeys(libraries, 0.0)
        order = list(libraries)
        for index in range(rounds):
            share = runs // rounds + (index < runs % rounds)
            for lib in order:
                took[lib] += libraries[lib](command, capture, share)
            order = order[1:] + order[:1]
        cells = [f"{lib} {took[lib] / runs * 1e3:.2f} ms" for lib in libraries]
        ratios = [f"{lib} {took[lib] / took['tinyio']:.2f}x" for lib in ("asyncio", "trio")]
        print(f"{name}: {', '.join(cells)}; ratio to tinyio: {', '.join(ratios)}")


if __name__ == "__main__":
    main()
