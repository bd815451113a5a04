"""Child processes without threads: `open_process` and `run_process` (trio's names).

The pipes are non-blocking descriptors of our own (`os.pipe2`, the parent's end non-blocking,
the child's end as the child was given it), wrapped as streams on the buffered-read logic of
`_streams.ByteStream`. The child's exit is a descriptor too: a pidfd (`os.pidfd_open`, Linux
5.3+), readable once the child has exited; we then reap it with `Popen.poll()`. Where there is
no pidfd, one daemon thread per child sits in `os.waitid(P_PID, pid, WEXITED | WNOWAIT)` --
which sees the exit without reaping, so that reaping stays `Popen`'s, in the loop's thread --
and wakes the waiting coroutine's `Wait`. The wait is marked `waking_from_outside`, so that a
virtual clock does not jump past it (a fallback polling with sleeps would spin through a
virtual clock's timers, or hang it). A cancelled wait leaves the thread where it is: it holds
nothing of the loop, and ends when the child exits. No SIGCHLD handler either way, to race
with other libraries' handlers.

Stopping a child (`run_process` cancelled, `with proc:` left by an error): SIGTERM, a grace
period, SIGKILL, then reaped. Where a coroutine cannot wait for that -- in `__exit__`, or while
the loop cancels everything (a crash, Ctrl-C) -- SIGTERM is sent at once and a daemon reaper
thread waits out the grace period, kills and reaps, while the loop goes on; the loop's run
joins the reaper before it returns (`at_stop`), so no child outlives `run` unreaped.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import io
import locale
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

from ._cancel import cancel, race
from ._core import (
    CURRENT_LOOP,
    READABLE,
    BrokenResourceError,
    BusyResourceError,
    Coro,
    Loop,
    Wait,
    at_stop,
    cancelling_everything,
    ctrl_c_presses,
    duration_problem,
    notify_closing,
    starts_at_once,
    waking_from_outside,
)
from ._event import Event
from ._io import wait_descriptor
from ._streams import ByteStream, bytes_like, check_delimiter, positive_int
from ._time import sleep
from ._unyielded import Guard, Unyielded

__all__ = ["PipeReceiveStream", "PipeSendStream", "Process", "open_process", "run_process"]

_RUN_PROCESS = Unyielded("tinyio.run_process(...)")
_PROC_WAIT = Unyielded("proc.wait()")

Command = str | bytes | os.PathLike[str] | os.PathLike[bytes] | Sequence[Any]
DeliverCancel = Callable[["Process"], Coro[Any]]

_DEFAULT_GRACE: Final = 5.0
_POLL_SECONDS: Final = 0.05  # how often a stopping run, waiting for a reaper, looks at Ctrl-C
_TEXT_OPTIONS: Final = ("text", "universal_newlines", "encoding", "errors")
_CORE_DIR: Final = os.path.dirname(Wait.__init__.__code__.co_filename) + os.sep
# Set to False (tests do) to use the thread fallback (`waitid`) even where pidfds exist.
use_pidfd: bool = hasattr(os, "pidfd_open")


class _Signal:
    """Something a thread does, that coroutines wait for without blocking the loop: the thread
    calls `fire()` when it is done; `yield from signal.wait(loop)` waits for that (or sees it
    at once), any number of times."""

    __slots__ = ("done", "waits")

    def __init__(self) -> None:
        self.done = threading.Event()
        # The wait a coroutine yields now. The thread sets `done` before it wakes it, the
        # waiter puts a new one here before it looks at `done`: one of them sees the other.
        self.waits = [Wait()]

    def fire(self) -> None:
        self.done.set()
        self.waits[0].wake()

    def wait(self, loop: Loop) -> Coro[None]:
        while True:
            wait = self.waits[0] = Wait()
            if self.done.is_set():
                return
            with waking_from_outside(loop):  # a virtual clock waits for the thread
                yield wait


def _watch_exit(pid: int, exited: _Signal) -> None:
    """The fallback's thread: wait for the child to exit, without reaping it (`WNOWAIT`)."""
    with contextlib.suppress(ChildProcessError):  # reaped already (a `poll()` meanwhile)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    exited.fire()


# The children that a reaper thread gives their grace period now, by pid (for the Ctrl-C note).
_IN_GRACE: dict[int, tuple[subprocess.Popen[Any], float]] = {}
_TOLD: list[float] = [0.0]  # when the first Ctrl-C was that the note was written for


def _reap(popen: subprocess.Popen[Any], grace: float, reaped: _Signal) -> None:
    """The reaper thread: the child got SIGTERM; give it `grace` seconds, kill it, reap it."""
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()
    finally:
        _IN_GRACE.pop(popen.pid, None)
        reaped.fire()


