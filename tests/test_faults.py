"""A fault anywhere in a random program stops it cleanly: nothing hangs, leaks or is lost.

The programs are those of tests/test_properties.py (see tests/random_programs.py). One fault
is injected at a random site -- in a coroutine before any of its steps or inside a held lock,
in a thread function run by `run_in_thread`, in the coroutine or thread that sets an Event, or
in a Queue's producer -- as an `Exception` or a `KeyboardInterrupt`. Then:

- `loop.run` raises the injected error itself, as `exception_group` says (docs: errors.md);
- every coroutine of the program that started either finished, or received `CancelledError`
  exactly once -- except the one that raised the fault -- and its `finally` ran;
- every thread ended, no Event, Lock, Semaphore or Queue is left with a waiter or a held slot,
  and the loop can run again.

Also here: a Ctrl-C (a real SIGINT-like signal) at a random moment of a random program, and
`tinyio.isolate` keeping a fault inside it away from the rest of the loop.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import tinyio
from random_programs import (
    EventSpec,
    InjectedError,
    Program,
    QueueSpec,
    Run,
    SemaphoreSpec,
    fault_sites,
    programs,
    reference,
    run_loop,
)

EXCEPTION_GROUP = st.sampled_from([None, False, True])


def make_error(kind: str, site: tuple) -> BaseException:
    if kind == "error":
        return InjectedError(f"injected at {site}")
    return KeyboardInterrupt(f"injected at {site}")


def trivial():
    yield
    return "the loop still works"


def run_with_fault(program, site, error, exception_group):
    """Run `program` with `error` raised at `site`; return (run, what loop.run raised)."""
    threads_before = set(threading.enumerate())
    run = Run(program, site, error)
    run.start_plain_threads()
    loop = tinyio.Loop()
    try:
        ok, outcome = run_loop(loop, run.root(), exception_group)
        leftover = set(threading.enumerate()) - threads_before - set(run.plain_threads)
    finally:
        run.join_plain_threads()
    assert not ok, f"the fault at {site} did not come out of loop.run"
    assert not leftover, f"threads still running after loop.run: {leftover}"
    assert run_loop(loop, trivial()) == (True, "the loop still works")
    return run, outcome


def check_error_comes_out(error, outcome, exception_group, run):
    if exception_group is True:
        assert isinstance(outcome, BaseExceptionGroup)
        first, *others = outcome.exceptions
        assert first is error
        assert all(isinstance(other, tinyio.CancelledError) for other in others)
        # Each reported once. (Those of the failing chain are left out: the original error's
        # traceback shows them; tests/test_exception_groups.py checks which are.)
        assert len({id(other) for other in others}) == len(others)
    else:
        # Our coroutines all let CancelledError propagate: no other error to group with.
        assert outcome is error


def check_every_coroutine_accounted_for(run, site):
    for name in run.names():
        assert run.started[name] == 1, name
        assert run.finalised[name] == 1, f"the finally of {name} did not run"
        outcomes = run.finished[name] + run.cancelled[name] + run.raised[name]
        assert outcomes == 1, (name, run.finished[name], run.cancelled[name], run.raised[name])
    raisers = {name for name in run.names() if run.raised[name]}
    if site[0] in ("node", "producer"):
        assert raisers == {site[:2]}
    elif site[0] == "setter" and run.program.events[site[1]].setter == "coroutine":
        assert raisers == {site}
    else:  # the error was raised in a thread, and came out of `run_in_thread`
        assert raisers == set()
    assert run.leftovers() == []
    assert run.over_held == []


@given(st.data())
def test_a_fault_anywhere_cancels_the_rest_and_comes_out_of_run(data):
    program = data.draw(programs())
    site = data.draw(st.sampled_from(fault_sites(program)), label="site")
    error = make_error(data.draw(st.sampled_from(["error", "interrupt"])), site)
    exception_group = data.draw(EXCEPTION_GROUP, label="exception_group")
    run, outcome = run_with_fault(program, site, error, exception_group)
    check_error_comes_out(error, outcome, exception_group, run)
    check_every_coroutine_accounted_for(run, site)


def test_every_kind_of_fault_site_is_generated():
    # The fault test above is only as good as the sites it can pick: make sure a program
    # with every kind of helper offers every kind of site.
    program = Program(
        nodes=((("hold", 0, (("yield",),)), ("thread", 0), ("get", 0), ("wait", 0, None)),),
        events=tuple(EventSpec(setter, 1) for setter in ("coroutine", "run_in_thread", "thread")),
        semaphores=(SemaphoreSpec(2, as_lock=False),),
        queues=(QueueSpec(0, "coroutine"),),
    )
    sites = fault_sites(program)
    assert {site[0] for site in sites} == {"node", "thread", "setter", "producer"}
    assert ("node", 0, (0, 1)) in sites  # inside the held semaphore
    assert ("setter", 2) not in sites  # a plain thread cannot crash the loop
    for site in sites:
        error = InjectedError(str(site))
        run, outcome = run_with_fault(program, site, error, exception_group=None)
        assert outcome is error
        check_every_coroutine_accounted_for(run, site)


def test_a_coroutine_cancelled_just_after_acquiring_a_lock_gives_the_lock_back():
    # Found by the fault test above (stress layer): a coroutine whose `yield lock()` has just
    # been handed the lock, but which is cancelled before it resumes -- and so before its
    # `with` block is entered -- must not keep the lock. Inside `tinyio.isolate` the outer
    # loop carries on, and would never get the lock again. The slot is given back as soon as
    # the isolated loop has crashed, without waiting for the garbage collector.
    lock = tinyio.Lock()

    def holder():
        with (yield lock()):
            yield

    def crashing():
        yield {holder()}  # holder starts and yields lock(): the acquiring coroutine starts
        yield  # meanwhile it takes the free lock and finishes; holder is ready to resume...
        raise InjectedError("crash inside isolate")  # ...but is cancelled first

    def outer():
        error, ok = yield tinyio.isolate(crashing())
        assert not ok
        assert isinstance(error, InjectedError)
        unlocked = repr(lock)
        with (yield lock()):
            return unlocked

    assert run_loop(tinyio.Loop(), outer()) == (True, "<tinyio.Lock unlocked, 0 waiting>")


def test_a_timeout_while_waiting_for_a_lock_does_not_leave_the_lock_taken():
    # The same hole, reached through `tinyio.timeout`: it interrupts the coroutine waiting in
    # `yield lock()`, but leaves the lock's acquiring coroutine waiting (timeout does not
    # cancel what the coroutine waits on); once the lock is free, that one takes it -- for
    # no one, for ever.
    lock = tinyio.Lock()

    def holder():
        with (yield lock()):
            yield tinyio.sleep(0.05)

    def impatient():
        with (yield lock()):
            return "took the lock"

    def main():
        yield {holder()}
        yield
        outcome = yield tinyio.timeout(impatient(), 0.001)
        yield tinyio.sleep(0.2)  # holder has let go of the lock long before this
        return outcome, repr(lock)

    assert run_loop(tinyio.Loop(), main()) == (
        True,
        ((None, False), "<tinyio.Lock unlocked, 0 waiting>"),
    )


def test_a_coroutine_cancelled_just_after_getting_a_queue_item_does_not_lose_it():
    # The Lock case above, for a Queue: the getter is cancelled (its isolated loop crashes)
    # around the moment its `yield queue.get()` would take the item. Since the get runs as
    # part of the getter (see docs/devdocs/fairness.md), it cannot take the item without the
    # getter receiving it: the item must still be in the queue, or have been delivered.
    # (tests/test_isolate.py covers the same with a timeout, between two steps of the region.)
    queue = tinyio.Queue()
    queue.put_nowait("item")
    received = []

    def getter():
        received.append((yield queue.get()))

    def crashing():
        yield {getter()}  # the getter takes its first step after this one...
        raise InjectedError("crash inside isolate")  # ...and is cancelled before its second

    def outer():
        _, ok = yield tinyio.isolate(crashing())
        assert not ok
        return received, queue.qsize()

    finished, value = run_loop(tinyio.Loop(), outer())
    assert finished, value
    assert value in [([], 1), (["item"], 0)]


def test_a_timeout_while_waiting_for_a_queue_item_does_not_lose_the_next_item():
    # `tinyio.timeout` interrupts the coroutine waiting in `yield queue.get()`. It used to
    # leave the get itself waiting (timeout does not cancel what the coroutine waits on): the
    # next item went to that orphaned get, and the getter that came next never received it.
    # Now the interrupt goes into the get first, as with `yield from`, and it leaves the line.
    queue = tinyio.Queue()

    def get_one():
        return (yield queue.get())

    def main():
        gave_up = yield tinyio.timeout(get_one(), 0.001)
        queue.put_nowait("first")
        received = yield tinyio.timeout(get_one(), 0.2)
        queue.put_nowait("spare")  # lets whichever get is still waiting finish
        queue.put_nowait("spare")
        return gave_up, received

    assert run_loop(tinyio.Loop(), main()) == (True, ((None, False), ("first", True)))


# ---------------------------------------------------------------- a real Ctrl-C at any moment


@pytest.mark.stress
@settings(phases=[Phase.explicit, Phase.generate])  # timing-dependent: replaying cannot shrink
@given(programs(), st.integers(0, 15), EXCEPTION_GROUP)
def test_a_ctrl_c_at_a_random_moment_stops_a_random_program_cleanly(
    program, delay_ms, exception_group
):
    # A real SIGINT: Python's handler raises KeyboardInterrupt in the main thread at whatever
    # bytecode it is running -- in a coroutine, in the loop's own code -- or wakes it while
    # the loop sleeps. The sender is started from inside the loop, and an Event that is never
    # set keeps the loop running until the signal arrives, so it always lands in `loop.run`.
    # If the loop has not stopped 5 s later, a second SIGINT is sent (so the test cannot hang)
    # and the test fails: the first Ctrl-C was lost. (Timing-dependent, so in the stress layer.)
    threads_before = set(threading.enumerate())
    run = Run(program)
    never = tinyio.Event()
    main_thread = threading.get_ident()
    lost: list[float] = []

    def send_ctrl_c():
        time.sleep(delay_ms / 1000)
        signal.pthread_kill(main_thread, signal.SIGINT)

    def send_another():
        lost.append(time.monotonic())
        signal.pthread_kill(main_thread, signal.SIGINT)

    sender = threading.Thread(target=send_ctrl_c, name="Ctrl-C sender")
    watchdog = threading.Timer(5.0, send_another)

    def start_sender_then_run():
        watchdog.start()
        sender.start()
        yield [run.root(), never.wait()]

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    run.start_plain_threads()
    loop = tinyio.Loop()
    try:
        loop.run(start_sender_then_run(), exception_group=exception_group)
    except BaseException as raised:
        outcome = raised
    else:  # pragma: no cover
        pytest.fail("loop.run returned although an Event that is never set was waited on")
    finally:
        watchdog.cancel()
        for thread in (watchdog, sender):
            if thread.ident is not None:  # started (the signal may interrupt `start` itself)
                thread.join()
        signal.signal(signal.SIGINT, previous)
        leftover = set(threading.enumerate()) - threads_before - set(run.plain_threads)
        run.join_plain_threads()
    assert not lost, (
        "the loop did not act on a Ctrl-C for 5 s (it was blocked waiting; a second Ctrl-C "
        "stopped it)"
    )
    assert not leftover, f"threads still running after loop.run: {leftover}"
    if exception_group is True:
        assert isinstance(outcome, BaseExceptionGroup)
        assert isinstance(outcome.exceptions[0], KeyboardInterrupt)
    else:
        assert isinstance(outcome, KeyboardInterrupt)
    # The signal may land in the middle of our own bookkeeping in one coroutine; every other
    # coroutine must add up exactly.
    inconsistent = [
        name
        for name in run.names()
        if run.finalised[name] != 1
        or run.finished[name] + run.cancelled[name] + run.raised[name] != 1
    ]
    assert len(inconsistent) <= 1, inconsistent
    assert sum(run.raised.values()) <= 1
    assert loop.run(trivial()) == "the loop still works"


@pytest.mark.stress
def test_a_ctrl_c_that_lands_just_as_the_loop_goes_to_sleep_is_not_lost():
    # A signal that arrives after the loop's last look at pending signals but before its
    # sleep begins does not interrupt the sleep: Python runs the handler when the sleep ends.
    # The loop here waits for ever (no timers), so the Ctrl-C would be lost; the main thread
    # therefore sleeps in slices. The window is a few instructions wide: about 1 in 2,500
    # tries hit it, so this makes 10,000, each with a Ctrl-C sent as the loop goes idle.
    main_thread = threading.get_ident()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    slowest = 0.0
    try:
        for attempt in range(10_000):
            never = tinyio.Event()
            sent: list[float] = []

            def send_ctrl_c(attempt=attempt, sent=sent):
                time.sleep((attempt % 50) * 1e-5)  # spread over the moments the loop sleeps
                sent.append(time.monotonic())
                signal.pthread_kill(main_thread, signal.SIGINT)

            def watchdog():
                signal.pthread_kill(main_thread, signal.SIGINT)

            timer = threading.Timer(5.0, watchdog)
            sender = threading.Thread(target=send_ctrl_c)

            def main(never=never, sender=sender, timer=timer):
                timer.start()
                sender.start()
                yield never.wait()

            try:
                tinyio.Loop().run(main())
            except KeyboardInterrupt:
                stopped = time.monotonic()
            finally:
                timer.cancel()
                timer.join()
                sender.join()
            slowest = max(slowest, stopped - sent[0])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert slowest < 1.0, f"a Ctrl-C took {slowest:.2f} s to stop an idle loop"


# ---------------------------------------------------------------- isolation contains faults


@given(st.data())
def test_a_fault_inside_isolate_leaves_the_rest_of_the_loop_running(data):
    faulty = data.draw(programs(max_nodes=6), label="isolated program")
    healthy = data.draw(programs(max_nodes=6), label="program beside it")
    site = data.draw(st.sampled_from(fault_sites(faulty)), label="site")
    exception_group = data.draw(EXCEPTION_GROUP, label="exception_group")
    error = InjectedError(f"injected at {site}")
    inside = Run(faulty, site, error)
    beside = Run(healthy)

    def main():
        return (yield [tinyio.isolate(inside.root(), exception_group), beside.root()])

    threads_before = set(threading.enumerate())
    inside.start_plain_threads()
    beside.start_plain_threads()
    try:
        finished, value = run_loop(tinyio.Loop(), main())
        assert finished, value
        (outcome, ok), result = value
    finally:
        leftover = set(threading.enumerate()) - threads_before
        leftover -= {*inside.plain_threads, *beside.plain_threads}
        inside.join_plain_threads()
        beside.join_plain_threads()
    assert not leftover
    assert ok is False
    check_error_comes_out(error, outcome, exception_group, inside)
    check_every_coroutine_accounted_for(inside, site)
    # The program beside it finished normally, with the model's results.
    assert result == reference(healthy).results[0]
    assert beside.results == reference(healthy).results
    assert all(beside.finished[name] == 1 for name in beside.names())
    assert beside.leftovers() == []
