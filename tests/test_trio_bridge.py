"""tinyio and trio together: `to_trio` and `from_trio` (docs: other-event-loops.md).

`await tinyio.to_trio(coro)` runs a tinyio coroutine inside trio without blocking trio's loop;
`yield tinyio.from_trio(async_fn_or_coroutine)` runs trio code from tinyio, in a thread with its
own `trio.run`. Errors and cancellation cross the boundary in both directions. trio is an
optional dependency: without it, both raise `ImportError` saying how to install it.
"""

import subprocess
import sys
import threading
import time
import warnings

import pytest
import trio

import ctrl_c_programs
import tinyio


class Boom(Exception):
    pass


def steps(n):
    for _ in range(n):
        yield


def returns(value, after=0):
    yield from steps(after)
    return value


def fails(error, after=0):
    yield from steps(after)
    raise error


def run_tinyio(coro):
    return tinyio.Loop().run(coro)


# ========================================================================================
# to_trio: tinyio inside trio
# ========================================================================================


def test_to_trio_gives_what_the_tinyio_coroutine_returns():
    result = object()

    def work():
        yield tinyio.sleep(0.01)
        a, b = yield [returns(1, after=2), returns(2, after=1)]
        return result, a + b

    async def main():
        return await tinyio.to_trio(work())

    value, total = trio.run(main)
    assert value is result
    assert total == 3


def test_to_trio_waits_for_background_coroutines_too():
    log = []

    def background():
        yield tinyio.sleep(0.02)
        log.append("background finished")

    def work():
        yield {background()}
        return "returned"

    async def main():
        result = await tinyio.to_trio(work())
        log.append("await gave the result")
        return result

    assert trio.run(main) == "returned"
    assert log == ["background finished", "await gave the result"]


def test_the_tinyio_coroutines_run_in_the_trio_thread():
    def work():
        yield
        return threading.get_ident()

    async def main():
        return await tinyio.to_trio(work()), threading.get_ident()

    tinyio_thread, trio_thread = trio.run(main)
    assert tinyio_thread == trio_thread


def test_a_busy_tinyio_coroutine_does_not_block_trio_tasks():
    state = {"ticks": 0, "stop": False}

    def busy():
        start = time.monotonic()
        spins = 0
        while time.monotonic() - start < 0.2:  # always ready, never waits
            spins += 1
            yield
        state["stop"] = True
        return spins

    async def ticker():
        while not state["stop"]:
            state["ticks"] += 1
            await trio.sleep(0)

    async def main():
        results = {}

        async def tinyio_side():
            results["spins"] = await tinyio.to_trio(busy())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tinyio_side)
            nursery.start_soon(ticker)
        return results["spins"]

    spins = trio.run(main)
    assert spins > 100
    # tinyio gives trio a turn every few milliseconds: ~100 in 0.2 s.
    assert state["ticks"] >= 10


@pytest.mark.untraced
@pytest.mark.usefixtures("without_gc")
def test_while_tinyio_sleeps_trio_is_idle_not_polling():
    def sleeper():
        yield tinyio.sleep(0.5)
        return "rested"

    async def main():
        return await tinyio.to_trio(sleeper())

    # This thread's CPU time: the host's loop runs here, and threads left by earlier tests
    # are not its cost.
    cpu_start, start = time.thread_time(), time.monotonic()
    assert trio.run(main) == "rested"
    assert 0.5 <= time.monotonic() - start < 1.5  # not early, nor stuck
    assert time.thread_time() - cpu_start < 0.05


@pytest.mark.untraced
@pytest.mark.usefixtures("without_gc")
def test_while_tinyio_waits_on_a_thread_trio_is_idle_and_wakes_promptly():
    returned_at = []

    def blocking():
        time.sleep(0.3)
        returned_at.append(time.monotonic())
        return "from the thread"

    def work():
        return (yield tinyio.run_in_thread(blocking))

    async def main():
        return await tinyio.to_trio(work())

    # This thread's CPU time: the host's loop runs here, and threads left by earlier tests
    # are not its cost.
    cpu_start, start = time.thread_time(), time.monotonic()
    assert trio.run(main) == "from the thread"
    # Woken within 0.2 s of the thread's end (a wake-up takes milliseconds; one left to a
    # timer or a poll would come later).
    assert time.monotonic() - start >= 0.3
    assert time.monotonic() - returned_at[0] < 0.2
    assert time.thread_time() - cpu_start < 0.05


