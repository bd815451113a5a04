"""The pytest plugin: tests that are tinyio coroutines, each run in a fresh loop.

pytest finds it through the `pytest11` entry point, so it is active wherever tinyio is
installed. By default it runs only generator test functions that carry the `tinyio` marker (on
the function, its class or its module's `pytestmark`); with `tinyio_mode = auto` in the ini
options, every generator test function. An unmarked generator test in the default mode, which
no other plugin took, fails with a message naming the marker and the option (instead of
pytest's own refusal, which fails the collection of the whole module). Why a marker by
default: docs/devdocs/testing-support.md.

Collection: pytest refuses a generator test function, so for one of ours we hand pytest a
plain function in its place (same signature, same marks), and pytest does the rest as usual --
parametrizing, fixtures. At call time pytest gives us the item again, whose `obj` is the
generator function: we run it in the loop of the `tinyio_loop` fixture.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Generator
from typing import Any, cast

import pytest

from ._core import Loop
from .testing import VirtualClock

MARKER = "tinyio"
MODE_OPTION = "tinyio_mode"
_MODES = ("strict", "auto")
_auto_mode = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        MODE_OPTION,
        "strict (the default): run only generator tests marked @pytest.mark.tinyio on a "
        "tinyio loop; auto: run every generator test on one",
        default="strict",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: run this test, a tinyio coroutine (a generator function), in a fresh "
        "tinyio.Loop (see tinyio.testing)",
    )
    mode = str(config.getini(MODE_OPTION)).strip()
    if mode not in _MODES:
        raise pytest.UsageError(
            f"{MODE_OPTION} must be 'strict' or 'auto' (in the pytest ini options), got {mode!r}."
        )
    config.stash[_auto_mode] = mode == "auto"
    if mode == "strict":
        config.pluginmanager.register(_UnmarkedGeneratorTests(), "tinyio-unmarked-tests")


def _is_marked(collector: pytest.Collector, function: object) -> bool:
    own = getattr(function, "pytestmark", [])
    if any(getattr(mark, "name", None) == MARKER for mark in own):
        return True
    return collector.get_closest_marker(MARKER) is not None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    if not inspect.isgeneratorfunction(obj):
        return None
    auto = collector.config.stash[_auto_mode]
    if not (auto or _is_marked(collector, obj)):
        return None
    if not (isinstance(collector, pytest.Module | pytest.Class) and collector.funcnamefilter(name)):
        return None

    @functools.wraps(obj)
    def stand_in(*args: Any, **kwargs: Any) -> None:  # pragma: no cover - never called
        raise AssertionError("tinyio's pytest plugin runs the coroutine itself")

    # Its own list of marks (`wraps` shares the function's), with the loop fixture added.
    stand_in.pytestmark = [  # pyright: ignore[reportAttributeAccessIssue]
        *getattr(obj, "pytestmark", []),
        pytest.mark.usefixtures("tinyio_loop"),
    ]
    # Every other plugin, and pytest's own collection, now sees a plain function (ours says
    # None for it): parametrizing and fixtures work as for any test.
    return collector.ihook.pytest_pycollect_makeitem(collector=collector, name=name, obj=stand_in)


def unmarked_message(name: str) -> str:
    return (
        f"{name} is a generator function: to run it as a tinyio coroutine, mark it with "
        f"@pytest.mark.tinyio (or its class, or its module with "
        f"`pytestmark = pytest.mark.tinyio`), or set `{MODE_OPTION} = auto` in the pytest ini "
        f"options to run every generator test on a tinyio loop. (pytest itself does not run "
        f"generator tests.)"
    )


def _uses_coroutine_fixtures(item: pytest.Function) -> bool:
    """Whether `item` uses a `tinyio.testing.fixture` (a reason to mark a plain test). Read from
    pytest's fixture info; where that cannot be read, taken as yes (never fail a test wrongly)."""
    try:
        definitions = item._fixtureinfo.name2fixturedefs  # pyright: ignore[reportPrivateUsage]
        return any(
            getattr(definition.func, "tinyio_coroutine_fixture", False)
            for chain in definitions.values()
            for definition in chain
        )
    except AttributeError:
        return True


def not_a_generator_message(name: str) -> str:
    return (
        f"{name} is marked @pytest.mark.tinyio but is not a generator function (it has no "
        "`yield`), so the coroutines it makes would never run: write `yield coro` or `result "
        "= yield from coro` where it uses one, or drop the marker."
    )


class _UnmarkedGeneratorTests:
    """An unmarked generator test that pytest itself refuses becomes a test that fails saying
    how to run it -- rather than pytest's own error, which names neither the marker nor the
    mode, and fails the collection of its whole module. A wrapper, so that it acts only where
    pytest's refusal is the outcome: a test that another plugin collects is left to it."""

    @pytest.hookimpl(wrapper=True)
    def pytest_pycollect_makeitem(
        self, collector: pytest.Collector, name: str, obj: object
    ) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except pytest.fail.Exception:
            if not (
                inspect.isgeneratorfunction(obj)
                and isinstance(collector, pytest.Module | pytest.Class)
                and collector.istestfunction(obj, name)
            ):
                raise
        message = unmarked_message(name)

        def refuse() -> None:
            pytest.fail(message, pytrace=False)

        # `callobj`: pytest calls this function rather than fetching the generator again.
        return pytest.Function.from_parent(collector, name=name, callobj=refuse)  # pyright: ignore[reportUnknownMemberType]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    __tracebackhide__ = True  # a failure shows the test's frames, not this hook's
    function = pyfuncitem.obj
    if not inspect.isgeneratorfunction(function):
        if any(mark.name == MARKER for mark in pyfuncitem.own_markers) and not (
            _uses_coroutine_fixtures(pyfuncitem)
        ):
            # Marked itself (not through its class or module, which may hold plain tests), and
            # not for coroutine fixtures: a forgotten `yield` made it a plain function, whose
            # coroutines would never run.
            pytest.fail(not_a_generator_message(pyfuncitem.name), pytrace=False)
        return None
    marker = pyfuncitem.get_closest_marker(MARKER)
    if not (pyfuncitem.config.stash[_auto_mode] or marker):
        return None
    if marker is not None and (marker.args or marker.kwargs):
        given = ", ".join(
            [*map(repr, marker.args), *(f"{k}={v!r}" for k, v in marker.kwargs.items())]
        )
        pytest.fail(
            f"@pytest.mark.tinyio takes no arguments, got {given}. To run the test on the virtual "
            "clock, give it the tinyio_clock fixture (an argument `tinyio_clock`).",
            pytrace=False,
        )
    funcargs = pyfuncitem.funcargs
    loop = cast(Loop, funcargs["tinyio_loop"])
    wanted = inspect.signature(function).parameters
    coro = function(**{name: value for name, value in funcargs.items() if name in wanted})
    # pytest shows the traceback from the test's own frame on (it cuts everything above the
    # test function), and the loop has already left out its own frames below it.
    loop.run(coro)
    return True


@pytest.fixture
def tinyio_clock() -> VirtualClock:
    """A `tinyio.testing.VirtualClock` at 0: a tinyio test that asks for it runs its loop on it."""
    return VirtualClock()


@pytest.fixture
def tinyio_loop(request: pytest.FixtureRequest) -> Loop:
    """The fresh `tinyio.Loop` that a tinyio test and its coroutine fixtures run in; on the
    virtual clock of `tinyio_clock` if the test asks for that."""
    if "tinyio_clock" in request.fixturenames:
        clock: VirtualClock = request.getfixturevalue("tinyio_clock")
        return Loop(clock=clock)
    return Loop()
