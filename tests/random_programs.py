"""Random programs of coroutines, and a simple model of what they compute.

Shared by tests/test_properties.py (programs run as written) and tests/test_faults.py (the same
programs with a fault injected). Not a test module itself.

A program is plain data. It has numbered *nodes*, each a coroutine given as a list of steps;
node 0 is the one passed to `loop.run`. A node refers only to nodes with higher numbers, so
waiting forms a DAG -- with diamonds, since several nodes may wait on the same one. Beside the
nodes, a program has Events (each set by a helper: a coroutine, a `run_in_thread` call, or a
plain thread started before the loop), Semaphores/Locks and Queues (each fed by a helper
producer: a coroutine using `put`, or a plain thread using `put_nowait`). Node 0 starts the
coroutine helpers in the background before its first step.

Steps (tuples):

    ("yield",)                         yield nothing
    ("sleep", ms)                      yield tinyio.sleep(ms / 1000), 0 <= ms <= 5
    ("await", j)                       yield node j
    ("gather", (j, ...))               yield [node j, ...] (possibly empty, possibly repeating)
    ("background", (j, ...))           yield {node j, ...}
    ("wait", e, ms or None)            yield events[e].wait(...)
    ("set", e)                         events[e].set() from the coroutine
    ("hold", s, (inner, ...))          with (yield semaphores[s]()): the inner steps (yield/sleep)
    ("get", q)                         yield queues[q].get()
    ("thread", ms)                     yield tinyio.run_in_thread(work) -- work sleeps ms

This cannot deadlock: a node waits only on nodes later than itself, on events that a helper
sets unconditionally, on a semaphore whose holders only yield and sleep, and on queue items
that helpers put -- exactly as many as the nodes get.

`reference(program)` is the model: the result of every node reachable from node 0, computed
by plain recursion. A node's result is `node_result(i, values)`, where `values` are what its
steps' `yield`s gave (None for steps whose value is not deterministic or not interesting).
"""

from __future__ import annotations

import dataclasses
import pprint
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator
from typing import Any

from hypothesis import strategies as st

import tinyio

Step = tuple[Any, ...]

EVENT_SETTERS = ("coroutine", "run_in_thread", "thread")


@dataclasses.dataclass(frozen=True)
class EventSpec:
    setter: str  # one of EVENT_SETTERS
    delay_ms: int


@dataclasses.dataclass(frozen=True)
class SemaphoreSpec:
    value: int
    as_lock: bool  # a tinyio.Lock (value 1) instead of a Semaphore


@dataclasses.dataclass(frozen=True)
class QueueSpec:
    maxsize: int
    producer: str  # "coroutine" (put), or "thread" (put_nowait; only for unbounded queues)


@dataclasses.dataclass(frozen=True)
class Program:
    nodes: tuple[tuple[Step, ...], ...]
    events: tuple[EventSpec, ...] = ()
    semaphores: tuple[SemaphoreSpec, ...] = ()
    queues: tuple[QueueSpec, ...] = ()


# ---------------------------------------------------------------------------- the model


def node_result(i: int, values: list[Any]) -> int:
    # hash() of ints, None and tuples of them is deterministic (no hash randomisation).
    return hash((i, tuple(values)))


def thread_result(i: int, k: int) -> int:
    return 1000 * i + k


@dataclasses.dataclass
class Reference:
    results: dict[int, int]  # node -> result, for every node reachable from node 0
    gets: list[int]  # per queue: how many items the reachable nodes get


def reference(program: Program) -> Reference:
    results: dict[int, int] = {}
    gets = [0] * len(program.queues)

    def evaluate(i: int) -> int:
        if i in results:
            return results[i]
        values: list[Any] = []
        for k, step in enumerate(program.nodes[i]):
            kind = step[0]
            if kind == "await":
                values.append(evaluate(step[1]))
            elif kind == "gather":
                values.append(tuple(evaluate(j) for j in step[1]))
            elif kind == "background":
                for j in step[1]:
                    evaluate(j)
                values.append(None)
            elif kind == "thread":
                values.append(thread_result(i, k))
            else:
                if kind == "get":
                    gets[step[1]] += 1
                values.append(None)
        results[i] = node_result(i, values)
        return results[i]

    evaluate(0)
    return Reference(results, gets)


# ---------------------------------------------------------------------------- faults