def _presses(loop: Loop | None) -> tuple[int, float]:
    """`ctrl_c_presses(loop)`, or none for a loop that is not running (or no loop)."""
    if loop is None:
        return 0, 0.0
    try:
        return ctrl_c_presses(loop)
    except RuntimeError:  # not running
        return 0, 0.0


def _tell_in_grace(first: float) -> None:
    """Once per Ctrl-C: name on stderr every child that a stopping loop waits for."""
    if _TOLD[0] == first or not _IN_GRACE:
        return
    _TOLD[0] = first
    listed = "".join(
        f"\n  pid {popen.pid}: {popen.args!r} (grace period {grace:g} s)"
        for popen, grace in sorted(_IN_GRACE.values(), key=lambda entry: entry[0].pid)
    )
    print(
        "tinyio: Ctrl-C: the loop is stopping, but it waits for children to exit: they got "
        f"SIGTERM, and SIGKILL follows after their grace period:{listed}\n"
        "Press Ctrl-C again to kill them now.",
        file=sys.stderr,
        flush=True,
    )


def _join_reaper(loop: Loop, reaper: threading.Thread, popen: subprocess.Popen[Any]) -> None:
    """At the end of a run that stopped a child in the background: wait for its reaper, which
    may take the whole grace period. Not deaf to Ctrl-C meanwhile: a second Ctrl-C (counted by
    the run) SIGKILLs the child at once, and one that has waited a second after the first
    names on stderr the children waited for; a KeyboardInterrupt raised here (the run's Ctrl-C
    is not tinyio's: another thread, a host loop) kills it too, and goes on."""
    try:
        while True:
            reaper.join(_POLL_SECONDS)
            if not reaper.is_alive():
                return
            count, first = _presses(loop)
            if count >= 2:
                break
            if count == 1 and time.monotonic() - first >= 1.0:
                _tell_in_grace(first)
    except BaseException:
        popen.kill()
        reaper.join()
        raise
    popen.kill()  # a second Ctrl-C: no more grace
    reaper.join()


def _wait_hearing_ctrl_c(
    popen: subprocess.Popen[Any], seconds: float | None, loop: Loop | None
) -> bool:
    """Block until the child exits (True), `seconds` pass, or -- in a running loop -- Ctrl-C is
    pressed meanwhile (False for both): a blocking wait inside a loop's step is not deaf to
    Ctrl-C, which tinyio's handler only records while its own code runs."""
    pressed = _presses(loop)[0]
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        step = (
            _POLL_SECONDS if deadline is None else min(_POLL_SECONDS, deadline - time.monotonic())
        )
        try:
            popen.wait(max(step, 0.0))
            return True
        except subprocess.TimeoutExpired:
            pass
        if _presses(loop)[0] > pressed or (deadline is not None and time.monotonic() >= deadline):
            return False


def _loop_of_this_step() -> Loop | None:
    """The loop whose step is running in this thread (the innermost, for nested loops), found
    on the stack as `open_process` is a plain function; None outside any loop."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_filename.startswith(_CORE_DIR) and isinstance(
            candidate := frame.f_locals.get("self"), Loop
        ):
            return candidate
        frame = frame.f_back
    return None


def _close_dropped(stream: PipeSendStream | PipeReceiveStream) -> None:
    """A pipe stream dropped while open: close its descriptor, with a `ResourceWarning`, as
    Python does for a file (shown with `-X dev` or `-W default`)."""
    if stream._closed:  # pyright: ignore[reportPrivateUsage]
        return
    stream._closed = True  # pyright: ignore[reportPrivateUsage]
    fd = stream._fd  # pyright: ignore[reportPrivateUsage]
    with contextlib.suppress(OSError):
        os.close(fd)
    warnings.warn(
        f"unclosed {type(stream).__name__} (fd {fd}): close it, or use `with proc:`",
        ResourceWarning,
        stacklevel=3,  # where it was dropped
    )


class PipeSendStream(ByteStream):
    """The parent's end of a pipe to a child's input (`Process.stdin`): `send_all`,
    `send_eof`, `close`, with the rules of `tinyio.SocketStream`'s.

    `send_all` waits while the pipe is full (the child reads slowly); a child that has exited
    or closed its input makes it raise `tinyio.BrokenResourceError`.
    """

    __slots__ = ("_write",)

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._init_stream(fd)
        self._write = functools.partial(os.write, fd)

    def fileno(self) -> int:
        """The pipe's descriptor (do not read, write or close it directly)."""
        return self._fd

    def send_all(self, data: bytes | bytearray | memoryview) -> Coro[None]:
        """Send all of `data` to the child: `yield proc.stdin.send_all(b"...")`.

        Raises:
            TypeError: `data` is not bytes-like, e.g. a `str` (at the call).
            tinyio.BusyResourceError: another `send_all` of this stream is still running.
            tinyio.ClosedResourceError: the stream was closed (or `send_eof` was called).
            tinyio.BrokenResourceError: the child no longer reads its input (it exited, or
                closed it), or an earlier `send_all` was cancelled half-way.
        """
        return self._send_all(bytes_like(data, "send_all"))

    def send_eof(self) -> Coro[None]:
        """Close the pipe, so that the child reads the end of its input: `yield
        proc.stdin.send_eof()`. A pipe has no half-close, so this is `close()`; calling it
        again does nothing.

        Raises:
            tinyio.BusyResourceError: a `send_all` is running.
        """
        return self._send_eof()

    @starts_at_once
    def _send_eof(self) -> Coro[None]:
        if self._sending and not self._closed:
            raise BusyResourceError("cannot send_eof while a send_all of this stream runs")
        self.close()
        return
        yield  # pragma: no cover - a generator, for `yield stream.send_eof()`

    def close(self) -> None:
        """Close the pipe (idempotent): the child reads the end of its input."""
        if self._closed:
            return
        self._closed = True
        notify_closing(self._fd)
        os.close(self._fd)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<tinyio.PipeSendStream {state}>"

    def __del__(self) -> None:
        _close_dropped(self)


