"""`Queue.put_from_thread` and `Queue.get_from_thread`: a plain thread waits on a queue that
coroutines use (docs: synchronisation.md)."""

import queue
import threading
import time

import pytest

import tinyio


def in_thread(target, *args):
    """Start a plain thread running `target(*args)`; its outcome goes into the returned dict."""
    outcome = {}
    done = threading.Event()

    def run():
        try:
            outcome["value"] = target(*args)
        except BaseException as error:
            outcome["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    outcome["done"] = done
    outcome["thread"] = thread
    return outcome


def until(condition):
    """A coroutine that waits for `condition()` -- a state of another thread, which no event
    announces -- looking again every millisecond."""
    while not condition():
        yield tinyio.sleep(0.001)


def finished(outcome, within=5.0):
    assert outcome["done"].wait(within), "the thread hangs"
    outcome["thread"].join()
    return outcome


# --- blocking, and being woken by the coroutines --------------------------------------------


def test_put_from_thread_blocks_while_full_until_a_coroutine_gets():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("first")
    seen = []

    def main():
        outcome = in_thread(q.put_from_thread, "second")
        yield from until(lambda: "1 putting" in repr(q))
        seen.append(outcome["done"].is_set())  # still blocked
        seen.append((yield q.get()))
        yield tinyio.run_in_thread(outcome["done"].wait)
        seen.append((yield q.get()))
        return outcome

    outcome = finished(tinyio.Loop().run(main()))
    assert seen == [False, "first", "second"]
    assert outcome == {"value": None, "done": outcome["done"], "thread": outcome["thread"]}


def test_get_from_thread_blocks_while_empty_until_a_coroutine_puts():
    q = tinyio.Queue()
    seen = []

    def main():
        outcome = in_thread(q.get_from_thread)
        yield from until(lambda: "1 getting" in repr(q))
        seen.append(outcome["done"].is_set())
        yield q.put("item")
        yield tinyio.run_in_thread(outcome["done"].wait)
        return outcome

    outcome = finished(tinyio.Loop().run(main()))
    assert seen == [False]
    assert outcome["value"] == "item"


def test_a_thread_and_coroutines_pass_every_item_in_order_and_the_bound_holds():
    q = tinyio.Queue(maxsize=2)
    got = []

    def produce():
        for i in range(300):
            q.put_from_thread(i)
        q.shutdown()

    def main():
        outcome = in_thread(produce)
        while (item := (yield q.get_or(None))) is not None:
            assert q.qsize() <= 2
            got.append(item)
            if item % 5 == 0:
                yield tinyio.sleep(0.0005)  # let the thread fill the queue and block
        return outcome

    finished(tinyio.Loop().run(main()))
    assert got == list(range(300))


def test_threads_and_coroutines_waiting_for_items_are_served_first_come_first_served():
    q = tinyio.Queue()
    order = []

    def coroutine_getter(name):
        order.append((name, (yield q.get())))

    def main():
        first = in_thread(q.get_from_thread)
        yield from until(lambda: "1 getting" in repr(q))
        yield {coroutine_getter("coroutine")}
        yield from until(lambda: "2 getting" in repr(q))
        yield q.put("a")  # wakes the first in line: the thread
        yield tinyio.run_in_thread(first["done"].wait)
        order.append(("still waiting", "1 getting" in repr(q)))
        yield q.put("b")
        yield from until(lambda: len(order) == 2)
        return first

    first = finished(tinyio.Loop().run(main()))
    assert first["value"] == "a"
    assert order == [("still waiting", True), ("coroutine", "b")]


# --- timeouts ---------------------------------------------------------------------------------


def test_put_from_thread_raises_queue_full_once_its_timeout_passes_and_leaves_the_line():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("first")
    start = time.monotonic()
    with pytest.raises(queue.Full, match="still full"):
        q.put_from_thread("second", timeout=0.05)
    assert time.monotonic() - start >= 0.05
    assert "0 putting" in repr(q)
    assert q.get_nowait() == "first"
    q.put_nowait("third")  # the freed place was not handed to the thread that left
    assert q.qsize() == 1


def test_get_from_thread_raises_queue_empty_once_its_timeout_passes_and_leaves_the_line():
    q = tinyio.Queue()
    with pytest.raises(queue.Empty, match="still empty"):
        q.get_from_thread(timeout=0.05)
    assert "0 getting" in repr(q)
    q.put_nowait("item")
    assert q.get_nowait() == "item"  # not handed to the thread that left


def test_a_timeout_of_zero_does_not_wait():
    full = tinyio.Queue(maxsize=1)
    full.put_nowait(1)
    with pytest.raises(queue.Full):
        full.put_from_thread(2, timeout=0)
    with pytest.raises(queue.Empty):
        tinyio.Queue().get_from_thread(timeout=0)
    assert full.get_from_thread(timeout=0) == 1
    full.put_from_thread(3, timeout=0)
    assert full.get_nowait() == 3


@pytest.mark.parametrize(("timeout", "error"), [(-1, ValueError), ("1", TypeError)])
def test_a_bad_timeout_is_an_error_at_the_call(timeout, error):
    with pytest.raises(error, match="timeout"):
        tinyio.Queue().put_from_thread(1, timeout=timeout)
    with pytest.raises(error, match="timeout"):
        tinyio.Queue().get_from_thread(timeout=timeout)


# --- shutdown ---------------------------------------------------------------------------------


def test_shutdown_wakes_threads_blocked_in_put_and_get_with_queue_shut_down():
    full = tinyio.Queue(maxsize=1)
    full.put_nowait("kept")
    empty = tinyio.Queue()

    def main():
        putter = in_thread(full.put_from_thread, "refused")
        getter = in_thread(empty.get_from_thread)
        yield from until(lambda: "1 putting" in repr(full) and "1 getting" in repr(empty))
        full.shutdown()
        empty.shutdown()
        return putter, getter

    putter, getter = tinyio.Loop().run(main())
    assert isinstance(finished(putter)["error"], tinyio.QueueShutDown)
    assert isinstance(finished(getter)["error"], tinyio.QueueShutDown)
    assert full.get_from_thread() == "kept"  # what was in it is still given


def test_after_shutdown_put_from_thread_raises_and_get_from_thread_gives_what_is_left():
    q = tinyio.Queue()
    q.put_nowait("left")
    q.shutdown()
    with pytest.raises(tinyio.QueueShutDown):
        q.put_from_thread("late")
    assert q.get_from_thread() == "left"
    with pytest.raises(tinyio.QueueShutDown):
        q.get_from_thread()


@pytest.mark.parametrize("seed", range(40))
def test_a_shutdown_racing_a_thread_that_puts_never_leaves_it_hanging(seed):
    q = tinyio.Queue(maxsize=1)
    accepted = []

    def produce():
        for i in range(1_000):
            try:
                q.put_from_thread(i)
            except tinyio.QueueShutDown:
                return i
            accepted.append(i)

    def main():
        outcome = in_thread(produce)
        for _ in range(seed):
            yield q.get()
        q.shutdown()
        return outcome

    outcome = finished(tinyio.Loop().run(main()))
    assert "error" not in outcome
    assert outcome["value"] == len(accepted)  # refused exactly from the shutdown on


# --- misuse from the loop's thread ------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "instead"),
    [
        (lambda q: q.put_from_thread(1), "yield q.put(item)"),
        (lambda q: q.get_from_thread(), "item = yield q.get()"),
    ],
)
def test_called_in_the_loops_thread_they_raise_at_once_saying_what_to_use(call, instead):
    q = tinyio.Queue(maxsize=1)
    q.put_nowait(0)  # full: put would block; get would not, and still raises

    def helper():  # code a coroutine calls counts too
        call(q)

    def main():
        yield
        helper()

    with pytest.raises(RuntimeError, match="running a tinyio loop") as caught:
        tinyio.Loop().run(main())
    assert instead in str(caught.value)


