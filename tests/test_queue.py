"""`tinyio.Queue`: a FIFO channel between coroutines, fed from other threads too (docs: synchronisation.md)."""

import queue
import sys
import threading
import time
from collections import deque

import pytest

import tinyio
from tinyio._core import Interrupt


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


# --- FIFO -------------------------------------------------------------------------------


def test_items_come_out_in_the_order_they_went_in():
    q = tinyio.Queue()

    def main():
        for i in range(10):
            yield q.put(i)
        got = []
        for _ in range(10):
            got.append((yield q.get()))
        return got

    assert tinyio.Loop().run(main()) == list(range(10))


def test_put_and_put_nowait_share_one_order():
    q = tinyio.Queue()

    def main():
        q.put_nowait("a")
        yield q.put("b")
        q.put_nowait("c")
        yield q.put("d")
        return [q.get_nowait(), (yield q.get()), q.get_nowait(), (yield q.get())]

    assert tinyio.Loop().run(main()) == ["a", "b", "c", "d"]


def test_the_docstring_example_producer_and_consumer_through_a_bounded_queue():
    q = tinyio.Queue(maxsize=2)

    def producer():
        for i in range(5):
            yield q.put(i)
        yield q.put(None)

    def consumer():
        total = 0
        while (item := (yield q.get())) is not None:
            total += item
        return total

    def main():
        return (yield [producer(), consumer()])

    assert tinyio.Loop().run(main()) == [None, 10]


# --- blocking ---------------------------------------------------------------------------


def test_put_blocks_while_a_bounded_queue_is_full():
    q = tinyio.Queue(maxsize=2)
    log = []

    def producer():
        for item in "abc":
            yield q.put(item)
            log.append(f"put {item}")

    def consumer():
        yield from steps(10)
        log.append("getting")
        log.append(f"got {(yield q.get())}")

    def main():
        yield [producer(), consumer()]

    tinyio.Loop().run(main())
    assert log[:3] == ["put a", "put b", "getting"]
    assert sorted(log[3:]) == ["got a", "put c"]
    assert [q.get_nowait(), q.get_nowait()] == ["b", "c"]


def test_get_blocks_while_the_queue_is_empty():
    q = tinyio.Queue()
    log = []

    def consumer():
        log.append("getting")
        log.append(f"got {(yield q.get())}")

    def producer():
        yield from steps(10)
        log.append("putting")
        yield q.put("x")

    def main():
        yield [consumer(), producer()]

    tinyio.Loop().run(main())
    assert log == ["getting", "putting", "got x"]


def test_blocked_getters_are_served_first_come_first_served():
    q = tinyio.Queue()

    def getter(wait_steps):
        yield from steps(wait_steps)
        return (yield q.get())

    def producer():
        yield from steps(10)
        for item in ["first", "second", "third"]:
            q.put_nowait(item)
            yield

    def main():
        return (yield [getter(3), getter(1), getter(2), producer()])

    assert tinyio.Loop().run(main()) == ["third", "first", "second", None]


def test_blocked_putters_are_served_first_come_first_served():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("already there")

    def putter(wait_steps, item):
        yield from steps(wait_steps)
        yield q.put(item)

    def consumer():
        yield from steps(10)
        got = []
        for _ in range(4):
            got.append((yield q.get()))
        return got

    def main():
        results = yield [putter(3, "c"), putter(1, "a"), putter(2, "b"), consumer()]
        return results[-1]

    assert tinyio.Loop().run(main()) == ["already there", "a", "b", "c"]


def test_a_woken_getter_whose_item_was_taken_first_waits_for_the_next_one():
    q = tinyio.Queue()
    log = []

    def getter():
        log.append(f"got {(yield q.get())}")

    def thief():
        yield from steps(3)
        q.put_nowait("first")  # wakes the getter ...
        log.append(f"stole {q.get_nowait()}")  # ... but the item is gone before it runs
        yield from steps(5)
        q.put_nowait("second")

    def main():
        yield [getter(), thief()]

    tinyio.Loop().run(main())
    assert log == ["stole first", "got second"]
    assert q.empty()


def test_a_woken_putter_whose_place_was_taken_first_waits_for_the_next_one():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("old")
    log = []

    def putter():
        yield q.put("from putter")
        log.append("putter done")

    def taker():
        yield from steps(3)
        log.append(f"took {q.get_nowait()}")  # frees the place and wakes the putter ...
        q.put_nowait("barged")  # ... but the place is filled again before it runs
        yield from steps(5)
        log.append(f"took {q.get_nowait()}")
        yield from steps(5)
        log.append(f"took {q.get_nowait()}")

    def main():
        yield [putter(), taker()]

    tinyio.Loop().run(main())
    assert log == ["took old", "took barged", "putter done", "took from putter"]