class PipeReceiveStream(ByteStream):
    """The parent's end of a pipe from a child's output (`Process.stdout`, `Process.stderr`):
    `receive_some`, `receive_exactly`, `receive_until`, `close`, with the rules of
    `tinyio.SocketStream`'s (cancel-safe buffered reads; `b""` at the end of the output).
    """

    __slots__ = ("_read",)

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._init_stream(fd)
        self._read = functools.partial(os.read, fd)

    def fileno(self) -> int:
        """The pipe's descriptor (do not read, write or close it directly)."""
        return self._fd

    def receive_some(self, max_bytes: int = 65536) -> Coro[bytes]:
        """Receive what the child has written, at most `max_bytes`: `data = yield
        proc.stdout.receive_some()`; `b""` once the child has closed its end (exited).

        Raises:
            TypeError, ValueError: `max_bytes` is not an int of at least 1 (at the call).
            tinyio.BusyResourceError: another receive of this stream is still waiting.
            tinyio.ClosedResourceError: the stream was closed.
        """
        return self._receive_some(positive_int(max_bytes, "max_bytes", "receive_some"))

    def receive_exactly(self, n: int) -> Coro[bytes]:
        """Receive exactly `n` bytes, as `tinyio.SocketStream.receive_exactly` (`b""` at the
        end of the output; `EOFError` if it ends part-way)."""
        return self._receive_exactly(positive_int(n, "n", "receive_exactly"))

    def receive_until(self, delimiter: bytes, max_size: int) -> Coro[bytes]:
        """Receive up to and including `delimiter`, as `tinyio.SocketStream.receive_until`:
        `line = yield proc.stdout.receive_until(b"\\n", 65536)`."""
        return self._receive_until(
            check_delimiter(delimiter), positive_int(max_size, "max_size", "receive_until")
        )

    def close(self) -> None:
        """Close the pipe (idempotent); a child writing to it afterwards gets a broken pipe."""
        if self._closed:
            return
        self._closed = True
        notify_closing(self._fd)
        os.close(self._fd)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<tinyio.PipeReceiveStream {state}>"

    def __del__(self) -> None:
        _close_dropped(self)


