"""Shared pytest configuration.

The reliability suite has two layers (see docs/reliability.md):

- the fast layer, run on every change: `python -m pytest`;
- the stress layer, run on demand: `python -m pytest --stress` adds the tests marked
  `@pytest.mark.stress` (deselected without the option) and runs the property-based tests
  with the `stress` Hypothesis profile (many more examples, not derandomized).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Every test fails if it leaves a thread or a child process behind (see tests/leak_check.py).
from leak_check import no_threads_or_processes_left_behind  # noqa: F401


@pytest.fixture
def without_gc() -> Iterator[None]:
    """For a test that measures CPU time: no collection of the whole suite's heap (a tenth of
    a second, late in a run) is counted as the cost of the code it measures."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


settings.register_profile(
    "ci", deadline=None, derandomize=True, database=None, max_examples=60, print_blob=True
)
settings.register_profile("stress", deadline=None, max_examples=1000, print_blob=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stress",
        action="store_true",
        default=False,
        help="also run the stress layer (tests marked `stress`) and many more Hypothesis examples",
    )


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("stress" if config.getoption("--stress") else "ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--stress"):
        # Many more examples take longer than the default per-test timeout. And the "thread"
        # method, which ends the process, because the "signal" method raises an exception in
        # the test, which Hypothesis would take for a failure to shrink.
        for item in items:
            if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
                item.add_marker(pytest.mark.timeout(3600, method="thread"), append=False)
        return
    kept = [item for item in items if item.get_closest_marker("stress") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    if sys.gettrace() is not None:
        for item in items:
            if item.get_closest_marker("untraced") is not None:
                # Run in a fresh interpreter (see `pytest_pyfunc_call`), where its own timeout
                # applies; out here it also waits for that interpreter and pytest to start,
                # which took over 10 s on a loaded machine (a latency test's own timeout).
                marker = item.get_closest_marker("timeout")
                inner = float(marker.args[0]) if marker is not None and marker.args else 120.0
                item.add_marker(pytest.mark.timeout(inner + 120), append=False)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test marked `untraced` that runs under a tracer (coverage.py, with `--cov`) runs in a
    fresh interpreter without it instead: on CPython 3.11 a tracer makes every Python call
    slower and makes the loop's thread wait for cancellations sent to other threads, so the
    latencies such a test checks would measure the tracer, not tinyio. Its code is the same;
    coverage of it comes from the other tests."""
    if pyfuncitem.get_closest_marker("untraced") is None or sys.gettrace() is None:
        return None
    env = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert " passed" in completed.stdout, completed.stdout
    return True
