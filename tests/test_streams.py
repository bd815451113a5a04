"""Sockets as streams: `SocketStream`, listeners, `serve_listeners`, `open_tcp_stream`.

On real loopback sockets only (127.0.0.1, ::1, Unix sockets). The conformance checks follow
trio's stream tests: sending b"", two receives at once, closing wakes both sides, send then
close delivers everything, half-close, close twice, use after close, a broken peer. Then the
cancel-safety of buffered reads, backpressure, servers, and descriptor leaks.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import types
from collections.abc import Iterator

import pytest

import tinyio


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_descriptor_leaks() -> Iterator[None]:
    before = open_fds()
    yield
    assert open_fds() == before, "the test left descriptors open"


def stream_pair() -> tuple[tinyio.SocketStream, tinyio.SocketStream]:
    """Two connected TCP streams on 127.0.0.1."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    return tinyio.SocketStream(client), tinyio.SocketStream(accepted)


def run(coro):
    return tinyio.Loop().run(coro)


def fill(stream: tinyio.SocketStream) -> int:
    """Send until the kernel's buffers are full; how much was sent."""
    sent = 0
    try:
        while True:
            sent += stream.socket.send(b"x" * 65536)
    except BlockingIOError:
        return sent


# ---------------------------------------------------------------- conformance


def test_send_and_receive_on_loopback():
    a, b = stream_pair()

    def main():
        with a, b:
            yield a.send_all(b"ping")
            assert (yield b.receive_some()) == b"ping"
            yield b.send_all(bytearray(b"pong"))
            assert (yield a.receive_some()) == b"pong"
            yield a.send_all(memoryview(b"--view--")[2:6])
            return (yield b.receive_some())

    assert run(main()) == b"view"
    assert a.socket.fileno() == -1  # closed by `with`


def test_tcp_nodelay_is_on():
    a, b = stream_pair()
    with a, b:
        assert a.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert b.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_sending_nothing_is_harmless():
    a, b = stream_pair()

    def main():
        with a, b:
            yield a.send_all(b"")
            yield a.send_all(b"after")
            return (yield b.receive_some())

    assert run(main()) == b"after"


def test_bad_arguments_raise_at_the_call_naming_the_value():
    a, b = stream_pair()
    with a, b:
        with pytest.raises(TypeError, match="str 'text'"):
            a.send_all("text")  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError, match="got 12"):
            a.send_all(12)  # pyright: ignore[reportArgumentType]
        with pytest.raises(ValueError, match="got 0"):
            a.receive_some(0)
        with pytest.raises(TypeError, match=r"got 1\.5"):
            a.receive_some(1.5)  # pyright: ignore[reportArgumentType]
        with pytest.raises(ValueError, match="got -1"):
            a.receive_exactly(-1)
        with pytest.raises(ValueError, match="empty"):
            a.receive_until(b"", 10)
        with pytest.raises(TypeError, match="'\\\\n'"):
            a.receive_until("\n", 10)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="65536"):
        tinyio.open_tcp_listeners(65536)
    with pytest.raises(TypeError, match="'80'"):
        tinyio.open_tcp_stream("127.0.0.1", "80")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="-1"):
        tinyio.open_tcp_stream("127.0.0.1", 80, happy_eyeballs_delay=-1)
    with pytest.raises(TypeError, match="handler"):
        tinyio.serve_tcp(None, 0)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="at least one"):
        tinyio.serve_listeners(lambda s: iter(()), [])  # pyright: ignore
    with pytest.raises(TypeError, match="SocketStream needs"):
        tinyio.SocketStream("not a socket")  # pyright: ignore[reportArgumentType]


def test_two_receives_at_once_raise_busy():
    a, b = stream_pair()
    outcome = []

    def first():
        outcome.append((yield b.receive_some()))

    def second():
        yield
        try:
            yield from b.receive_some()
        except tinyio.BusyResourceError:
            outcome.append("busy")
        yield a.send_all(b"data")

    def main():
        with a, b:
            yield [first(), second()]

    run(main())
    assert outcome == ["busy", b"data"]


def test_two_sends_at_once_raise_busy():
    a, b = stream_pair()
    outcome = []

    def first():
        yield a.send_all(b"y" * (1 << 20))  # waits: b reads nothing yet
        outcome.append("first sent")

    def second():
        yield
        try:
            yield from a.send_all(b"z")
        except tinyio.BusyResourceError:
            outcome.append("busy")
        received = 0
        while received < 1 << 20:
            received += len((yield b.receive_some()))

    def main():
        with a, b:
            yield [first(), second()]

    run(main())
    assert outcome == ["busy", "first sent"]