# --- a tinyio thread call that waits, and its loop ---------------------------------------------


def test_a_thread_call_blocked_in_get_from_thread_is_cancelled_at_once_by_a_timeout():
    q = tinyio.Queue()

    def main():
        start = time.monotonic()
        outcome = yield tinyio.timeout(tinyio.run_in_thread(q.get_from_thread), 0.05)
        return outcome, time.monotonic() - start

    start = time.monotonic()
    (outcome, elapsed) = tinyio.Loop().run(main())
    assert outcome == (None, False)
    assert elapsed < 1.0
    assert time.monotonic() - start < 1.0  # the run waited for the thread, which ended at once
    assert "0 getting" in repr(q)
    q.put_nowait("item")
    assert q.get_nowait() == "item"


def test_a_loop_that_crashes_while_a_thread_call_blocks_in_put_from_thread_ends_at_once():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("full")
    cancelled = []

    def producer():
        try:
            q.put_from_thread("never")
        except tinyio.CancelledError:
            cancelled.append(True)
            raise

    def main():
        yield {tinyio.run_in_thread(producer)}
        yield from until(lambda: "1 putting" in repr(q))
        raise ValueError("crash")

    start = time.monotonic()
    with pytest.raises(ValueError, match="crash"):
        tinyio.Loop().run(main())
    assert time.monotonic() - start < 1.0
    assert cancelled == [True]
    assert "0 putting" in repr(q)
    assert q.get_nowait() == "full"


def test_a_plain_thread_is_released_by_shutting_the_queue_down_when_the_loop_ends():
    # The documented way: a thread of one's own belongs to no loop.
    q = tinyio.Queue()

    def main():
        yield from until(lambda: "1 getting" in repr(q))
        raise ValueError("crash")

    outcome = in_thread(q.get_from_thread)
    try:
        with pytest.raises(ValueError, match="crash"):
            tinyio.Loop().run(main())
    finally:
        q.shutdown()
    assert isinstance(finished(outcome)["error"], tinyio.QueueShutDown)
