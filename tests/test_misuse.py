"""Every misuse in tests/misuse_cases.py gives its error, and docs/misuse.md shows exactly that."""

from __future__ import annotations

import difflib
import traceback
import warnings
from pathlib import Path

import pytest

from misuse_cases import CASES, outcome, render_table

PAGE = Path(__file__).resolve().parent.parent / "docs" / "misuse.md"


@pytest.mark.parametrize("case", CASES, ids=[case.mistake for case in CASES])
def test_each_misuse_gives_the_expected_error(case):
    kind, message = outcome(case)
    assert kind is case.expected, f"{case.mistake}: got {kind.__name__}: {message}"
    assert message.strip(), f"{case.mistake}: {kind.__name__} with no message"


def test_at_least_25_distinct_misuses_are_tried():
    assert len(CASES) >= 25
    assert len({case.mistake for case in CASES}) == len(CASES)
    assert len({case.code for case in CASES}) == len(CASES)


def test_the_misuse_page_is_generated_from_the_cases():
    expected = render_table()
    actual = PAGE.read_text(encoding="utf-8")
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                actual.splitlines(),
                expected.splitlines(),
                "docs/misuse.md",
                "generated",
                lineterm="",
            )
        )
        pytest.fail(
            "docs/misuse.md differs from what the misuse cases produce; regenerate it with "
            f"`python docs/gen_misuse_table.py`:\n{diff}"
        )


_PACKAGE = str(Path(__file__).resolve().parent.parent / "src" / "tinyio")


@pytest.mark.parametrize("case", CASES, ids=[case.mistake for case in CASES])
def test_an_error_raised_at_the_call_shows_at_most_one_tinyio_frame(case):
    # As a built-in's error shows none of its C code: the public function that raised, and
    # none of the helpers it used (issue 22).
    if not issubclass(case.expected, BaseException):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            case.attempt()
        except BaseException as error:
            shown = traceback.extract_tb(error.__traceback__)
        else:
            return
    ours = [f"{Path(f.filename).name}:{f.name}" for f in shown if f.filename.startswith(_PACKAGE)]
    assert len(ours) <= 1, ours