def test_a_getter_cancelled_while_waiting_leaves_the_queue_usable():
    q = tinyio.Queue()

    def getter():
        yield q.get()

    def crash():
        yield [getter(), getter(), fail()]

    def fail():
        yield from steps(3)
        raise Boom("elsewhere")

    with pytest.raises(Boom):
        tinyio.Loop().run(crash())

    def main():
        q.put_nowait(1)
        return (yield q.get())

    assert tinyio.Loop().run(main()) == 1


# --- non-blocking forms -----------------------------------------------------------------


def test_put_nowait_on_a_full_queue_raises_the_standard_queue_full():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait(1)
    with pytest.raises(queue.Full):
        q.put_nowait(2)
    assert q.qsize() == 1
    assert q.get_nowait() == 1


def test_get_nowait_on_an_empty_queue_raises_the_standard_queue_empty():
    q = tinyio.Queue()
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put_nowait("x")
    assert q.get_nowait() == "x"
    with pytest.raises(queue.Empty):
        q.get_nowait()


def test_an_unbounded_queue_never_refuses_put_nowait():
    q = tinyio.Queue()
    for i in range(10_000):
        q.put_nowait(i)
    assert q.qsize() == 10_000
    assert not q.full()


# --- size queries -----------------------------------------------------------------------


def test_qsize_empty_and_full_describe_the_contents():
    q = tinyio.Queue(maxsize=2)
    seen = [(q.qsize(), q.empty(), q.full())]
    q.put_nowait("a")
    seen.append((q.qsize(), q.empty(), q.full()))
    q.put_nowait("b")
    seen.append((q.qsize(), q.empty(), q.full()))
    q.get_nowait()
    seen.append((q.qsize(), q.empty(), q.full()))
    q.get_nowait()
    seen.append((q.qsize(), q.empty(), q.full()))
    assert seen == [
        (0, True, False),
        (1, False, False),
        (2, False, True),
        (1, False, False),
        (0, True, False),
    ]


def test_maxsize_defaults_to_zero_meaning_unbounded():
    assert tinyio.Queue().maxsize == 0
    assert tinyio.Queue(maxsize=3).maxsize == 3


def test_a_negative_maxsize_raises_value_error():
    with pytest.raises(ValueError, match="-1"):
        tinyio.Queue(maxsize=-1)


@pytest.mark.parametrize("maxsize", [1.5, "2", None], ids=["float", "str", "none"])
def test_a_maxsize_that_is_not_an_int_raises_type_error(maxsize):
    with pytest.raises(TypeError, match="int"):
        tinyio.Queue(maxsize=maxsize)


# --- other threads ----------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_put_nowait_from_another_thread_wakes_a_loop_blocked_in_get():
    q = tinyio.Queue()
    getter_waiting = threading.Event()
    put_at = []

    def feeder():
        assert getter_waiting.wait(timeout=10)
        put_at.append(time.monotonic())
        q.put_nowait("from the thread")

    def getter():
        return (yield q.get())

    def announce():
        # The getter is queued on the Queue by the time this runs a few steps later; then
        # the loop has nothing left to do and blocks until the thread puts.
        yield from steps(3)
        getter_waiting.set()

    def main():
        item, _ = yield [getter(), announce()]
        return item, time.monotonic()

    thread = threading.Thread(target=feeder)
    thread.start()
    try:
        item, got_at = tinyio.Loop().run(main())
    finally:
        getter_waiting.set()
        thread.join(timeout=10)
    assert item == "from the thread"
    assert got_at - put_at[0] < 1.0