class Process:
    """A running child process, from `tinyio.open_process`.

    - `stdin`, `stdout`, `stderr`: a `tinyio.PipeSendStream` or `tinyio.PipeReceiveStream`
      for each that was opened with `subprocess.PIPE`, else None.
    - `pid`, `args`; `returncode`: None while the child runs, then its exit status (minus the
      signal's number if a signal killed it, as with `subprocess`).
    - `yield proc.wait()` waits for the child to exit, reaps it and gives its `returncode`
      (several coroutines may wait at once); `poll()` reaps it if it has exited, without
      waiting.
    - `send_signal(sig)`, `terminate()` (SIGTERM), `kill()` (SIGKILL): nothing once the child
      has been reaped.
    - `with proc:` -- left normally, it closes the pipes and waits for the child (blocking
      the loop: `yield proc.wait()` inside the block first, as a child usually exits once its
      input is closed); left by an error or a cancellation, it stops the child without
      blocking the loop: SIGTERM at once, then a thread gives it `grace_period` seconds to
      exit, SIGKILLs it if it has not, and reaps it. The loop's `run` returns only once the
      child has been reaped.
    """

    __slots__ = (
        "_exited",
        "_grace_period",
        "_loop",
        "_pidfd",
        "_popen",
        "_reaped",
        "_reaper",
        "_turn",
        "_watching",
        "stderr",
        "stdin",
        "stdout",
    )

    def __init__(
        self,
        popen: subprocess.Popen[Any],
        stdin: PipeSendStream | None,
        stdout: PipeReceiveStream | None,
        stderr: PipeReceiveStream | None,
        grace_period: float,
        loop: Loop | None = None,
    ) -> None:
        self._popen = popen
        self._loop = loop  # the loop it was opened in, whose run joins a reaper (`__exit__`)
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._grace_period = grace_period
        self._watching = False
        self._turn = Event()  # set when a watcher of the child's exit stops watching
        self._pidfd: int | None = None
        self._exited: _Signal | None = None  # the fallback's thread, once started
        self._reaper: threading.Thread | None = None  # the reaper thread, once started
        self._reaped = _Signal()  # fired by the reaper thread
        if use_pidfd:
            with contextlib.suppress(OSError):  # no pidfds here (ENOSYS, a sandbox): a thread
                self._pidfd = os.pidfd_open(popen.pid)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._popen.pid

    @property
    def args(self) -> Any:
        """The command, as given to `open_process`."""
        return self._popen.args

    @property
    def returncode(self) -> int | None:
        """None while the child runs (or is not reaped yet), then its exit status; minus the
        signal's number if a signal killed it."""
        return self._popen.returncode

    def poll(self) -> int | None:
        """Reap the child if it has exited, without waiting: its `returncode`, or None."""
        code = self._popen.poll()
        if code is not None:
            self._release_pidfd()
        return code

    def wait(self) -> Coro[int]:
        """Wait for the child to exit: `code = yield proc.wait()`; reaps it and gives its
        `returncode`. Cancelling the wait leaves the child running."""
        return self._wait(_PROC_WAIT.arm())

    @starts_at_once
    def _wait(self, guard: Guard | None) -> Coro[int]:
        _PROC_WAIT.disarm(guard)
        del guard
        popen = self._popen
        while popen.returncode is None:
            if self._watching:  # another coroutine watches: wait for its turn to end
                yield from self._turn.wait()
                continue
            self._watching = True
            try:
                yield from self._watch()
            finally:
                self._watching = False
                turn, self._turn = self._turn, Event()
                turn.set()
        self._release_pidfd()
        return popen.returncode

    def _watch(self) -> Coro[None]:
        popen = self._popen
        if popen.poll() is not None:
            return
        loop: Loop = yield CURRENT_LOOP
        if self._reaper is not None:  # being stopped in the background: the reaper reaps
            yield from self._reaped.wait(loop)
        elif self._pidfd is not None:
            # The child runs outside the loop, as a thread call does: a virtual clock waits
            # for it rather than jump (as it does with the fallback's thread, below).
            with waking_from_outside(loop):
                yield from wait_descriptor(self._pidfd, READABLE)
        else:
            # No pidfd: a thread waits in `waitid` for the exit, without reaping (see the
            # module's docstring); one per child, started by the first wait, and left running
            # if that wait is cancelled (the next wait uses it).
            exited = self._exited
            if exited is None:
                exited = self._exited = _Signal()
                threading.Thread(
                    target=_watch_exit,
                    args=(popen.pid, exited),
                    name=f"tinyio: waitid for pid {popen.pid}",
                    daemon=True,
                ).start()
            yield from exited.wait(loop)
        popen.poll()

    def _release_pidfd(self) -> None:
        pidfd = self._pidfd
        if pidfd is not None and not self._watching:
            self._pidfd = None
            notify_closing(pidfd)
            os.close(pidfd)

    def __del__(self) -> None:
        # Dropped without being waited for: its pidfd is closed here (nothing waits on it, or
        # that waiter would hold this object). The child itself is `Popen`'s business, as for
        # a dropped `Popen`: reaped if it has exited, else a `ResourceWarning` and reaped later.
        pidfd = self._pidfd
        if pidfd is not None:
            self._pidfd = None
            os.close(pidfd)

    def send_signal(self, sig: int) -> None:
        """Send signal `sig` to the child; nothing if it has been reaped already."""
        self._popen.send_signal(sig)

    def terminate(self) -> None:
        """Send SIGTERM to the child (nothing once reaped)."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the child (nothing once reaped)."""
        self.send_signal(signal.SIGKILL)

    def _close_pipes(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                stream.close()

    def stop_blocking(self) -> None:
        """Stop the child now, blocking the calling thread: SIGTERM, then SIGKILL if it has not
        exited within the grace period, and reaped. Nothing if it has been reaped already.

        For clean-up code that cannot yield and runs outside a loop, or must see the child
        gone before it goes on; a coroutine that can wait uses `terminate()` and `yield
        proc.wait()`, which do not block the loop. Leaving `with proc:` by an error does not
        block: it leaves the grace period to a reaper thread (which this joins, if one runs).

        ```python
        import sys
        import tinyio

        proc = tinyio.open_process([sys.executable, "-c", "import time; time.sleep(60)"])
        proc.stop_blocking()
        print(proc.returncode)
        # -15
        ```
        """
        popen = self._popen
        reaper = self._reaper
        if reaper is not None:  # being stopped in the background already
            reaper.join()
        elif popen.poll() is None:
            popen.terminate()
            try:
                # In a loop's step, a Ctrl-C during the grace period ends it: SIGKILL now.
                _wait_hearing_ctrl_c(popen, self._grace_period, _loop_of_this_step())
            finally:
                if popen.poll() is None:
                    popen.kill()
                    popen.wait()
                self._reaped.fire()
        self._release_pidfd()

    def _stop_in_background(self, loop: Loop | None) -> None:
        """Stop the child without blocking `loop`, for code that cannot yield: SIGTERM now,
        then a daemon thread waits the grace period, SIGKILLs and reaps; `loop`'s run joins
        that thread before it returns. Blocking (`stop_blocking`) where `loop` is None or not
        running (no run to hold back)."""
        popen = self._popen
        if self._reaper is not None or popen.poll() is not None:
            self._release_pidfd()
            return
        reaper = threading.Thread(
            target=_reap,
            args=(popen, self._grace_period, self._reaped),
            name=f"tinyio: reaper of pid {popen.pid}",
            daemon=True,
        )
        try:
            if loop is None:
                raise RuntimeError("no loop")
            at_stop(loop, lambda: _join_reaper(loop, reaper, popen))
        except RuntimeError:  # not in a running loop: nothing goes on meanwhile
            self.stop_blocking()
            return
        popen.terminate()
        self._reaper = reaper
        _IN_GRACE[popen.pid] = (popen, self._grace_period)
        reaper.start()
        self._release_pidfd()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._close_pipes()
        if exc_type is not None:
            self._stop_in_background(self._loop)
        elif self._popen.poll() is None:
            # Blocking, as `Popen`'s `with` does; but a Ctrl-C meanwhile (which the loop raises
            # at its next safe point) stops the child in the background instead of waiting on.
            loop = _loop_of_this_step() or self._loop
            try:
                exited = _wait_hearing_ctrl_c(self._popen, None, loop)
            except BaseException:  # a KeyboardInterrupt raised in the wait (not tinyio's)
                self._stop_in_background(loop)
                raise
            if not exited:
                self._stop_in_background(loop)
                return
        self._release_pidfd()

    def __repr__(self) -> str:
        code = self._popen.returncode
        state = "running" if code is None else f"returncode={code}"
        return f"<tinyio.Process {self._popen.args!r} pid={self._popen.pid} {state}>"


def _check_grace(grace_period: object, caller: str) -> float:
    problem = duration_problem(grace_period, f"{caller}: grace_period")
    if problem is not None:
        raise problem
    return float(grace_period)  # pyright: ignore[reportArgumentType]


def _popen_keywords() -> frozenset[str]:
    return frozenset(inspect.signature(subprocess.Popen).parameters) - {"args"}


_POPEN_KEYWORDS: Final = _popen_keywords()
# Keywords of run_process that open_process has not: a hint for who passes them there.
_RUN_PROCESS_ONLY: Final = ("input", "capture_stdout", "capture_stderr", "check", "deliver_cancel")


def _check_options(popen_kwargs: dict[str, Any], caller: str) -> None:
    """TypeError at the call for a keyword that neither `caller` nor `Popen` takes, or an
    `env` that is not a mapping."""
    for name in popen_kwargs:
        if name not in _POPEN_KEYWORDS:
            hint = (
                f"; {name}= is run_process's (open_process gives the streams instead)"
                if caller == "open_process" and name in _RUN_PROCESS_ONLY
                else ""
            )
            raise TypeError(
                f"{caller}: unexpected keyword argument {name!r}: it is neither {caller}'s "
                f"nor subprocess.Popen's{hint}."
            )
    env = popen_kwargs.get("env")
    if env is not None and not isinstance(env, Mapping):
        raise TypeError(f"{caller}: env must be a mapping of names to values, got {env!r}.")


def _check_command(command: Any, popen_kwargs: dict[str, Any], caller: str) -> None:
    """At the call: the options (`_check_options`), the arguments' types, and
    FileNotFoundError for a program not found on the PATH."""
    _check_options(popen_kwargs, caller)
    program: Any = command
    if isinstance(command, str | bytes | os.PathLike):
        if popen_kwargs.get("shell"):
            return
    elif not isinstance(command, Sequence):
        raise TypeError(f"{caller}: command must be a list of arguments, got {command!r}.")
    elif not command:
        raise ValueError(f"{caller}: command must not be empty.")
    else:
        arguments = cast("Sequence[Any]", command)
        for index, argument in enumerate(arguments):
            if not isinstance(argument, str | bytes | os.PathLike):
                raise TypeError(
                    f"{caller}: each argument of the command must be a str, bytes or path, "
                    f"got {argument!r} at index {index} of {command!r} (write str({argument!r}))."
                )
        program = arguments[0]
    if popen_kwargs.get("shell") or popen_kwargs.get("executable") is not None:
        return
    name = os.fsdecode(program)
    if os.sep in name or (os.altsep and os.altsep in name):
        return  # a path: relative to `cwd`, left to the spawn
    env = popen_kwargs.get("env")
    path = os.pathsep.join(os.get_exec_path(env))
    if (name, path) in _FOUND:
        return
    if shutil.which(name, path=path) is not None:
        # Found once, taken as found from then on: the search stats every directory of the
        # PATH, a tenth of what running `true` costs. Should the file go away, the spawn's
        # own FileNotFoundError still names it, at the yield.
        if len(_FOUND) >= 256:
            _FOUND.clear()
        _FOUND.add((name, path))
    else:
        hint = (
            ": a string is one program's name; to pass arguments, give a list "
            f"({name.split()!r}), or shell=True for a command line"
            if isinstance(command, str) and len(name.split()) > 1
            else ""
        )
        raise FileNotFoundError(
            errno.ENOENT, f"{caller}: the command {name!r} was not found on the PATH{hint}", name
        )


# The commands found on a PATH (see `_check_command`).
_FOUND: set[tuple[str, str]] = set()


def open_process(
    command: Command,
    *,
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    grace_period: float = _DEFAULT_GRACE,
    **popen_kwargs: Any,
) -> Process:
    """Start a child process: `with tinyio.open_process(["cat"], stdin=subprocess.PIPE,
    stdout=subprocess.PIPE) as proc:`.

    `stdin`, `stdout`, `stderr` are as `subprocess.Popen`'s (None: the child inherits ours;
    `subprocess.DEVNULL`, a descriptor or file, `subprocess.STDOUT` for `stderr`), and
    `subprocess.PIPE` gives a stream on the `Process`. The other keywords go to
    `subprocess.Popen` (`cwd`, `env`, `start_new_session`...), except the text-mode ones: the
    pipes carry bytes.

    Arguments:
        command: the program and its arguments, as a list (or a string with `shell=True`).
        grace_period: seconds between SIGTERM and SIGKILL when `with proc:` is left by an
            error or a cancellation.

    Returns:
        A `tinyio.Process`, already running (this is not a coroutine: starting a child does not
        wait).

    Raises:
        FileNotFoundError: the program does not exist (naming it).
        TypeError, ValueError: a bad command or option (`text=True`, say).
        OSError: the child could not be started.
    """
    for option in _TEXT_OPTIONS:
        if popen_kwargs.get(option):
            raise TypeError(
                f"open_process: {option}= is not supported: the pipes carry bytes (decode "
                "what you read, or use tinyio.run_process(..., text=True))."
            )
        popen_kwargs.pop(option, None)
    grace = _check_grace(grace_period, "open_process")
    _check_command(command, popen_kwargs, "open_process")
    return _spawn(command, stdin, stdout, stderr, grace, popen_kwargs, _loop_of_this_step())


def _spawn(
    command: Any,
    stdin: Any,
    stdout: Any,
    stderr: Any,
    grace: float,
    popen_kwargs: dict[str, Any],
    loop: Loop | None,
) -> Process:
    to_close: list[int] = []  # the child's ends, closed in the parent once it has them
    ours: list[int] = []  # our ends, closed if the spawn fails
    ends: list[int | None] = [None, None, None]
    given = [stdin, stdout, stderr]
    try:
        for index, target in enumerate(given):
            if target is subprocess.PIPE:
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                if index == 0:
                    ours.append(write_end)
                    to_close.append(read_end)
                    given[index], ends[index] = read_end, write_end
                else:
                    ours.append(read_end)
                    to_close.append(write_end)
                    given[index], ends[index] = write_end, read_end
        popen = subprocess.Popen(
            command, stdin=given[0], stdout=given[1], stderr=given[2], **popen_kwargs
        )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in to_close:
            os.close(fd)
    in_end, out_end, err_end = ends
    return Process(
        popen,
        None if in_end is None else PipeSendStream(in_end),
        None if out_end is None else PipeReceiveStream(out_end),
        None if err_end is None else PipeReceiveStream(err_end),
        grace,
        loop,
    )


def run_process(
    command: Command,
    *,
    input: bytes | bytearray | memoryview | str | None = None,
    capture_stdout: bool = False,
    capture_stderr: bool = False,
    check: bool = True,
    grace_period: float = _DEFAULT_GRACE,
    deliver_cancel: DeliverCancel | None = None,
    **popen_kwargs: Any,
) -> Coro[subprocess.CompletedProcess[Any]]:
    """Run a command to completion: `result = yield tinyio.run_process(["ls"],
    capture_stdout=True)`.

    It feeds `input` to the child and drains its captured output at the same time, so that
    no amount of either can deadlock. Cancelled (a `tinyio.timeout`, an error elsewhere,
    Ctrl-C), it stops the child -- by default SIGTERM, `grace_period` seconds, SIGKILL --
    reaps it, and then lets the cancellation go on. While the whole loop is stopping (a
    crash, Ctrl-C), the grace period passes in a reaper thread instead, and `loop.run`
    returns once the child has been reaped.

    Arguments:
        command: the program and its arguments, as a list (or a string with `shell=True`).
        input: bytes to write to the child's input, which is then closed (a `str` with
            `text=True`). None: the child's input is ours, or `stdin=` if given.
        capture_stdout: collect the child's standard output into the result (else it goes
            where `stdout=` says, by default to ours).
        capture_stderr: the same for its standard error.
        check: raise `subprocess.CalledProcessError` if the exit status is not 0.
        grace_period: seconds between SIGTERM and SIGKILL when cancelled.
        deliver_cancel: instead of SIGTERM and SIGKILL, `deliver_cancel(process)` makes the
            coroutine that asks the child to stop (it is cancelled once the child has exited;
            if it returns first, the child is killed).
        popen_kwargs: for `subprocess.Popen`; `text=True` (or `encoding=`, `errors=`) decodes
            the output and encodes the input.

    Returns:
        A coroutine giving a `subprocess.CompletedProcess` (`returncode`, `stdout`, `stderr`).

    Raises:
        FileNotFoundError: the program does not exist, naming it (at the call, for a program
            looked up on the PATH).
        TypeError, ValueError: `input` with `stdin=`, a `str` input without `text=True`,
            `capture_stdout` with `stdout=`, a bad option (at the call).
        subprocess.CalledProcessError: `check` and a non-zero exit status, with the captured
            output.
    """
    text = bool(
        popen_kwargs.pop("text", False)
        or popen_kwargs.pop("universal_newlines", False)
        or popen_kwargs.get("encoding")
        or popen_kwargs.get("errors")
    )
    encoding: str = popen_kwargs.pop("encoding", None) or locale.getpreferredencoding(False)
    errors: str = popen_kwargs.pop("errors", None) or "strict"
    for option in ("capture_output", "timeout"):
        if option in popen_kwargs:
            hint = (
                "capture_stdout=True, capture_stderr=True"
                if option == "capture_output"
                else ("tinyio.timeout(tinyio.run_process(...), seconds)")
            )
            raise TypeError(f"run_process: {option}= is not supported; use {hint}.")
    if input is not None:
        if "stdin" in popen_kwargs:
            raise ValueError("run_process: give input= or stdin=, not both.")
        if isinstance(input, str):
            if not text:
                raise TypeError(
                    "run_process: input is a str, which needs text=True (or encode it)."
                )
            data = input.encode(encoding, errors)
        else:
            if text:
                raise TypeError("run_process: with text=True, input must be a str.")
            data = bytes(bytes_like(input, "run_process"))
    else:
        data = None
    for flag, name in ((capture_stdout, "stdout"), (capture_stderr, "stderr")):
        if flag and name in popen_kwargs:
            raise ValueError(f"run_process: give capture_{name}=True or {name}=, not both.")
    flags: dict[str, object] = {
        "capture_stdout": capture_stdout,
        "capture_stderr": capture_stderr,
        "check": check,
    }
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"run_process: {name} must be True or False, got {value!r}.")
    if data is None and popen_kwargs.get("stdin") is subprocess.PIPE:
        raise ValueError(
            "run_process: stdin=subprocess.PIPE without input= would leave the child waiting "
            "for input that never comes. Give input=..., or use tinyio.open_process to write "
            "to the child as it runs."
        )
    if deliver_cancel is not None and not callable(deliver_cancel):
        raise TypeError(f"run_process: deliver_cancel must be callable, got {deliver_cancel!r}.")
    grace = _check_grace(grace_period, "run_process")
    _check_command(command, popen_kwargs, "run_process")
    stdin = subprocess.PIPE if data is not None else popen_kwargs.pop("stdin", None)
    stdout = subprocess.PIPE if capture_stdout else popen_kwargs.pop("stdout", None)
    stderr = subprocess.PIPE if capture_stderr else popen_kwargs.pop("stderr", None)
    return _run_process(
        _RUN_PROCESS.arm(),
        command, data, stdin, stdout, stderr, check, grace, deliver_cancel, popen_kwargs,
        (encoding, errors) if text else None,
    )  # fmt: skip


