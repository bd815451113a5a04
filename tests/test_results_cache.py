"""Each coroutine runs at most once per loop; results are remembered, weakly (docs: loops.md)."""

import gc
import tracemalloc
import weakref

import tinyio


class Result:
    """A result object that can be referred to weakly."""

    def __init__(self, value):
        self.value = value


def counting(counter, key, value=None, steps=1):
    counter[key] = counter.get(key, 0) + 1
    for _ in range(steps):
        yield
    return value


def test_a_coroutine_yielded_by_two_waiters_runs_once():
    counter = {}
    shared = counting(counter, "shared", "value", steps=3)

    def waiter():
        return (yield shared)

    def main():
        return (yield [waiter(), waiter()])

    assert tinyio.Loop().run(main()) == ["value", "value"]
    assert counter == {"shared": 1}


def test_a_diamond_dependency_runs_the_shared_coroutine_once():
    counter = {}
    bottom = counting(counter, "bottom", 10, steps=2)

    def left():
        return (yield bottom) + 1

    def right():
        yield
        yield
        yield
        return (yield bottom) + 2

    def top():
        return (yield [left(), right()])

    assert tinyio.Loop().run(top()) == [11, 12]
    assert counter == {"bottom": 1}


def test_yielding_a_finished_coroutine_again_gives_its_result_again():
    counter = {}

    def main():
        child = counting(counter, "child", "first and only")
        a = yield child
        b = yield child
        c = yield [child]
        return a, b, c

    assert tinyio.Loop().run(main()) == ("first and only", "first and only", ["first and only"])
    assert counter == {"child": 1}


def test_a_later_run_can_wait_on_a_coroutine_an_earlier_run_finished():
    counter = {}
    loop = tinyio.Loop()
    shared = counting(counter, "shared", 7)
    assert loop.run(shared) == 7

    def later():
        return (yield shared) * 2

    assert loop.run(later()) == 14
    assert counter == {"shared": 1}


def test_run_on_a_coroutine_this_loop_finished_returns_its_result_again():
    counter = {}
    loop = tinyio.Loop()
    c = counting(counter, "c", "result", steps=2)
    assert loop.run(c) == "result"
    assert loop.run(c) == "result"
    assert loop.run(c) == "result"
    assert counter == {"c": 1}


def test_run_on_a_coroutine_finished_as_a_dependency_returns_its_result():
    loop = tinyio.Loop()
    dependency = counting({}, "d", "dependency result")

    def main():
        yield dependency

    loop.run(main())
    assert loop.run(dependency) == "dependency result"


def test_the_result_is_the_same_object_each_time():
    loop = tinyio.Loop()

    def make():
        yield
        return Result(1)

    c = make()
    first = loop.run(c)

    def again():
        return (yield c)

    assert loop.run(again()) is first
    assert loop.run(c) is first


def test_a_result_is_dropped_once_nothing_refers_to_its_coroutine():
    loop = tinyio.Loop()

    def make():
        yield
        return Result("big")

    c = make()
    result_ref = weakref.ref(loop.run(c))
    gc.collect()
    # Still remembered: the coroutine is alive, so the loop must be able to give it again.
    assert result_ref() is not None
    assert loop.run(c) is result_ref()

    del c
    gc.collect()
    assert result_ref() is None


def test_results_of_dependencies_are_dropped_with_their_coroutines():
    loop = tinyio.Loop()
    refs = []

    def make(i):
        yield
        return Result(i)

    def main():
        for i in range(10):
            result = yield make(i)
            refs.append(weakref.ref(result))
        return "done"

    assert loop.run(main()) == "done"
    gc.collect()
    assert [ref() for ref in refs] == [None] * 10


def test_the_loop_does_not_keep_the_coroutines_it_ran():
    loop = tinyio.Loop()

    def child():
        yield
        return 1

    def main():
        return (yield [child(), child()])

    c = main()
    coroutine_ref = weakref.ref(c)
    assert loop.run(c) == [1, 1]
    del c
    gc.collect()
    assert coroutine_ref() is None


def test_a_long_running_coroutine_does_not_accumulate_finished_results():
    loop = tinyio.Loop()
    alive = weakref.WeakSet()
    most_alive_at_once = []

    def make(i):
        yield
        result = Result(i)
        alive.add(result)
        return result

    def server():
        for i in range(2000):
            result = yield make(i)
            assert result.value == i
            del result
            if i % 500 == 499:
                gc.collect()
                most_alive_at_once.append(len(alive))

    loop.run(server())
    # A handful may linger between steps; a leak would keep hundreds.
    assert max(most_alive_at_once) <= 5


def test_a_long_lived_loop_does_not_grow():
    loop = tinyio.Loop()

    def child(i):
        yield
        return [i] * 10

    def main(i):
        return (yield [child(i), child(i + 1)])

    def run_many(count):
        for i in range(count):
            assert loop.run(main(i)) == [[i] * 10, [i + 1] * 10]

    run_many(500)  # warm up any caches
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        run_many(3000)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Keeping even one small object per coroutine would add well over 300 kB here.
    assert after - before < 100_000