# Where a fault may be injected:
#   ("node", i, (k,))      in node i, just before its step k (k == len: just before returning)
#   ("node", i, (k, m))    in node i, inside its "hold" step k, just before inner step m
#   ("thread", i, k)       inside the thread function of node i's "thread" step k
#   ("setter", e)          in the helper that sets event e, just before it does
#                          (inside the thread function, for a run_in_thread setter)
#   ("producer", q, n)     in the coroutine feeding queue q, just before its n-th put


def fault_sites(program: Program) -> list[tuple[Any, ...]]:
    ref = reference(program)
    sites: list[tuple[Any, ...]] = []
    for i in sorted(ref.results):
        steps = program.nodes[i]
        for k in range(len(steps) + 1):
            sites.append(("node", i, (k,)))
            if k < len(steps) and steps[k][0] == "hold":
                sites.extend(("node", i, (k, m)) for m in range(len(steps[k][2]) + 1))
            if k < len(steps) and steps[k][0] == "thread":
                sites.append(("thread", i, k))
    for e, spec in enumerate(program.events):
        if spec.setter != "thread":
            sites.append(("setter", e))
    for q, spec in enumerate(program.queues):
        if spec.producer == "coroutine":
            sites.extend(("producer", q, n) for n in range(ref.gets[q]))
    return sites


def run_loop(
    loop: tinyio.Loop, coro: Generator[Any, Any, Any], exception_group=None, limit: float = 30.0
) -> tuple[bool, Any]:
    """`loop.run(coro)`, in a thread of its own so that a hang fails the test instead of hanging it.

    Returns `(True, result)` or `(False, error)`. If the loop has not finished after `limit`
    seconds -- the programs take milliseconds -- raises AssertionError with what each of its
    coroutines is waiting on (`loop.snapshot()` is safe from another thread).
    """
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, loop.run(coro, exception_group=exception_group)))
        except BaseException as error:  # KeyboardInterrupt is one of the faults we inject
            outcome.append((False, error))

    thread = threading.Thread(target=target, name="loop runner")
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise AssertionError(
            f"loop.run has not finished after {limit} s. What its coroutines are doing:\n"
            + pprint.pformat(loop.snapshot())
        )
    return outcome[0]


class InjectedError(Exception):
    """The fault injected into a program (or a KeyboardInterrupt)."""


# ---------------------------------------------------------------------------- running