@pytest.mark.parametrize(
    ("tinyio_delay", "trio_delay"), [(0.05, 0.6), (0.6, 0.05)], ids=["tinyio first", "trio first"]
)
# Latencies: untraced (under a tracer they measure the tracer).
@pytest.mark.untraced
def test_tinyio_and_trio_timers_both_fire_on_time(tinyio_delay, trio_delay):
    woke = {}

    def tinyio_sleeper(start):
        yield tinyio.sleep(tinyio_delay)
        woke["tinyio"] = time.monotonic() - start

    async def trio_sleeper(start):
        await trio.sleep(trio_delay)
        woke["trio"] = time.monotonic() - start

    async def main():
        start = time.monotonic()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tinyio.to_trio, tinyio_sleeper(start))
            nursery.start_soon(trio_sleeper, start)

    trio.run(main)
    # The earlier timer, whichever loop it is in, is not held up by the later one: held up,
    # it would be 0.55 s late, twice the 0.25 s allowed here (a timer is late by milliseconds).
    assert tinyio_delay <= woke["tinyio"] < tinyio_delay + 0.25
    assert trio_delay <= woke["trio"] < trio_delay + 0.25


@pytest.mark.timeout(30)
def test_a_tinyio_event_set_by_a_trio_task_wakes_the_tinyio_side():
    event = tinyio.Event()
    times = {}

    def waiter():  # no tinyio timer is pending: only the wake-up can resume it
        yield event.wait()
        times["woken"] = time.monotonic()

    async def setter():
        await trio.sleep(0.05)
        times["set"] = time.monotonic()
        event.set()

    async def main():
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(tinyio.to_trio, waiter())
                nursery.start_soon(setter)

    trio.run(main)
    assert 0 <= times["woken"] - times["set"] < 0.1


@pytest.mark.timeout(30)
def test_a_tinyio_event_set_by_another_thread_wakes_the_tinyio_side():
    event = tinyio.Event()

    def waiter():
        yield event.wait()
        return "woken"

    async def main():
        timer = threading.Timer(0.05, event.set)
        timer.start()
        try:
            with trio.fail_after(5):
                return await tinyio.to_trio(waiter())
        finally:
            timer.join()

    assert trio.run(main) == "woken"


@pytest.mark.timeout(30)
def test_tinyio_and_trio_hand_values_back_and_forth():
    to_tinyio = tinyio.Queue()

    async def main():
        send_to_trio, receive_in_trio = trio.open_memory_channel(100)

        def tinyio_side():
            for _ in range(20):
                value = yield to_tinyio.get()
                send_to_trio.send_nowait(value + 1)  # same thread as trio's loop
            return "tinyio done"

        async def trio_side():
            total = 0
            for i in range(20):
                to_tinyio.put_nowait(i)
                total += await receive_in_trio.receive()
            results["total"] = total

        async def tinyio_task():
            results["tinyio"] = await tinyio.to_trio(tinyio_side())

        results = {}
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(tinyio_task)
                nursery.start_soon(trio_side)
        return results

    assert trio.run(main) == {"tinyio": "tinyio done", "total": sum(range(1, 21))}


# --- errors from tinyio to trio ---------------------------------------------------------


def test_an_error_in_tinyio_is_raised_out_of_the_await():
    error = Boom("in tinyio")

    async def main():
        try:
            await tinyio.to_trio(fails(error, after=3))
        except Boom as caught:
            return caught
        return None

    assert trio.run(main) is error


def test_an_error_in_tinyio_cancels_the_other_tinyio_coroutines_first():
    log = []

    def victim():
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            log.append("victim cancelled")
            raise

    def work():
        yield [victim(), fails(Boom("in tinyio"), after=3)]

    async def main():
        start = time.monotonic()
        with pytest.raises(Boom):
            await tinyio.to_trio(work())
        log.append("trio saw the error")
        return time.monotonic() - start

    assert trio.run(main) < 1
    assert log == ["victim cancelled", "trio saw the error"]


