"""Waiting on file descriptors: `wait_readable`, `wait_writable`, `notify_closing`, and what the
loop does with them -- its selector, idle blocking, wake-ups from threads, cancellation,
nested, isolated and driven loops.

Everything runs on socketpairs and loopback sockets. Each test runs with both selectors: epoll
(Linux's, one-shot) and the portable `selectors` one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import tinyio
import tinyio._core.selector
from tinyio.testing import VirtualClock


@pytest.fixture(params=["epoll", "portable"], autouse=True)
def selector_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "portable":
        monkeypatch.setattr(tinyio._core.selector, "_HAS_EPOLL", False)
    elif not tinyio._core.selector._HAS_EPOLL:
        pytest.skip("no epoll here")
    return request.param


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def read_when_ready(sock: socket.socket):
    while True:
        try:
            return sock.recv(100)
        except BlockingIOError:
            yield tinyio.wait_readable(sock)


def test_a_wait_ends_when_the_descriptor_becomes_readable(pair):
    a, b = pair

    def writer():
        yield tinyio.sleep(0.01)
        b.send(b"hello")

    def main():
        data, _ = yield [read_when_ready(a), writer()]
        return data

    assert tinyio.Loop().run(main()) == b"hello"


def test_a_wait_takes_a_number_or_an_object_with_fileno(pair):
    a, b = pair
    b.send(b"x")

    def main():
        yield tinyio.wait_readable(a.fileno())
        yield tinyio.wait_readable(a)
        yield tinyio.wait_writable(b.fileno())
        yield tinyio.wait_writable(b)
        return "done"

    assert tinyio.Loop().run(main()) == "done"


def test_a_reader_and_a_writer_may_wait_on_one_descriptor_at_once(pair):
    a, b = pair

    def fill():
        try:
            while True:
                a.send(b"x" * 65536)
        except BlockingIOError:
            pass

    fill()

    def drain_later():
        yield tinyio.sleep(0.01)
        b.send(b"to a")
        while True:
            try:
                b.recv(1 << 20)
            except BlockingIOError:
                return

    def main():
        yield [tinyio.wait_readable(a), tinyio.wait_writable(a), drain_later()]
        return "both woke"

    assert tinyio.Loop().run(main()) == "both woke"


def test_two_waits_for_one_direction_raise_busy_at_once(pair):
    a, b = pair
    outcome = []

    def first():
        yield tinyio.wait_readable(a)
        outcome.append("first woke")

    def second():
        yield
        try:
            yield from tinyio.wait_readable(a)
        except tinyio.BusyResourceError as error:
            outcome.append(str(error))
        b.send(b"x")

    tinyio.Loop().run(iter_all(first(), second()))
    assert outcome == [
        f"another coroutine is already waiting for descriptor {a.fileno()} to become readable",
        "first woke",
    ]


def iter_all(*coros):
    yield list(coros)


def test_notify_closing_wakes_every_waiter_with_closed(pair):
    a, _ = pair
    raised = []

    def fill():
        try:
            while True:
                a.send(b"x" * 65536)
        except BlockingIOError:
            pass

    fill()

    def waiter(wait):
        try:
            yield from wait
        except tinyio.ClosedResourceError as error:
            raised.append(type(error).__name__)

    def closer():
        yield
        tinyio.notify_closing(a)

    tinyio.Loop().run(
        iter_all(waiter(tinyio.wait_readable(a)), waiter(tinyio.wait_writable(a)), closer())
    )
    assert raised == ["ClosedResourceError", "ClosedResourceError"]


def test_notify_closing_from_another_thread_wakes_the_waiter(pair):
    a, _ = pair

    done = threading.Event()

    def closer():
        # Until it lands: a notify_closing before the wait begins finds nothing to wake.
        while not done.wait(0.01):
            tinyio.notify_closing(a)

    def main():
        thread = threading.Thread(target=closer)
        thread.start()
        try:
            yield from tinyio.wait_readable(a)
        except tinyio.ClosedResourceError:
            return "closed"
        finally:
            done.set()
            thread.join()

    assert tinyio.Loop().run(main()) == "closed"


def test_a_timed_out_wait_is_unregistered_before_the_caller_goes_on(pair):
    a, b = pair

    def main():
        _, finished = yield tinyio.timeout(tinyio.wait_readable(a), 0.01)
        assert not finished
        # The same direction of the same descriptor at once: no BusyResourceError.
        b.send(b"x")
        yield from tinyio.wait_readable(a)
        return "waited again"

    assert tinyio.Loop().run(main()) == "waited again"


def test_a_cancelled_wait_leaves_no_registration(pair):
    a, b = pair

    def waiter():
        yield tinyio.wait_readable(a)

    def main():
        background = waiter()
        yield {background}
        yield
        yield tinyio.cancel(background)
        b.send(b"x")
        yield from tinyio.wait_readable(a)  # would be Busy if the first were still there
        return "ok"

    assert tinyio.Loop().run(main()) == "ok"


def test_the_loop_does_not_spin_on_a_descriptor_no_one_waits_on_any_more(pair):
    a, b = pair
    b.send(b"readable for ever")  # a stays readable

    def main():
        yield tinyio.timeout(tinyio.sleep(10), 0)  # nothing
        yield tinyio.wait_readable(a)  # registered, fired, done
        background = tinyio.wait_readable(b)  # never readable: keeps the selector in use
        yield {background}
        start = time.process_time()
        yield tinyio.sleep(0.2)
        used = time.process_time() - start
        yield tinyio.cancel(background)
        return used

    assert tinyio.Loop().run(main()) < 0.1


def test_a_reused_descriptor_number_is_not_taken_for_the_old_one():
    def main():
        for _ in range(3):
            a, b = socket.socketpair()
            a.setblocking(False)
            number = a.fileno()
            b.send(b"x")
            yield tinyio.wait_readable(a)  # registered, then re-armed or dropped
            # Timed out while registered (a one-shot entry stays in epoll, disarmed or not).
            a.recv(1)
            yield tinyio.timeout(tinyio.wait_readable(a), 0.001)
            a.close()  # closed without notify_closing
            b.close()
            c, d = socket.socketpair()
            c.setblocking(False)
            reused = c.fileno() == number or d.fileno() == number
            target = c if c.fileno() == number else d
            other = d if target is c else c
            threading.Timer(0.01, other.send, (b"y",)).start()
            yield from read_when_ready(target)
            c.close()
            d.close()
            assert reused
        return "each new file was waited on as itself"

    assert tinyio.Loop().run(main()) == "each new file was waited on as itself"


def test_bad_descriptors_are_refused_at_the_call_naming_them():
    with pytest.raises(TypeError, match="got 'three'"):
        tinyio.wait_readable("three")
    with pytest.raises(TypeError, match=r"got 1\.5"):
        tinyio.wait_writable(1.5)
    with pytest.raises(ValueError, match="-1"):
        tinyio.wait_readable(-1)
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        tinyio.wait_readable(closed)
    with pytest.raises(TypeError, match="got True"):
        tinyio.notify_closing(True)


def test_a_descriptor_that_cannot_be_waited_on_raises_at_the_yield(tmp_path, selector_kind):
    # A number no file has (a just-closed one could be reused by the loop's own selector).
    number = max(int(name) for name in os.listdir("/proc/self/fd")) + 1000
    path = tmp_path / "plain file"
    path.write_text("epoll cannot wait on a regular file")

    def main():
        raised = []
        try:
            yield from tinyio.wait_readable(number)
        except (OSError, ValueError) as error:
            raised.append((type(error).__name__, str(error)))
        if selector_kind == "epoll":
            with path.open() as file:
                try:
                    yield from tinyio.wait_readable(file)
                except OSError as error:
                    raised.append((type(error).__name__, str(error)))
        return raised

    raised = tinyio.Loop().run(main())
    assert len(raised) == (2 if selector_kind == "epoll" else 1)
    assert all(name in ("OSError", "PermissionError", "ValueError") for name, _ in raised)
    # Each names the descriptor and what was waited for.
    assert f"descriptor {number}" in raised[0][1]
    if selector_kind == "epoll":
        assert raised[0][1].startswith(f"[Errno 9] cannot wait for descriptor {number} to")
        assert raised[0][1].endswith("(closed?)")
        assert raised[1][1].endswith(
            "to become readable: Operation not permitted (a regular file?)"
        )


def test_a_thread_wakes_a_loop_that_sleeps_in_its_selector(pair):
    a, _ = pair
    event = tinyio.Event()

    def never_readable():
        yield tinyio.wait_readable(a)

    def main():
        waiter = never_readable()
        yield {waiter}
        start = time.monotonic()
        threading.Timer(0.05, event.set).start()
        yield event.wait()
        took = time.monotonic() - start
        yield tinyio.cancel(waiter)
        return took

    assert tinyio.Loop().run(main()) < 1


def test_a_run_with_no_descriptor_opens_no_descriptor():
    counts = []

    def main():
        counts.append(open_fds())
        yield tinyio.sleep(0.001)
        counts.append(open_fds())

    before = open_fds()
    tinyio.Loop().run(main())
    assert counts == [before, before]


def test_the_selector_is_closed_when_the_run_ends(pair):
    a, b = pair
    b.send(b"x")
    inside = []

    def main():
        yield tinyio.wait_readable(a)
        inside.append(open_fds())

    before = open_fds()
    loop = tinyio.Loop()
    loop.run(main())
    assert inside[0] > before  # an epoll and a socketpair while it ran
    assert open_fds() == before
    loop.run(main())  # and a new one for the next run
    assert open_fds() == before


def test_a_crash_cancels_descriptor_waits_and_leaks_nothing(pair):
    a, _ = pair

    def waiter():
        yield tinyio.wait_readable(a)

    def crash():
        yield
        raise KeyError("boom")

    def main():
        yield [waiter(), waiter_writable(), crash()]

    def waiter_writable():
        # a socketpair is writable at once: this one finishes; the reader waits
        yield tinyio.wait_writable(a)

    before = open_fds()
    with pytest.raises(KeyError):
        tinyio.Loop().run(main())
    assert open_fds() == before


def test_a_nested_loop_waits_on_descriptors_with_a_selector_of_its_own(pair):
    a, b = pair

    def inner():
        threading.Timer(0.01, b.send, (b"inner",)).start()
        return (yield from read_when_ready(a))

    def outer():
        yield
        return tinyio.Loop().run(inner())

    assert tinyio.Loop().run(outer()) == b"inner"


def test_an_isolated_loop_shares_the_outer_selector(pair):
    a, b = pair
    counts = []

    def inside():
        data = yield from read_when_ready(a)
        raise ValueError(data)

    def outside():
        yield tinyio.sleep(0.01)  # the inside waits by now
        counts.append(open_fds())
        b.send(b"from outside")

    def main():
        yield tinyio.wait_writable(b)  # the outer loop has made its selector
        counts.append(open_fds())
        (error, ok), _ = yield [tinyio.isolate(inside()), outside()]
        return ok, repr(error)

    assert tinyio.Loop().run(main()) == (False, "ValueError(b'from outside')")
    assert counts[0] == counts[1]  # no descriptor of the inner loop's own


def test_a_loop_driven_by_asyncio_hands_its_selector_to_asyncio(pair):
    a, b = pair

    async def main():
        asyncio.get_running_loop().call_later(0.02, b.send, b"via asyncio")
        return await tinyio.to_asyncio(read_when_ready(a))

    start = time.monotonic()
    assert asyncio.run(main()) == b"via asyncio"
    assert time.monotonic() - start < 1


def test_a_loop_driven_by_trio_hands_its_selector_to_trio(pair):
    trio = pytest.importorskip("trio")
    a, b = pair

    async def main():
        async with trio.open_nursery() as nursery:

            async def later():
                await trio.sleep(0.02)
                b.send(b"via trio")

            nursery.start_soon(later)
            return await tinyio.to_trio(read_when_ready(a))

    assert trio.run(main) == b"via trio"


def test_a_virtual_clock_jumps_while_a_descriptor_is_waited_on(pair):
    a, _ = pair

    def main():
        _, finished = yield tinyio.timeout(tinyio.wait_readable(a), 30)
        return finished

    loop = tinyio.Loop(clock=VirtualClock())
    start = time.monotonic()
    assert loop.run(main()) is False
    assert loop.time() == 30
    assert time.monotonic() - start < 1


def test_a_busy_loop_still_serves_descriptors(pair):
    a, b = pair
    seen = []

    def busy():
        while not seen:
            yield

    def main():
        threading.Timer(0.01, b.send, (b"x",)).start()
        yield [busy(), reader()]

    def reader():
        seen.append((yield from read_when_ready(a)))

    tinyio.Loop().run(main())
    assert seen == [b"x"]


def test_a_descriptor_closed_under_its_waits_without_notify_closing_breaks_nothing():
    def main():
        a, b = socket.socketpair()
        a.setblocking(False)

        def fill():
            try:
                while True:
                    a.send(b"x" * 65536)
            except BlockingIOError:
                pass

        fill()

        yield tinyio.wait_writable(b)  # the loop's selector exists before `a` is closed

        def closer():
            for _ in range(10):  # a few rounds: both waits have registered by then
                yield
            a.close()  # no notify_closing: a mistake, but the loop must survive it

        outcome = yield [
            tinyio.timeout(tinyio.wait_readable(a.fileno()), 0.02),
            tinyio.timeout(tinyio.wait_writable(a.fileno()), 0.02),
            closer(),
        ]
        b.close()
        return [finished for _, finished in outcome[:2]]  # both timed out, nothing raised

    assert tinyio.Loop().run(main()) == [False, False]
