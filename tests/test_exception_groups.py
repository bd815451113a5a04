"""What `loop.run` raises, per `exception_group` (docs: errors.md)."""

import pytest

import tinyio


class Original(Exception):
    pass


class DuringCleanup(Exception):
    pass


class OtherCleanup(Exception):
    pass


def fail_after(steps, error):
    for _ in range(steps):
        yield
    raise error


def spin_forever():
    while True:
        yield


def raises_on_cancel(error):
    try:
        yield from spin_forever()
    except tinyio.CancelledError:
        raise error from None


def run(main, exception_group):
    return tinyio.Loop().run(main, exception_group=exception_group)


# ---------------------------------------------------------------- exception_group=None


@pytest.mark.parametrize("exception_group", [None, False])
def test_a_single_error_comes_out_alone(exception_group):
    error = Original("alone")

    def main():
        yield [spin_forever(), fail_after(3, error)]

    with pytest.raises(Original) as excinfo:
        run(main(), exception_group)
    assert excinfo.value is error


def test_default_is_none():
    cleanup_error = DuringCleanup("cleanup")

    def main():
        yield [raises_on_cancel(cleanup_error), fail_after(2, Original("first"))]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(ExceptionGroup) as excinfo,
    ):
        tinyio.Loop().run(main())
    assert excinfo.value.exceptions[1] is cleanup_error


def test_none_groups_the_original_with_errors_raised_during_cancellation():
    original = Original("first")
    cleanup_error = DuringCleanup("cleanup")

    def main():
        yield [raises_on_cancel(cleanup_error), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(ExceptionGroup) as excinfo,
    ):
        run(main(), None)
    assert list(excinfo.value.exceptions) == [original, cleanup_error]


def test_none_puts_the_original_error_first_among_several_cleanup_errors():
    original = Original("first")
    cleanup_errors = [DuringCleanup("a"), OtherCleanup("b"), DuringCleanup("c")]

    def main():
        yield [*(raises_on_cancel(e) for e in cleanup_errors), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(ExceptionGroup) as excinfo,
    ):
        run(main(), None)
    members = excinfo.value.exceptions
    assert members[0] is original
    assert len(members) == 4
    assert {id(e) for e in members[1:]} == {id(e) for e in cleanup_errors}


def test_none_gives_a_base_exception_group_when_the_original_is_not_an_exception():
    original = KeyboardInterrupt()
    cleanup_error = DuringCleanup("cleanup")

    def main():
        yield [raises_on_cancel(cleanup_error), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(BaseExceptionGroup) as excinfo,
    ):
        run(main(), None)
    assert not isinstance(excinfo.value, ExceptionGroup)
    assert list(excinfo.value.exceptions) == [original, cleanup_error]


def test_none_gives_a_base_exception_group_when_a_cleanup_error_is_not_an_exception():
    original = Original("first")
    cleanup_error = SystemExit(3)

    def main():
        yield [raises_on_cancel(cleanup_error), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(BaseExceptionGroup) as excinfo,
    ):
        run(main(), None)
    assert not isinstance(excinfo.value, ExceptionGroup)
    assert list(excinfo.value.exceptions) == [original, cleanup_error]


def test_none_gives_the_original_alone_when_others_only_cleaned_up():
    original = Original("first")
    cleaned = []

    def tidy():
        try:
            yield tinyio.Event().wait()
        finally:
            cleaned.append(1)

    def main():
        yield [tidy(), tidy(), tinyio.sleep(30), fail_after(2, original)]

    with pytest.raises(Original) as excinfo:
        run(main(), None)
    assert excinfo.value is original
    assert cleaned == [1, 1]


# ---------------------------------------------------------------- exception_group=False


def test_false_gives_the_original_alone_even_when_cleanup_raised():
    original = Original("first")

    def main():
        yield [raises_on_cancel(DuringCleanup("cleanup")), fail_after(2, original)]

    with pytest.warns(RuntimeWarning, match="cancellation"), pytest.raises(Original) as excinfo:
        run(main(), False)
    assert excinfo.value is original


def test_false_gives_a_keyboard_interrupt_alone():
    def main():
        yield [raises_on_cancel(DuringCleanup("cleanup")), fail_after(2, KeyboardInterrupt())]

    with pytest.warns(RuntimeWarning, match="cancellation"), pytest.raises(KeyboardInterrupt):
        run(main(), False)


# ---------------------------------------------------------------- exception_group=True


def test_true_groups_a_lone_error():
    original = Original("lonely")

    def main():
        yield
        raise original

    with pytest.raises(ExceptionGroup) as excinfo:
        run(main(), True)
    assert list(excinfo.value.exceptions) == [original]


