"""Closing a `tinyio.Queue`: `shutdown`, `get_or`, `task_done` and `join` (docs: synchronisation.md)."""

import queue
import threading

import pytest

import tinyio


def steps(n):
    for _ in range(n):
        yield


# --- putting after shutdown ---------------------------------------------------------------


def test_put_nowait_after_shutdown_raises_queue_shut_down_naming_the_item():
    q = tinyio.Queue()
    q.shutdown()
    with pytest.raises(tinyio.QueueShutDown, match="Cannot put 'late'"):
        q.put_nowait("late")
    assert q.qsize() == 0


def test_put_after_shutdown_raises_queue_shut_down_in_the_putter():
    q = tinyio.Queue()
    q.shutdown()

    def main():
        try:
            yield from q.put("late")
        except tinyio.QueueShutDown:
            return "refused"

    assert tinyio.Loop().run(main()) == "refused"


def test_queue_shut_down_is_an_ordinary_exception():
    assert issubclass(tinyio.QueueShutDown, Exception)
    assert tinyio.QueueShutDown.__module__ == "tinyio"


# --- getting after shutdown ---------------------------------------------------------------


def test_get_gives_the_remaining_items_then_raises_queue_shut_down():
    q = tinyio.Queue()

    def main():
        for i in range(3):
            yield q.put(i)
        q.shutdown()
        got = []
        for _ in range(3):
            got.append((yield q.get()))
        try:
            yield from q.get()
        except tinyio.QueueShutDown:
            return got, "shut down"

    assert tinyio.Loop().run(main()) == ([0, 1, 2], "shut down")


def test_get_nowait_on_a_shut_down_queue_gives_items_then_raises_queue_shut_down():
    q = tinyio.Queue()
    q.put_nowait("last")
    q.shutdown()
    assert q.get_nowait() == "last"
    with pytest.raises(tinyio.QueueShutDown):
        q.get_nowait()


def test_get_nowait_on_an_empty_queue_still_raises_queue_empty_before_shutdown():
    with pytest.raises(queue.Empty):
        tinyio.Queue().get_nowait()


def test_get_or_gives_items_until_the_queue_is_shut_down_and_empty():
    q = tinyio.Queue()
    end = object()

    def producer():
        for i in range(5):
            yield q.put(i)
            yield
        q.shutdown()

    def consumer():
        got = []
        while (item := (yield q.get_or(end))) is not end:
            got.append(item)
        return got

    def main():
        _, got = yield [producer(), consumer()]
        return got

    assert tinyio.Loop().run(main()) == [0, 1, 2, 3, 4]


def test_get_or_gives_none_items_through_when_the_default_is_another_object():
    q = tinyio.Queue()
    end = object()
    q.put_nowait(None)
    q.shutdown()

    def main():
        return [(yield q.get_or(end)), (yield q.get_or(end))]

    first, second = tinyio.Loop().run(main())
    assert first is None
    assert second is end


def test_shutdown_lets_several_consumers_finish_without_a_sentinel_each():
    q = tinyio.Queue(maxsize=2)

    def producer():
        for i in range(20):
            yield q.put(i)
        q.shutdown()

    def consumer():
        got = []
        while (item := (yield q.get_or(None))) is not None:
            got.append(item)
            yield
        return got

    def main():
        _, *lists = yield [producer(), consumer(), consumer(), consumer()]
        return lists

    # Returning at all means every consumer's loop ended.
    lists = tinyio.Loop().run(main())
    assert sorted(item for got in lists for item in got) == list(range(20))


# --- waiters on both sides are woken --------------------------------------------------------


def test_shutdown_wakes_every_blocked_getter():
    q = tinyio.Queue()
    outcomes = []

    def getter():
        try:
            yield from q.get()
        except tinyio.QueueShutDown:
            outcomes.append("get: shut down")

    def getter_or():
        outcomes.append(("get_or", (yield q.get_or("default"))))

    def closer():
        yield from steps(5)  # every getter is blocked by now
        assert "3 getting" in repr(q)
        q.shutdown()

    def main():
        yield [getter(), getter(), getter_or(), closer()]

    tinyio.Loop().run(main())
    assert sorted(map(str, outcomes)) == sorted(
        ["get: shut down", "get: shut down", str(("get_or", "default"))]
    )


def test_shutdown_wakes_every_blocked_putter_of_a_full_queue():
    q = tinyio.Queue(maxsize=1)
    q.put_nowait("in")
    refused = []

    def putter(item):
        try:
            yield from q.put(item)
        except tinyio.QueueShutDown as error:
            refused.append((item, str(error)))

    def closer():
        yield from steps(5)
        assert "2 putting" in repr(q)
        q.shutdown()

    def main():
        yield [putter("a"), putter("b"), closer()]

    tinyio.Loop().run(main())
    assert sorted(item for item, _ in refused) == ["a", "b"]
    assert all("shut down while it waited" in message for _, message in refused)
    assert q.get_nowait() == "in"  # the item already in stays there, for the getters


