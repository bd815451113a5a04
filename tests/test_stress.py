"""The stress layer: big numbers, many threads, long chains -- nothing hangs, leaks or is lost.

Deselected unless pytest is given `--stress` (see tests/conftest.py and docs/reliability.md):

    python -m pytest --stress -m stress -s tests/

`-s` shows the measurements each test prints (lines starting with `stress:`), which
docs/reliability.md records. Nothing here asserts a speed: the bounds are generous limits
that only a hang, a quadratic cost or a leak would break.
"""

from __future__ import annotations

import gc
import random
import resource
import sys
import threading
import time
import tracemalloc

import pytest

import tinyio

pytestmark = [pytest.mark.stress, pytest.mark.timeout(900)]


def report(text: str) -> None:
    print(f"\nstress: {text}", file=sys.stderr)


def reset_peak_rss() -> bool:
    """Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    """The process's peak resident memory since `reset_peak_rss` (or since it started)."""
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # in kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Boom(Exception):
    pass


# ---------------------------------------------------------------- sheer numbers


def test_a_million_coroutines_in_one_gather():
    n = 1_000_000

    def leaf(i):
        yield
        return i

    def main():
        return (yield [leaf(i) for i in range(n)])

    gc.collect()
    reset = reset_peak_rss()
    before = peak_rss_mib()
    start = time.perf_counter()
    results = tinyio.Loop().run(main())
    elapsed = time.perf_counter() - start
    peak = peak_rss_mib()
    assert results == list(range(n))
    del results
    report(
        f"1,000,000 coroutines in one gather: {elapsed:.1f} s, peak RSS {peak:.0f} MiB"
        + (f" ({before:.0f} MiB before the run)" if reset else " (peak of the whole process)")
    )
    assert elapsed < 300
    if reset:
        # About 1 KiB per coroutine (generator, frame, the loop's record, the result list):
        # 3 GiB would mean something per coroutine is kept that should not be.
        assert peak - before < 3 * 1024


def test_a_hundred_thousand_concurrent_sleepers_all_wake_on_time():
    n = 100_000
    sleeping = 0
    peak = 0

    def sleeper(i):
        nonlocal sleeping, peak
        # Long enough that all of them are asleep at once (starting them takes well under 1 s).
        delay = 1.0 + (i % 100) / 1000
        sleeping += 1
        peak = max(peak, sleeping)
        start = time.monotonic()
        # `yield from`: the sleep's timer is set in this very step, so `start` is when it began.
        yield from tinyio.sleep(delay)
        sleeping -= 1
        return time.monotonic() - (start + delay)  # how late it woke

    def main():
        return (yield [sleeper(i) for i in range(n)])

    start = time.perf_counter()
    lateness = tinyio.Loop().run(main())
    elapsed = time.perf_counter() - start
    assert peak == n
    assert min(lateness) >= 0  # never early
    lateness.sort()
    report(
        f"100,000 concurrent sleepers of 1.000-1.099 s: run took {elapsed:.2f} s; each woke after "
        f"its deadline by "
        f"median {lateness[n // 2] * 1000:.1f} ms, 99th percentile "
        f"{lateness[n * 99 // 100] * 1000:.1f} ms, worst {lateness[-1] * 1000:.1f} ms"
    )
    assert lateness[-1] < 10
    assert elapsed < 60


def test_a_chain_of_a_hundred_thousand_coroutines_each_waiting_on_the_next():
    depth = 100_000

    def link(k):
        if k == depth:
            yield
            return 0
        return (yield link(k + 1)) + 1

    start = time.perf_counter()
    assert tinyio.Loop().run(link(0)) == depth
    elapsed = time.perf_counter() - start
    report(f"a chain of 100,000 coroutines each waiting on the next: {elapsed:.2f} s")


def test_a_failure_at_the_bottom_of_a_deep_chain_cancels_every_link():
    depth = 20_000
    cancelled = 0

    def link(k):
        nonlocal cancelled
        if k == depth:
            yield
            raise Boom("at the bottom")
        try:
            return (yield link(k + 1))
        except tinyio.CancelledError:
            cancelled += 1
            raise

    start = time.perf_counter()
    with pytest.raises(Boom, match="at the bottom"):
        tinyio.Loop().run(link(0))
    elapsed = time.perf_counter() - start
    assert cancelled == depth
    report(f"a failure under a chain of 20,000 coroutines, all cancelled: {elapsed:.2f} s")


# ---------------------------------------------------------------- threads and events


