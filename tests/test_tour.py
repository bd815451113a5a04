"""`python -m tinyio` prints a guided tour of the features, quickly and without errors."""

from __future__ import annotations

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


def test_the_tour_is_quick(tour: tuple[subprocess.CompletedProcess[str], float]) -> None:
    _, elapsed = tour
    assert elapsed < 3.0  # interpreter start-up included; the tour itself mostly sleeps


def test_the_tour_has_numbered_sections_with_headings(
    tour: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    completed, _ = tour
    headings = re.findall(r"^(\d+)\. (.+)$", completed.stdout, flags=re.MULTILINE)
    assert [int(number) for number, _ in headings] == list(range(1, len(headings) + 1))
    titles = " ".join(title for _, title in headings).lower()
    for topic in ["gather", "background", "event", "sleep", "error", "nested"]:
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
