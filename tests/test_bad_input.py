"""Misuse fails loudly, where the mistake was made, naming what was wrong (docs: loops.md, errors.md, events-and-sleeping.md)."""

import math
import os
import re
import traceback

import pytest

import tinyio


class Oddity:
    def __repr__(self):
        return "<an odd object>"


def helper_coroutine():
    yield
    return "helper"


def started_elsewhere():
    gen = helper_coroutine()
    next(gen)
    return gen


def finished_elsewhere():
    gen = helper_coroutine()
    for _ in gen:
        pass
    return gen


def last_user_frame(error):
    """The innermost frame of `error`'s traceback outside the tinyio package."""
    library = os.path.dirname(os.path.abspath(tinyio.__file__)) + os.sep
    frames = traceback.extract_tb(error.__traceback__)
    return [f for f in frames if not os.path.abspath(f.filename).startswith(library)][-1]


# ---------------------------------------------------------------- bad yields

BAD_YIELDS = [
    pytest.param(5, "5", id="int"),
    pytest.param("hello", "'hello'", id="str"),
    pytest.param(3.5, "3.5", id="float"),
    pytest.param({"a": 1}, "{'a': 1}", id="dict"),
    pytest.param(Oddity(), "<an odd object>", id="object"),
    pytest.param(helper_coroutine, "helper_coroutine", id="uncalled generator function"),
    pytest.param(iter([1, 2]), "list_iterator", id="iterator"),
]


@pytest.mark.parametrize(("value", "shown"), BAD_YIELDS)
def test_yielding_something_unknown_throws_type_error_into_the_coroutine(value, shown):
    caught = []

    def mistaken():
        try:
            yield value
        except TypeError as e:
            caught.append(str(e))
        yield
        return "carried on"

    assert tinyio.Loop().run(mistaken()) == "carried on"
    (message,) = caught
    assert shown in message
    assert re.search("coroutine|generator", message)


@pytest.mark.parametrize(("value", "shown"), BAD_YIELDS)
def test_an_uncaught_bad_yield_crashes_the_loop_pointing_at_the_yield(value, shown):
    def mistaken():
        yield
        yield value  # the mistake

    with pytest.raises(TypeError, match=re.escape(shown)) as excinfo:
        tinyio.Loop().run(mistaken())
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert last.name == "mistaken"
    assert last.line.endswith("# the mistake")


def test_yielding_a_tuple_suggests_a_list():
    def mistaken():
        yield helper_coroutine(), helper_coroutine()  # the mistake

    with pytest.raises(TypeError, match="list") as excinfo:
        tinyio.Loop().run(mistaken())
    assert "tuple" in str(excinfo.value)
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert last.line.endswith("# the mistake")


def test_yielding_an_async_coroutine_is_a_type_error():
    async def not_a_tinyio_coroutine():
        pass

    def mistaken():
        yield not_a_tinyio_coroutine()  # the mistake

    with pytest.raises(TypeError, match="not_a_tinyio_coroutine") as excinfo:
        tinyio.Loop().run(mistaken())
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert last.line.endswith("# the mistake")


@pytest.mark.parametrize("container", [list, set], ids=["list", "set"])
def test_a_container_holding_a_non_coroutine_is_a_type_error_naming_it(container):
    def mistaken():
        yield container([helper_coroutine(), 42])  # the mistake

    with pytest.raises(TypeError, match="42") as excinfo:
        tinyio.Loop().run(mistaken())
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert last.name == "mistaken"
    assert last.line.endswith("# the mistake")


def test_a_rejected_list_starts_none_of_its_members():
    runs = []
    caught = []

    def member():
        runs.append(1)
        yield

    def mistaken():
        try:
            yield [member(), "not a coroutine", member()]
        except TypeError as e:
            caught.append(e)
        yield

    tinyio.Loop().run(mistaken())
    assert len(caught) == 1
    assert runs == []


@pytest.mark.parametrize(
    "make", [started_elsewhere, finished_elsewhere], ids=["started", "finished"]
)
def test_yielding_a_generator_started_outside_the_loop_is_a_value_error_naming_it(make):
    gen = make()

    def mistaken():
        yield gen  # the mistake

    with pytest.raises(ValueError, match="helper_coroutine") as excinfo:
        tinyio.Loop().run(mistaken())
    last = traceback.extract_tb(excinfo.value.__traceback__)[-1]
    assert last.name == "mistaken"
    assert last.line.endswith("# the mistake")


def test_a_generator_started_outside_the_loop_in_a_list_is_a_value_error():
    gen = started_elsewhere()

    def mistaken():
        yield [helper_coroutine(), gen]  # the mistake

    with pytest.raises(ValueError, match="helper_coroutine") as excinfo:
        tinyio.Loop().run(mistaken())
    assert traceback.extract_tb(excinfo.value.__traceback__)[-1].line.endswith("# the mistake")