def test_closing_wakes_a_blocked_receiver_and_a_blocked_sender():
    a, b = stream_pair()
    raised = []
    fill(a)

    def receiver():
        try:
            yield from a.receive_some()
        except tinyio.ClosedResourceError:
            raised.append("receiver")

    def sender():
        try:
            yield from a.send_all(b"more" * 100000)
        except tinyio.ClosedResourceError:
            raised.append("sender")

    def closer():
        yield
        a.close()

    def main():
        with b:
            yield [receiver(), sender(), closer()]

    run(main())
    assert sorted(raised) == ["receiver", "sender"]


def test_send_then_close_delivers_everything_then_eof():
    a, b = stream_pair()
    payload = os.urandom(3 << 20)

    def sender():
        with a:
            yield a.send_all(payload)

    def receiver():
        chunks = []
        while data := (yield b.receive_some()):
            chunks.append(data)
        assert (yield b.receive_some()) == b""  # and again
        return b"".join(chunks)

    def main():
        with b:
            _, received = yield [sender(), receiver()]
            return received

    assert run(main()) == payload


def test_send_eof_keeps_the_other_direction_open():
    a, b = stream_pair()

    def main():
        with a, b:
            yield a.send_all(b"question")
            yield a.send_eof()
            yield a.send_eof()  # again: nothing
            assert (yield b.receive_some()) == b"question"
            assert (yield b.receive_some()) == b""
            yield b.send_all(b"answer")
            try:
                yield from a.send_all(b"more")
            except tinyio.ClosedResourceError:
                pass
            else:
                raise AssertionError("sent after send_eof")
            return (yield a.receive_some())

    assert run(main()) == b"answer"


def test_close_twice_is_fine_and_use_after_close_is_closed():
    a, b = stream_pair()
    a.close()
    a.close()
    b.close()
    raised = []

    def main():
        for operation in (a.receive_some(), a.send_all(b"x"), a.receive_exactly(1), a.send_eof()):
            try:
                yield from operation
            except tinyio.ClosedResourceError:
                raised.append("closed")

    run(main())
    assert raised == ["closed"] * 4


def test_a_reset_by_the_peer_is_broken_with_the_oserror_as_cause_every_time():
    a, b = stream_pair()
    # Close with a reset (linger 0): a's next receive sees ECONNRESET.
    b.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()
    causes = []

    def main():
        with a:
            for _ in range(2):
                try:
                    yield from a.receive_some()
                except tinyio.BrokenResourceError as error:
                    causes.append(type(error.__cause__).__name__)
            for _ in range(2):
                try:
                    yield from a.send_all(b"x" * 100000)
                except tinyio.BrokenResourceError as error:
                    causes.append(type(error.__cause__).__name__)

    run(main())
    assert causes[:2] == ["ConnectionResetError"] * 2
    assert causes[2] in ("BrokenPipeError", "ConnectionResetError")
    assert causes[3] == causes[2]


def test_the_cause_of_a_broken_stream_shows_no_library_frame():
    a, b = stream_pair()
    b.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()
    library = os.path.dirname(tinyio.__file__) + os.sep
    caught: list[tinyio.BrokenResourceError] = []

    def main():
        with a:
            for operation in (a.receive_some, lambda: a.send_all(b"x" * 100000)):
                for _ in range(2):  # the first failure, then the one kept for later calls
                    try:
                        yield from operation()
                    except tinyio.BrokenResourceError as error:
                        caught.append(error)

    run(main())
    assert len(caught) == 4
    for error in caught:
        assert isinstance(error.__cause__, OSError)
        files = [frame.filename for frame in traceback.extract_tb(error.__cause__.__traceback__)]
        assert not [file for file in files if file.startswith(library)], files
    # The user's own frame is on the error itself, and the printed chain shows the cause.
    printed = "".join(traceback.format_exception(caught[0]))
    assert "ConnectionResetError" in printed
    assert __file__ in printed


def test_a_cancelled_send_all_leaves_the_stream_broken():
    a, b = stream_pair()

    def main():
        with a, b:
            _, finished = yield tinyio.timeout(a.send_all(b"x" * (8 << 20)), 0.05)
            assert not finished
            try:
                yield from a.send_all(b"x")
            except tinyio.BrokenResourceError as error:
                return str(error)

    assert "interrupted after sending" in run(main())


# ---------------------------------------------------------------- buffered reading


def test_receive_exactly_and_until():
    a, b = stream_pair()

    def main():
        with a, b:
            yield a.send_all(b"\x00\x05helloline one\nline two\nrest")
            (size,) = struct.unpack("!H", (yield b.receive_exactly(2)))
            assert (yield b.receive_exactly(size)) == b"hello"
            assert (yield b.receive_until(b"\n", 100)) == b"line one\n"  # delimiter kept
            assert (yield b.receive_until(b"\n", 100)) == b"line two\n"
            yield a.send_eof()
            with contextlib.suppress(EOFError):
                yield from b.receive_until(b"\n", 100)
            assert (yield b.receive_some()) == b"rest"  # kept after the EOFError
            assert (yield b.receive_until(b"\n", 100)) == b""  # a clean end
            return (yield b.receive_exactly(3))

    assert run(main()) == b""


