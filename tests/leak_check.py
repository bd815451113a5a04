"""An autouse fixture failing any test that leaves threads or child processes behind.

A loop's worker threads end with its `run` (see docs/devdocs/threads.md), and a test that
starts threads or processes of its own must wait for them. tests/conftest.py imports the
fixture, which applies it to every test of the suite.
"""

import multiprocessing
import threading
import time

import pytest

# Started once per process by a library on first use and never stopped, by design: not a leak
# of the test that happened to be first. (Dask has process-wide one-thread pools for offloaded
# work and for the done-callbacks of its futures.)
PROCESS_WIDE_THREAD_PREFIXES = ("Dask-Offload", "Dask-Callback-Thread")

# Threads and processes that are just finishing get this long to end.
GRACE_SECONDS = 2.0


def _new_threads(before):
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before
        and thread.is_alive()
        and not thread.name.startswith(PROCESS_WIDE_THREAD_PREFIXES)
    ]


def _new_children(before):
    # `active_children` also reaps the children that have ended.
    return [child for child in multiprocessing.active_children() if child not in before]


@pytest.fixture(autouse=True)
def no_threads_or_processes_left_behind():
    threads_before = set(threading.enumerate())
    children_before = set(multiprocessing.active_children())
    yield
    deadline = time.monotonic() + GRACE_SECONDS
    for thread in _new_threads(threads_before):
        thread.join(max(0.0, deadline - time.monotonic()))
    for child in _new_children(children_before):
        child.join(max(0.0, deadline - time.monotonic()))
    threads = _new_threads(threads_before)
    children = _new_children(children_before)
    assert not threads, f"the test left threads running: {threads}"
    assert not children, f"the test left child processes running: {children}"