def test_a_thousand_threads_setting_and_clearing_events_lose_no_wake_up():
    # Coroutines wait -- with a timeout far longer than the test -- on Events that 1,000 threads
    # set and clear at random. `set()` hands every current waiter its wake-up and forgets it,
    # so a lost wake-up would leave its coroutine waiting until the timeout: none may time out.
    # Others wait with tiny timeouts, so timers and wake-ups race all the time.
    n_threads, n_events, toggles = 1000, 8, 20
    lost_after = 30.0
    events = [tinyio.Event() for _ in range(n_events)]
    threads_done = False
    wakes = 0
    timed_out = 0
    short_waits = 0

    def toggle(k: int, go: threading.Event) -> None:
        rng = random.Random(k)
        go.wait()
        for _ in range(toggles):
            event = events[rng.randrange(n_events)]
            event.set()
            if rng.random() < 0.5:
                time.sleep(rng.random() / 2000)
            event.clear()

    def waiter(w):
        nonlocal wakes, timed_out
        event = events[w % n_events]
        while not threads_done:
            start = time.monotonic()
            yield event.wait(lost_after)
            if time.monotonic() - start >= lost_after:
                timed_out += 1
            wakes += 1
            yield tinyio.sleep(0.0005)

    def impatient(w):
        nonlocal short_waits
        event = events[w % n_events]
        while not threads_done:
            yield event.wait(0.0005 * (w % 3))
            short_waits += 1

    def conductor():
        nonlocal threads_done
        go = threading.Event()
        threads = [threading.Thread(target=toggle, args=(k, go)) for k in range(n_threads)]
        for thread in threads:
            thread.start()
        go.set()
        for thread in threads:
            yield tinyio.run_in_thread(thread.join)
        threads_done = True
        for event in events:
            event.set()  # the last wake-up: every waiter must see it and leave

    def main():
        yield [conductor(), *[waiter(w) for w in range(200)], *[impatient(w) for w in range(40)]]

    threads_before = set(threading.enumerate())
    start = time.perf_counter()
    tinyio.Loop().run(main())
    elapsed = time.perf_counter() - start
    assert timed_out == 0  # no wake-up lost
    assert wakes > 0
    assert short_waits > 0
    assert set(threading.enumerate()) == threads_before
    report(
        f"1,000 threads x {toggles} set/clear on {n_events} events, 200 waiting coroutines "
        f"(+40 with 0-1 ms timeouts): {wakes} wake-ups, {short_waits} short waits, none lost, "
        f"{elapsed:.2f} s"
    )