def test_receive_until_past_max_size_keeps_the_bytes():
    a, b = stream_pair()

    def main():
        with a, b:
            yield a.send_all(b"0123456789\n")
            messages = []
            try:
                yield from b.receive_until(b"\n", 5)
            except ValueError as error:
                messages.append(str(error))
            assert messages == ["receive_until: no b'\\n' within 5 bytes"]
            return (yield b.receive_until(b"\n", 11))

    assert run(main()) == b"0123456789\n"


def test_a_delimiter_split_across_receives_is_found():
    a, b = stream_pair()

    def sender():
        for piece in (b"abc\r", b"\ndef\r\n"):
            yield a.send_all(piece)
            yield tinyio.sleep(0.01)

    def main():
        with a, b:
            lines, _ = yield [receive_two_lines(b), sender()]
            return lines

    def receive_two_lines(stream):
        first = yield stream.receive_until(b"\r\n", 100)
        return [first, (yield stream.receive_until(b"\r\n", 100))]

    assert run(main()) == [b"abc\r\n", b"def\r\n"]


def test_a_timed_out_buffered_read_keeps_what_it_had_read():
    a, b = stream_pair()

    def main():
        with a, b:
            yield a.send_all(b"12345")
            result, finished = yield tinyio.timeout(b.receive_exactly(10), 0.05)
            assert (result, finished) == (None, False)
            yield a.send_all(b"67890")
            assert (yield b.receive_exactly(10)) == b"1234567890"
            yield a.send_all(b"partial")
            _, finished = yield tinyio.timeout(b.receive_until(b"\n", 100), 0.05)
            assert not finished
            yield a.send_all(b" line\n")
            return (yield b.receive_until(b"\n", 100))

    assert run(main()) == b"partial line\n"


def test_a_cancelled_receive_some_loses_no_byte():
    a, b = stream_pair()

    def reader(got):
        while True:
            got.append((yield b.receive_some()))

    def main():
        with a, b:
            total = b""
            for i in range(50):
                got = []
                background = reader(got)
                yield {background}
                yield a.send_all(b"%03d" % i)
                yield
                yield tinyio.cancel(background)
                total += b"".join(got)
            yield a.send_eof()
            while data := (yield b.receive_some()):
                total += data
            return total

    assert run(main()) == b"".join(b"%03d" % i for i in range(50))


# ---------------------------------------------------------------- backpressure


def test_send_all_waits_for_a_slow_reader():
    a, b = stream_pair()
    events = []

    def sender():
        yield a.send_all(b"x" * (16 << 20))
        events.append("sent")

    def slow_reader():
        yield tinyio.sleep(0.05)
        events.append("reading")
        received = 0
        while received < 16 << 20:
            received += len((yield b.receive_some()))

    def main():
        with a, b:
            yield [sender(), slow_reader()]

    run(main())
    assert events == ["reading", "sent"]


# ---------------------------------------------------------------- listeners and servers


def test_listeners_on_loopback_accept_and_close():
    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1", backlog=5)
        with listener:
            host, port = listener.socket.getsockname()
            assert host == "127.0.0.1"
            client = socket.create_connection((host, port))
            with (yield listener.accept()) as accepted, client:
                client.sendall(b"hi")
                return (yield accepted.receive_some())

    assert run(main()) == b"hi"