@starts_at_once
def _run_process(
    guard: Guard | None,
    command: Any,
    data: bytes | None,
    stdin: Any,
    stdout: Any,
    stderr: Any,
    check: bool,
    grace: float,
    deliver_cancel: DeliverCancel | None,
    popen_kwargs: dict[str, Any],
    text: tuple[str, str] | None,
) -> Coro[subprocess.CompletedProcess[Any]]:
    _RUN_PROCESS.disarm(guard)
    del guard
    loop: Loop = yield CURRENT_LOOP
    proc = _spawn(command, stdin, stdout, stderr, grace, popen_kwargs, loop)
    children: list[Coro[Any]] = []
    # Left normally, the child has been reaped already; left by an error, `with` stops it in
    # the background if it has not been (a crash or Ctrl-C: no more waiting here). Either way
    # it closes the pipes.
    with proc:
        try:
            work: list[Coro[Any]] = []
            if proc.stdin is not None and data is not None:
                work.append(_feed(proc.stdin, data))
            outputs: list[Coro[bytes]] = [
                _drain(stream) for stream in (proc.stdout, proc.stderr) if stream is not None
            ]
            children = [_waited(proc), *work, *outputs]
            results = yield children
        except BaseException:
            if not cancelling_everything(loop):
                # A timeout or cancel reaches us, not what we wait on: stop them, then the
                # child.
                yield [cancel(child) for child in children]
                yield from _stop(proc, grace, deliver_cancel)
            raise
    captured = iter(results[1 + len(work) :])
    out = next(captured) if proc.stdout is not None else None
    err = next(captured) if proc.stderr is not None else None
    if text is not None:
        out = None if out is None else _decode(out, text)
        err = None if err is None else _decode(err, text)
    code: int = results[0]
    if check and code:
        raise subprocess.CalledProcessError(code, proc.args, output=out, stderr=err)
    return subprocess.CompletedProcess(proc.args, code, out, err)


