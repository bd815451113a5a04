"""Child processes: `open_process`, `run_process`, `Process` and its pipe streams.

Real children only (`sys.executable -c ...`, `true`, `cat`). Synchronisation is by what the
child writes (it says "ready" once its signal handlers are in place), never by sleeping.
Every test checks that no descriptor is left open, and the ones that stop a child check that
no process (nor zombie) is left with its pid.
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

import tinyio
import tinyio._process
from tinyio.testing import VirtualClock

PY = sys.executable
# For the Ctrl-C programs: run without coverage.py's measurement of subprocesses (see
# test_ctrl_c.py), which on 3.11 slows their threads' cancellation down.
UNMEASURED = {
    name: value for name, value in os.environ.items() if name != "COVERAGE_PROCESS_CONFIG"
}
# A child that ignores SIGTERM, says its pid once it does, and then waits to be killed.
STUBBORN = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(60)\n"
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_descriptor_leaks() -> Iterator[None]:
    before = open_fds()
    yield
    assert open_fds() == before, "the test left descriptors open"


@pytest.fixture(params=["pidfd", "thread"])
def exit_watch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with a pidfd (where there is one) and with the fallback's `waitid` thread."""
    if request.param == "pidfd" and not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open here")
    monkeypatch.setattr(tinyio._process, "use_pidfd", request.param == "pidfd")
    return request.param


def gone(pid: int) -> bool:
    """Whether no process, not even a zombie, has this pid any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def reaped(pid: int) -> bool:
    """Whether our child with this pid has been reaped (no zombie left): waitpid says it is
    no child of ours any more."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def waitid_threads(pid: int) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == f"tinyio: waitid for pid {pid}"]


def run(coro):
    return tinyio.Loop().run(coro)


# ---------------------------------------------------------------------- run_process


def test_run_process_true(exit_watch):
    def main():
        return (yield tinyio.run_process(["true"]))

    result = run(main())
    assert isinstance(result, subprocess.CompletedProcess)
    assert (result.args, result.returncode, result.stdout, result.stderr) == (
        ["true"],
        0,
        None,
        None,
    )


def test_run_process_captures_stdout_and_stderr_apart(exit_watch):
    code = "import sys; print('out'); print('err', file=sys.stderr)"

    def main():
        return (
            yield tinyio.run_process([PY, "-c", code], capture_stdout=True, capture_stderr=True)
        )

    result = run(main())
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")


def test_stderr_to_stdout():
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr)"

    def main():
        return (
            yield tinyio.run_process(
                [PY, "-c", code], capture_stdout=True, stderr=subprocess.STDOUT
            )
        )

    assert run(main()).stdout == b"out\nerr\n"


def test_ten_mebibytes_both_ways_do_not_deadlock(exit_watch):
    # The child echoes its input on both outputs as it reads it: with a parent that fed
    # first and read afterwards (or waited with full pipes), both would block for ever.
    code = textwrap.dedent("""
        import sys
        while chunk := sys.stdin.buffer.read1(65536):
            sys.stdout.buffer.write(chunk)
            sys.stderr.buffer.write(chunk)
    """)
    data = os.urandom(1 << 16) * 160  # 10 MiB

    def main():
        return (
            yield tinyio.run_process(
                [PY, "-c", code], input=data, capture_stdout=True, capture_stderr=True
            )
        )

    result = run(main())
    assert result.stdout == data
    assert result.stderr == data


