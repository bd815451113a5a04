"""What the benchmark suite measures, and with what.

Two registries, both plain data so that the runner can read them without importing any event
loop:

- ``WORKLOADS``: workload name -> `Workload` (its size, how to check its answer).
- ``FRAMEWORKS``: framework name -> `Framework` (the module holding its implementations).

An implementation module (``impl_tinyio``, ``impl_asyncio``, ...) provides, for each workload it
supports, a module-level function named like the workload: ``def gather(n: int) -> object``.
It runs the workload once from scratch (creating its own event loop) and returns the answer,
which `Workload.check` verifies outside the timed region. A framework that has no function for
a workload shows "n/a" in that cell.

To add a workload: add a `Workload` below, then a function of that name to each ``impl_*``
module that can express it. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _expect_range(n: int, result: object) -> str | None:
    """Check that the answer is the list ``[0, 1, ..., n - 1]`` (results in order)."""
    if not isinstance(result, list):
        return f"expected a list of {n} results, got {type(result).__name__}"
    if result != list(range(n)):
        return f"expected the results [0, ..., {n - 1}] in order, got {_summary(result)}"
    return None


def _expect_sum(n: int, result: object) -> str | None:
    """Check that the answer is ``0 + 1 + ... + (n - 1)``."""
    expected = n * (n - 1) // 2
    if result != expected:
        return f"expected the sum {expected}, got {_summary(result)}"
    return None


def _expect_count(n: int, result: object) -> str | None:
    """Check that the answer is ``n`` (for example, the number of switches done)."""
    if result != n:
        return f"expected {n}, got {_summary(result)}"
    return None


def _expect_settled(n: int, result: object) -> str | None:
    """Check that the answer is ``(sum of the results, number of errors)`` for N coroutines of
    which every tenth (index 0, 10, 20, ...) raised."""
    expected = (sum(i for i in range(n) if i % 10), len(range(0, n, 10)))
    if result != expected:
        return f"expected (sum of results, errors) = {expected}, got {_summary(result)}"
    return None


def _summary(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    size: int
    """N for a full run; the runner also runs 4N to measure growth."""
    smoke_size: int
    """N for ``--smoke`` (CI): tiny, only to prove that every implementation runs and is right."""
    check: Callable[[int, object], str | None]
    """Given N and the answer, return None if right or a message saying what is wrong."""
    wall_floor: Callable[[int], float] | None = None
    """Given N, the seconds the workload must take whatever the loop (sleepers: the longest
    sleep). If set, the report adds a row with the time minus this floor: the loop's overhead."""


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload(
            "switch",
            "one coroutine yielding to the loop N times (bare `yield` / `sleep(0)`)",
            size=100_000,
            smoke_size=1_000,
            check=_expect_count,
        ),
        Workload(
            "gather",
            "gather N tiny coroutines, each returning its index after one yield",
            size=20_000,
            smoke_size=200,
            check=_expect_range,
        ),
        Workload(
            "chain",
            "one parent awaiting N tiny coroutines one after another, summing their results",
            size=20_000,
            smoke_size=200,
            check=_expect_sum,
        ),
        Workload(
            "sleepers",
            "gather N coroutines, the i-th sleeping (i % 100) ms",
            size=5_000,
            smoke_size=50,
            check=_expect_range,
            wall_floor=lambda n: min(n - 1, 99) / 1000,
        ),
        Workload(
            "event",
            "N coroutines waiting on one Event, set once when all are waiting",
            size=20_000,
            smoke_size=200,
            check=_expect_range,
        ),
        Workload(
            "lock",
            "N coroutines each acquiring one Lock 10 times (a step inside each hold)",
            size=2_000,
            smoke_size=20,
            check=_expect_count,
        ),
        Workload(
            "as_completed",
            "N coroutines (the i-th taking i % 10 steps), results taken as they complete",
            size=5_000,
            smoke_size=50,
            check=_expect_range,
        ),
        Workload(
            "as_completed_short",
            "as as_completed, the i-th taking i % 5 steps: shorter jobs, so more of the time is "
            "as_completed's own",
            size=5_000,
            smoke_size=50,
            check=_expect_range,
        ),
        Workload(
            "queue",
            "a producer and a consumer moving N items through a bounded queue of 100",
            size=100_000,
            smoke_size=1_000,
            check=_expect_sum,
        ),
        Workload(
            "queue_inline",
            "as queue, with tinyio's `yield from q.put(x)` / `yield from q.get()` (inline, like "
            "`await`; the other frameworks run their queue code, which already awaits inline)",
            size=100_000,
            smoke_size=1_000,
            check=_expect_sum,
        ),
        Workload(
            "contextvar",
            "gather N coroutines, each setting a ContextVar to its index, yielding once, and "
            "reading it back (each sees its own: one context per coroutine)",
            size=20_000,
            smoke_size=200,
            check=_expect_range,
        ),
        Workload(
            "settle",
            "N coroutines taking one step, every tenth raising ValueError, each result or error "
            "collected (tinyio.settle; asyncio's gather(..., return_exceptions=True))",
            size=10_000,
            smoke_size=100,
            check=_expect_settled,
        ),
        Workload(
            "isolate",
            "as settle, each coroutine in a `tinyio.isolate` of its own (a nested loop: a failure "
            "cancels only what is inside); asyncio: the same code as for settle",
            size=10_000,
            smoke_size=100,
            check=_expect_settled,
        ),
        Workload(
            "threads",
            "N trivial calls in worker threads, all started at once",
            size=2_000,
            smoke_size=20,
            check=_expect_range,
        ),
        Workload(
            "thread_pool",
            "N trivial calls through a pool of at most 16 threads",
            size=2_000,
            smoke_size=20,
            check=_expect_range,
        ),
        Workload(
            "bridge",
            "tinyio inside asyncio: a tinyio coroutine yielding N times, run with to_asyncio",
            size=10_000,
            smoke_size=100,
            check=_expect_count,
        ),
    ]
}


@dataclass(frozen=True)
class Framework:
    name: str
    label: str
    """Column heading in the report."""
    module: str
    """The ``impl_*`` module (in benchmarks/) holding this framework's workload functions."""
    needs: str | None
    """Top-level module that must be importable for this framework to run (None: always)."""
    on_request: bool = False
    """Run only when asked for (``tree``: another checkout's tinyio, ``run.py --tree DIR``)."""


FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in [
        Framework("ours", "tinyio (this repo)", "impl_tinyio", "tinyio"),
        Framework("published", "tinyio 0.4.0", "impl_tinyio", "tinyio"),
        Framework("tree", "tinyio (--tree)", "impl_tinyio", "tinyio", on_request=True),
        Framework("asyncio", "asyncio", "impl_asyncio", None),
        Framework("uvloop", "uvloop", "impl_asyncio", "uvloop"),
        Framework("trio", "trio", "impl_trio", "trio"),
        Framework("floor", "floor", "impl_floor", None),
    ]
}

BASELINE = "asyncio"
"""The framework every time is compared with (the ratio in brackets in each cell)."""

PUBLISHED_VERSION = "0.4.0"
"""The published tinyio release the ``published`` column installs and measures."""