@pytest.mark.parametrize(
    ("taken", "host"),
    [
        ((socket.AF_INET, "127.0.0.1"), "127.0.0.1"),
        # Every interface: the IPv6 one is taken, so one made before it (IPv4's, if it comes
        # first) is closed again, not leaked (the fixture counts descriptors).
        ((socket.AF_INET6, "::"), None),
    ],
    ids=["one address", "every interface"],
)
def test_a_port_in_use_raises_naming_the_address_and_leaves_no_listener(taken, host):
    family, address = taken
    with socket.socket(family) as holder:
        if family == socket.AF_INET6:
            holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        holder.bind((address, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(OSError, match="in use") as info:
            run(tinyio.open_tcp_listeners(port, host=host))
    assert info.value.errno == errno.EADDRINUSE
    assert info.value.filename[:2] == (address, port)


def test_receive_until_on_a_stream_that_ends_with_nothing_gives_empty_bytes():
    # As `receive_some` at the end: b"" says "no more", not an error (an error is for a
    # stream that ended in the middle of a message).
    a, b = stream_pair()
    with a, b:
        a.close()
        assert run(b.receive_until(b"\n", 100)) == b""


def test_closing_a_listener_wakes_its_accept():
    def accepting(listener):
        try:
            yield from listener.accept()
        except tinyio.ClosedResourceError:
            return "closed"

    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")

        def closer():
            yield
            listener.close()

        result, _ = yield [accepting(listener), closer()]
        return result

    assert run(main()) == "closed"


def test_ipv6_loopback_listeners_and_streams():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        socket.socket(socket.AF_INET6).close()
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 here")

    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="::1")
        port = listener.socket.getsockname()[1]

        def handler(stream):
            yield stream.send_all(b"over ipv6")

        server = tinyio.serve_listeners(handler, [listener])
        yield {server}
        with (yield tinyio.open_tcp_stream("::1", port)) as stream:
            data = yield stream.receive_some()
        yield tinyio.cancel(server)
        return data

    assert run(main()) == b"over ipv6"


def test_a_refused_connection_raises_oserror_and_leaves_no_socket():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens once closed

    def main():
        try:
            yield from tinyio.open_tcp_stream("127.0.0.1", port)
        except OSError as error:
            return type(error).__name__

    assert run(main()) == "ConnectionRefusedError"


def test_a_timed_out_connect_leaves_no_socket():
    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        with listener:
            port = listener.socket.getsockname()[1]
            for _ in range(20):
                result, finished = yield tinyio.timeout(
                    tinyio.open_tcp_stream("127.0.0.1", port), 0
                )
                if finished:
                    result.close()

    run(main())


def test_unix_streams(tmp_path):
    path = str(tmp_path / "socket")

    def main():
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.bind(path)
        raw.listen()
        listener = tinyio.SocketListener(raw)

        def handler(stream):
            name = yield stream.receive_until(b"\n", 100)
            yield stream.send_all(b"hello " + name)

        server = tinyio.serve_listeners(handler, [listener])
        yield {server}
        with (yield tinyio.open_unix_stream(path)) as stream:
            yield stream.send_all(b"unix\n")
            data = yield stream.receive_until(b"\n", 100)
        yield tinyio.cancel(server)
        return data

    assert run(main()) == b"hello unix\n"


def echo(stream):
    while data := (yield stream.receive_some()):
        yield stream.send_all(data)


def test_a_failing_handler_is_logged_and_the_server_goes_on(caplog):
    def handler(stream):
        request = yield stream.receive_until(b"\n", 100)
        if request == b"bad\n":
            yield failing_part()  # a coroutine it yields: isolation contains it too
        yield stream.send_all(b"ok " + request)

    def failing_part():
        yield
        raise KeyError("bad client")

    def client(port, text):
        with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as stream:
            yield stream.send_all(text)
            return (yield stream.receive_some())

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(handler, listeners)
        yield {server}
        results = yield [client(port, b"bad\n"), client(port, b"good\n")]
        results.append((yield client(port, b"after\n")))
        yield tinyio.cancel(server)
        return results

    with caplog.at_level(logging.ERROR, logger="tinyio"):
        assert run(main()) == [b"", b"ok good\n", b"ok after\n"]
    (record,) = caplog.records
    message = record.getMessage()
    assert "handler" in message
    assert "tinyio" not in message  # the logger's name says it already
    assert "('127.0.0.1', " in message  # which client it was
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
    assert "failing_part" in caplog.text  # with its traceback


def test_a_generator_passed_instead_of_the_handler_function_is_refused_at_the_call():
    def handler(stream):
        yield stream.send_all(b"hi")

    for serve in [
        lambda h: tinyio.serve_tcp(h, 0),
        lambda h: tinyio.serve_listeners(h, []),
    ]:
        with pytest.raises(TypeError, match=r"pass the function itself"):
            serve(handler(None))
        with pytest.raises(TypeError, match=r"needs a handler function, got 5\."):
            serve(5)


def one_connection(handler):
    """Serve `handler` on a port of its own, connect once, and give the first reply."""
    listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    server = tinyio.serve_listeners(handler, listeners)
    yield {server}
    with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as stream:
        reply = yield stream.receive_some()
    yield tinyio.cancel(server)
    return reply


def test_a_handler_that_returns_no_coroutine_is_logged_with_what_it_returned(caplog):
    def not_a_generator(stream):
        return stream.socket.fileno()

    with caplog.at_level(logging.ERROR, logger="tinyio"):
        assert run(one_connection(not_a_generator)) == b""  # the server closed it
    (record,) = caplog.records
    assert record.exc_info is not None
    assert "not a coroutine: a handler is a generator function" in str(record.exc_info[1])
    assert "not_a_generator" in str(record.exc_info[1])


def test_the_server_coroutines_have_readable_names():
    names = []

    def handler(stream):
        yield
        names.extend(o.__qualname__ for o in gc.get_objects() if isinstance(o, types.GeneratorType))

    run(one_connection(handler))
    assert "serve_listeners.accept_loop" in names
    assert "serve_listeners.connection" in names
    assert not [name for name in names if name.startswith("_serve.")]


def test_cancelling_the_server_closes_everything_and_runs_every_finally():
    cleaned = []
    welcomed = tinyio.Event()
    count = [0]

    def handler(stream):
        try:
            yield stream.send_all(b"welcome")
            yield tinyio.sleep(60)  # not waiting on the stream: only cancellation ends it
        finally:
            cleaned.append("handler")

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(handler, listeners)
        yield {server}

        def client():
            with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as stream:
                assert (yield stream.receive_exactly(7)) == b"welcome"
                count[0] += 1
                if count[0] == 3:
                    welcomed.set()
                return (yield stream.receive_some())  # the server's close: b""

        def stopper():
            yield welcomed.wait()
            yield tinyio.cancel(server)

        def clients():
            return (yield [client() for _ in range(3)])

        results, _ = yield [clients(), stopper()]
        assert listeners[0].socket.fileno() == -1
        return results

    assert run(main()) == [b"", b"", b""]
    assert cleaned == ["handler"] * 3


def test_a_crash_elsewhere_stops_the_server_and_its_handlers():
    cleaned = []
    started = tinyio.Event()

    def handler(stream):
        try:
            started.set()
            yield stream.receive_some()
        finally:
            cleaned.append("handler")

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        yield {tinyio.serve_listeners(handler, listeners)}
        stream = yield tinyio.open_tcp_stream("127.0.0.1", port)
        with stream:
            yield started.wait()
            raise RuntimeError("elsewhere")

    with pytest.raises(RuntimeError, match="elsewhere"):
        run(main())
    assert cleaned == ["handler"]


def test_serve_tcp_on_loopback():
    def main():
        server = tinyio.serve_tcp(echo, 0, host="127.0.0.1")
        result, finished = yield tinyio.timeout(server, 0.05)
        return result, finished

    assert run(main()) == (None, False)


def test_many_connections_and_no_descriptor_left():
    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(echo, listeners)
        yield {server}

        def client(i):
            with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as stream:
                for _ in range(5):
                    yield stream.send_all(b"%05d" % i)
                    assert (yield stream.receive_exactly(5)) == b"%05d" % i
            return i

        results = yield [client(i) for i in range(200)]
        yield tinyio.cancel(server)
        return sum(results)

    assert run(main()) == sum(range(200))


def test_a_client_that_never_sends_holds_one_descriptor_and_no_thread():
    import threading

    def handler(stream):
        yield stream.receive_some()

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(handler, listeners)
        yield {server}
        with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as probe:
            yield probe.send_all(b"x")  # served: the server runs, and waits on its listener
            assert (yield probe.receive_some()) == b""
        threads = threading.active_count()
        before = open_fds()
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        yield tinyio.sleep(0.05)  # accepted by now (if not, fewer are held: it fails)
        held = open_fds() - before
        for client in clients:
            client.close()
        yield tinyio.cancel(server)
        return held, threading.active_count() - threads

    held, new_threads = run(main())
    assert held == 40  # each client's socket, and the server's end of it
    assert new_threads == 0


# ---------------------------------------------------------------- out of descriptors

EMFILE_SERVER = textwrap.dedent(
    """
    import logging, resource, sys, time, os
    import tinyio

    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")
    served = []
    release = tinyio.Event()

    def handler(stream):
        yield stream.receive_some()  # until the client speaks
        served.append(1)

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        open_now = len(os.listdir("/proc/self/fd"))
        # Room for the selector and a few connections only.
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 8, open_now + 8))
        print("port", listeners[0].socket.getsockname()[1], flush=True)
        server = tinyio.serve_listeners(handler, listeners)
        yield {server}
        start = time.process_time()
        while len(served) < 20:
            yield tinyio.sleep(0.01)
        print("cpu", time.process_time() - start, flush=True)
        yield tinyio.cancel(server)

    tinyio.Loop().run(main())
    """
)


def test_accept_out_of_descriptors_backs_off_and_recovers(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(EMFILE_SERVER)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        # Wait until the server has hit the limit, then hold it there for a while.
        for line in process.stdout:
            if "retrying" in line:
                break
        time.sleep(0.5)  # what a spinning accept would burn CPU through
        for client in clients:
            client.sendall(b"done")
        cpu = None
        for line in process.stdout:
            if line.startswith("cpu"):
                cpu = float(line.split()[1])
                break
        assert process.wait(timeout=30) == 0
        for client in clients:
            client.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert cpu is not None
    assert cpu < 0.4  # it slept between tries, it did not spin


def test_happy_eyeballs_starts_the_next_address_when_the_first_hangs(monkeypatch):
    import tinyio._streams

    # A listener whose accept queue is full: a new connection to it hangs (its SYN is dropped).
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(0)
    filler = socket.create_connection(stuck.getsockname())
    targets = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", stuck.getsockname()),
    ]

    real_resolve = tinyio._streams._resolve

    def fake_resolve(host, port, passive):
        if passive:
            return (yield from real_resolve(host, port, passive))
        return targets

    monkeypatch.setattr(tinyio._streams, "_resolve", fake_resolve)

    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        with listener:
            targets.append(
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", listener.socket.getsockname())
            )
            start = time.monotonic()
            stream = yield tinyio.open_tcp_stream("anything", 1, happy_eyeballs_delay=0.05)
            took = time.monotonic() - start
            with stream:
                return stream.socket.getpeername(), took

    try:
        peer, took = run(main())
    finally:
        filler.close()
        stuck.close()
    assert peer == targets[1][4]  # the second address won
    assert 0.05 <= took < 1  # started after the delay, without waiting for the first to fail


def test_bad_arguments_are_refused_at_the_call_naming_the_value():
    with pytest.raises(TypeError, match="host must be a str"):
        tinyio.open_tcp_stream(1, 80)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="got 0"):
        tinyio.open_tcp_stream("127.0.0.1", 0)
    with pytest.raises(TypeError, match="happy_eyeballs_delay"):
        tinyio.open_tcp_stream("127.0.0.1", 80, happy_eyeballs_delay="1")  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="path must be a path"):
        tinyio.open_unix_stream(3)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="host must be a str or None"):
        tinyio.open_tcp_listeners(0, host=1)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="backlog"):
        tinyio.open_tcp_listeners(0, backlog=0)
    with pytest.raises(TypeError, match="host must be a str or None"):
        tinyio.serve_tcp(lambda s: iter(()), 0, host=1)  # pyright: ignore
    with pytest.raises(ValueError, match="backlog"):
        tinyio.serve_tcp(lambda s: iter(()), 0, backlog=0)  # pyright: ignore
    with pytest.raises(TypeError, match="handler"):
        tinyio.serve_listeners(None, [])  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="SocketListeners, got 1"):
        tinyio.serve_listeners(lambda s: iter(()), [1])  # pyright: ignore
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listener = tinyio.SocketListener(sock)
        with pytest.raises(TypeError, match=r"write `\[listener\]`"):
            tinyio.serve_listeners(lambda s: iter(()), listener)  # pyright: ignore
        listener.close()