def test_text_mode_encodes_input_and_decodes_output():
    def main():
        return (
            yield tinyio.run_process(
                [PY, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
                input="héllo\r\n",
                capture_stdout=True,
                text=True,
                encoding="utf-8",
            )
        )

    assert run(main()).stdout == "HÉLLO\n"


def test_check_raises_called_process_error_with_the_output():
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"

    def main():
        try:
            yield from tinyio.run_process(
                [PY, "-c", code], capture_stdout=True, capture_stderr=True
            )
        except subprocess.CalledProcessError as error:
            return error
        return None

    error = run(main())
    assert isinstance(error, subprocess.CalledProcessError)
    assert (error.returncode, error.output, error.stderr) == (3, b"out\n", b"err\n")
    assert error.cmd == [PY, "-c", code]


def test_check_false_returns_the_status():
    def main():
        return (yield tinyio.run_process([PY, "-c", "raise SystemExit(5)"], check=False))

    assert run(main()).returncode == 5


def test_a_child_killed_by_a_signal(exit_watch):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"

    def main():
        result = yield tinyio.run_process([PY, "-c", code], check=False)
        try:
            yield from tinyio.run_process([PY, "-c", code])
        except subprocess.CalledProcessError as error:
            return result.returncode, error.returncode
        return None

    assert run(main()) == (-signal.SIGKILL, -signal.SIGKILL)


def test_a_child_that_exits_without_reading_its_input():
    def main():
        return (yield tinyio.run_process(["true"], input=b"x" * (1 << 20)))

    assert run(main()).returncode == 0


# ---------------------------------------------------------------------- bad input


def test_a_missing_command_raises_file_not_found_at_the_call_naming_it():
    with pytest.raises(FileNotFoundError, match="no-such-command-tinyio"):
        tinyio.run_process(["no-such-command-tinyio", "x"])
    with pytest.raises(FileNotFoundError, match="no-such-command-tinyio"):
        tinyio.open_process(["no-such-command-tinyio"])


def test_a_missing_program_path_raises_file_not_found_naming_it():
    def main():
        yield from tinyio.run_process(["/nonexistent/tinyio-prog"])

    with pytest.raises(FileNotFoundError, match="/nonexistent/tinyio-prog"):
        run(main())


def test_bad_arguments_raise_at_the_call():
    with pytest.raises(ValueError, match="input= or stdin="):
        tinyio.run_process(["cat"], input=b"x", stdin=subprocess.DEVNULL)
    with pytest.raises(TypeError, match="text=True"):
        tinyio.run_process(["cat"], input="text")
    with pytest.raises(TypeError, match="must be a str"):
        tinyio.run_process(["cat"], input=b"x", text=True)
    with pytest.raises(ValueError, match="capture_stdout"):
        tinyio.run_process(["cat"], capture_stdout=True, stdout=subprocess.DEVNULL)
    with pytest.raises(TypeError, match="capture_stdout=True"):
        tinyio.run_process(["cat"], capture_output=True)
    with pytest.raises(TypeError, match=r"tinyio\.timeout"):
        tinyio.run_process(["cat"], timeout=1)
    with pytest.raises(ValueError, match="grace_period"):
        tinyio.run_process(["cat"], grace_period=-1)
    with pytest.raises(TypeError, match="pipes carry bytes"):
        tinyio.open_process(["cat"], text=True)
    with pytest.raises(ValueError, match="empty"):
        tinyio.open_process([])


# ---------------------------------------------------------------------- open_process


def test_interactive_use(exit_watch):
    code = textwrap.dedent("""
        import sys
        for line in sys.stdin:
            print(line.strip().upper(), flush=True)
    """)

    def main():
        with tinyio.open_process(
            [PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        ) as proc:
            answers = []
            for word in (b"one", b"two", b"three"):
                yield proc.stdin.send_all(word + b"\n")
                answers.append((yield proc.stdout.receive_until(b"\n", 100)))
            yield proc.stdin.send_eof()
            answers.append((yield proc.stdout.receive_some()))
            answers.append((yield proc.wait()))
        return answers, proc.returncode

    assert run(main()) == ([b"ONE\n", b"TWO\n", b"THREE\n", b"", 0], 0)


def test_cat_with_receive_exactly():
    def main():
        with tinyio.open_process(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
            yield proc.stdin.send_all(b"abcdef")
            first = yield proc.stdout.receive_exactly(3)
            second = yield proc.stdout.receive_exactly(3)
            proc.stdin.close()
            yield proc.wait()
        return first, second

    assert run(main()) == (b"abc", b"def")


def test_several_waits_at_once_and_poll(exit_watch):
    def main():
        with tinyio.open_process(["cat"], stdin=subprocess.PIPE) as proc:
            assert proc.poll() is None
            assert proc.returncode is None

            def closer():
                yield
                proc.stdin.close()

            codes = yield [proc.wait(), proc.wait(), proc.wait(), closer()]
            return codes, proc.poll(), (yield proc.wait())

    assert run(main()) == ([0, 0, 0, None], 0, 0)


def test_a_timed_out_wait_leaves_the_child_running(exit_watch):
    def main():
        with tinyio.open_process(["cat"], stdin=subprocess.PIPE) as proc:
            result = yield tinyio.timeout(proc.wait(), 0.05)
            still = proc.poll()
            proc.terminate()
            return result, still, (yield proc.wait())

    assert run(main()) == ((None, False), None, -signal.SIGTERM)


def test_send_signal_after_reaping_does_nothing():
    def main():
        proc = tinyio.open_process(["true"])
        with proc:
            yield proc.wait()
        proc.kill()
        proc.send_signal(signal.SIGTERM)
        return proc.returncode

    assert run(main()) == 0


def test_leaving_with_by_an_error_stops_the_child(exit_watch):
    class Failure(Exception):
        pass

    def main():
        with tinyio.open_process(
            [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=0.1
        ) as proc:
            pid = int((yield proc.stdout.receive_until(b"\n", 100)))
            raise Failure(pid)

    with pytest.raises(Failure) as info:
        run(main())
    assert gone(info.value.args[0])


def test_leaving_with_normally_closes_the_pipes_and_waits():
    def main():
        with tinyio.open_process(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
            yield proc.stdin.send_all(b"x")
            assert (yield proc.stdout.receive_some()) == b"x"
        return proc.returncode, proc.stdin, proc.stdout

    code, stdin, stdout = run(main())
    assert code == 0  # its stdin closed, cat exited (its stdout was closed too: writing would
    # have been a SIGPIPE, as with subprocess.Popen's `with`)
    assert "closed" in repr(stdin)
    assert "closed" in repr(stdout)


def test_pipes_raise_closed_after_close():
    def main():
        with tinyio.open_process(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
            proc.stdout.close()
            with pytest.raises(tinyio.ClosedResourceError):
                yield from proc.stdout.receive_some()
            yield proc.stdin.send_eof()
            yield proc.stdin.send_eof()  # again: nothing
            with pytest.raises(tinyio.ClosedResourceError):
                yield from proc.stdin.send_all(b"x")
            yield proc.wait()

    run(main())


def test_writing_to_a_child_that_exited_is_a_broken_resource():
    def main():
        with tinyio.open_process(["true"], stdin=subprocess.PIPE) as proc:
            yield proc.wait()
            with pytest.raises(tinyio.BrokenResourceError):
                yield from proc.stdin.send_all(b"x" * (1 << 20))

    run(main())


# ---------------------------------------------------------------------- cancellation


def _pid_then_cancel(cancel):
    """Run STUBBORN under run_process with its stdout on a pipe of ours; once it has said its
    pid, `cancel(process_coroutine)` (a coroutine). Gives the pid and the time from the
    cancel to the end."""
    read_end, write_end = os.pipe()

    def main():
        runner = tinyio.run_process([PY, "-c", STUBBORN], stdout=write_end, grace_period=0.2)
        yield {runner}
        os.set_blocking(read_end, False)
        while True:
            try:
                line = os.read(read_end, 100)
                break
            except BlockingIOError:
                yield tinyio.wait_readable(read_end)
        start = time.monotonic()
        yield from cancel(runner)
        return int(line), time.monotonic() - start

    try:
        return run(main())
    finally:
        os.close(read_end)
        os.close(write_end)


def test_cancel_with_a_child_that_ignores_sigterm(exit_watch):
    pid, took = _pid_then_cancel(tinyio.cancel)
    assert gone(pid)
    assert took >= 0.2  # the grace period passed before SIGKILL


def test_a_timeout_stops_the_child_then_goes_on(exit_watch):
    # The shell ignores SIGTERM within milliseconds, and `sleep` inherits that: a Python
    # child could still be starting when the timeout fires (slow under coverage or load).
    ignores_sigterm = ["sh", "-c", "trap '' TERM; exec sleep 60"]

    def main():
        start = time.monotonic()
        result = yield tinyio.timeout(
            tinyio.run_process(ignores_sigterm, capture_stdout=True, grace_period=0.1), 0.3
        )
        return result, time.monotonic() - start

    result, took = run(main())
    assert result == (None, False)
    assert took >= 0.4


def test_an_error_elsewhere_stops_the_child(exit_watch):
    read_end, write_end = os.pipe()

    class Failure(Exception):
        pass

    def failing():
        os.set_blocking(read_end, False)
        while True:
            try:
                line = os.read(read_end, 100)
                break
            except BlockingIOError:
                yield tinyio.wait_readable(read_end)
        raise Failure(int(line))

    def main():
        yield [
            tinyio.run_process([PY, "-c", STUBBORN], stdout=write_end, grace_period=0.1),
            failing(),
        ]

    try:
        with pytest.raises(Failure) as info:
            run(main())
    finally:
        os.close(read_end)
        os.close(write_end)
    assert gone(info.value.args[0])


def test_deliver_cancel():
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(7))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    delivered = []

    def deliver(proc):
        delivered.append(proc.pid)
        proc.send_signal(signal.SIGUSR1)
        yield tinyio.Event().wait()  # cancelled once the child has exited

    read_end, write_end = os.pipe()

    def main():
        runner = tinyio.run_process([PY, "-c", code], stdout=write_end, deliver_cancel=deliver)
        yield {runner}
        yield tinyio.wait_readable(read_end)
        yield tinyio.cancel(runner)

    try:
        run(main())
    finally:
        os.close(read_end)
        os.close(write_end)
    assert len(delivered) == 1
    assert gone(delivered[0])


CTRL_C_PROGRAM = """
import os, signal, subprocess, sys
import tinyio

STUBBORN = {stubborn!r}

def main():
    with tinyio.open_process(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=0.1
    ) as proc:
        pid = int((yield proc.stdout.receive_until(b"\\n", 100)))
        print(pid, flush=True)
        runner = tinyio.run_process(
            [sys.executable, "-c", STUBBORN], stdout=subprocess.DEVNULL, grace_period=0.1
        )
        yield {{runner}}
        signal.raise_signal(signal.SIGINT)  # Ctrl-C
        yield tinyio.sleep(30)

try:
    tinyio.Loop().run(main())
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_ctrl_c_with_children_running():
    program = CTRL_C_PROGRAM.format(stubborn=STUBBORN)
    completed = subprocess.run(
        [PY, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert completed.returncode == 0, completed.stderr
    pid, last = completed.stdout.split()
    assert last == "KeyboardInterrupt"
    assert gone(int(pid))


SECOND_CTRL_C_PROGRAM = """
import os, signal, subprocess, sys
import tinyio

STUBBORN = {stubborn!r}
fds = len(os.listdir("/proc/self/fd"))
pids = []
read_end, write_end = os.pipe()

def main():
    with tinyio.open_process(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=60
    ) as proc:
        pids.append(int((yield proc.stdout.receive_until(b"\\n", 100))))
        runner = tinyio.run_process(
            [sys.executable, "-c", STUBBORN], stdout=write_end, grace_period=60
        )
        yield {{runner}}
        yield tinyio.wait_readable(read_end)
        pids.append(int(os.read(read_end, 100)))  # the newline may come later: keep it open
        print(*pids, flush=True)
        yield tinyio.sleep(60)

try:
    tinyio.Loop().run(main())
except KeyboardInterrupt:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            print("reaped", flush=True)
    os.close(read_end)
    os.close(write_end)
    print("descriptors", len(os.listdir("/proc/self/fd")) - fds, flush=True)
    raise
"""


@pytest.mark.timeout(60)
def test_a_second_ctrl_c_kills_children_in_their_grace_period_at_once(tmp_path):
    script = tmp_path / "second.py"
    script.write_text(SECOND_CTRL_C_PROGRAM.format(stubborn=STUBBORN))
    process = subprocess.Popen(
        [PY, str(script)], env=UNMEASURED, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        pids = [int(pid) for pid in process.stdout.readline().split()]
        assert len(pids) == 2
        process.send_signal(signal.SIGINT)
        told = []
        for line in process.stderr:
            told.append(line)
            if "Press Ctrl-C again to kill them now." in line:
                break
        pressed = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        took = time.monotonic() - pressed
    finally:
        process.kill()
        process.wait()
    stderr = "".join(told) + stderr
    assert "tinyio: Ctrl-C: the loop is stopping, but it waits for children to exit" in stderr
    for pid in pids:  # both, in one note
        assert f"pid {pid}: " in stderr
    assert stderr.count("(grace period 60 s)") == 2
    assert stderr.count("Press Ctrl-C again") == 1
    assert took < 20  # not the 60-s grace period
    assert stdout.splitlines() == ["reaped", "reaped", "descriptors 0"]
    assert "Exception ignored" not in stderr
    assert "\nKeyboardInterrupt\n" in stderr  # plain: the run's, with its note of what ran
    assert process.returncode == -signal.SIGINT
    assert all(gone(pid) for pid in pids)


def run_interrupted(main, start_presser) -> float:
    """Run `main()` with Python's own SIGINT handler, as in a plain program, while the thread
    `start_presser()` starts presses Ctrl-C; `run` must raise KeyboardInterrupt. How long it
    took, in seconds."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    presser = start_presser()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            tinyio.Loop().run(main())
    finally:
        signal.signal(signal.SIGINT, previous)
        presser.join()
    return time.monotonic() - start


class _Told(io.StringIO):
    """A stderr that sets `event` once tinyio has told how to stop waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.event = threading.Event()

    def write(self, text: str) -> int:
        if "Press Ctrl-C again to kill them now." in text:
            self.event.set()
        return super().write(text)


@pytest.mark.timeout(60)
def test_a_second_ctrl_c_in_the_same_process_kills_the_child_waited_for(monkeypatch):
    told = _Told()
    monkeypatch.setattr(sys, "stderr", told)
    children = []

    def press_again_when_told():
        assert told.event.wait(30)
        os.kill(os.getpid(), signal.SIGINT)

    def main():
        with tinyio.open_process(
            [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=60
        ) as proc:
            children.append(proc)
            yield proc.stdout.receive_until(b"\n", 100)
            signal.raise_signal(signal.SIGINT)
            yield tinyio.sleep(60)

    def start_presser():
        presser = threading.Thread(target=press_again_when_told)
        presser.start()
        return presser

    assert run_interrupted(main, start_presser) < 20
    assert f"pid {children[0].pid}: " in told.getvalue()
    assert children[0].returncode == -signal.SIGKILL
    assert gone(children[0].pid)


def test_no_descriptor_left_in_nested_and_isolated_loops():
    def inner():
        result = yield tinyio.run_process(["cat"], input=b"abc", capture_stdout=True)
        return result.stdout

    def main():
        isolated, ok = yield tinyio.isolate(inner())
        nested = tinyio.Loop().run(inner())
        return isolated, ok, nested

    before = open_fds()
    assert run(main()) == (b"abc", True, b"abc")
    assert open_fds() == before


def test_a_deliver_cancel_that_returns_first_gets_the_child_killed():
    def deliver(proc):
        return
        yield

    read_end, write_end = os.pipe()

    def main():
        runner = tinyio.run_process([PY, "-c", STUBBORN], stdout=write_end, deliver_cancel=deliver)
        yield {runner}
        yield tinyio.wait_readable(read_end)
        pid = int(os.read(read_end, 100))
        yield tinyio.cancel(runner)
        return pid

    try:
        pid = run(main())
    finally:
        os.close(read_end)
        os.close(write_end)
    assert gone(pid)


def test_stop_blocking_terminates_and_reaps_a_child_for_code_that_cannot_yield():
    proc = tinyio.open_process([sys.executable, "-c", "import time; time.sleep(60)"])
    assert repr(proc).endswith("running>")
    proc.stop_blocking()
    assert proc.returncode == -signal.SIGTERM
    assert repr(proc).endswith(f"returncode={-signal.SIGTERM}>")
    assert gone(proc.pid)
    proc.stop_blocking()  # reaped already: nothing


def test_the_pipe_streams_name_their_descriptor_until_closed():
    command = [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"]
    with tinyio.open_process(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        for stream in (proc.stdin, proc.stdout):
            assert repr(stream).endswith(f"fd={stream.fileno()}>")
            assert os.get_inheritable(stream.fileno()) is False
        proc.stdin.close()
        assert repr(proc.stdin).endswith("closed>")
        assert run(proc.wait()) == 0


def test_a_deliver_cancel_that_is_not_callable_is_refused_at_the_call():
    with pytest.raises(TypeError, match=r"deliver_cancel must be callable, got 5\."):
        tinyio.run_process(["true"], deliver_cancel=5)  # type: ignore[arg-type]


def test_a_process_dropped_without_being_waited_for_leaves_no_descriptor_open():
    # As a dropped `subprocess.Popen`: a ResourceWarning says it was never waited for, and the
    # child is reaped; the pidfd that tinyio opened for it is closed with it.
    before = open_fds()
    proc = tinyio.open_process(["true"])
    pid = proc.pid
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del proc
        gc.collect()
    assert [str(w.message) for w in caught] == [f"subprocess {pid} is still running"]
    assert open_fds() == before
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)


# ---------------------------------------------------------------------- stopping in the background


class Failure(Exception):
    pass


def test_leaving_with_by_an_error_stops_the_child_without_blocking_the_loop(exit_watch):
    # The child ignores SIGTERM: it lives out its grace period, while the loop goes on -- the
    # coroutine that left the block, and a ticker -- and is then killed and reaped.
    grace = 0.5
    ticks: list[float] = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            yield tinyio.sleep(0.01)

    def main():
        background = ticker()
        yield {background}
        try:
            with tinyio.open_process(
                [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=grace
            ) as proc:
                pid = int((yield proc.stdout.receive_until(b"\n", 100)))
                start = time.monotonic()
                raise Failure(pid)
        except Failure:
            left = time.monotonic()
        assert left - start < grace / 2  # `with` did not wait out the grace period
        assert proc.returncode is None
        assert not gone(pid)  # still in its grace period
        before = len(ticks)
        yield tinyio.sleep(grace / 5)
        assert len(ticks) > before  # the loop runs meanwhile
        assert not gone(pid)
        code = yield proc.wait()  # waits for the reaper, without blocking either
        took = time.monotonic() - start
        yield tinyio.cancel(background)
        return pid, code, took

    pid, code, took = run(main())
    assert code == -signal.SIGKILL
    assert took >= grace
    assert gone(pid)
    assert reaped(pid)


def test_the_run_returns_only_once_the_reaper_has_reaped_the_child(exit_watch):
    grace = 0.3

    def main():
        with tinyio.open_process(
            [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=grace
        ) as proc:
            pid = int((yield proc.stdout.receive_until(b"\n", 100)))
            raise Failure(pid, time.monotonic())

    with pytest.raises(Failure) as info:
        run(main())
    pid, raised = info.value.args
    assert time.monotonic() - raised >= grace  # the run waited for the reaper, then
    assert gone(pid)
    assert reaped(pid)


def test_a_crash_stops_children_without_holding_up_other_clean_up(exit_watch):
    # While the loop cancels everything, `with proc:` and a cancelled `run_process` send
    # SIGTERM and leave the grace period to a reaper thread: the other coroutines' `finally`
    # blocks run at once, not one grace period after another; the run ends once both are
    # reaped.
    grace = 1.0
    pids: list[int] = []
    crashed: list[float] = []
    cleaned_up: list[float] = []
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)

    def pid_from(fd):
        while True:
            try:
                return int(os.read(fd, 100))
            except BlockingIOError:
                yield tinyio.wait_readable(fd)

    def with_block(ready):
        try:
            with tinyio.open_process(
                [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=grace
            ) as proc:
                pids.append(int((yield proc.stdout.receive_until(b"\n", 100))))
                ready.set()
                yield tinyio.sleep(30)
        finally:
            cleaned_up.append(time.monotonic())  # once `with` has dealt with the child

    def runner():
        try:
            yield tinyio.run_process([PY, "-c", STUBBORN], stdout=write_end, grace_period=grace)
        finally:
            cleaned_up.append(time.monotonic())

    def reader(ready):
        pids.append((yield from pid_from(read_end)))
        ready.set()

    def other():
        try:
            yield tinyio.sleep(30)
        finally:
            cleaned_up.append(time.monotonic())

    def failing(events):
        for event in events:
            yield event.wait()
        crashed.append(time.monotonic())
        raise Failure

    def main():
        events = [tinyio.Event(), tinyio.Event()]
        yield [other(), with_block(events[0]), runner(), reader(events[1]), failing(events)]

    try:
        with pytest.raises(Failure):
            run(main())
    finally:
        os.close(read_end)
        os.close(write_end)
    ended = time.monotonic()
    assert len(cleaned_up) == 3
    assert max(cleaned_up) - crashed[0] < grace / 2  # nobody waited for a grace period
    assert ended - crashed[0] >= grace  # but the run did, for the reapers
    assert len(pids) == 2
    for pid in pids:
        assert gone(pid)
        assert reaped(pid)


def test_stop_blocking_after_leaving_with_by_an_error_joins_the_reaper():
    def main():
        try:
            with tinyio.open_process(
                [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=0.2
            ) as proc:
                pid = int((yield proc.stdout.receive_until(b"\n", 100)))
                raise Failure
        except Failure:
            pass
        proc.stop_blocking()  # blocks until the reaper has reaped it
        assert proc.returncode == -signal.SIGKILL
        assert reaped(pid)
        proc.stop_blocking()  # again: nothing
        return proc.returncode

    assert run(main()) == -signal.SIGKILL


def test_leaving_with_by_an_error_outside_a_running_loop_stops_the_child_blocking():
    # No run to hold back: the caller's thread waits, as `stop_blocking` does.
    def opened():
        return tinyio.open_process([PY, "-c", "import time; time.sleep(60)"])
        yield  # pragma: no cover

    for make in (lambda: run(opened()), lambda: tinyio.open_process(["sleep", "60"])):
        proc = make()
        with pytest.raises(Failure), proc:
            raise Failure
        assert proc.returncode == -signal.SIGTERM
        assert reaped(proc.pid)


# ---------------------------------------------------------------------- the no-pidfd fallback


def test_waiting_for_a_child_under_a_virtual_clock(exit_watch):
    # A fallback polling with sleeps would race through a virtual clock's timers (or spin):
    # the `waitid` thread wakes the wait, and the clock stands still meanwhile -- as it does
    # for a wait on a pidfd, the child being work outside the loop, as a thread call is.
    loop = tinyio.Loop(clock=VirtualClock())
    ticks: list[float] = []

    def ticker():
        while True:
            yield tinyio.sleep(1)
            ticks.append(loop.time())

    def main():
        background = ticker()
        yield {background}
        with tinyio.open_process([PY, "-c", "import time; time.sleep(0.2)"]) as proc:
            first = yield tinyio.timeout(proc.wait(), 3600)
            pid = proc.pid
        yield tinyio.cancel(background)
        return first, pid, loop.time()

    (code, ok), pid, at = loop.run(main())
    assert (code, ok) == (0, True)
    assert at == 0.0  # the clock did not move while the thread waited
    assert ticks == []
    assert reaped(pid)
    assert waitid_threads(pid) == []


def test_a_stubborn_child_under_a_virtual_clock(exit_watch):
    # `with` left by an error under a virtual clock: the reaper's real grace period passes in
    # its thread; `yield proc.wait()` waits for it, the virtual clock standing still.
    loop = tinyio.Loop(clock=VirtualClock())

    def main():
        try:
            with tinyio.open_process(
                [PY, "-c", STUBBORN], stdout=subprocess.PIPE, grace_period=0.2
            ) as proc:
                yield proc.stdout.receive_until(b"\n", 100)
                raise Failure
        except Failure:
            pass
        return (yield proc.wait()), loop.time(), proc.pid

    code, at, pid = loop.run(main())
    assert (code, at) == (-signal.SIGKILL, 0.0)
    assert reaped(pid)


def test_the_fallback_keeps_one_thread_per_child_across_cancelled_waits(monkeypatch):
    monkeypatch.setattr(tinyio._process, "use_pidfd", False)

    def main():
        with tinyio.open_process(["cat"], stdin=subprocess.PIPE) as proc:
            for _ in range(3):
                assert (yield tinyio.timeout(proc.wait(), 0.02)) == (None, False)
            threads = waitid_threads(proc.pid)
            proc.stdin.close()
            return threads, (yield proc.wait()), proc.pid

    threads, code, pid = run(main())
    assert len(threads) == 1
    assert code == 0
    assert reaped(pid)


def test_the_fallback_thread_of_a_child_reaped_already():
    popen = subprocess.Popen(["true"])
    popen.wait()
    exited = tinyio._process._Signal()
    tinyio._process._watch_exit(popen.pid, exited)  # ChildProcessError: it is done at once
    assert exited.done.is_set()


def test_a_crash_during_the_grace_period_kills_the_child_at_once(exit_watch):
    # A timeout stops `run_process`, whose child ignores SIGTERM: its grace period begins.
    # The loop crashing meanwhile cuts it short (SIGKILL, reaped in the background).
    ignores_sigterm = ["sh", "-c", "trap '' TERM; exec sleep 60"]
    pids: list[int] = []

    def deliver(proc):
        pids.append(proc.pid)
        proc.terminate()
        yield tinyio.sleep(30)

    def timed_out():
        yield tinyio.timeout(tinyio.run_process(ignores_sigterm, deliver_cancel=deliver), 0.05)

    def failing():
        while not pids:
            yield tinyio.sleep(0.01)
        raise Failure

    def main():
        yield [timed_out(), failing()]

    start = time.monotonic()
    with pytest.raises(Failure):
        run(main())
    assert time.monotonic() - start < 10  # not the 30 s `deliver` would have waited
    assert gone(pids[0])
    assert reaped(pids[0])


def test_a_wait_for_a_child_that_has_exited_already(exit_watch):
    def main():
        proc = tinyio.open_process(["true"])
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        return (yield proc.wait()), proc.pid

    code, pid = run(main())
    assert code == 0
    assert reaped(pid)


def test_a_spawn_that_fails_closes_the_pipes_it_made():
    def main():
        yield from tinyio.run_process(["/nonexistent/tinyio-prog"], capture_stdout=True)

    with pytest.raises(FileNotFoundError):
        run(main())


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: tinyio.run_process(["echo", 5]), TypeError, r"got 5 at index 1 of \['echo', 5\]"),
        (lambda: tinyio.run_process(["echo"], bogus=1), TypeError, r"unexpected keyword .*'bogus'"),
        (lambda: tinyio.open_process(["cat"], input=b"x"), TypeError, r"input= is run_process's"),
        (lambda: tinyio.run_process(["echo"], env=5), TypeError, r"env must be a mapping"),
        (lambda: tinyio.run_process(["false"], check="no"), TypeError, r"check must be True or"),
        (
            lambda: tinyio.run_process(["cat"], capture_stdout="yes"),
            TypeError,
            r"capture_stdout must be True or False, got 'yes'",
        ),
        (
            lambda: tinyio.run_process(["cat"], stdin=subprocess.PIPE),
            ValueError,
            r"stdin=subprocess.PIPE without input=",
        ),
        (
            lambda: tinyio.run_process("echo hi"),
            FileNotFoundError,
            r"give a list \(\['echo', 'hi'\]\), or shell=True",
        ),
        (lambda: tinyio.run_process(5), TypeError, r"command must be a list of arguments, got 5"),
        (lambda: tinyio.run_process([]), ValueError, r"command must not be empty"),
    ],
)
def test_bad_arguments_are_refused_at_the_call_naming_them(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_deliver_cancel_that_gives_no_coroutine_kills_the_child_and_says_so():
    def main():
        runner = tinyio.run_process([PY, "-c", STUBBORN], deliver_cancel=lambda proc: None)
        yield tinyio.timeout(runner, 0.05)

    with pytest.raises(TypeError, match=r"deliver_cancel gave None, not a coroutine.*was killed"):
        run(main())


def test_a_dropped_process_closes_its_pipes_with_a_resource_warning():
    def main():
        proc = tinyio.open_process(["echo", "hi"], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        line = yield proc.stdout.receive_until(b"\n", 100)
        yield proc.wait()
        return line

    def run_and_collect():
        assert run(main()) == b"hi\n"
        gc.collect()

    before = open_fds()
    with pytest.warns(ResourceWarning, match=r"unclosed PipeReceiveStream \(fd \d+\)"):
        run_and_collect()
    assert open_fds() == before


SLEEPS_IN_VAIN = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n"


def press_ctrl_c_once_blocked_in(function_name: str) -> threading.Thread:
    """A started thread that sends SIGINT once the main thread is inside `function_name`."""
    main_id = threading.main_thread().ident

    def press():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main_id)
            while frame is not None:
                if frame.f_code.co_name == function_name:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                frame = frame.f_back
            time.sleep(0.01)  # polling another thread's stack: there is no event to wait on

    presser = threading.Thread(target=press)
    presser.start()
    return presser


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["with", "stop_blocking"])
def test_ctrl_c_during_a_blocking_wait_for_a_child_stops_it_at_once(how):
    children = []

    # For `with`, a child that SIGTERM stops (one that ignores it gets its grace period, as
    # with any child a Ctrl-C stops); `stop_blocking` is in the grace period when Ctrl-C
    # comes, which ends it.
    child = STUBBORN if how == "stop_blocking" else SLEEPS_IN_VAIN

    def main():
        proc = tinyio.open_process([PY, "-c", child], stdout=subprocess.PIPE, grace_period=60)
        children.append(proc)
        assert proc.stdout is not None
        with proc:
            yield proc.stdout.receive_until(b"\n", 100)
            if how == "stop_blocking":
                proc.stop_blocking()  # SIGTERM ignored: 60 s of grace, unless Ctrl-C
        yield tinyio.sleep(60)  # left normally: the `with` waited for the child (blocking)

    def start_presser():
        return press_ctrl_c_once_blocked_in("_wait_hearing_ctrl_c")

    assert run_interrupted(main, start_presser) < 20
    assert children[0].returncode is not None
    assert gone(children[0].pid)


def test_a_command_line_with_shell_and_a_program_by_path_run():
    def main():
        line = yield tinyio.run_process("echo hi | tr a-z A-Z", shell=True, capture_stdout=True)
        by_path = yield tinyio.run_process([shutil.which("true") or "/bin/true"])
        return line.stdout, by_path.returncode

    assert run(main()) == (b"HI\n", 0)


def test_with_proc_left_outside_any_loop_waits_for_the_child_there():
    def main():
        return tinyio.open_process(["true"])
        yield

    proc = run(main())  # opened in a loop that has stopped since
    with proc:
        pass
    assert proc.returncode == 0


def test_an_executable_given_apart_from_the_command_is_not_looked_up(monkeypatch):
    monkeypatch.setattr(tinyio._process, "_FOUND", {(f"x{i}", "p") for i in range(256)})

    def main():
        by_executable = yield tinyio.run_process(["anything"], executable=shutil.which("true"))
        looked_up = yield tinyio.run_process(["true"])  # found: the full table starts over
        return by_executable.returncode, looked_up.returncode

    assert run(main()) == (0, 0)
    assert len(tinyio._process._FOUND) == 1


def test_the_grace_note_is_written_once_per_ctrl_c_and_only_with_children_waited_for(capsys):
    tinyio._process._tell_in_grace(12.5)  # no child in its grace period: nothing to say
    assert capsys.readouterr().err == ""
    popen = subprocess.Popen(["true"])
    popen.wait()
    tinyio._process._IN_GRACE[popen.pid] = (popen, 5.0)
    try:
        tinyio._process._tell_in_grace(12.5)
        tinyio._process._tell_in_grace(12.5)  # the same Ctrl-C: told already
    finally:
        del tinyio._process._IN_GRACE[popen.pid]
    assert capsys.readouterr().err.count("Press Ctrl-C again to kill them now.") == 1


def test_send_eof_while_a_send_all_runs_on_the_pipe_is_busy():
    # The child reads nothing until told: the send_all fills the pipe and waits.
    command = [PY, "-c", "import sys; sys.stdin.readline(); sys.stdin.buffer.read()"]

    def sender(stdin):
        yield stdin.send_all(b"x" * (1 << 20))

    def main():
        with tinyio.open_process(command, stdin=subprocess.PIPE) as proc:
            stdin = proc.stdin
            yield {sending := sender(stdin)}
            yield  # a turn: the send_all has started, and waits for room
            with pytest.raises(tinyio.BusyResourceError, match="send_eof while a send_all"):
                yield from stdin.send_eof()
            yield tinyio.cancel(sending)
            proc.kill()
            yield proc.wait()

    run(main())
