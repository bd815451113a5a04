"""`python -m tinyio` prints a guided tour of the features, quickly and without errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tour(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], float]:
    # Run from an empty directory: the tour must work from an installed tinyio.
    cwd: Path = tmp_path_factory.mktemp("tour")
    start = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "tinyio"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed, time.monotonic() - start


def test_the_tour_exits_cleanly_and_prints_nothing_to_stderr(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    completed, _ = tour
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""


# The environment without coverage.py's subprocess measurement (see tests/test_ctrl_c.py):
# the timed run below measures the tour, not the tracer.
UNMEASURED = {
    name: value for name, value in os.environ.items() if name != "COVERAGE_PROCESS_CONFIG"
}


def test_the_tour_is_quick(tmp_path: Path) -> None:
    # What a reader relies on: the tour prints at once and is over in a moment, not that it
    # takes some exact time. It sleeps about 0.7 s in all and starts in well under 0.5 s on an
    # idle machine (about 1 s in all), so 10 s -- ten times that -- is only passed by a tour
    # that waits for something it should not (a forgotten long sleep, a timeout that fires
    # instead of an event). Run untraced: under the tracer, on a loaded machine, start-up
    # alone can take seconds, which says nothing about the tour.
    start = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "tinyio"],
        cwd=tmp_path,
        env=UNMEASURED,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - start
    assert completed.returncode == 0, completed.stderr
    assert elapsed < 10.0


def test_the_tour_has_numbered_sections_with_headings(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    completed, _ = tour
    headings = re.findall(r"^(\d+)\. (.+)$", completed.stdout, flags=re.MULTILINE)
    assert [int(number) for number, _ in headings] == list(range(1, len(headings) + 1))
    titles = " ".join(title for _, title in headings).lower()
    for topic in [
        "gather",
        "background",
        "event",
        "sleep",
        "error",
        "nested",
        "as_completed",
        "barrier",
        "lock",
        "queue",
        "thread",
        "timeout",
        "isolat",
        "asyncio",
        "wrong",
    ]:
        assert topic in titles, f"no tour section about {topic!r}"


@pytest.mark.parametrize(
    "line",
    [
        "double(21) gave 42",
        "results in list order: ['SLOW', 'FAST']",
        'loop.run waited for the background chore, then returned "main\'s result"',
        "another thread sets the event",
        "a goes",
        "b goes",
        "a wait with a timeout gave up; is_set() = False",
        "fast tick 3",
        "a's finally block ran",
        "b's finally block ran",
        "loop.run raised the original error: ValueError('something went wrong')",
        "total: 30",
        "6 jobs ran, at most 2 at a time",
        "the consumer added up to 10",
        "slow() was interrupted and cleaned up",
        "timeout(slow(), 0.02) gave (None, False)",
        "isolate(flaky()) gave (ValueError('flaky failed'), False); the loop carries on",
        "asyncio awaited a tinyio coroutine, which awaited asyncio: 42",
    ],
)
def test_the_tour_shows(tour: tuple[subprocess.CompletedProcess[str], float], line: str) -> None:
    completed, _ = tour
    assert line in [printed.strip() for printed in completed.stdout.splitlines()]


def test_the_background_chore_finishes_before_run_returns(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    lines = [line.strip() for line in tour[0].stdout.splitlines()]
    assert lines.index("main carries on at once, and returns") < lines.index(
        "background chore done"
    )
    assert lines.index("background chore done") < lines.index(
        'loop.run waited for the background chore, then returned "main\'s result"'
    )


def test_the_cancelled_coroutines_clean_up_before_the_error_is_raised(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    lines = [line.strip() for line in tour[0].stdout.splitlines()]
    raised = lines.index("loop.run raised the original error: ValueError('something went wrong')")
    assert lines.index("a was cancelled") < lines.index("a's finally block ran") < raised
    assert lines.index("b was cancelled") < lines.index("b's finally block ran") < raised


def test_as_completed_gives_the_results_in_the_order_they_finish(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    lines = [line.strip() for line in tour[0].stdout.splitlines()]
    assert [line for line in lines if line.startswith("As completed demo:")] == [
        "As completed demo: 2",
        "As completed demo: 4",
        "As completed demo: 7",
    ]


def test_everyone_reaches_the_barrier_before_taking_turns_with_the_lock(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    lines = [line.strip() for line in tour[0].stdout.splitlines()]
    log = [
        line
        for line in lines
        if re.fullmatch(r"[abc] (at the barrier|has the lock|releases it)", line)
    ]
    assert len(log) == 9
    assert sorted(log[:3]) == ["a at the barrier", "b at the barrier", "c at the barrier"]
    turns = log[3:]
    for holds, releases in zip(turns[::2], turns[1::2], strict=True):
        name = holds[0]
        assert (holds, releases) == (f"{name} has the lock", f"{name} releases it")
    assert sorted(line[0] for line in turns[::2]) == ["a", "b", "c"]


def test_blocking_calls_run_in_threads_at_the_same_time(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    lines = [line.strip() for line in tour[0].stdout.splitlines()]
    (line,) = [line for line in lines if line.startswith("10 blocking calls of 0.05 s:")]
    match = re.fullmatch(
        r"10 blocking calls of 0\.05 s: \[0, 1, 4, 9, 16, 25, 36, 49, 64, 81\] in (\d+\.\d+) s",
        line,
    )
    assert match, line
    assert float(match[1]) < 0.4  # one after the other they would take 0.5 s
    assert lines.index("slow() was interrupted and cleaned up") < lines.index(
        "timeout(slow(), 0.02) gave (None, False)"
    )


def test_the_tour_points_to_the_deadlock_demo(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    assert "python -m tinyio --demo-deadlock" in tour[0].stdout


def test_the_deadlock_demo_shows_a_report(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tinyio", "--demo-deadlock"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    output = completed.stdout
    assert "tinyio: the loop crashed; what its other coroutines were doing then:" in output
    # Both stuck coroutines, each with the Event it waits on below it.
    for name in ["first", "second"]:
        assert re.search(
            rf"#\d+ \S*\b{name}\(\)  \S+:\d+\n[│ ]*└── #\d+ tinyio\.Event\.wait\(\)  on <tinyio\.Event unset",
            output,
        ), output


def test_the_deadlock_demo_ends_quickly(tmp_path: Path) -> None:
    # The demo gives up after 0.2 s; with start-up, about 0.5 s on an idle machine. 5 s, ten
    # times that, is only passed by a demo that hangs or waits for something else. Untraced,
    # as for the tour above.
    start = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "tinyio", "--demo-deadlock"],
        cwd=tmp_path,
        env=UNMEASURED,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - start
    assert completed.returncode == 0, completed.stderr
    assert elapsed < 5.0
