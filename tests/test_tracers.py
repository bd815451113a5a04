"""Thread calls work under a tracer: pdb, coverage.py and IDE debuggers (docs: threads-and-executors.md).

Each program runs in a fresh interpreter with a time limit, so that a hang fails the test
instead of hanging the suite: on CPython 3.11, one wrong call into the interpreter from a
worker thread once made every traced call spin for ever.
"""

import subprocess
import sys
import textwrap

import pytest

TRACED_PROGRAM = """
import sys
import threading
import time

import tinyio

calls = 0


def tracer(frame, event, arg):
    global calls
    calls += 1
    return None


INSTALL

def busy(seconds):
    # Python code, so a cancellation arrives at once, inside the call.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return seconds


def obstinate(seconds):
    # Catches the cancellation and returns anyway (gets a RuntimeWarning).
    try:
        busy(seconds)
    except tinyio.CancelledError:
        return "ignored"
    return "finished"


def main():
    results = yield [tinyio.run_in_thread(time.sleep, 0.001) for _ in range(20)]
    assert results == [None] * 20
    for _ in range(20):
        _, finished = yield tinyio.timeout(tinyio.run_in_thread(busy, 5.0), 0.001)
        assert not finished, "the busy call was not interrupted"
    # A cancellation sent at about the moment the call returns, arriving inside it or too late.
    for index in range(100):
        yield tinyio.timeout(tinyio.run_in_thread(busy, 0.0005), 0.0005 + index * 1e-6)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result, _ = yield tinyio.timeout(tinyio.run_in_thread(obstinate, 5.0), 0.001)
        assert result is None
    # A thread call blocked in a wait of tinyio's own, woken by its cancellation.
    queue = tinyio.Queue()
    for _ in range(20):
        _, finished = yield tinyio.timeout(tinyio.run_in_thread(queue.get_from_thread), 0.001)
        assert not finished, "the blocked get was not interrupted"
    return (yield tinyio.run_in_thread(sum, range(10)))


assert tinyio.Loop().run(main()) == 45
assert tinyio.Loop().run(main()) == 45
assert threading.active_count() == 1, threading.enumerate()
sys.settrace(None)
threading.settrace(None)  # type: ignore[arg-type]
print("calls traced:", "yes" if calls > 0 else "no")
"""

INSTALLS = {
    "sys.settrace": "sys.settrace(tracer)",
    "threading.settrace": "threading.settrace(tracer)",
    "both": "sys.settrace(tracer)\nthreading.settrace(tracer)",
}


# Bursts of calls with deadlines spread around their own length (so cancellations land before,
# during and just after the call, and workers are started while others are being cancelled),
# then busy calls cancelled almost at once. Under `threading.settrace` this hung every time
# while a worker held the workers' lock across `Thread.start()`.
BURST_PROGRAM = """
import random
import sys
import threading
import time

import tinyio


def tracer(frame, event, arg):
    return None


INSTALL

def busy(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return seconds


def main(rng):
    for _ in range(5):
        calls = []
        for _ in range(16):
            length = rng.uniform(0.0005, 0.005)
            call = tinyio.run_in_thread(busy, length)
            calls.append(tinyio.timeout(call, length * rng.uniform(0.5, 1.5)))
        yield calls
    for _ in range(40):
        _, finished = yield tinyio.timeout(tinyio.run_in_thread(busy, 2.0), 0.001)
        assert not finished, "the busy call was not interrupted"


tinyio.Loop().run(main(random.Random(int(sys.argv[1]))))
assert threading.active_count() == 1, threading.enumerate()
sys.settrace(None)
threading.settrace(None)  # type: ignore[arg-type]
print("done")
"""


def run_traced(template, install, *arguments, seconds=60):
    program = textwrap.dedent(template).replace("INSTALL", INSTALLS[install])
    try:
        return subprocess.run(
            [sys.executable, "-c", program, *arguments],
            capture_output=True,
            text=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"thread calls under {install} did not finish within {seconds} s: they hang")


@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_thread_calls_and_their_cancellation_never_hang_under_a_tracer(install):
    completed = run_traced(TRACED_PROGRAM, install)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "calls traced: yes\n", completed.stderr


@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_bursts_of_timed_out_thread_calls_never_hang_under_a_tracer(install):
    completed = run_traced(BURST_PROGRAM, install, "0")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "done\n", completed.stderr


@pytest.mark.stress
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_many_bursts_of_timed_out_thread_calls_never_hang_under_a_tracer(install):
    for seed in range(100):
        completed = run_traced(BURST_PROGRAM, install, str(seed))
        assert completed.returncode == 0, f"seed {seed}: {completed.stderr}"
        assert completed.stdout == "done\n", f"seed {seed}: {completed.stderr}"
