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


def test_an_unmarked_generator_test_fails_naming_the_marker_and_the_auto_mode(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        def test_not_marked():
            yield

        def test_plain():
            pass
        """,
    )
    # One failure for that test, not a collection error for the whole module.
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_not_marked _*",
            "test_not_marked is a generator function: to run it as a tinyio coroutine, mark it "
            "with @pytest.mark.tinyio *, or set `tinyio_mode = auto` in the pytest ini options *",
            "*= short test summary info =*",
            "FAILED test_subject.py::test_not_marked - *",
        ]
    )
    assert "'yield' keyword is allowed" not in result.stdout.str()


def test_without_the_plugin_pytest_refuses_a_generator_test_as_ever(
    pytester: pytest.Pytester,
) -> None:
    result = _run(pytester, "def test_not_marked():\n    yield\n", "-p", "no:tinyio")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*'yield' keyword is allowed in fixtures, but not in tests*"])


def test_a_generator_test_that_another_plugin_collects_is_left_to_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import inspect
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_pycollect_makeitem(collector, name, obj):
            if name.startswith("test_other") and inspect.isgeneratorfunction(obj):
                def drive():
                    assert list(obj()) == ["other library"]
                return pytest.Function.from_parent(collector, name=name, callobj=drive)
        """
    )
    result = _run(
        pytester,
        """
        def test_other_library():
            yield "other library"
        """,
    )
    result.assert_outcomes(passed=1)


_AUTO_MODE_TESTS = """
    import pytest
    import tinyio

    def double(x):
        yield tinyio.sleep(0.001)
        return 2 * x

    def test_unmarked(tinyio_loop):
        assert (yield double(21)) == 42
        assert isinstance(tinyio_loop, tinyio.Loop)

    @pytest.mark.tinyio
    def test_marked_as_well():
        yield

    @pytest.mark.parametrize("n", [1, 2])
    def test_parametrized(n, tinyio_clock):
        yield tinyio.sleep(3600)
        assert tinyio_clock.time() == 3600

    class TestGroup:
        def test_method(self):
            assert (yield double(1)) == 2

    @pytest.fixture
    def resource():  # a generator fixture keeps pytest's meaning: set up, yield, tear down
        yield "resource"

    def test_plain(resource):
        assert resource == "resource"

    def test_failing():
        assert (yield double(1)) == 3
    """


def test_auto_mode_runs_every_generator_test_on_a_loop(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntinyio_mode = auto\n")
    result = _run(pytester, _AUTO_MODE_TESTS)
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["E*assert 2 == 3"])


def test_auto_mode_can_be_set_in_pyproject_toml(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntinyio_mode = "auto"\n')
    result = _run(pytester, "def test_unmarked():\n    yield\n")
    result.assert_outcomes(passed=1)


def test_an_unknown_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntinyio_mode = automatic\n")
    result = _run(pytester, "def test_plain():\n    pass\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tinyio_mode must be 'strict' or 'auto'*'automatic'*"])


def test_a_coroutine_fixture_must_be_a_generator_function() -> None:
    import tinyio.testing

    def not_a_coroutine() -> int:
        return 1

    with pytest.raises(TypeError, match=r"needs a generator function .*not_a_coroutine"):
        tinyio.testing.fixture(not_a_coroutine)  # pyright: ignore[reportArgumentType]


def test_a_marked_test_without_a_yield_fails_saying_so_but_a_plain_test_in_a_marked_class_runs(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        def fetch():
            yield tinyio.sleep(0.001)
            return b"body"

        @pytest.mark.tinyio
        def test_forgot_the_yield():
            body = fetch()  # a generator object, which is truthy
            assert body

        @pytest.mark.tinyio
        class TestMarkedClass:
            def test_plain(self):  # runs as a plain test: its body is checked
                assert sorted([3, 1, 2]) == [1, 2, 3]
        """,
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_forgot_the_yield is marked @pytest.mark.tinyio but is not a generator function*"]
    )


def test_an_error_of_the_loop_itself_shows_no_frame_of_the_plugin(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        @pytest.mark.tinyio
        def test_deadlock(tinyio_clock):
            yield tinyio.Event().wait()
        """,
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "Deadlock" in output or "deadlock" in output
    assert "pytest_pyfunc_call" not in output


def test_a_marked_plain_test_that_uses_coroutine_fixtures_runs(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio
        import tinyio.testing

        @tinyio.testing.fixture
        def settings():
            yield tinyio.sleep(0.001)
            return {"retries": 3}

        @pytest.mark.tinyio
        def test_plain(settings):
            assert settings["retries"] == 3
        """,
    )
    result.assert_outcomes(passed=1)


def test_the_marker_refuses_arguments_naming_the_fixture_for_the_virtual_clock(
    pytester: pytest.Pytester,
) -> None:
    result = _run(
        pytester,
        """
        import pytest
        import tinyio

        @pytest.mark.tinyio(clock="virtual")
        def test_with_an_argument():
            yield tinyio.sleep(0)
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.tinyio takes no arguments, got clock='virtual'*tinyio_clock*"]
    )


def test_a_test_whose_fixtures_cannot_be_read_is_taken_as_using_coroutine_fixtures() -> None:
    from tinyio import _pytest_plugin

    assert _pytest_plugin._uses_coroutine_fixtures(object()) is True  # pyright: ignore[reportArgumentType, reportPrivateUsage]
