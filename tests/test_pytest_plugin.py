"""The pytest plugin (tinyio's `pytest11` entry point), run on small test files by pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def _run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_subject=source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_a_marked_coroutine_test_runs_in_a_loop_and_passes(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        def double(x):
            yield tinyio.sleep(0.001)
            return 2 * x

        @pytest.mark.tinyio
        def test_double():
            assert (yield double(21)) == 42
            results = yield [double(1), double(2)]
            assert results == [2, 4]
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_failing_assertion_is_rewritten_and_no_library_frame_is_shown(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        def fetch():
            yield tinyio.sleep(0.001)
            return {"status": 500}

        @pytest.mark.tinyio
        def test_status():
            response = yield fetch()
            assert response["status"] == 200
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*def test_status():*",
            "*response = yield fetch()*",
            '>*assert response?"status"? == 200',
            "E*assert 500 == 200",
        ]
    )
    output = result.stdout.str()
    assert "_core" not in output  # the loop core's frames
    assert "_pytest_plugin.py" not in output


def test_an_error_deep_in_awaited_coroutines_shows_the_chain_of_callers(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        def inner():
            yield
            raise KeyError("missing")

        def outer():
            return (yield inner())

        @pytest.mark.tinyio
        def test_chain():
            yield outer()
        """,
        "--tb=short",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_subject.py:*in test_chain",
            "*yield outer()",
            "*test_subject.py:*in outer",
            "*test_subject.py:*in inner",
            "*KeyError: 'missing'",
        ]
    )
    assert "_core" not in result.stdout.str()  # the loop core's frames


def test_the_marker_on_a_module_or_class_covers_its_coroutine_tests_and_parametrize_works(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        pytestmark = pytest.mark.tinyio

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_parametrized(n):
            yield tinyio.sleep(0)
            assert n in (1, 2, 3)

        class TestGroup:
            def test_method(self):
                yield
                assert isinstance(self, TestGroup)

        def test_plain_tests_run_as_usual():
            assert tinyio.Loop().run(tinyio.sleep(0)) is None  # runs its own loop, untouched
        """,
    )
    result.assert_outcomes(passed=5)


def test_coroutine_fixtures_run_in_the_tests_loop(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio
        import tinyio.testing

        def compute():
            yield tinyio.sleep(0.001)
            return 7

        @pytest.fixture
        def base():
            return 10

        @tinyio.testing.fixture
        def finished(base):
            coro = compute()
            value = yield coro
            assert value == 7
            return coro, base

        @tinyio.testing.fixture
        def doubled(finished):
            coro, base = finished
            return 2 * (yield coro) + base

        @pytest.mark.tinyio
        def test_uses_fixtures(finished, doubled, tinyio_loop):
            coro, _ = finished
            # Only the loop that finished `coro` knows its result: the test runs in that loop.
            assert (yield coro) == 7
            assert doubled == 24
            assert isinstance(tinyio_loop, tinyio.Loop)
        """,
    )
    result.assert_outcomes(passed=1)


def test_each_test_gets_a_fresh_loop(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        loops = []

        @pytest.mark.tinyio
        @pytest.mark.parametrize("n", [1, 2])
        def test_record(n, tinyio_loop):
            yield
            loops.append(tinyio_loop)

        def test_loops_differ():
            assert len(loops) == 2 and loops[0] is not loops[1]
        """,
    )
    result.assert_outcomes(passed=3)


def test_the_virtual_clock_makes_long_waits_instant_and_exact(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        @pytest.mark.tinyio
        def test_backoff(tinyio_clock, tinyio_loop):
            assert tinyio_loop.time() == 0
            event = tinyio.Event()
            yield event.wait(30)
            assert not event.is_set()
            assert tinyio_clock.time() == 30
            result, finished = yield tinyio.timeout(tinyio.sleep(3600), 60)
            assert finished is False
            assert tinyio_loop.time() == 90
            yield tinyio.sleep(1e6)
            assert tinyio_clock.time() == 90 + 1e6
        """,
        "-p",
        "no:timeout",
    )
    result.assert_outcomes(passed=1)


def test_an_unmarked_generator_test_is_left_to_pytest(pytester: pytest.Pytester) -> None:
    source = """
        def test_not_ours():
            yield
        """
    with_plugin = _run(pytester, source)
    without_plugin = _run(pytester, source, "-p", "no:tinyio")
    assert with_plugin.parseoutcomes() == without_plugin.parseoutcomes()
    assert with_plugin.ret == without_plugin.ret


def test_a_coroutine_fixture_must_be_a_generator_function() -> None:
    import tinyio.testing

    def not_a_coroutine() -> int:
        return 1

    with pytest.raises(TypeError, match=r"needs a generator function .*not_a_coroutine"):
        tinyio.testing.fixture(not_a_coroutine)  # pyright: ignore[reportArgumentType]
