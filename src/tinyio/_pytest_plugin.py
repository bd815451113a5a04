"""The pytest plugin: tests that are tinyio coroutines, each run in a fresh loop.

pytest finds it through the `pytest11` entry point, so it is active wherever tinyio is
installed; it acts only on generator test functions that carry the `tinyio` marker (on the
function, its class or its module's `pytestmark`), and leaves every other test alone. Why a
marker and not every generator test: docs/devdocs/pytest-plugin.md.

Collection: pytest refuses a generator test function, so for a marked one we hand pytest a
plain function in its place (same signature, same marks), and pytest does the rest as usual --
parametrizing, fixtures. At call time pytest gives us the item again, whose `obj` is the
generator function: we run it in the loop of the `tinyio_loop` fixture.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, cast

import pytest

from ._core import Loop
from .testing import VirtualClock

MARKER = "tinyio"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: run this test, a tinyio coroutine (a generator function), in a fresh "
        "tinyio.Loop (see tinyio.testing)",
    )


def _is_marked(collector: pytest.Collector, function: object) -> bool:
    own = getattr(function, "pytestmark", [])
    if any(getattr(mark, "name", None) == MARKER for mark in own):
        return True
    return collector.get_closest_marker(MARKER) is not None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    if not (inspect.isgeneratorfunction(obj) and _is_marked(collector, obj)):
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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    function = pyfuncitem.obj
    if not inspect.isgeneratorfunction(function) or pyfuncitem.get_closest_marker(MARKER) is None:
        return None
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