def test_sockets_that_are_not_listening_streams_are_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(TypeError, match="stream socket"):
            tinyio.SocketStream(udp)
        with pytest.raises(TypeError, match="stream socket"):
            tinyio.SocketListener(udp)
    with pytest.raises(TypeError, match="SocketListener needs a socket"):
        tinyio.SocketListener("not a socket")  # pyright: ignore[reportArgumentType]
    with socket.socket() as unbound, pytest.raises(TypeError, match="listen"):
        tinyio.SocketListener(unbound)


def test_reprs_say_what_is_open():
    a, b = stream_pair()
    assert repr(a).startswith("<tinyio.SocketStream fd=")
    a.close()
    b.close()
    assert repr(a) == "<tinyio.SocketStream closed>"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        listener = tinyio.SocketListener(sock)
        assert "127.0.0.1" in repr(listener)
        listener.close()
        listener.close()  # idempotent
        assert repr(listener) == "<tinyio.SocketListener closed>"
        with pytest.raises(tinyio.ClosedResourceError, match="listener was closed"):
            run(listener.accept())


def test_send_eof_while_sending_is_busy_and_after_close_is_closed():
    a, b = stream_pair()

    def main():
        fill(a)
        yield {a.send_all(b"y" * 65536)}
        yield
        yield a.send_eof()

    with a, b:
        with pytest.raises(tinyio.BusyResourceError, match="send_eof"):
            run(main())
        a.close()
        with pytest.raises(tinyio.ClosedResourceError):
            run(a.send_eof())


