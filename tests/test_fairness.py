"""Scheduling is fair and FIFO: whatever becomes ready goes to the back of the queue (docs: loops.md)."""

import threading

import pytest

import tinyio
from tinyio._core import starts_at_once


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


# --- library operations that start at once -----------------------------------------------


def test_a_queue_operation_runs_at_the_yielders_turn_and_the_yielder_goes_straight_on():
    # `yield q.put(x)` is a turn through the loop (the ready coroutines run first); then the
    # put and the rest of the producer's step happen together, as with `yield from`.
    q = tinyio.Queue()
    log = []

    def putter():
        yield q.put("item")
        log.append(f"putter goes on, {q.qsize()} in the queue")

    def other():
        log.append(f"other sees {q.qsize()} in the queue")
        yield
        log.append("other again")

    def main():
        yield [putter(), other()]

    tinyio.Loop().run(main())
    assert log == ["other sees 0 in the queue", "putter goes on, 1 in the queue", "other again"]


def test_a_waiting_operation_hands_its_result_straight_to_its_yielder():
    # Once a `get` that had to wait takes its item, the getter runs next: no other coroutine
    # comes between (nor could a cancellation), even if others became ready first.
    q = tinyio.Queue()
    log = []

    def getter():
        log.append(f"got {(yield q.get())}")

    def bystander(name):
        log.append(name)
        yield

    def main():
        yield {getter()}
        yield
        q.put_nowait("item")  # wakes the get...
        yield {bystander("b1"), bystander("b2")}  # ...and these become ready after it
        yield

    tinyio.Loop().run(main())
    assert log.index("got item") < log.index("b1")


def test_a_library_operation_that_keeps_finishing_at_once_does_not_starve_others():
    q = tinyio.Queue()
    log = []

    def flooder():
        for i in range(3):
            yield q.put(i)
            log.append(f"put {i}")

    def other():
        for i in range(3):
            log.append(f"other {i}")
            yield

    def main():
        yield [flooder(), other()]

    tinyio.Loop().run(main())
    assert log == ["other 0", "put 0", "other 1", "put 1", "other 2", "put 2"]


def test_a_stored_library_coroutine_yielded_twice_runs_once_and_gives_its_result_again():
    # Starting at once only applies to a coroutine nothing else refers to, whose result can
    # never be asked for again; a stored one is started the usual way, and remembered.
    q = tinyio.Queue()
    q.put_nowait("a")
    q.put_nowait("b")

    def main():
        get = q.get()
        first = yield get
        again = yield get
        both = yield [get, get]
        return first, again, both, q.qsize()

    assert tinyio.Loop().run(main()) == ("a", "a", ["a", "a"], 1)


def test_an_error_in_the_first_step_of_an_operation_started_at_once_crashes_the_loop():
    @starts_at_once
    def operation():
        raise KeyError("in the first step")
        yield

    def caller():
        yield operation()

    with pytest.raises(KeyError, match="in the first step") as info:
        tinyio.Loop().run(caller())
    names = [entry.name for entry in info.traceback]
    assert names[-2:] == ["caller", "operation"]


def test_an_operation_started_at_once_that_must_wait_is_a_task_like_any_other():
    q = tinyio.Queue()
    log = []

    def getter():
        log.append(f"got {(yield q.get())}")

    loop = tinyio.Loop()
    seen = []

    def main():
        get = getter()
        yield {get}
        yield
        (node,) = [n for n in loop.snapshot() if n["name"].endswith("getter")]
        seen.extend(child["name"] for child in node["children"])
        q.put_nowait("late")
        yield get

    loop.run(main())
    assert seen == ["tinyio.Queue.get"]  # shown in diagnostics, as a waiting task
    assert log == ["got late"]
