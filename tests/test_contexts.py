"""Context variables: each coroutine runs in its own `contextvars.Context`, copied from the
coroutine that started it, and thread calls run in a copy of their caller's (docs: loops.md)."""

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import tinyio

request_id: contextvars.ContextVar[object] = contextvars.ContextVar("request_id", default=None)


def steps(n):
    for _ in range(n):
        yield


# --- isolated per coroutine ---------------------------------------------------------------


def test_each_coroutine_keeps_its_own_value_across_yields():
    def handler(rid):
        request_id.set(rid)
        yield from steps(3)  # the others set theirs meanwhile
        return request_id.get()

    def main():
        return (yield [handler(1), handler(2), handler(3)])

    assert tinyio.Loop().run(main()) == [1, 2, 3]


def test_a_coroutine_starts_from_a_copy_of_its_starters_context():
    log = []

    def child():
        log.append(("child sees", request_id.get()))
        request_id.set("child's")
        yield from steps(3)
        log.append(("child still sees", request_id.get()))

    def parent():
        request_id.set("parent's")
        running = child()
        yield {running}
        yield
        request_id.set("parent's, changed later")  # not seen by the child: it has a copy
        yield running
        log.append(("parent sees", request_id.get()))

    tinyio.Loop().run(parent())
    assert log == [
        ("child sees", "parent's"),
        ("child still sees", "child's"),
        ("parent sees", "parent's, changed later"),
    ]


def test_members_of_a_gather_and_of_a_background_set_each_get_a_copy():
    def member(tag):
        seen = request_id.get()
        request_id.set(tag)
        yield
        return seen, request_id.get()

    def main():
        request_id.set("main's")
        gathered = yield [member("a"), member("b")]
        background = member("c")
        yield {background}
        return gathered, (yield background), request_id.get()

    gathered, background, own = tinyio.Loop().run(main())
    assert gathered == [("main's", "a"), ("main's", "b")]
    assert background == ("main's", "c")
    assert own == "main's"


def test_a_coroutine_shared_by_two_runs_in_the_context_of_the_first_to_start_it():
    def shared():
        yield from steps(2)
        return request_id.get()

    def starter(tag, coro, first):
        request_id.set(tag)
        if not first:
            yield from steps(1)  # the other one starts it
        return (yield coro)

    def main():
        coro = shared()
        return (yield [starter("first", coro, True), starter("second", coro, False)])

    assert tinyio.Loop().run(main()) == ["first", "first"]


def test_the_main_coroutine_sees_the_callers_values_and_its_own_do_not_leak_out():
    def main():
        seen = request_id.get()
        request_id.set("set inside")
        yield
        return seen

    token = request_id.set("set by the caller")
    try:
        assert tinyio.Loop().run(main()) == "set by the caller"
        assert request_id.get() == "set by the caller"
    finally:
        request_id.reset(token)


def test_yield_from_runs_in_the_delegating_coroutines_context():
    def helper():
        request_id.set("set by the helper")
        yield

    def main():
        yield from helper()
        return request_id.get()

    assert tinyio.Loop().run(main()) == "set by the helper"


def test_a_coroutine_cleans_up_in_its_own_context_when_the_loop_crashes():
    seen = []

    def worker(rid):
        request_id.set(rid)
        try:
            yield tinyio.Event().wait()
        finally:
            seen.append(request_id.get())

    def failing():
        yield from steps(3)
        raise ValueError("crash")

    def main():
        yield [worker("w1"), worker("w2"), failing()]

    with pytest.raises(ValueError, match="crash"):
        tinyio.Loop().run(main())
    assert sorted(seen) == ["w1", "w2"]


def test_an_isolated_region_starts_from_a_copy_of_the_isolating_coroutines_context():
    def inside():
        yield
        return request_id.get()

    def main():
        request_id.set("outer")
        return (yield tinyio.isolate(inside()))

    assert tinyio.Loop().run(main()) == ("outer", True)


# --- copied into threads ------------------------------------------------------------------


def _read_and_set():
    seen = request_id.get()
    request_id.set("set in the thread")
    return seen, threading.current_thread() is not threading.main_thread()


def test_run_in_thread_runs_the_call_in_a_copy_of_the_callers_context():
    def handler(rid):
        request_id.set(rid)
        result = yield tinyio.run_in_thread(_read_and_set)
        return result, request_id.get()

    def main():
        return (yield [handler("r1"), handler("r2")])

    assert tinyio.Loop().run(main()) == [(("r1", True), "r1"), (("r2", True), "r2")]


def test_a_thread_pool_runs_each_call_in_a_copy_of_the_callers_context():
    pool = tinyio.ThreadPool(2)

    def main():
        request_id.set("pooled")
        one = yield pool.run_in_thread(_read_and_set)
        many = yield pool.map(lambda _: request_id.get(), range(3))
        return one, many, request_id.get()

    assert tinyio.Loop().run(main()) == (("pooled", True), ["pooled"] * 3, "pooled")


def test_run_in_executor_with_threads_runs_the_call_in_a_copy_of_the_callers_context():
    def main():
        request_id.set("executor")
        with ThreadPoolExecutor(max_workers=1) as executor:
            result = yield tinyio.run_in_executor(executor, _read_and_set)
        return result, request_id.get()

    assert tinyio.Loop().run(main()) == (("executor", True), "executor")


def test_from_asyncio_runs_the_async_code_in_a_copy_of_the_callers_context():
    async def read_and_set():
        await asyncio.sleep(0)
        seen = request_id.get()
        request_id.set("set in asyncio")
        return seen

    def main():
        request_id.set("from tinyio")
        seen = yield tinyio.from_asyncio(read_and_set())
        return seen, request_id.get()

    assert tinyio.Loop().run(main()) == ("from tinyio", "from tinyio")
