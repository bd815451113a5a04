"""`tinyio.Queue`: a FIFO channel between coroutines, fed from other threads too (SPEC section 4)."""

import queue
import threading
import time

import pytest

import tinyio


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