def test_to_trio_passes_exception_group_on():
    error = Boom("in tinyio")

    def work():
        yield [tinyio.sleep(10), fails(error, after=2)]

    async def main():
        with pytest.raises(BaseExceptionGroup) as raised:
            await tinyio.to_trio(work(), exception_group=True)
        return raised.value

    group = trio.run(main)
    assert group.exceptions[0] is error
    assert isinstance(group.exceptions[1], tinyio.CancelledError)


# --- cancellation from trio to tinyio -----------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("tinyio_is", ["sleeping", "busy", "waiting on an event"])
def test_cancelling_the_trio_scope_cancels_the_tinyio_coroutines(tinyio_is):
    log = []
    never = tinyio.Event()

    def victim(started):
        started.set()  # a trio.Event: we run in trio's thread
        try:
            if tinyio_is == "sleeping":
                yield tinyio.sleep(10)
            elif tinyio_is == "busy":
                while True:
                    yield
            else:
                yield never.wait()
        except tinyio.CancelledError:
            log.append("tinyio cancelled")
            raise
        finally:
            log.append("tinyio cleaned up")

    def background():
        try:
            yield tinyio.sleep(10)
        finally:
            log.append("background cleaned up")

    def work(started):
        yield {background()}
        yield victim(started)

    async def main():
        started = trio.Event()
        async with trio.open_nursery() as nursery:

            async def tinyio_task():
                await tinyio.to_trio(work(started))
                log.append("not reached")

            nursery.start_soon(tinyio_task)
            await started.wait()
            await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        log.append("trio scope cancelled")
        return nursery.cancel_scope.cancelled_caught

    start = time.monotonic()
    assert trio.run(main) is True
    assert time.monotonic() - start < 5
    assert log[-1] == "trio scope cancelled"
    assert sorted(log[:-1]) == ["background cleaned up", "tinyio cancelled", "tinyio cleaned up"]


def test_a_trio_timeout_around_to_trio_cancels_the_tinyio_side():
    log = []

    def slow():
        try:
            yield tinyio.sleep(10)
        finally:
            log.append("tinyio cleaned up")

    async def main():
        start = time.monotonic()
        with trio.move_on_after(0.05) as scope:
            await tinyio.to_trio(slow())
            log.append("not reached")
        return scope.cancelled_caught, time.monotonic() - start

    cancelled, elapsed = trio.run(main)
    assert cancelled is True
    assert elapsed < 1
    assert log == ["tinyio cleaned up"]


def test_the_cancellation_seen_by_trio_is_trios_own():
    def slow():
        yield tinyio.sleep(10)

    async def main():
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await tinyio.to_trio(slow())
            except trio.Cancelled:
                return "trio.Cancelled"
        return "nothing"

    assert trio.run(main) == "trio.Cancelled"


@pytest.mark.timeout(30)
def test_cancelling_the_trio_scope_ends_threads_that_tinyio_started():
    seen = []

    def blocking(entered):
        seen.append(threading.current_thread())
        try:
            entered()  # inside the `try`: the cancellation may come as soon as it is done
            while True:
                time.sleep(0.005)
        except tinyio.CancelledError:
            seen.append("cancelled in the thread")
            raise

    async def main():
        entered = trio.Event()
        token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            call = tinyio.run_in_thread(blocking, lambda: token.run_sync_soon(entered.set))
            nursery.start_soon(tinyio.to_trio, call)
            await entered.wait()
            nursery.cancel_scope.cancel()

    trio.run(main)
    worker, message = seen
    assert message == "cancelled in the thread"
    assert not worker.is_alive()


@pytest.mark.parametrize("bad", [None, 1, lambda: None])
def test_to_trio_needs_a_tinyio_coroutine(bad):
    async def main():
        await tinyio.to_trio(bad)

    with pytest.raises(TypeError, match="to_trio needs a tinyio coroutine"):
        trio.run(main)


# ========================================================================================
# from_trio: trio inside tinyio
# ========================================================================================