def _waited(proc: Process) -> Coro[int]:
    """`proc.wait()` for tinyio's own use: unguarded, as one that a crash leaves unstarted is
    not the user's missing `yield` (see _unyielded.py)."""
    return proc._wait(None)  # pyright: ignore[reportPrivateUsage]


def _decode(data: bytes, text: tuple[str, str]) -> str:
    # As subprocess's text mode: universal newlines.
    return io.TextIOWrapper(io.BytesIO(data), encoding=text[0], errors=text[1]).read()


def _feed(stream: PipeSendStream, data: bytes) -> Coro[None]:
    try:
        yield from stream.send_all(data)
    except BrokenResourceError:
        pass  # the child stopped reading (it exited): its status says how it went
    finally:
        stream.close()


def _drain(stream: PipeReceiveStream) -> Coro[bytes]:
    chunks: list[bytes] = []
    # A pipe holds 64 KiB (Linux's default), so no read gets more; and a larger request
    # costs by itself: `os.read` allocates the whole size first (1 MiB: an mmap, page faults).
    while chunk := (yield from stream.receive_some(1 << 16)):
        chunks.append(chunk)
    return b"".join(chunks)


def _terminate_then_kill(grace: float) -> DeliverCancel:
    def deliver(proc: Process) -> Coro[None]:
        proc.terminate()
        yield from sleep(grace)
        proc.kill()

    return deliver


def _stop(proc: Process, grace: float, deliver_cancel: DeliverCancel | None) -> Coro[None]:
    """Ask the child to stop, wait for it, kill it if the asking ends first; reaped."""
    if proc.returncode is None and proc.poll() is None:
        asking = (deliver_cancel or _terminate_then_kill(grace))(proc)
        if not isinstance(asking, types.GeneratorType):
            proc.kill()
            yield from _waited(proc)
            raise TypeError(
                f"run_process: deliver_cancel gave {asking!r}, not a coroutine: it "
                "must be a generator function (with a `yield`), as tinyio.sleep is. The child "
                "was killed."
            )
        try:
            yield from race([_waited(proc), asking])
            if proc.returncode is None:  # `deliver` returned first
                proc.kill()
                yield from _waited(proc)
        finally:
            if proc.returncode is None:  # interrupted meanwhile (a crash, Ctrl-C): the
                proc.kill()  # `with proc:` around this reaps it in the background