def test_shutdown_with_waiters_on_both_sides_of_a_pipeline():
    # A full queue with blocked putters upstream, an empty one with blocked getters downstream.
    upstream = tinyio.Queue(maxsize=1)
    downstream = tinyio.Queue()
    upstream.put_nowait(0)
    log = []

    def putter():
        try:
            yield from upstream.put(1)
        except tinyio.QueueShutDown:
            log.append("putter stopped")

    def getter():
        log.append(("getter got", (yield downstream.get_or("nothing"))))

    def closer():
        yield from steps(5)
        upstream.shutdown(immediate=True)
        downstream.shutdown()

    def main():
        yield [putter(), getter(), getter(), closer()]

    tinyio.Loop().run(main())
    assert sorted(map(str, log)) == sorted(
        ["putter stopped", str(("getter got", "nothing")), str(("getter got", "nothing"))]
    )
    assert upstream.empty()  # immediate: the item that was in it is dropped


# --- immediate ----------------------------------------------------------------------------


def test_immediate_shutdown_drops_the_items_so_getters_stop_at_once():
    q = tinyio.Queue(maxsize=3)
    for i in range(3):
        q.put_nowait(i)
    q.shutdown(immediate=True)
    assert q.empty()
    assert not q.full()  # the places of the dropped items are free again
    with pytest.raises(tinyio.QueueShutDown):
        q.get_nowait()


def test_immediate_shutdown_marks_the_dropped_items_done_so_join_returns():
    q = tinyio.Queue()
    for i in range(3):
        q.put_nowait(i)

    def joiner():
        yield q.join()
        return "joined"

    def closer():
        yield from steps(3)
        q.shutdown(immediate=True)

    def main():
        joined, _ = yield [joiner(), closer()]
        return joined

    assert tinyio.Loop().run(main()) == "joined"


def test_shutdown_is_idempotent_and_reported_by_is_shut_down():
    q = tinyio.Queue()
    assert not q.is_shut_down
    q.shutdown()
    q.shutdown(immediate=True)
    assert q.is_shut_down
    assert "shut down" in repr(q)


@pytest.mark.parametrize("immediate", ["yes", 1, None])
def test_shutdown_with_an_immediate_that_is_not_a_bool_raises_type_error(immediate):
    q = tinyio.Queue()
    with pytest.raises(TypeError, match="immediate must be True or False"):
        q.shutdown(immediate)
    assert not q.is_shut_down


# --- from another thread ------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_shutdown_from_another_thread_wakes_a_loop_blocked_in_get():
    q = tinyio.Queue()
    getter_waiting = threading.Event()

    def closer():
        assert getter_waiting.wait(timeout=10)
        q.shutdown()

    def getter():
        return (yield q.get_or("closed"))

    def announce():
        yield from steps(3)
        getter_waiting.set()

    def main():
        result, _ = yield [getter(), announce()]
        return result

    thread = threading.Thread(target=closer)
    thread.start()
    try:
        assert tinyio.Loop().run(main()) == "closed"
    finally:
        getter_waiting.set()
        thread.join(timeout=10)


# --- task_done and join -------------------------------------------------------------------


def test_join_waits_until_every_item_put_is_marked_done():
    q = tinyio.Queue()
    log = []

    def worker():
        while (item := (yield q.get_or(None))) is not None:
            yield from steps(2)
            log.append(f"did {item}")
            q.task_done()

    def main():
        for i in range(3):
            yield q.put(i)
        yield {worker()}
        yield q.join()
        log.append("joined")
        q.shutdown()

    tinyio.Loop().run(main())
    assert log == ["did 0", "did 1", "did 2", "joined"]


def test_join_on_a_queue_with_nothing_unfinished_returns_at_once():
    q = tinyio.Queue()
    q.put_nowait("x")
    q.get_nowait()
    q.task_done()

    def main():
        yield q.join()
        return "at once"

    assert tinyio.Loop().run(main()) == "at once"


def test_an_item_taken_but_not_marked_done_keeps_join_waiting():
    q = tinyio.Queue()
    q.put_nowait("x")
    log = []

    def joiner():
        yield q.join()
        log.append("joined")

    def taker():
        q.get_nowait()
        yield from steps(5)
        log.append("marking done")
        q.task_done()

    def main():
        yield [joiner(), taker()]

    tinyio.Loop().run(main())
    assert log == ["marking done", "joined"]


def test_several_joiners_are_all_released():
    q = tinyio.Queue()
    q.put_nowait("x")

    def joiner(name):
        yield q.join()
        return name

    def finisher():
        yield from steps(3)
        q.get_nowait()
        q.task_done()

    def main():
        a, b, _ = yield [joiner("a"), joiner("b"), finisher()]
        return a, b

    assert tinyio.Loop().run(main()) == ("a", "b")


def test_task_done_called_too_many_times_raises_value_error():
    q = tinyio.Queue()
    q.put_nowait("x")
    q.get_nowait()
    q.task_done()
    with pytest.raises(ValueError, match="more times than items were put"):
        q.task_done()


def test_a_joiner_that_times_out_leaves_the_queue_usable():
    q = tinyio.Queue()
    q.put_nowait("x")

    def main():
        _, finished = yield tinyio.timeout(q.join(), 0.01)
        q.get_nowait()
        q.task_done()
        yield q.join()
        return finished

    assert tinyio.Loop().run(main()) is False
    assert not q._joiners  # the timed-out joiner left the line