def test_receive_exactly_at_eof_after_part_keeps_the_part():
    a, b = stream_pair()

    def main():
        yield b.send_all(b"abc")
        yield b.send_eof()

    with a, b:
        run(main())
        with pytest.raises(EOFError, match="after 3 of the 5 bytes"):
            run(a.receive_exactly(5))
        assert run(a.receive_some()) == b"abc"


def test_receive_until_gives_up_past_max_size():
    a, b = stream_pair()
    with a, b:
        run(b.send_all(b"x" * 20))
        with pytest.raises(ValueError, match="within 8 bytes"):
            run(a.receive_until(b"\n", 8))


def test_a_receive_on_a_stream_closed_meanwhile_is_closed():
    a, b = stream_pair()

    def closer():
        yield
        a.close()

    def main():
        yield [a.receive_some(), closer()]

    with b, pytest.raises(tinyio.ClosedResourceError):
        run(main())


class FailingMidCall(tinyio.SocketStream):
    """A stream whose system calls raise `failure`, after closing the stream if `closes` (as
    another thread closing it during the call would)."""

    __slots__ = ("closes", "failure")

    @property
    def _read(self):
        def call(*_):
            if self.closes:
                self.close()
            raise self.failure

        return call

    _write = _read


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.receive_some(),
        lambda s: s.receive_exactly(10),
        lambda s: s.receive_until(b"\n", 100),
        lambda s: s.send_all(b"x"),
    ],
    ids=["receive_some", "receive_exactly", "receive_until", "send_all"],
)
def test_a_stream_closed_during_its_system_call_is_closed_and_a_reset_is_broken(operation):
    outcomes = []
    for failure, closes in [
        (BlockingIOError(), True),  # would block, but closed meanwhile: no wait on the number
        (OSError(errno.EBADF, "Bad file descriptor"), True),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), False),
        (OSError(errno.EIO, "Input/output error"), False),  # any other error of an open stream
    ]:
        a, b = socket.socketpair()
        with b, FailingMidCall(a) as stream:
            stream.failure, stream.closes = failure, closes

            def main(stream=stream):
                try:
                    yield from operation(stream)
                except (tinyio.ClosedResourceError, tinyio.BrokenResourceError) as error:
                    return error

            result = run(main())
        outcomes.append((type(result).__name__, type(result.__cause__).__name__))
    assert outcomes == [
        ("ClosedResourceError", "NoneType"),
        ("ClosedResourceError", "NoneType"),
        ("BrokenResourceError", "ConnectionResetError"),
        ("BrokenResourceError", "OSError"),
    ]