def test_from_trio_gives_what_the_trio_code_returns():
    result = object()

    async def fetch():
        await trio.sleep(0.01)
        return result

    def main():
        return (yield tinyio.from_trio(fetch()))

    assert run_tinyio(main()) is result


def test_from_trio_also_takes_an_async_function_of_no_arguments():
    async def fetch():
        await trio.sleep(0.01)
        return "called"

    def main():
        return (yield tinyio.from_trio(fetch))

    assert run_tinyio(main()) == "called"


def test_the_trio_code_runs_in_another_thread_under_its_own_trio_run():
    async def where():
        await trio.sleep(0)
        return threading.get_ident(), trio.lowlevel.current_trio_token()

    def main():
        return (yield [tinyio.from_trio(where()), tinyio.from_trio(where())])

    (thread_a, token_a), (thread_b, token_b) = run_tinyio(main())
    assert threading.get_ident() not in (thread_a, thread_b)
    assert token_a is not token_b


def test_trio_code_does_not_block_the_tinyio_loop():
    log = []

    async def slow():
        log.append("trio started")
        await trio.sleep(0.2)
        log.append("trio finished")
        return "slow"

    def ticker():
        for _ in range(5):
            yield tinyio.sleep(0.01)
        log.append("tinyio ticked 5 times")

    def main():
        results = yield [
            tinyio.from_trio(slow()),
            tinyio.from_trio(slow()),
            tinyio.from_trio(slow()),
            ticker(),
        ]
        return results[:3]

    assert run_tinyio(main()) == ["slow"] * 3
    # The tinyio side ticked meanwhile, and the three ran at the same time: all had started
    # before the first finished.
    assert log.index("tinyio ticked 5 times") < log.index("trio finished")
    assert log.count("trio started") == 3
    assert max(i for i, entry in enumerate(log) if entry == "trio started") < log.index(
        "trio finished"
    )


@pytest.mark.untraced  # a CPU time: under a tracer it would measure the tracer
def test_while_trio_code_runs_the_tinyio_loop_is_idle_not_polling():
    async def slow():
        await trio.sleep(0.3)
        return "done"

    def main():
        return (yield tinyio.from_trio(slow()))

    cpu_start = time.process_time()
    assert run_tinyio(main()) == "done"
    # Starting a thread and trio's loop costs a little; polling for 0.3 s would cost more.
    assert time.process_time() - cpu_start < 0.1


# --- errors from trio to tinyio ---------------------------------------------------------


def test_an_error_in_the_trio_code_is_raised_in_tinyio():
    error = Boom("in trio")

    async def broken():
        await trio.sleep(0.01)
        raise error

    def main():
        yield tinyio.from_trio(broken())

    with pytest.raises(Boom) as raised:
        run_tinyio(main())
    assert raised.value is error


def test_an_error_in_the_trio_code_cancels_the_other_tinyio_coroutines():
    log = []

    async def broken():
        await trio.sleep(0.01)
        raise Boom("in trio")

    def victim():
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            log.append("tinyio cancelled")
            raise

    def main():
        yield [victim(), tinyio.from_trio(broken())]

    with pytest.raises(Boom):
        run_tinyio(main())
    assert log == ["tinyio cancelled"]


def test_an_error_in_the_trio_code_can_be_caught_with_isolate():
    async def broken():
        await trio.sleep(0.01)
        raise Boom("in trio")

    def main():
        error, ok = yield tinyio.isolate(tinyio.from_trio(broken()))
        return type(error), ok

    assert run_tinyio(main()) == (Boom, False)


def test_errors_cross_from_trio_through_tinyio_back_to_trio():
    error = Boom("in the innermost trio")

    async def innermost():
        await trio.sleep(0.01)
        raise error

    def middle():
        yield tinyio.from_trio(innermost())

    async def outermost():
        try:
            await tinyio.to_trio(middle())
        except Boom as caught:
            return caught
        return None

    assert trio.run(outermost) is error


# --- cancellation from tinyio to trio ---------------------------------------------------


def _cancellable(log, on_start):
    async def slow():
        on_start()
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            log.append("trio cancelled")
            with trio.CancelScope(shield=True):
                await trio.sleep(0.02)  # cleanup may await, in a shielded scope
            log.append("trio cleaned up")
            raise

    return slow()