def test_a_bad_yield_cancels_the_other_coroutines():
    cleaned = []

    def bystander():
        try:
            yield tinyio.Event().wait()
        finally:
            cleaned.append("bystander")

    def mistaken():
        yield
        yield 5

    def main():
        yield [bystander(), mistaken()]

    with pytest.raises(TypeError, match="5"):
        tinyio.Loop().run(main())
    assert cleaned == ["bystander"]


# ---------------------------------------------------------------- bad arguments to run


def plain_function():
    return 1


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(42, "42", id="int"),
        pytest.param(None, "None", id="None"),
        pytest.param(plain_function, "plain_function", id="function"),
        pytest.param(helper_coroutine, "helper_coroutine", id="uncalled generator function"),
        pytest.param([helper_coroutine()], "helper_coroutine", id="list"),
        pytest.param(iter([1]), "list_iterator", id="iterator"),
    ],
)
def test_run_with_a_non_generator_is_a_type_error_naming_it(value, shown):
    with pytest.raises(TypeError, match=re.escape(shown)):
        tinyio.Loop().run(value)


def test_run_with_an_async_coroutine_is_a_type_error():
    async def not_a_tinyio_coroutine():
        pass

    coro = not_a_tinyio_coroutine()
    try:
        with pytest.raises(TypeError, match="not_a_tinyio_coroutine"):
            tinyio.Loop().run(coro)
    finally:
        coro.close()


@pytest.mark.parametrize(
    "make", [started_elsewhere, finished_elsewhere], ids=["started", "finished"]
)
def test_run_with_a_generator_started_elsewhere_is_a_value_error_naming_it(make):
    with pytest.raises(ValueError, match="helper_coroutine"):
        tinyio.Loop().run(make())


def test_run_with_bad_arguments_leaves_the_loop_usable():
    loop = tinyio.Loop()
    with pytest.raises(TypeError, match="42"):
        loop.run(42)
    with pytest.raises(ValueError, match="helper_coroutine"):
        loop.run(started_elsewhere())
    assert loop.run(helper_coroutine()) == "helper"


def test_runtime_with_a_non_generator_is_a_type_error():
    def enter():
        with tinyio.Loop().runtime(42, None):
            pass

    with pytest.raises(TypeError, match="42"):
        enter()


# ---------------------------------------------------------------- events and durations


def test_the_truth_value_of_an_event_is_a_type_error_suggesting_is_set():
    event = tinyio.Event()
    with pytest.raises(TypeError, match=re.escape("is_set()")):
        bool(event)
    event.set()
    with pytest.raises(TypeError, match=re.escape("is_set()")):
        bool(event)


def test_using_an_event_as_a_condition_in_a_coroutine_crashes_there():
    event = tinyio.Event()

    def mistaken():
        yield
        if event:  # the mistake
            yield

    with pytest.raises(TypeError, match=re.escape("is_set()")) as excinfo:
        tinyio.Loop().run(mistaken())
    assert last_user_frame(excinfo.value).line.endswith("# the mistake")


BAD_DURATIONS = [
    pytest.param(-1, ValueError, "-1", id="negative int"),
    pytest.param(-0.5, ValueError, "-0.5", id="negative float"),
    pytest.param(math.nan, ValueError, "nan", id="nan"),
    pytest.param("1", TypeError, "'1'", id="str"),
    pytest.param([1], TypeError, "[1]", id="list"),
    pytest.param(10**400, ValueError, "pass math.inf", id="int too large for a float"),
    pytest.param(-(10**400), ValueError, "non-negative", id="negative int too large for a float"),
]


@pytest.mark.parametrize(("value", "error", "shown"), BAD_DURATIONS)
def test_sleep_rejects_a_bad_delay_at_the_call(value, error, shown):
    with pytest.raises(error, match=re.escape(shown)):
        tinyio.sleep(value)


def test_sleep_rejects_none_at_the_call():
    with pytest.raises(TypeError, match="None"):
        tinyio.sleep(None)


@pytest.mark.parametrize(("value", "error", "shown"), BAD_DURATIONS)
def test_event_wait_rejects_a_bad_timeout_at_the_call(value, error, shown):
    with pytest.raises(error, match=re.escape(shown)):
        tinyio.Event().wait(value)


def test_a_bad_delay_inside_a_coroutine_points_at_the_call():
    def mistaken():
        yield
        yield tinyio.sleep(-1)  # the mistake

    with pytest.raises(ValueError, match="-1") as excinfo:
        tinyio.Loop().run(mistaken())
    assert last_user_frame(excinfo.value).line.endswith("# the mistake")