@pytest.mark.timeout(20)
def test_items_put_from_several_threads_all_arrive_each_thread_in_order():
    q = tinyio.Queue()
    start = threading.Event()
    per_thread = 500

    def feeder(name):
        assert start.wait(timeout=10)
        for i in range(per_thread):
            q.put_nowait((name, i))

    threads = [threading.Thread(target=feeder, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()

    def main():
        start.set()
        got = []
        for _ in range(per_thread * len(threads)):
            got.append((yield q.get()))
        return got

    try:
        got = tinyio.Loop().run(main())
    finally:
        start.set()
        for thread in threads:
            thread.join(timeout=10)
    for name in "abc":
        assert [i for who, i in got if who == name] == list(range(per_thread))
    assert q.empty()


@pytest.mark.timeout(20)
def test_put_nowait_from_another_thread_on_a_full_queue_raises_queue_full_there():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("in")
    errors = []

    def feeder():
        try:
            q.put_nowait("refused")
        except queue.Full as error:
            errors.append(error)

    thread = threading.Thread(target=feeder)
    thread.start()
    thread.join(timeout=10)
    assert len(errors) == 1
    assert q.get_nowait() == "in"
    assert q.empty()


@pytest.mark.timeout(60)
def test_threads_racing_for_a_bounded_queue_never_overfill_it_and_lose_no_wake_up():
    # The queue has no lock: the bound is kept by taking a place token before putting, and
    # waiters re-check after getting in line. Threads hammer it while two consumers block and
    # wake over and over; every item must arrive, and the queue must never hold too many.
    maxsize, per_thread, feeders = 3, 2_000, 4
    q = tinyio.Queue(maxsize=maxsize)
    start = threading.Event()
    overfull = []

    def feeder(name):
        assert start.wait(timeout=10)
        for i in range(per_thread):
            while True:
                try:
                    q.put_nowait((name, i))
                    break
                except queue.Full:
                    time.sleep(0)  # let the loop's thread take some
            if q.qsize() > maxsize:
                overfull.append(q.qsize())

    threads = [threading.Thread(target=feeder, args=(name,)) for name in range(feeders)]
    for thread in threads:
        thread.start()

    def consumer(share):
        got = []
        for _ in range(share):
            got.append((yield q.get()))
            if q.qsize() > maxsize:
                overfull.append(q.qsize())
        return got

    def main():
        start.set()
        half = per_thread * feeders // 2
        return (yield [consumer(half), consumer(half)])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: more interleavings
    try:
        first, second = tinyio.Loop().run(main())
    finally:
        sys.setswitchinterval(interval)
        start.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not overfull
    assert sorted(first + second) == sorted(
        (name, i) for name in range(feeders) for i in range(per_thread)
    )
    for got in (first, second):
        for name in range(feeders):
            mine = [i for who, i in got if who == name]
            assert mine == sorted(mine)  # each thread's items come out in the order it put them
    assert q.empty()
    assert not q._getters  # nobody left in line
    assert not q._putters


@pytest.mark.timeout(10)
def test_a_woken_getter_that_gives_up_passes_its_item_on_to_the_next_getter():
    q = tinyio.Queue()
    log = []

    def getter(name):
        try:
            item = yield from q.get()  # inline, so that the interrupt lands in the wait itself
        except Boom:
            log.append((name, "gave up"))
            return
        log.append((name, item))

    def main():
        first, second = getter("first"), getter("second")
        yield {first}
        yield
        yield {second}
        yield from steps(2)  # both wait in line, the first in front
        q.put_nowait("item")  # wakes the first...
        yield Interrupt(first, Boom())  # ...which gives up before taking the item

    tinyio.Loop().run(main())  # without the hand-over, the second waits for ever
    assert log == [("first", "gave up"), ("second", "item")]


def test_put_and_get_can_run_inline_with_yield_from():
    # `yield from` runs the operation in the caller's own frame, like `await` in asyncio: no
    # task, no trip through the scheduler unless it has to wait.
    q = tinyio.Queue(maxsize=2)
    log = []

    def producer():
        for i in range(5):
            yield from q.put(i)
            log.append(f"put {i}")

    def consumer():
        got = []
        for _ in range(5):
            got.append((yield from q.get()))
        log.append("consumer done")
        return got

    def main():
        return (yield [producer(), consumer()])

    assert tinyio.Loop().run(main()) == [None, [0, 1, 2, 3, 4]]
    # The producer ran ahead without a trip through the loop per item until the queue was full.
    assert log[:2] == ["put 0", "put 1"]


class _RacyDeque(deque):
    """A deque that, the first time a `what` call finds it empty, lets `meanwhile` run in
    another thread before raising: the moment a waiter has looked but is not yet in line."""

    def __init__(self, items, what, meanwhile):
        super().__init__(items)
        self._what = what
        self._meanwhile = meanwhile

    def pop(self):
        return self._race("pop", super().pop)

    def popleft(self):
        return self._race("popleft", super().popleft)

    def _race(self, name, operation):
        try:
            return operation()
        except IndexError:
            if name == self._what and self._meanwhile is not None:
                thread = threading.Thread(target=self._meanwhile)
                self._meanwhile = None
                thread.start()
                thread.join(timeout=10)
            raise


@pytest.mark.timeout(10)
def test_an_item_put_by_a_thread_just_after_a_getter_looked_is_not_missed():
    q = tinyio.Queue()
    # White-box: the race needs a thread to put exactly between the getter finding the queue
    # empty and the getter getting in line, when the putter sees nobody to wake.
    q._items = _RacyDeque([], "popleft", lambda: q.put_nowait("late"))

    def main():
        return (yield q.get())

    assert tinyio.Loop().run(main()) == "late"  # without the re-check: waits for ever


@pytest.mark.timeout(10)
def test_a_place_freed_by_a_thread_just_after_a_putter_looked_is_not_missed():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("old")
    q._places = _RacyDeque(q._places, "pop", q.get_nowait)

    def main():
        yield q.put("new")
        return q.get_nowait()

    assert tinyio.Loop().run(main()) == "new"
