"""Loops nest freely and are independent of each other and of threads (docs: loops.md)."""

import threading

import pytest

import tinyio


def add_one_slowly(x):
    yield
    yield tinyio.sleep(0)
    return x + 1


def test_a_coroutine_can_block_in_another_loop():
    def outer():
        inner_result = tinyio.Loop().run(add_one_slowly(1))
        more = yield add_one_slowly(inner_result)
        return more

    assert tinyio.Loop().run(outer()) == 3


def test_loops_nest_several_levels_deep():
    def level(n):
        yield
        if n == 0:
            return "bottom"
        return tinyio.Loop().run(level(n - 1)) + f" <- {n}"

    assert tinyio.Loop().run(level(3)) == "bottom <- 1 <- 2 <- 3"


def test_an_error_in_a_nested_loop_is_an_ordinary_exception_in_the_outer_coroutine():
    def failing():
        yield
        raise KeyError("inner")

    def outer():
        try:
            tinyio.Loop().run(failing())
        except KeyError as e:
            caught = e
        yield
        return caught.args

    assert tinyio.Loop().run(outer()) == ("inner",)


def test_a_nested_loop_can_use_events_and_sleep():
    def inner():
        event = tinyio.Event()

        def setter():
            yield tinyio.sleep(0.01)
            event.set()

        yield {setter()}
        yield event.wait()
        return "inner done"

    def outer():
        yield
        return tinyio.Loop().run(inner())

    assert tinyio.Loop().run(outer()) == "inner done"


def test_running_a_loop_that_is_already_running_raises_runtime_error():
    loop = tinyio.Loop()
    log = []

    def other():
        log.append("other ran")
        yield

    def main():
        yield
        with pytest.raises(RuntimeError):
            loop.run(other())
        yield
        return "main still fine"

    assert loop.run(main()) == "main still fine"
    assert log == []


def test_runtime_of_a_loop_that_is_already_running_raises_runtime_error():
    loop = tinyio.Loop()

    def main():
        yield
        with pytest.raises(RuntimeError), loop.runtime(add_one_slowly(0), None) as steps:
            for _ in steps:
                pass
        return "ok"

    assert loop.run(main()) == "ok"


def test_a_loop_can_be_run_again_after_a_refused_reentry():
    loop = tinyio.Loop()

    def main():
        with pytest.raises(RuntimeError):
            loop.run(add_one_slowly(0))
        yield

    loop.run(main())
    assert loop.run(add_one_slowly(10)) == 11


@pytest.mark.timeout(10)
def test_running_a_loop_from_another_thread_while_it_runs_raises_runtime_error():
    loop = tinyio.Loop()
    attempted = tinyio.Event()
    outcome = []

    def intruder():
        try:
            loop.run(add_one_slowly(0))
        except RuntimeError:
            outcome.append("RuntimeError")
        else:
            outcome.append("ran")
        attempted.set()

    def main():
        thread = threading.Thread(target=intruder)
        thread.start()
        yield attempted.wait()
        thread.join()
        return "main finished"

    assert loop.run(main()) == "main finished"
    assert outcome == ["RuntimeError"]


@pytest.mark.timeout(10)
def test_loops_in_different_threads_run_at_the_same_time():
    # Each loop waits for the other to make progress: this only finishes if both loops run
    # concurrently and neither interferes with the other.
    ping = tinyio.Event()
    pong = tinyio.Event()
    results = {}

    def player(name, mine, theirs, rounds):
        for _ in range(rounds):
            if name == "first":
                theirs.set()
                yield mine.wait()
                mine.clear()
            else:
                yield mine.wait()
                mine.clear()
                theirs.set()
            yield tinyio.sleep(0)
        return f"{name} played {rounds}"

    def in_thread(name, mine, theirs):
        results[name] = tinyio.Loop().run(player(name, mine, theirs, 20))

    threads = [
        threading.Thread(target=in_thread, args=("first", ping, pong)),
        threading.Thread(target=in_thread, args=("second", pong, ping)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"first": "first played 20", "second": "second played 20"}


@pytest.mark.timeout(10)
def test_many_loops_in_many_threads_are_independent():
    results = {}

    def work(i):
        total = 0
        for j in range(50):
            total += yield add_one_slowly(j)
        return i, total

    def in_thread(i):
        results[i] = tinyio.Loop().run(work(i))

    threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected_total = sum(j + 1 for j in range(50))
    assert results == {i: (i, expected_total) for i in range(8)}


def test_separate_loops_do_not_share_results():
    first = tinyio.Loop()
    second = tinyio.Loop()
    runs = []

    def counted():
        runs.append(1)
        yield
        return "value"

    c = counted()
    assert first.run(c) == "value"
    # `c` is finished, and `second` never saw it: it cannot be run there.
    with pytest.raises(ValueError, match="counted"):
        second.run(c)
    assert len(runs) == 1