def test_true_gives_the_original_then_cleanup_errors_then_cancellations():
    original = Original("first")
    cleanup_error = DuringCleanup("cleanup")

    def main():
        yield [spin_forever(), raises_on_cancel(cleanup_error), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(BaseExceptionGroup) as excinfo,
    ):
        run(main(), True)
    members = excinfo.value.exceptions
    assert members[0] is original
    assert members[1] is cleanup_error
    # The CancelledError of `spin_forever()`; not that of `main()`, which waited on the failing
    # coroutine: its frame is in the original error's traceback already.
    assert len(members) == 3
    assert isinstance(members[2], tinyio.CancelledError)


def test_true_includes_one_cancelled_error_per_cancelled_coroutine():
    original = Original("first")

    def main():
        yield [spin_forever(), spin_forever(), spin_forever(), fail_after(2, original)]

    with pytest.raises(BaseExceptionGroup) as excinfo:
        run(main(), True)
    members = excinfo.value.exceptions
    assert members[0] is original
    # The three spinners were cancelled (and `main()`, on the failing chain: left out).
    assert [type(e) for e in members[1:]] == [tinyio.CancelledError] * 3


def test_true_with_cancellations_is_a_base_exception_group():
    def main():
        yield [spin_forever(), fail_after(1, Original("first"))]

    with pytest.raises(BaseExceptionGroup) as excinfo:
        run(main(), True)
    # CancelledError is a BaseException, so the group cannot be an ExceptionGroup.
    assert not isinstance(excinfo.value, ExceptionGroup)


def test_true_with_a_keyboard_interrupt_is_a_base_exception_group():
    original = KeyboardInterrupt()

    def main():
        yield
        raise original

    with pytest.raises(BaseExceptionGroup) as excinfo:
        run(main(), True)
    assert not isinstance(excinfo.value, ExceptionGroup)
    assert list(excinfo.value.exceptions) == [original]


@pytest.mark.parametrize("exception_group", [None, False, True])
def test_no_error_means_the_result_is_returned(exception_group):
    def main():
        yield [spin_once(), spin_once()]
        return "fine"

    def spin_once():
        yield

    assert run(main(), exception_group) == "fine"


# ---------------------------------------------------------------- misbehaving cancellation


def test_a_coroutine_that_yields_again_on_cancellation_gets_a_warning():
    original = Original("first")

    def stubborn():
        try:
            yield from spin_forever()
        except tinyio.CancelledError:
            yield

    def main():
        yield [stubborn(), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match=r"(?s)stubborn.*cancellation.*yield") as record,
        pytest.raises(Original) as excinfo,
    ):
        run(main(), None)
    assert excinfo.value is original
    assert len(record) == 1


@pytest.mark.timeout(10)
def test_a_coroutine_that_keeps_yielding_on_cancellation_does_not_hang_the_loop():
    def stubborn():
        while True:
            try:
                yield
            except tinyio.CancelledError:  # deliberately ignored, every time
                continue

    def main():
        yield [stubborn(), fail_after(2, Original("first"))]

    with (
        pytest.warns(RuntimeWarning, match="cancellation"),
        pytest.raises(Original),
    ):
        run(main(), None)


def test_a_coroutine_that_returns_on_cancellation_gets_a_warning():
    original = Original("first")

    def quitter():
        try:
            yield from spin_forever()
        except tinyio.CancelledError:
            return "something"

    def main():
        yield [quitter(), fail_after(2, original)]

    with (
        pytest.warns(RuntimeWarning, match=r"(?s)quitter.*cancellation.*return") as record,
        pytest.raises(Original) as excinfo,
    ):
        run(main(), None)
    assert excinfo.value is original
    assert len(record) == 1


def test_a_coroutine_that_raises_something_else_on_cancellation_gets_a_warning():
    def replacer():
        yield from raises_on_cancel(DuringCleanup("cleanup"))

    def main():
        yield [replacer(), fail_after(2, Original("first"))]

    with (
        pytest.warns(RuntimeWarning, match=r"(?s)replacer.*cancellation.*DuringCleanup") as record,
        pytest.raises(ExceptionGroup),
    ):
        run(main(), None)
    assert len(record) == 1


def test_a_coroutine_that_lets_cancellation_propagate_gets_no_warning():
    # pyproject turns warnings into errors, so any warning here would fail the test.
    def polite():
        try:
            yield from spin_forever()
        finally:
            pass

    def main():
        yield [polite(), fail_after(2, Original("first"))]

    with pytest.raises(Original):
        run(main(), None)