class Run:
    """One execution of a program in a tinyio loop, recording what every coroutine did.

    Every coroutine of the program -- nodes and helpers -- is named (("node", i),
    ("setter", e), ("producer", q)) and counted: started, finished (returned), cancelled
    (received CancelledError), raised (anything else escaped it), finalised (its `finally` ran).
    """

    def __init__(self, program: Program, fault: tuple[Any, ...] | None = None, error=None):
        self.program = program
        self.fault = fault
        self.error = error  # the exception object raised at the fault site
        self.events = [tinyio.Event() for _ in program.events]
        self.semaphores: list[tinyio.Semaphore | tinyio.Lock] = [
            tinyio.Lock() if spec.as_lock else tinyio.Semaphore(spec.value)
            for spec in program.semaphores
        ]
        self.holding = [0] * len(program.semaphores)
        self.peak = [0] * len(program.semaphores)
        self.over_held: list[tuple[int, int]] = []
        self.queues = [tinyio.Queue(spec.maxsize) for spec in program.queues]
        self.gets = reference(program).gets
        self.got: list[list[tuple[int, int]]] = [[] for _ in program.queues]
        self.started: Counter[tuple[Any, ...]] = Counter()
        self.finished: Counter[tuple[Any, ...]] = Counter()
        self.cancelled: Counter[tuple[Any, ...]] = Counter()
        self.raised: Counter[tuple[Any, ...]] = Counter()
        self.finalised: Counter[tuple[Any, ...]] = Counter()
        self.cancellations: list[BaseException] = []  # the CancelledErrors our coroutines got
        self.results: dict[int, int] = {}
        self._generators: dict[int, Generator[Any, Any, int]] = {}
        self.plain_threads: list[threading.Thread] = []

    # -- helpers started before the loop, in plain threads

    def start_plain_threads(self) -> None:
        for e, spec in enumerate(self.program.events):
            if spec.setter == "thread":
                self._plain_thread(self._sleep_then_set, e, spec.delay_ms)
        for q, spec in enumerate(self.program.queues):
            if spec.producer == "thread":
                self._plain_thread(self._feed_from_thread, q)

    def _plain_thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name="random program helper")
        self.plain_threads.append(thread)
        thread.start()

    def join_plain_threads(self) -> None:
        for thread in self.plain_threads:
            thread.join()

    def _sleep_then_set(self, e: int, delay_ms: int) -> None:
        time.sleep(delay_ms / 1000)
        if self.fault == ("setter", e):
            raise self.error
        self.events[e].set()

    def _feed_from_thread(self, q: int) -> None:
        for n in range(self.gets[q]):
            self.queues[q].put_nowait((q, n))
            time.sleep(0)

    # -- coroutines

    def node(self, i: int) -> Generator[Any, Any, int]:
        """The one coroutine object for node i (diamonds share it)."""
        if i not in self._generators:
            self._generators[i] = self._counted(("node", i), self._node(i))
        return self._generators[i]

    def root(self) -> Generator[Any, Any, int]:
        return self.node(0)

    def _counted(self, name: tuple[Any, ...], body: Generator[Any, Any, Any]):
        try:
            self.started[name] += 1
            result = yield from body
        except tinyio.CancelledError as error:
            self.cancelled[name] += 1
            self.cancellations.append(error)
            raise
        except BaseException:
            self.raised[name] += 1
            raise
        else:
            self.finished[name] += 1
            return result
        finally:
            self.finalised[name] += 1

    def _check_fault(self, site: tuple[Any, ...]) -> None:
        if self.fault == site:
            raise self.error

    def _helpers(self) -> set[Generator[Any, Any, Any]]:
        helpers = set()
        for e, spec in enumerate(self.program.events):
            if spec.setter == "coroutine":
                helpers.add(self._counted(("setter", e), self._set_from_coroutine(e, spec)))
            elif spec.setter == "run_in_thread":
                helpers.add(self._counted(("setter", e), self._set_from_worker(e, spec)))
        for q, spec in enumerate(self.program.queues):
            if spec.producer == "coroutine":
                helpers.add(self._counted(("producer", q), self._produce(q)))
        return helpers

    def _set_from_coroutine(self, e: int, spec: EventSpec):
        yield tinyio.sleep(spec.delay_ms / 1000)
        self._check_fault(("setter", e))
        self.events[e].set()

    def _set_from_worker(self, e: int, spec: EventSpec):
        yield tinyio.run_in_thread(self._sleep_then_set, e, spec.delay_ms)

    def _produce(self, q: int):
        for n in range(self.gets[q]):
            self._check_fault(("producer", q, n))
            yield self.queues[q].put((q, n))

    def _node(self, i: int) -> Generator[Any, Any, int]:
        if i == 0:
            helpers = self._helpers()
            if helpers:
                yield helpers
        steps = self.program.nodes[i]
        values: list[Any] = []
        for k, step in enumerate(steps):
            self._check_fault(("node", i, (k,)))
            values.append((yield from self._step(i, k, step)))
        self._check_fault(("node", i, (len(steps),)))
        result = node_result(i, values)
        self.results[i] = result
        return result

    def _step(self, i: int, k: int, step: Step) -> Generator[Any, Any, Any]:
        kind = step[0]
        if kind == "yield":
            yield
        elif kind == "sleep":
            yield tinyio.sleep(step[1] / 1000)
        elif kind == "await":
            return (yield self.node(step[1]))
        elif kind == "gather":
            return tuple((yield [self.node(j) for j in step[1]]))
        elif kind == "background":
            return (yield {self.node(j) for j in step[1]})
        elif kind == "wait":
            timeout = None if step[2] is None else step[2] / 1000
            return (yield self.events[step[1]].wait(timeout))
        elif kind == "set":
            self.events[step[1]].set()
        elif kind == "hold":
            yield from self._hold(i, k, step[1], step[2])
        elif kind == "get":
            item = yield self.queues[step[1]].get()
            self.got[step[1]].append(item)
        elif kind == "thread":
            return (yield tinyio.run_in_thread(self._thread_work, i, k, step[1]))
        else:  # pragma: no cover
            raise AssertionError(step)
        return None

    def _hold(self, i: int, k: int, s: int, inner: tuple[Step, ...]):
        with (yield self.semaphores[s]()):
            self.holding[s] += 1
            self.peak[s] = max(self.peak[s], self.holding[s])
            if self.holding[s] > self.program.semaphores[s].value:
                self.over_held.append((s, self.holding[s]))
            try:
                for m, step in enumerate(inner):
                    self._check_fault(("node", i, (k, m)))
                    yield from self._step(i, k, step)
                self._check_fault(("node", i, (k, len(inner))))
            finally:
                self.holding[s] -= 1

    def _thread_work(self, i: int, k: int, ms: int) -> int:
        time.sleep(ms / 1000)
        if self.fault == ("thread", i, k):
            raise self.error
        return thread_result(i, k)

    # -- after the run

    def names(self) -> set[tuple[Any, ...]]:
        return set(self.started) | set(self.finalised)

    def leftovers(self) -> list[str]:
        """Every Event, Semaphore, Lock or Queue still waited on, or a semaphore not given back."""
        found = []
        for obj in [*self.events, *self.semaphores, *self.queues]:
            text = repr(obj)
            if any(
                count != "0" for count in re.findall(r"(\d+) (?:waiting|getting|putting)", text)
            ):
                found.append(text)
        for spec, semaphore in zip(self.program.semaphores, self.semaphores, strict=True):
            if semaphore.locked() if spec.as_lock else semaphore.value != spec.value:
                found.append(repr(semaphore))
        return found


