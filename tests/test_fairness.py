"""Scheduling is fair and FIFO: whatever becomes ready goes to the back of the queue (SPEC 1)."""

import threading

import pytest

import tinyio


def test_coroutines_taking_bare_yields_run_round_robin():
    log = []

    def worker(name):
        for i in range(3):
            log.append(f"{name}{i}")
            yield

    def main():
        yield [worker("a"), worker("b"), worker("c")]

    tinyio.Loop().run(main())
    assert log == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_gathered_coroutines_start_in_list_order():
    log = []

    def worker(name):
        log.append(name)
        yield

    def main():
        yield [worker("first"), worker("second")]
        yield [worker("third")]

    tinyio.Loop().run(main())
    assert log == ["first", "second", "third"]


def test_a_started_coroutine_and_a_woken_waiter_go_to_the_back_of_the_queue():
    log = []

    def child(name):
        log.append(name)
        if False:
            yield
        return name

    def chain():
        for i in range(3):
            log.append(f"x{i}")
            yield child(f"c{i}")

    def spinner():
        for i in range(3):
            log.append(f"y{i}")
            yield

    def main():
        yield [chain(), spinner()]

    tinyio.Loop().run(main())
    # x0 starts c0, which queues behind y; c0 finishing wakes x, which queues behind y again.
    assert log == ["x0", "y0", "c0", "y1", "x1", "y2", "c1", "x2", "c2"]


def test_following_a_chain_of_work_does_not_starve_another_coroutine():
    progress = {"chain": 0, "other": 0}
    chain_progress_when_other_finished = []

    def link():
        if False:
            yield
        progress["chain"] += 1

    def chain():
        for _ in range(1000):
            yield link()

    def other():
        for _ in range(10):
            yield
            progress["other"] += 1
        chain_progress_when_other_finished.append(progress["chain"])

    def main():
        yield [chain(), other()]

    tinyio.Loop().run(main())
    # Fair scheduling gives `other` a step for every link of the chain (or better).
    assert chain_progress_when_other_finished[0] <= 20


def test_a_deep_recursion_does_not_starve_another_coroutine():
    other_finished_at_depth = []
    depth = [0]

    def recurse(n):
        depth[0] += 1
        if n:
            yield recurse(n - 1)

    def other():
        for _ in range(10):
            yield
        other_finished_at_depth.append(depth[0])

    def main():
        yield [recurse(500), other()]

    tinyio.Loop().run(main())
    assert other_finished_at_depth[0] <= 20


def test_a_coroutine_woken_by_an_event_runs_after_those_already_ready():
    event = tinyio.Event()
    log = []

    def waiter():
        yield event.wait()
        log.append("waiter woke")

    def busy():
        for i in range(20):
            log.append(f"busy {i}")
            yield

    def setter():
        yield
        event.set()
        log.append("set")

    def main():
        yield [waiter(), busy(), setter()]

    tinyio.Loop().run(main())
    set_at = log.index("set")
    woke_at = log.index("waiter woke")
    busy_steps_in_between = [entry for entry in log[set_at:woke_at] if entry.startswith("busy")]
    # `busy` was ready when `set()` was called, so it gets its turn before the woken waiter.
    assert busy_steps_in_between


@pytest.mark.timeout(10)
def test_a_coroutine_woken_by_another_thread_gets_its_turn_while_others_are_busy():
    event = tinyio.Event()
    waiting = threading.Event()
    log = []

    def waiter():
        waiting.set()
        yield event.wait()
        log.append("waiter woke")

    def busy():
        while "waiter woke" not in log:
            yield
        log.append("busy stopped")

    def main():
        yield [waiter(), busy()]

    def from_thread():
        waiting.wait()
        event.set()

    thread = threading.Thread(target=from_thread)
    thread.start()
    tinyio.Loop().run(main())
    thread.join()
    assert log == ["waiter woke", "busy stopped"]


def test_many_coroutines_each_make_progress_in_turn():
    steps = [0] * 50
    spread = []

    def worker(i):
        for _ in range(20):
            steps[i] += 1
            spread.append(max(steps) - min(steps))
            yield

    def main():
        yield [worker(i) for i in range(50)]

    tinyio.Loop().run(main())
    # Round robin: no worker is ever more than one step ahead of any other.
    assert max(spread) <= 1
