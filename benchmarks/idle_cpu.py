"""CPU time used by the host loop while tinyio, run inside it, only waits.

`to_asyncio` / `to_trio` must not spin: while the tinyio side waits on a timer or a thread, the
host loop should be idle. This prints the process CPU time spent over a wait of WAIT seconds
(a `tinyio.sleep`, and a `tinyio.run_in_thread` of a sleeping function), for each host.

    python benchmarks/idle_cpu.py            # WAIT = 0.5 s
    python benchmarks/idle_cpu.py --smoke    # WAIT = 0.05 s
"""

from __future__ import annotations

import asyncio
import sys
import time

import tinyio


def _sleeping(seconds: float) -> tinyio.Coro[None]:
    yield tinyio.sleep(seconds)


def _threaded(seconds: float) -> tinyio.Coro[None]:
    yield tinyio.run_in_thread(time.sleep, seconds)


def _measure(host: str, make: object, seconds: float) -> tuple[float, float]:
    assert callable(make)
    start_cpu, start_wall = time.process_time(), time.monotonic()
    if host == "asyncio":
        asyncio.run(tinyio.to_asyncio(make(seconds)))
    else:
        import trio

        async def main() -> None:
            await tinyio.to_trio(make(seconds))

        trio.run(main)
    return time.process_time() - start_cpu, time.monotonic() - start_wall


def main() -> None:
    import trio  # imported before measuring: its import is not idle time

    del trio
    seconds = 0.05 if "--smoke" in sys.argv else 0.5
    print("| host | tinyio waits on | wall | CPU time | CPU / wall |")
    print("| --- | --- | --- | --- | --- |")
    for host in ("asyncio", "trio"):
        for label, make in (("a timer (sleep)", _sleeping), ("a thread", _threaded)):
            cpu, wall = _measure(host, make, seconds)
            print(
                f"| {host} | {label} | {wall * 1000:.0f} ms | {cpu * 1000:.1f} ms | {cpu / wall:.1%} |"
            )


if __name__ == "__main__":
    main()