# ---------------------------------------------------------------------------- generation


@st.composite
def programs(draw: st.DrawFn, max_nodes: int = 10) -> Program:
    n = draw(st.integers(1, max_nodes))
    events = tuple(
        EventSpec(draw(st.sampled_from(EVENT_SETTERS)), draw(st.integers(0, 5)))
        for _ in range(draw(st.integers(0, 3)))
    )
    semaphores = []
    for _ in range(draw(st.integers(0, 2))):
        as_lock = draw(st.booleans())
        semaphores.append(SemaphoreSpec(1 if as_lock else draw(st.integers(1, 3)), as_lock))
    queues = []
    for _ in range(draw(st.integers(0, 2))):
        maxsize = draw(st.integers(0, 2))
        producer = "coroutine" if maxsize else draw(st.sampled_from(["coroutine", "thread"]))
        queues.append(QueueSpec(maxsize, producer))

    milliseconds = st.integers(0, 5)
    leaf = st.one_of(
        st.just(("yield",)),
        st.tuples(st.just("sleep"), milliseconds),
    )
    nodes = []
    for i in range(n):
        later = st.integers(i + 1, n - 1)
        options = [leaf, st.tuples(st.just("thread"), milliseconds)]
        if i + 1 < n:
            options += [
                st.tuples(st.just("await"), later),
                st.tuples(st.just("gather"), st.lists(later, max_size=4).map(tuple)),
                st.tuples(
                    st.just("background"), st.lists(later, min_size=1, max_size=3).map(tuple)
                ),
            ]
        if events:
            event = st.integers(0, len(events) - 1)
            timeouts = st.one_of(st.none(), st.none(), milliseconds)
            options += [
                st.tuples(st.just("wait"), event, timeouts),
                st.tuples(st.just("set"), event),
            ]
        if semaphores:
            semaphore = st.integers(0, len(semaphores) - 1)
            inner = st.lists(leaf, max_size=3).map(tuple)
            options.append(st.tuples(st.just("hold"), semaphore, inner))
        if queues:
            options.append(st.tuples(st.just("get"), st.integers(0, len(queues) - 1)))
        nodes.append(draw(st.lists(st.one_of(options), max_size=5)))
    # Most nodes should run: link each node nothing refers to yet from an earlier one.
    for j in range(1, n):
        if not any(j in _targets(step) for steps in nodes[:j] for step in steps):
            parent = draw(st.integers(0, j - 1))
            kind = draw(st.sampled_from(["await", "gather", "background"]))
            link = ("await", j) if kind == "await" else (kind, (j,))
            nodes[parent].insert(draw(st.integers(0, len(nodes[parent]))), link)
    return Program(tuple(map(tuple, nodes)), events, tuple(semaphores), tuple(queues))


def _targets(step: Step) -> tuple[int, ...]:
    if step[0] == "await":
        return (step[1],)
    if step[0] in ("gather", "background"):
        return step[1]
    return ()