@pytest.mark.parametrize("buffered", [False, True])
def test_a_buffered_receive_on_a_stream_closed_meanwhile_is_closed(buffered):
    a, b = stream_pair()

    def closer():
        yield
        a.close()

    def main():
        receive = a.receive_until(b"\n", 100) if buffered else a.receive_exactly(10)
        yield [receive, closer()]

    with b, pytest.raises(tinyio.ClosedResourceError, match="closed while waiting on it"):
        run(main())


def test_a_name_to_resolve_goes_to_a_thread():
    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="localhost")
        try:
            assert listeners
        finally:
            for listener in listeners:
                listener.close()

    run(main())


def test_a_unix_stream_that_cannot_be_wrapped_is_closed(monkeypatch: pytest.MonkeyPatch):
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "s")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path)
            server.listen()

            def refuse(self: object, sock: socket.socket) -> None:
                raise RuntimeError("refused")

            monkeypatch.setattr(tinyio.SocketStream, "__init__", refuse)
            with pytest.raises(RuntimeError, match="refused"):
                run(tinyio.open_unix_stream(path))


def test_two_accepts_on_one_listener_at_once_are_busy():
    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        with listener:
            yield {listener.accept()}
            yield
            yield listener.accept()

    with pytest.raises(tinyio.BusyResourceError, match="another coroutine is accepting"):
        run(main())


def test_listeners_on_a_port_in_use_fail_and_close_what_they_opened():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            run(tinyio.open_tcp_listeners(port, host="127.0.0.1"))


def test_every_address_failing_raises_the_first_with_the_others_noted(
    monkeypatch: pytest.MonkeyPatch,
):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = closed.getsockname()  # bound, never listening: connections are refused
        targets = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", refused),
            (12345, socket.SOCK_STREAM, 0, "", refused),  # a family no socket can be made of
        ]

        def fake_resolve(host, port, passive):
            return targets
            yield

        monkeypatch.setattr(tinyio._streams, "_resolve", fake_resolve)
        with pytest.raises(ConnectionRefusedError, match="refused") as caught:
            run(tinyio.open_tcp_stream("anything", 1, happy_eyeballs_delay=1.0))
        assert any("another address also failed" in n for n in caught.value.__notes__)


