"""Display names (`tinyio.named`): what the loop's reports and messages call a coroutine."""

from __future__ import annotations

import warnings

import pytest

import tinyio


def fetch(user):
    yield tinyio.sleep(10)
    return user


def test_a_named_coroutine_is_reported_by_its_name_and_runs_as_before():
    loop = tinyio.Loop()
    seen = []

    def main():
        coros = [tinyio.named(fetch(n), f"fetch user {n}") for n in range(2)]
        yield {coros[0]}
        yield
        seen.extend(node["name"] for node in loop.snapshot())  # a tree per background one
        yield tinyio.cancel(coros[0])
        return (yield tinyio.timeout(coros[1], 0.01))

    assert loop.run(main()) == (None, False)
    assert seen[1:] == ["fetch user 0"]  # after main's tree


def test_named_gives_back_the_same_coroutine():
    coro = fetch(1)
    assert tinyio.named(coro, "first") is coro
    coro.close()


def test_a_warning_about_a_named_coroutine_names_it_and_its_function():
    def stubborn():
        try:
            yield tinyio.sleep(10)
        except tinyio.CancelledError:
            return "ignored"

    def failing():
        yield
        raise KeyError("boom")

    def main():
        yield [tinyio.named(stubborn(), "the stubborn one"), failing()]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyError):
            tinyio.Loop().run(main())
    (warning,) = [w for w in caught if w.category is RuntimeWarning]
    assert "'the stubborn one' (test_a_warning_about_a_named_coroutine" in str(warning.message)


@pytest.mark.parametrize(
    ("coro", "name", "error", "match"),
    [
        (fetch, "x", TypeError, "named needs a coroutine"),
        (None, 42, TypeError, "a string, got 42"),
        (None, "  ", ValueError, "not blank, got '  '"),
    ],
)
def test_bad_arguments_are_errors_at_the_call(coro, name, error, match):
    target = fetch(1) if coro is None else coro
    with pytest.raises(error, match=match):
        tinyio.named(target, name)
    if coro is None:
        target.close()