@pytest.mark.timeout(30)
def test_a_tinyio_timeout_cancels_the_trio_code_and_waits_for_its_cleanup():
    log = []
    started = threading.Event()

    def main():
        start = time.monotonic()
        result = yield tinyio.timeout(tinyio.from_trio(_cancellable(log, started.set)), 0.05)
        log.append("timeout returned")
        return result, time.monotonic() - start

    result, elapsed = run_tinyio(main())
    assert result == (None, False)
    assert elapsed < 1
    assert log == ["trio cancelled", "trio cleaned up", "timeout returned"]


@pytest.mark.timeout(30)
def test_a_tinyio_crash_cancels_the_trio_code_and_waits_for_its_thread():
    log = []
    started = threading.Event()
    threads_before = set(threading.enumerate())

    def crash_once_started():
        yield tinyio.run_in_thread(started.wait)
        raise Boom("in tinyio")

    def main():
        yield [tinyio.from_trio(_cancellable(log, started.set)), crash_once_started()]

    with pytest.raises(Boom):
        run_tinyio(main())
    assert log == ["trio cancelled", "trio cleaned up"]
    assert set(threading.enumerate()) <= threads_before  # no thread outlives loop.run


@pytest.mark.timeout(30)
def test_trio_code_that_swallows_the_cancellation_and_returns_gives_a_runtime_warning():
    started = threading.Event()

    async def swallowing():
        started.set()
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            return "carried on"
        return "slept"

    def crash_once_started():
        yield tinyio.run_in_thread(started.wait)
        raise Boom("in tinyio")

    def main():
        yield [tinyio.from_trio(swallowing()), crash_once_started()]

    with (
        pytest.warns(RuntimeWarning, match="did not respond properly to cancellation") as record,
        pytest.raises(Boom),
    ):
        run_tinyio(main())
    assert "'carried on'" in str(record[0].message)


@pytest.mark.timeout(30)
def test_trio_code_that_returned_before_the_cancel_came_is_not_blamed():
    # `job` returns, but trio.run then waits for a system task it cancels at its end: the
    # thread has not ended when the tinyio side is cancelled, yet `job` never saw a cancel.
    returned = threading.Event()

    async def slow_to_clean_up():
        try:
            await trio.sleep(10)
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.5)
            raise

    async def job():
        trio.lowlevel.spawn_system_task(slow_to_clean_up)
        await trio.sleep(0)
        returned.set()
        return "done"

    log = []

    def caller():
        try:
            yield tinyio.from_trio(job())
        except tinyio.CancelledError:
            log.append("cancelled")
            raise

    def main():
        target = caller()
        yield {target}
        yield tinyio.run_in_thread(returned.wait)
        yield tinyio.cancel(target)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_tinyio(main())
    assert log == ["cancelled"]


@pytest.mark.timeout(30)
def test_cancellation_crosses_from_trio_through_tinyio_back_to_trio():
    log = []

    def middle(on_start):
        try:
            yield tinyio.from_trio(_cancellable(log, on_start))
        finally:
            log.append("tinyio cleaned up")

    async def outermost():
        started = trio.Event()
        token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            # The innermost trio code runs under another trio.run, in another thread.
            nursery.start_soon(tinyio.to_trio, middle(lambda: token.run_sync_soon(started.set)))
            await started.wait()
            nursery.cancel_scope.cancel()

    trio.run(outermost)
    assert log == ["trio cancelled", "trio cleaned up", "tinyio cleaned up"]


@pytest.mark.parametrize("bad", [None, 1, "text", print, int])
def test_from_trio_needs_a_coroutine_or_an_async_function(bad):
    with pytest.raises(TypeError, match="from_trio needs a coroutine or an async function"):
        tinyio.from_trio(bad)


def test_from_trio_of_a_synchronous_function_raises_type_error_at_the_user_s_yield():
    def main():
        yield tinyio.from_trio(lambda: 5)

    with pytest.raises(TypeError, match=r"returned 5, which cannot be awaited") as info:
        tinyio.Loop().run(main())
    files = {str(entry.path) for entry in info.traceback}
    assert files == {__file__}, files  # no frame of trio's or tinyio's machinery