def test_ten_thousand_run_in_thread_calls_with_random_failures():
    n = 10_000
    rng = random.Random(2024)
    failing = set(rng.sample(range(n), n // 7))
    slow = set(rng.sample(range(n), n // 3))
    threads_used: set[int] = set()

    def work(i):
        threads_used.add(threading.get_ident())
        if i in slow:
            time.sleep(0.001)
        if i in failing:
            raise Boom(i)
        return 2 * i

    def call(i):
        try:
            return "ok", (yield from tinyio.run_in_thread(work, i))
        except Boom as error:
            return "failed", error.args[0]

    def main():
        return (yield [call(i) for i in range(n)])

    threads_before = set(threading.enumerate())
    start = time.perf_counter()
    results = tinyio.Loop().run(main())
    elapsed = time.perf_counter() - start
    expected = [("failed", i) if i in failing else ("ok", 2 * i) for i in range(n)]
    assert results == expected
    assert set(threading.enumerate()) == threads_before
    report(
        f"10,000 run_in_thread calls, {len(failing)} failing: {elapsed:.2f} s, "
        f"{len(threads_used)} worker threads used"
    )


def test_a_failure_among_ten_thousand_busy_threads_cancels_them_all():
    # The first half of the calls are short (50 steps of 1 ms) and finish; every later one is
    # busy until it is cancelled. Once 64 busy ones have started, a coroutine fails: each call
    # still running must be cancelled inside its thread -- all at once, or the busy ones would
    # wait in turn -- and no call may start afterwards.
    n = 10_000
    busy_before_the_failure = 64
    started = 0
    cancelled_in_thread = 0
    finished = 0
    finally_ran = 0
    lock = threading.Lock()
    enough_busy = tinyio.Event()

    def work(i):
        nonlocal started, cancelled_in_thread, finished
        try:
            with lock:
                started += 1
                busy = started > n // 2
                if started == n // 2 + busy_before_the_failure:
                    enough_busy.set()
            # Short sleeps, as the CancelledError is raised between them. (The deadline only
            # keeps a broken cancellation from hanging the test.)
            deadline = time.monotonic() + (60 if busy else 0.05)
            while time.monotonic() < deadline:
                time.sleep(0.001)
        except tinyio.CancelledError:
            with lock:
                cancelled_in_thread += 1
            raise
        with lock:
            finished += 1

    pool = tinyio.ThreadPool(64)

    def call(i):
        nonlocal finally_ran
        try:
            yield pool.run_in_thread(work, i) if i % 2 else tinyio.run_in_thread(work, i)
        finally:
            finally_ran += 1

    def saboteur():
        yield enough_busy.wait()
        raise Boom("while thousands of threads were busy")

    def main():
        yield [*[call(i) for i in range(n)], saboteur()]

    threads_before = set(threading.enumerate())
    start = time.perf_counter()
    with pytest.raises(Boom):
        tinyio.Loop().run(main())
    elapsed = time.perf_counter() - start
    assert finally_ran == n
    assert set(threading.enumerate()) == threads_before
    # Every call that started either finished or was cancelled inside its thread, and every
    # busy one was cancelled.
    assert started == finished + cancelled_in_thread
    assert cancelled_in_thread >= started - n // 2 >= busy_before_the_failure
    assert started < n, "calls still queued when the loop failed never start"
    report(
        f"a failure among 10,000 thread calls ({started} had started): {cancelled_in_thread} "
        f"cancelled inside their thread, {finished} had finished; all threads gone in "
        f"{elapsed:.2f} s"
    )


# ---------------------------------------------------------------- memory


def test_memory_per_waiting_coroutine_stays_small():
    # The full comparison with asyncio is benchmarks/memory.py; this guards against a
    # regression: a waiting coroutine (generator + the loop's record + its Event.wait) must
    # stay well under 2 KiB of Python allocations.
    n = 100_000
    event = tinyio.Event()
    per_coroutine = 0.0

    def waiter():
        yield event.wait()

    def measure(baseline):
        nonlocal per_coroutine
        yield  # every waiter has taken its first step (FIFO) and is now waiting
        current, _ = tracemalloc.get_traced_memory()
        per_coroutine = (current - baseline) / n
        event.set()

    def main(baseline):
        yield [*[waiter() for _ in range(n)], measure(baseline)]

    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tinyio.Loop().run(main(baseline))
    finally:
        tracemalloc.stop()
    report(f"memory per coroutine waiting on an Event: {per_coroutine:.0f} bytes")
    assert 0 < per_coroutine < 2048


# ---------------------------------------------------------------- native I/O

TEN_THOUSAND_CLIENTS = r"""
import selectors, socket, sys

port, count = int(sys.argv[1]), int(sys.argv[2])
selector = selectors.DefaultSelector()
socks = []
for i in range(count):
    sock = socket.create_connection(("127.0.0.1", port))
    socks.append(sock)
print("connected", flush=True)  # all open at once: the server holds every one
for i, sock in enumerate(socks):
    sock.sendall(b"%d\n" % i)
received = 0
for i, sock in enumerate(socks):
    expected = b"%d\n" % i
    data = b""
    while len(data) < len(expected):
        chunk = sock.recv(100)
        if not chunk:
            sys.exit(f"connection {i} closed early")
        data += chunk
    assert data == expected, (i, data)
    received += 1
    sock.close()
print("echoed", received, flush=True)
"""


def test_ten_thousand_connections_at_once_are_served_and_leave_no_descriptor(tmp_path):
    import os
    import subprocess

    count = 10_000
    script = tmp_path / "clients.py"
    script.write_text(TEN_THOUSAND_CLIENTS)

    def echo(stream):
        while data := (yield stream.receive_some()):
            yield stream.send_all(data)

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1", backlog=4096)
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(echo, listeners)
        yield {server}
        start = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, str(script), str(port), str(count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            lines = yield tinyio.run_in_thread(process.communicate, timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        took = time.monotonic() - start
        yield tinyio.cancel(server)
        return lines[0], process.returncode, took

    before = len(os.listdir("/proc/self/fd"))
    reset_peak_rss()
    output, status, took = tinyio.Loop().run(main())
    report(
        f"{count:,} connections at once, echoed and closed in {took:.1f} s; peak RSS "
        f"{peak_rss_mib():.0f} MiB"
    )
    assert status == 0
    assert output.split() == ["connected", "echoed", str(count)]
    assert len(os.listdir("/proc/self/fd")) == before