def test_a_connected_socket_that_cannot_be_wrapped_is_closed(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def refuse(sock: socket.socket) -> None:
            raise RuntimeError("refused")

        monkeypatch.setattr(tinyio._streams, "SocketStream", refuse)
        with pytest.raises(RuntimeError, match="refused"):
            run(tinyio.open_tcp_stream("127.0.0.1", port))


def test_a_datagram_socket_shows_its_socket():
    with tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert sock.socket.type == socket.SOCK_DGRAM
        assert repr(sock).startswith("<tinyio.Socket <socket.socket")


def test_the_selector_refuses_its_own_descriptors_and_ignores_strangers():
    import tinyio._core.selector as selector_room

    class Waiter:
        def closing(self) -> None:
            pass

    selector = selector_room.Selector[Waiter]()
    try:
        own = selector.fileno()
        assert own is not None
        with pytest.raises(ValueError, match="own selector"):
            selector.register(own, selector_room.READABLE, Waiter())
        a, b = socket.socketpair()
        with a, b:
            waiter = Waiter()
            selector.register(a.fileno(), selector_room.READABLE, waiter)
            selector.withdraw(a.fileno(), selector_room.READABLE, Waiter())  # not the waiter
            assert selector.waiting == 1
            selector.withdraw(a.fileno(), selector_room.READABLE, waiter)
            assert selector.waiting == 0
    finally:
        selector.close()
    borrowed = selector_room.BorrowedSelector[Waiter](object())
    borrowed.select(0)
    borrowed.wake()
    borrowed.close()
    assert borrowed.fileno() is None


class _FakeListeningSocket:
    """A listening socket whose `accept()` gives what a test says, then defers to the real one."""

    def __init__(self, real: socket.socket, outcomes: list[object]) -> None:
        self._real = real
        self._outcomes = outcomes

    def accept(self) -> tuple[socket.socket, object]:
        if self._outcomes:
            outcome = self._outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome, None  # pyright: ignore[reportReturnType]
        return self._real.accept()

    def close(self) -> None:
        self._real.close()


def _listener_accepting(outcomes: list[object]) -> tinyio.SocketListener:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    listener = tinyio.SocketListener(sock)
    listener._socket = _FakeListeningSocket(sock, outcomes)  # pyright: ignore
    return listener


def test_accept_skips_an_aborted_connection_and_raises_another_error():
    listener = _listener_accepting(
        [ConnectionAbortedError(), OSError(errno.EINVAL, "not this one")]
    )
    with listener, pytest.raises(OSError, match="not this one"):
        run(listener.accept())


def test_an_accepted_connection_that_cannot_be_wrapped_is_closed():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener = _listener_accepting([udp])
    with listener, pytest.raises(TypeError, match="stream socket"):
        run(listener.accept())
    assert udp.fileno() == -1


def test_a_listener_closed_under_a_running_server_stops_it_with_the_error():
    def handler(stream):
        yield

    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")

        def close_soon():
            yield
            yield
            listener.close()

        yield [tinyio.serve_listeners(handler, [listener]), close_soon()]

    with pytest.raises(tinyio.ClosedResourceError, match="listener was closed"):
        run(main())


def test_a_reader_and_a_writer_of_one_descriptor_wait_apart():
    a, b = socket.socketpair()
    a.setblocking(False)
    log = []

    def reader():
        yield tinyio.wait_readable(a)
        log.append("readable")

    def writer():
        yield tinyio.wait_writable(a)
        log.append("writable")
        yield tinyio.sleep(0.01)
        b.send(b"x")

    def main():
        yield [reader(), writer()]

    with a, b:
        run(main())
    assert log == ["writable", "readable"]


@pytest.mark.timeout(10)
def test_ctrl_c_while_the_loop_sleeps_in_its_selector_raises_keyboard_interrupt():
    a, b = socket.socketpair()
    waiting = threading.Event()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def press_ctrl_c():
        waiting.wait()
        time.sleep(0.05)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def main():
        waiting.set()
        yield tinyio.wait_readable(a)

    thread = threading.Thread(target=press_ctrl_c)
    thread.start()
    try:
        with a, b, pytest.raises(KeyboardInterrupt):
            run(main())
    finally:
        thread.join()
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_a_port_a_client_cannot_connect_to_is_refused_at_the_call_with_the_range_it_takes(port):
    with pytest.raises(ValueError, match=rf"port must be between 1 and 65535, got {port}\."):
        tinyio.open_tcp_stream("127.0.0.1", port)


def test_listening_on_a_port_in_use_raises_and_leaves_no_descriptor_open():
    def main():
        (taken,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        with taken:
            port = taken.socket.getsockname()[1]
            before = open_fds()
            try:
                yield from tinyio.open_tcp_listeners(port, host="127.0.0.1")
            except OSError as error:
                return error.errno, open_fds() - before
        return None

    assert run(main()) == (errno.EADDRINUSE, 0)


def test_a_port_in_use_is_named_in_the_error():
    def main():
        (taken,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        with taken:
            port = taken.socket.getsockname()[1]
            try:
                yield from tinyio.open_tcp_listeners(port, host="127.0.0.1")
            except OSError as error:
                return port, str(error)
        return None

    port, message = run(main())
    assert f"('127.0.0.1', {port})" in message


def test_a_unix_path_no_one_listens_on_is_named_in_the_error(tmp_path):
    path = str(tmp_path / "nobody.sock")
    with pytest.raises(FileNotFoundError) as caught:
        run(tinyio.open_unix_stream(path))
    assert path in str(caught.value)


def test_connecting_where_no_one_listens_tries_every_address_and_raises_oserror():
    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listener.socket.getsockname()[1]
        listener.close()  # nobody listens there now
        try:
            yield from tinyio.open_tcp_stream("localhost", port)
        except OSError as error:
            return type(error)
        return None

    before = open_fds()  # the loop's own selector is made and closed within the run
    kind = run(main())
    assert kind is not None
    assert issubclass(kind, OSError)
    assert open_fds() == before
