"""At a crash or a Ctrl-C, a `timeout` or a `race` lets what it runs clean up before its caller
does: innermost first, as docs/errors.md promises (issue 21, from a new-user trial).

What runs inside is a thread call, an executor call or a `from_asyncio`/`from_trio` call, whose
clean-up the loop puts after every other coroutine's (it waits on work outside the loop). The
coroutine waiting on the timeout or the race waits on that clean-up, as it does on a plain
`yield tinyio.run_in_thread(...)`: its `finally` runs after it. Each test stops the run once the
work outside the loop has started, so the order is certain, not a matter of timing.
"""

import asyncio
import concurrent.futures
import signal
import threading
import time

import pytest

import tinyio

trio = pytest.importorskip("trio")

# How long each inner clean-up takes: long against the microseconds the caller's `finally`
# would take to run before it, were it not waited for.
CLEANUP = 0.05


def blocking(log, started):
    try:
        started.set()
        while True:
            time.sleep(0.001)
    finally:
        time.sleep(CLEANUP)
        log.append("inner cleaned up")


def executor_work(log, started):
    # A running executor call cannot be cancelled: it ends by itself, and is waited for.
    started.set()
    time.sleep(CLEANUP)
    log.append("inner cleaned up")


async def asyncio_work(log, started):
    try:
        started.set()
        await asyncio.sleep(30)
    finally:
        await asyncio.sleep(CLEANUP)
        log.append("inner cleaned up")


async def trio_work(log, started):
    try:
        started.set()
        await trio.sleep(30)
    finally:
        with trio.CancelScope(shield=True):
            await trio.sleep(CLEANUP)
        log.append("inner cleaned up")


# What runs inside the timeout or the race: a tinyio coroutine that waits on work outside the
# loop, given the log, a threading.Event that the work sets once it runs, and an executor.
INNER = {
    "run_in_thread": lambda log, started, _: tinyio.run_in_thread(blocking, log, started),
    "ThreadPool": lambda log, started, _: tinyio.ThreadPool(1).run_in_thread(
        blocking, log, started
    ),
    "run_in_executor": lambda log, started, pool: tinyio.run_in_executor(
        pool, executor_work, log, started
    ),
    "from_asyncio": lambda log, started, _: tinyio.from_asyncio(asyncio_work(log, started)),
    "from_trio": lambda log, started, _: tinyio.from_trio(trio_work(log, started)),
}


def yielding(inner):
    """A coroutine of the user's around `inner`, which it yields."""
    yield inner


# How the inner call is wrapped: the library coroutine that the caller waits on.
WRAPPERS = {
    "timeout": lambda inner: tinyio.timeout(inner, 30),
    "timeout-of-a-coroutine": lambda inner: tinyio.timeout(yielding(inner), 30),
    "timeout-of-a-timeout": lambda inner: tinyio.timeout(tinyio.timeout(inner, 30), 30),
    "race": lambda inner: tinyio.race([inner, tinyio.sleep(30)]),
    "race-of-a-coroutine": lambda inner: tinyio.race([tinyio.sleep(30), yielding(inner)]),
    "race-in-a-timeout": lambda inner: tinyio.timeout(tinyio.race([inner, tinyio.sleep(30)]), 30),
    "settle": lambda inner: tinyio.settle([yielding(inner)]),
}


class Boom(Exception):
    pass


def run_and_stop(wrap, inner_kind, stop):
    """Run a caller waiting on `wrap(inner)`; once the inner work runs, stop the run with an
    error of another coroutine ("crash") or a Ctrl-C. The log of the clean-ups."""
    log = []
    started = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def caller():
        try:
            yield wrap(INNER[inner_kind](log, started, pool))
        finally:
            log.append("caller cleaned up")

    def stopper():
        yield tinyio.run_in_thread(started.wait, 30)
        if stop == "crash":
            raise Boom("crash")
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        yield tinyio.sleep(30)  # the Ctrl-C lands here, or while the loop blocks

    def main():
        yield [caller(), stopper()]

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Boom if stop == "crash" else KeyboardInterrupt):
            tinyio.Loop().run(main(), exception_group=False)
    finally:
        signal.signal(signal.SIGINT, previous)
        pool.shutdown()
    return log


@pytest.mark.timeout(20)
@pytest.mark.parametrize("stop", ["crash", "ctrl-c"])
@pytest.mark.parametrize("inner_kind", list(INNER))
@pytest.mark.parametrize("wrapper", list(WRAPPERS))
def test_the_caller_cleans_up_after_what_the_timeout_or_race_runs(wrapper, inner_kind, stop):
    log = run_and_stop(WRAPPERS[wrapper], inner_kind, stop)
    assert log == ["inner cleaned up", "caller cleaned up"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("stop", ["crash", "ctrl-c"])
def test_a_plain_yield_of_a_thread_call_already_cleaned_up_innermost_first(stop):
    # The behaviour the wrappers now match.
    log = run_and_stop(lambda inner: inner, "run_in_thread", stop)
    assert log == ["inner cleaned up", "caller cleaned up"]


@pytest.mark.timeout(20)
def test_a_timeout_whose_coroutine_cleans_up_in_the_loop_does_not_hold_up_the_others():
    # Only a clean-up waiting on work outside the loop is put after the others: a timeout
    # whose coroutine cleans up at once is cancelled, with its caller, in the usual order
    # (newest first), before an unrelated coroutine that is older.
    log = []
    entered = tinyio.Event()

    def older():
        try:
            yield tinyio.sleep(30)
        finally:
            log.append("older cleaned up")

    def inside():
        try:
            entered.set()
            yield tinyio.sleep(30)
        finally:
            log.append("inner cleaned up")

    def caller():
        try:
            yield tinyio.timeout(inside(), 30)
        finally:
            log.append("caller cleaned up")

    def crasher():
        yield entered.wait()
        raise Boom("crash")

    def main():
        yield {older()}
        yield [caller(), crasher()]

    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    assert log == ["inner cleaned up", "caller cleaned up", "older cleaned up"]
