"""Testing tinyio code: a virtual clock, and coroutine tests and fixtures for pytest.

- `VirtualClock`: give it to a loop (`tinyio.Loop(clock=VirtualClock())`) and time stands still
  while coroutines run, then jumps straight to the next timer whenever the loop would otherwise
  wait. A test of a 30-second retry loop finishes in milliseconds, the same way every run.
- With pytest, a test function that is a tinyio coroutine and carries the `tinyio` marker runs
  in a fresh loop (the pytest plugin that does this is installed with tinyio); with
  `tinyio_mode = auto` in the pytest ini options, every generator test does. `fixture` makes a
  coroutine fixture that runs in the same loop as the test. See the "Testing" docs page.

Importing this module does not import pytest: the clock works without it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

from ._core import Coro, Loop, duration_problem

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = ["VirtualClock", "fixture"]

_T = TypeVar("_T")


class VirtualClock:
    """A clock for tests: it starts at `start` and moves only when the loop has nothing to do.

    ```python
    import tinyio
    from tinyio.testing import VirtualClock

    def retry_with_backoff(attempts):
        delay = 1.0
        for attempt in range(attempts):
            print(f"attempt {attempt} at t={loop.time():g}")
            yield tinyio.sleep(delay)
            delay *= 2

    loop = tinyio.Loop(clock=VirtualClock())
    loop.run(retry_with_backoff(4))
    print(loop.time())
    # attempt 0 at t=0
    # attempt 1 at t=1
    # attempt 2 at t=3
    # attempt 3 at t=7
    # 15.0
    ```

    A loop given this clock reads the time from it (`loop.time()`, and every timer: `sleep`,
    `timeout`, `Event.wait(timeout)`, `Condition` and `Queue` waits with a timeout). While
    coroutines are ready to run, the time stands still; when none is, and no thread call
    (`run_in_thread`, `from_future`, ...) is running, the clock jumps at once to the next timer.
    While a thread call runs, it waits for it instead: the thread may still wake the loop first.
    A nested loop (`tinyio.isolate`) shares the clock of the loop it runs in.

    Arguments:
        start: the reading to start from, in seconds (default 0).
    """

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        problem = duration_problem(start, "start")
        if problem is not None:
            raise problem
        self._now = float(start)

    def time(self) -> float:
        """The current reading, in seconds."""
        return self._now

    def jump(self, seconds: float) -> None:
        """Move the clock forward by `seconds`, as if that much time had passed at once.

        Timers that fall due meanwhile fire when the loop next looks at its timers (after the
        current round of steps). Call it from a coroutine of the loop, or between runs.

        Raises:
            TypeError, ValueError: `seconds` is not a non-negative number.
        """
        problem = duration_problem(seconds, "seconds")
        if problem is not None:
            raise problem
        self._now += float(seconds)

    def advance_to(self, deadline: float) -> None:
        """Called by the loop when it is idle: move to `deadline` (never back)."""
        if deadline > self._now:
            self._now = deadline

    def __repr__(self) -> str:
        return f"<tinyio.testing.VirtualClock at {self._now:g} s>"


_F = TypeVar("_F", bound=Callable[..., "Generator[Any, Any, Any]"])


@overload
def fixture(function: _F, /) -> _F: ...
@overload
def fixture(function: None = None, /, **options: object) -> NoReturn: ...
def fixture(function: _F | None = None, /, **options: object) -> _F:
    """Make a tinyio coroutine into a pytest fixture that runs in the loop of the test using it.

    ```python
    import tinyio
    import tinyio.testing

    @tinyio.testing.fixture
    def config():
        yield tinyio.sleep(0.01)  # runs in the test's loop
        return {"retries": 3}
    ```

    The coroutine runs to its end when the fixture is set up, in the test's own loop (the
    `tinyio_loop` fixture; with `tinyio_clock`, on the test's virtual clock), and what it
    returns is the fixture's value. (pytest's own generator fixtures, which `yield` their value
    and then tear down, stay as they are: hence this explicit decorator.) It may use other
    fixtures, plain or coroutine, by naming them as arguments. Its scope is the test function:
    the loop is made for each test.

    Arguments:
        function: the generator function (use `fixture` as a decorator).

    Raises:
        TypeError: `function` is not a generator function (at decoration).
    """
    import pytest

    if options:
        raise TypeError(
            f"tinyio.testing.fixture takes no options, got {', '.join(map(repr, options))}: a "
            "coroutine fixture runs in the test's own loop, made for each test, so its scope is "
            "the test function. Write @tinyio.testing.fixture; for another scope, an ordinary "
            "@pytest.fixture."
        )
    if function is None:
        raise TypeError(
            "tinyio.testing.fixture is a decorator without parentheses: write "
            "@tinyio.testing.fixture, not @tinyio.testing.fixture()."
        )
    if not inspect.isgeneratorfunction(function):
        raise TypeError(
            f"tinyio.testing.fixture needs a generator function (a tinyio coroutine "
            f"function), got {function!r}. For an ordinary fixture use @pytest.fixture."
        )
    parameters = list(inspect.signature(function).parameters.values())
    takes_loop = any(p.name == "tinyio_loop" for p in parameters)
    if not takes_loop:
        parameters.append(inspect.Parameter("tinyio_loop", inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(function)
    def setup(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        loop: Loop = kwargs["tinyio_loop"] if takes_loop else kwargs.pop("tinyio_loop")
        coro: Coro[Any] = function(*args, **kwargs)
        return loop.run(coro)

    # pytest reads the fixtures to pass from the signature: the function's, and the loop.
    # (`inspect.signature` prefers this to following `__wrapped__` to the function.)
    setup.__signature__ = inspect.Signature(parameters)  # pyright: ignore[reportAttributeAccessIssue]
    setup.tinyio_coroutine_fixture = True  # pyright: ignore[reportAttributeAccessIssue]
    return pytest.fixture(setup)  # pyright: ignore[reportReturnType]
