"""Random programs compute what a simple model says they compute, and leave nothing behind.

Each example is a random program (see tests/random_programs.py): a DAG of coroutines that
gather, await and start each other in the background (with diamonds: shared dependencies),
sleep 0-5 ms, wait on Events set by coroutines and threads, hold Locks and Semaphores, take
items from Queues fed by coroutines and threads, and call `run_in_thread`. It is run in a
tinyio loop and checked against `reference()`, a plain recursive evaluation of the same
program: the same results, every coroutine started and finished exactly once, no semaphore
ever held by more than its value, every queue item delivered once in FIFO order, and the loop
terminates (the test's timeout) with no thread or waiter left over.

Example counts come from the Hypothesis profile: `ci` (derandomized, a few dozen examples)
by default, `stress` (many more, random) with `pytest --stress`; see tests/conftest.py.
"""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

import tinyio
from random_programs import (
    EventSpec,
    Program,
    QueueSpec,
    Run,
    SemaphoreSpec,
    programs,
    reference,
    run_loop,
)


def run_program(program: Program, loop: tinyio.Loop | None = None) -> tuple[Run, int]:
    threads_before = set(threading.enumerate())
    run = Run(program)
    run.start_plain_threads()
    loop = tinyio.Loop() if loop is None else loop
    try:
        ok, result = run_loop(loop, run.root())
        # No worker thread outlives `loop.run`: checked before joining our own helpers.
        leftover = set(threading.enumerate()) - threads_before - set(run.plain_threads)
    finally:
        run.join_plain_threads()
    if not ok:
        raise result
    assert not leftover, f"threads still running after loop.run: {leftover}"
    return run, result


def check_against_reference(program: Program, run: Run, result: int) -> None:
    expected = reference(program)
    assert result == expected.results[0]
    # Each node reachable from node 0 ran exactly once, to the result the model gives.
    assert run.results == expected.results
    nodes = {("node", i) for i in expected.results}
    assert {name for name in run.started if name[0] == "node"} == nodes
    for name in run.names():
        assert run.started[name] == 1, name
        assert run.finished[name] == 1, name
        assert run.finalised[name] == 1, name
        assert run.cancelled[name] == 0, name
        assert run.raised[name] == 0, name
    # Semaphores: never more holders than the value, and every slot given back.
    assert run.over_held == []
    for spec, peak in zip(program.semaphores, run.peak, strict=True):
        assert peak <= spec.value
    # Queues: each item put is got exactly once, and items from one producer in FIFO order.
    for q, got in enumerate(run.got):
        assert sorted(got) == [(q, n) for n in range(expected.gets[q])]
        assert got == sorted(got), "a queue's items came out of order"
    assert run.leftovers() == []


@given(programs())
def test_random_programs_give_the_results_of_the_reference_model(program):
    run, result = run_program(program)
    check_against_reference(program, run, result)


@given(st.lists(programs(max_nodes=6), min_size=2, max_size=4))
def test_one_loop_runs_one_random_program_after_another(program_list):
    loop = tinyio.Loop()
    for program in program_list:
        run, result = run_program(program, loop)
        check_against_reference(program, run, result)


def test_a_hand_written_diamond_program_matches_the_model():
    # 0 gathers 1 and 2, which both await 3 (the diamond), while 4 runs in the background
    # and sets the event that 3 waits on; 1 and 2 share a lock.
    program = Program(
        nodes=(
            (("background", (4,)), ("gather", (1, 2, 1))),
            (("hold", 0, (("sleep", 1), ("yield",))), ("await", 3)),
            (("hold", 0, (("yield",),)), ("await", 3), ("thread", 1)),
            (("wait", 0, None), ("get", 0)),
            (("sleep", 2), ("set", 0)),
        ),
        events=(EventSpec("coroutine", 3),),
        semaphores=(SemaphoreSpec(1, as_lock=True),),
        queues=(QueueSpec(1, "coroutine"),),
    )
    run, result = run_program(program)
    check_against_reference(program, run, result)
    assert run.peak == [1]
    assert run.got == [[(0, 0)]]