# ========================================================================================
# trio is optional
# ========================================================================================


def test_without_trio_from_trio_raises_import_error_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "trio", None)  # `import trio` now raises ImportError

    async def fetch():
        return 1

    with pytest.raises(ImportError, match="pip install trio"):
        tinyio.from_trio(fetch)


def test_without_trio_to_trio_raises_import_error_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "trio", None)

    def work():
        yield

    awaitable = tinyio.to_trio(work())
    with pytest.raises(ImportError, match="pip install trio"):
        awaitable.send(None)  # its first step, as any event loop would take it


def test_tinyio_imports_and_runs_without_trio():
    code = (
        "import sys; sys.modules['trio'] = None\n"
        "import asyncio, tinyio\n"
        "def work():\n"
        "    yield tinyio.sleep(0)\n"
        "    return 'ok'\n"
        "print(tinyio.Loop().run(work()), asyncio.run(tinyio.to_asyncio(work())))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert output.stdout == "ok ok\n"
    assert output.stderr == ""


@pytest.mark.timeout(30)
def test_a_timed_out_call_whose_task_cleans_up_slowly_does_not_block_the_tinyio_loop():
    # The trio code's clean-up can only end once a tinyio coroutine has run meanwhile (it
    # gives up after 5 s otherwise): so it ends in time only if the tinyio loop is not blocked.
    cleaning = threading.Event()
    release = []  # what the tinyio side calls, from its thread, to end the clean-up
    log = []

    async def slow_cleanup():
        try:
            await trio.sleep(10)
        finally:
            released = trio.Event()
            token = trio.lowlevel.current_trio_token()
            release.append(lambda: token.run_sync_soon(released.set))
            cleaning.set()
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await released.wait()
            log.append("released by tinyio" if released.is_set() else "tinyio was blocked")

    def releaser():
        yield tinyio.run_in_thread(cleaning.wait, 5)
        release[0]()

    def main():
        yield {releaser()}
        return (yield tinyio.timeout(tinyio.from_trio(slow_cleanup()), 0.05))

    assert tinyio.Loop().run(main()) == (None, False)
    assert log == ["released by tinyio"]  # the timeout waited for the clean-up, without blocking
    assert not [t for t in threading.enumerate() if t.name == "tinyio from_trio"]


# ---------------------------------------------------------------- Ctrl-C (in a subprocess)


@pytest.mark.timeout(120)
def test_one_ctrl_c_waits_for_a_slow_trio_cleanup_and_says_what_it_waits_for(tmp_path):
    ctrl_c_programs.check_one_ctrl_c_waits_for_the_cleanup_and_says_so(tmp_path, "trio")


@pytest.mark.timeout(120)
def test_a_second_ctrl_c_abandons_trio_code_that_does_not_end(tmp_path):
    ctrl_c_programs.check_a_second_ctrl_c_abandons_the_task(tmp_path, "trio")


# A hang ends the whole run (the thread method): a Ctrl-C the wait does not hear would leave
# the main thread in it, which a signal cannot end either. Untraced: on 3.11 under a tracer
# (--cov), every traced thread -- the presser's, the timeout's -- spins at each Python call
# while the stuck thread's CancelledError is pending (devdocs/threads.md), so it would hang.
@pytest.mark.untraced
@pytest.mark.timeout(60, method="thread")
def test_a_second_ctrl_c_under_trio_abandons_a_thread_stuck_in_a_c_call():
    ctrl_c_programs.check_a_second_ctrl_c_abandons_a_thread_stuck_in_a_c_call(
        lambda main: trio.run(tinyio.to_trio, main)
    )


@pytest.mark.timeout(120)
def test_two_ctrl_cs_under_to_trio_with_a_stuck_thread_blame_no_internal_coroutine(tmp_path):
    # Trio delivers a Ctrl-C only at a checkpoint, which the blocking wait for the stuck thread
    # never reaches: the wait hears the second Ctrl-C itself, and abandons the thread.
    ctrl_c_programs.check_a_driven_loop_blames_no_internal_coroutine_at_two_ctrl_cs(
        tmp_path, "trio"
    )
