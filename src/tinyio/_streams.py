"""Sockets as streams, listeners and servers: trio's names, on the core's descriptor waits.

Every operation tries its system call first and waits (a `DescriptorWait`) only when the call
would block, so a busy connection costs no `epoll_wait` per call. The operations run as part
of the coroutine that yields them (`starts_at_once`): a cancelled or timed-out read has either
returned its bytes to that coroutine or left them in the stream's buffer, never lost them.

The error model (docs/devdocs/native-io.md): our own `close()` makes every later operation
raise `ClosedResourceError`, and wakes the coroutines waiting on the socket with it; a peer
reset or a broken pipe is `BrokenResourceError` with the `OSError` as its cause, and so is
every later operation in that direction; two receives (or two sends) at once on one stream are
`BusyResourceError`. Bad arguments raise `TypeError`/`ValueError` at the call.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket as _socket
import types
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any, Final, cast

from ._cancel import cancel, race
from ._core import (
    CURRENT_LOOP,
    READABLE,
    WRITABLE,
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    Coro,
    DescriptorWait,
    Loop,
    cancelling_everything,
    notify_closing,
    starts_at_once,
    without_library_frames,
)
from ._event import Event
from ._io import wait_descriptor
from ._isolate import isolate
from ._thread import run_in_thread
from ._time import sleep

__all__ = [
    "SocketListener",
    "SocketStream",
    "check_port",
    "connect_socket",
    "open_tcp_listeners",
    "open_tcp_stream",
    "open_unix_stream",
    "serve_listeners",
    "serve_tcp",
]

LOGGER: Final = logging.getLogger("tinyio")

# The kernel's send buffer holds at most this much that is not yet sent, so that `send_all`
# waits (backpressure) instead of piling up data the peer has not asked for (as trio does).
_NOT_SENT_LOW_WATER: Final = 16 * 1024
# accept() fails with these when the process or system is out of descriptors or buffers: wait
# this long and try again, rather than spin (trio's choice, and its delay).
_ACCEPT_BACKOFF_ERRNOS: Final = frozenset(
    getattr(errno, name)
    for name in ("EMFILE", "ENFILE", "ENOMEM", "ENOBUFS")
    if hasattr(errno, name)
)
_ACCEPT_BACKOFF_SECONDS: Final = 0.1
# A receive this soon (seconds) after a send that answered everything received waits for the
# descriptor first (see `ByteStream._answered_at`): shorter than a round trip on loopback, the
# least a peer takes to answer what we sent.
_JUST_ANSWERED: Final = 50e-6
# What a peer closing or resetting the connection looks like from send() and recv().
_BROKEN: Final = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


def bytes_like(data: object, caller: str) -> memoryview:
    if isinstance(data, str):
        raise TypeError(
            f"{caller} needs bytes (or a bytearray or memoryview), got the str {data!r}: "
            "encode it first, e.g. `text.encode()`."
        )
    try:
        view = memoryview(data)  # pyright: ignore[reportArgumentType]
    except TypeError:
        raise TypeError(
            f"{caller} needs bytes (or a bytearray or memoryview), got {data!r}."
        ) from None
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def positive_int(value: object, name: str, caller: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{caller}: {name} must be an int, got {value!r}.")
    if value < 1:
        raise ValueError(f"{caller}: {name} must be at least 1, got {value!r}.")
    return value


def check_delimiter(delimiter: object) -> bytes:
    """`delimiter` as bytes if it is a non-empty bytes-like delimiter for `receive_until`."""
    if not isinstance(delimiter, bytes | bytearray):
        raise TypeError(f"receive_until: delimiter must be bytes, got {delimiter!r}.")
    if not delimiter:
        raise ValueError("receive_until: delimiter must not be empty.")
    return bytes(delimiter)


def check_port(port: object, caller: str, lowest: int = 0) -> int:
    """`port` if it is a port number (`lowest` to 65535: 0, "any free port", is for
    listeners only), else TypeError or ValueError naming it."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"{caller}: port must be an int, got {port!r}.")
    if not lowest <= port <= 65535:
        raise ValueError(f"{caller}: port must be between {lowest} and 65535, got {port!r}.")
    return port


def broken_by(error: OSError) -> BrokenResourceError:
    """The `BrokenResourceError` for a failed system call: `error` as its cause, with the
    traceback of the cause trimmed of tinyio's own frames (the call failed in the library's
    code; the user's frames are on the `BrokenResourceError` itself)."""
    error.__traceback__ = without_library_frames(error.__traceback__)
    broken = BrokenResourceError(f"the connection is broken: {error}")
    broken.__cause__ = error  # and `__suppress_context__`, as `raise broken from error` does
    broken.__suppress_context__ = True
    return broken


class ByteStream:
    """For the library: what a tinyio byte stream over one non-blocking descriptor does
    (`SocketStream`, and the pipes of `tinyio.Process`): sending with `send_all`'s rules, and
    the buffered, cancel-safe receives. A subclass calls `_init_stream` and gives the public
    methods and their documentation, and `_read(n)` and `_write(view)`, its system calls
    (`sock.recv`, `os.read`...), which raise `BlockingIOError` when they would block: as a
    property where they are another object's methods (`SocketStream`'s socket), so that a
    stream holds no bound method of its own (memory per idle connection), or as an attribute
    of the subclass's slots.
    """

    __slots__ = (
        "_answered_at",
        "_buffer",
        "_closed",
        "_fd",
        "_receive_broken",
        "_receiving",
        "_send_broken",
        "_sending",
    )
    _read: Callable[[int], bytes]
    _write: Callable[[bytes | memoryview], int]

    def _init_stream(self, fd: int) -> None:
        self._fd = fd
        self._closed = False
        self._receiving = False
        self._sending = False
        self._receive_broken: BaseException | None = None
        self._send_broken: BaseException | None = None
        # Bytes received but not yet given out (by `receive_exactly` and `receive_until`, or
        # kept for the next read when one of them was cancelled or timed out); made when
        # first needed, as most streams only ever `receive_some`.
        self._buffer: bytearray | None = None
        # When we last sent (`perf_counter`) after a read that gave less than it asked for:
        # the peer had sent nothing more, and is answering what we sent. A receive within
        # `_JUST_ANSWERED` of it waits for the descriptor before reading: a read tried first
        # would most likely fail (a server reads a request, answers, and reads again before
        # the client can have sent the next one). -1.0: such a read, nothing sent since; 0.0:
        # the last read filled its request. Otherwise a receive tries first.
        self._answered_at = 0.0

    def _own_buffer(self) -> bytearray:
        buffer = self._buffer
        if buffer is None:
            buffer = self._buffer = bytearray()
        return buffer

    @starts_at_once
    def _send_all(self, data: bytes | memoryview) -> Coro[None]:
        """Send `data`: bytes, or a memoryview of bytes (format "B", one dimension)."""
        self._check_send()
        self._sending = True
        sent = 0
        total = len(data)
        write = self._write
        view: memoryview | None = None  # made if the first send takes only part of `data`
        try:
            while sent < total:
                try:
                    if sent:
                        if view is None:
                            view = memoryview(data)
                        sent += write(view[sent:])
                    else:
                        sent = write(data)
                    continue
                except BlockingIOError:
                    pass  # wait outside the `except`: no exception kept alive while waiting
                except _BROKEN as error:
                    raise self._break_send(error) from error
                except OSError as error:
                    if self._closed:
                        raise ClosedResourceError("the stream was closed") from None
                    raise self._break_send(error) from error
                # The wait, written out here as in `_recv` (see there).
                if self._closed:
                    raise ClosedResourceError("the stream was closed")
                wait = DescriptorWait(self._fd, WRITABLE)
                try:
                    yield wait
                finally:
                    wait.withdraw()
                if wait.closed:
                    raise ClosedResourceError("the stream was closed while waiting on it")
            if self._answered_at:
                self._answered_at = perf_counter()
        except BaseException as error:
            if 0 < sent < total and not isinstance(
                error, ClosedResourceError | BrokenResourceError
            ):
                # Cancelled or timed out half-way: the peer would take what follows for the
                # rest of this message.
                self._send_broken = BrokenResourceError(
                    f"a send_all was interrupted after sending {sent} of its {total} bytes"
                )
            raise
        finally:
            self._sending = False

    def _check_send(self) -> None:
        if self._closed:
            raise ClosedResourceError("the stream was closed")
        if self._sending:
            raise BusyResourceError("another coroutine is sending on this stream")
        broken = self._send_broken
        if broken is not None:
            if isinstance(broken, ClosedResourceError):
                raise ClosedResourceError(str(broken))
            raise BrokenResourceError(str(broken)) from broken.__cause__

    def _break_send(self, error: OSError) -> BrokenResourceError:
        broken = broken_by(error)
        self._send_broken = broken
        return broken

    @starts_at_once
    def _receive_some(self, max_bytes: int) -> Coro[bytes]:
        self._check_receive()
        buffer = self._buffer
        if buffer:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
            return data
        self._receiving = True
        try:
            # `_recv`, written out here: the receive that idle connections wait in holds one
            # generator, not two.
            read = self._read
            answered_at = self._answered_at  # see `_answered_at`: wait first, then read?
            waiting = answered_at > 0.0 and perf_counter() - answered_at < _JUST_ANSWERED
            while True:
                if waiting:
                    if self._closed:
                        raise ClosedResourceError("the stream was closed")
                    wait = DescriptorWait(self._fd, READABLE)
                    try:
                        yield wait
                    finally:
                        wait.withdraw()
                    if wait.closed:
                        raise ClosedResourceError("the stream was closed while waiting on it")
                waiting = True
                try:
                    data = read(max_bytes)
                except BlockingIOError:
                    continue  # wait outside the `except`: no exception kept alive while waiting
                except OSError as error:
                    raise self._receive_failed(error)  # noqa: B904 - its cause is set
                self._answered_at = -1.0 if 0 < len(data) < max_bytes else 0.0
                return data
        finally:
            self._receiving = False

    @starts_at_once
    def _receive_exactly(self, n: int) -> Coro[bytes]:
        self._check_receive()
        buffer = self._own_buffer()
        self._receiving = True
        try:
            while len(buffer) < n:
                data = yield from self._recv(max(65536, n - len(buffer)))
                if not data:
                    if buffer:
                        raise EOFError(
                            f"the stream ended after {len(buffer)} of the {n} bytes asked for"
                        )
                    return b""
                buffer += data
        finally:
            self._receiving = False
        result = bytes(buffer[:n])
        del buffer[:n]
        return result

    @starts_at_once
    def _receive_until(self, delimiter: bytes, max_size: int) -> Coro[bytes]:
        self._check_receive()
        buffer = self._buffer
        self._receiving = True
        try:
            if not buffer:
                # Nothing kept from before: what one read gives is most often exactly one
                # piece (a request, a line), given as it is, with no copy into the buffer.
                data = yield from self._recv(65536)
                if not data:
                    return b""
                size = len(data)
                if size <= max_size and data.endswith(delimiter):
                    found = data.find(delimiter)
                    if found + len(delimiter) == size:
                        return data
                buffer = self._own_buffer()
                buffer += data
            searched = 0  # no delimiter starts before this offset
            while True:
                found = buffer.find(delimiter, searched)
                if found >= 0:
                    end = found + len(delimiter)
                    if end > max_size:
                        break
                    result = bytes(buffer[:end])
                    del buffer[:end]
                    return result
                if len(buffer) >= max_size:
                    break
                searched = max(0, len(buffer) - len(delimiter) + 1)
                data = yield from self._recv(65536)
                if not data:  # `buffer` is not empty here: it holds at least the last read
                    raise EOFError(
                        f"the stream ended after {len(buffer)} bytes with no {delimiter!r}"
                    )
                buffer += data
        finally:
            self._receiving = False
        raise ValueError(f"receive_until: no {delimiter!r} within {max_size} bytes")

    def _check_receive(self) -> None:
        if self._closed:
            raise ClosedResourceError("the stream was closed")
        if self._receiving:
            raise BusyResourceError("another coroutine is receiving on this stream")
        broken = self._receive_broken
        if broken is not None:
            raise BrokenResourceError(str(broken)) from broken.__cause__

    def _receive_failed(self, error: OSError) -> Exception:
        """What a receive raises for the `OSError` of its system call, its cause set (the
        error raised `from` it, or `from None`)."""
        if self._closed and not isinstance(error, _BROKEN):
            closed = ClosedResourceError("the stream was closed")
            closed.__suppress_context__ = True
            return closed
        broken = broken_by(error)
        self._receive_broken = broken
        return broken

    def _recv(self, max_bytes: int) -> Coro[bytes]:
        read = self._read
        answered_at = self._answered_at  # see `_answered_at`: wait first, then read?
        waiting = answered_at > 0.0 and perf_counter() - answered_at < _JUST_ANSWERED
        while True:
            if waiting:
                # The wait for the descriptor (`wait_descriptor`'s), written out here rather
                # than called: a generator fewer in the chain that every waiting receive holds
                # (memory per idle connection) and that every wake-up passes through.
                if self._closed:
                    raise ClosedResourceError("the stream was closed")
                wait = DescriptorWait(self._fd, READABLE)
                try:
                    yield wait
                finally:
                    wait.withdraw()
                if wait.closed:
                    raise ClosedResourceError("the stream was closed while waiting on it")
            waiting = True
            try:
                data = read(max_bytes)
            except BlockingIOError:
                continue  # wait outside the `except`: no exception kept alive while waiting
            except OSError as error:
                raise self._receive_failed(error)  # noqa: B904 - its cause is set
            self._answered_at = -1.0 if 0 < len(data) < max_bytes else 0.0
            return data


class SocketStream(ByteStream):
    """A connected stream socket (TCP or Unix) as a tinyio stream.

    ```python
    import socket
    import tinyio

    def main():
        a, b = socket.socketpair()
        with tinyio.SocketStream(a) as left, tinyio.SocketStream(b) as right:
            yield left.send_all(b"hello")
            print((yield right.receive_some()))
            yield left.send_eof()
            print((yield right.receive_some()))

    tinyio.Loop().run(main())
    # b'hello'
    # b''
    ```

    Made by `tinyio.open_tcp_stream`, `tinyio.open_unix_stream` and `SocketListener.accept`, or
    around a connected socket of your own, which it takes over: it is put in non-blocking mode,
    and for TCP `TCP_NODELAY` is set (small writes go out at once) and, where the platform has
    it, `TCP_NOTSENT_LOWAT` (16 KiB: `send_all` waits while the peer is slow, so memory stays
    bounded). Closing the stream closes the socket.

    Operations are coroutines to yield, each of which runs as part of the coroutine that yields
    it: if that coroutine is cancelled or timed out, the operation ends with it at once.

    - One receive at a time, and one send at a time: a second, while the first waits, raises
      `tinyio.BusyResourceError`. A receive and a send may run at the same time.
    - After `close()`, every operation raises `tinyio.ClosedResourceError`, and so do those
      that were waiting on the socket when it was closed.
    - A reset by the peer or a broken pipe raises `tinyio.BrokenResourceError` (the `OSError`
      as its `__cause__`), and so does every later operation in the same direction.

    Raises:
        TypeError: `sock` is not a `socket.socket`, or not a stream socket.
    """

    __slots__ = ("_socket",)

    def __init__(self, sock: _socket.socket) -> None:
        if not isinstance(sock, _socket.socket):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"SocketStream needs a socket.socket, got {sock!r}.")
        if sock.type != _socket.SOCK_STREAM:
            raise TypeError(f"SocketStream needs a stream socket (SOCK_STREAM), got {sock!r}.")
        sock.setblocking(False)
        if sock.family in (_socket.AF_INET, _socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            not_sent = getattr(_socket, "TCP_NOTSENT_LOWAT", None)
            if not_sent is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(_socket.IPPROTO_TCP, not_sent, _NOT_SENT_LOW_WATER)
        self._socket = sock
        self._init_stream(sock.fileno())

    # The system calls of `ByteStream`, looked up on the socket at each operation rather than
    # kept as bound methods (two objects fewer per connection).
    @property
    def _read(self) -> Callable[[int], bytes]:  # pyright: ignore[reportIncompatibleMethodOverride]
        return self._socket.recv

    @property
    def _write(self) -> Callable[[bytes | memoryview], int]:  # pyright: ignore[reportIncompatibleMethodOverride]
        return self._socket.send

    @property
    def socket(self) -> _socket.socket:
        """The underlying socket, for its options and addresses (`getpeername()`). Do not
        read, write or close it directly."""
        return self._socket

    # ------------------------------------------------------------------ sending

    def send_all(self, data: bytes | bytearray | memoryview) -> Coro[None]:
        """Send all of `data`: `yield stream.send_all(b"...")`.

        Waits while the socket's send buffer is full (backpressure); returns once every byte
        is in the kernel's hands, not when the peer has read it. Sending `b""` does nothing.

        Raises:
            TypeError: `data` is not bytes-like, e.g. a `str` (at the call).
            tinyio.BusyResourceError: another `send_all` of this stream is still running.
            tinyio.ClosedResourceError: the stream was closed.
            tinyio.BrokenResourceError: the connection is broken (peer reset, broken pipe), or
                an earlier `send_all` was cancelled after sending part of its data: the peer
                would see a message cut short, so the stream cannot be sent on any more.
        """
        if type(data) is bytes:  # the common case, checked quickly
            return self._send_all(data)
        return self._send_all(bytes_like(data, "send_all"))

    def send_eof(self) -> Coro[None]:
        """Close the sending direction (a TCP half-close): the peer's receives give `b""`
        once it has read everything sent before, and this stream can still receive.
        Calling it again does nothing.

        Raises:
            tinyio.BusyResourceError: a `send_all` is running.
            tinyio.ClosedResourceError: the stream was closed.
        """
        return self._send_eof()

    @starts_at_once
    def _send_eof(self) -> Coro[None]:
        if self._closed:
            raise ClosedResourceError("the stream was closed")
        if self._sending:
            raise BusyResourceError("cannot send_eof while a send_all of this stream runs")
        if self._send_broken is None:
            with contextlib.suppress(OSError):  # not connected any more: nothing to close
                self._socket.shutdown(_socket.SHUT_WR)
            self._send_broken = ClosedResourceError("send_eof was called: the stream sends no more")
        return
        yield  # pragma: no cover - a generator, for `yield stream.send_eof()`

    # ------------------------------------------------------------------ receiving

    def receive_some(self, max_bytes: int = 65536) -> Coro[bytes]:
        """Receive what has arrived, at most `max_bytes`: `data = yield stream.receive_some()`.

        Waits until at least one byte has arrived, or the peer has closed its sending side:
        then it gives `b""` (and so does every later call).

        Raises:
            TypeError, ValueError: `max_bytes` is not an int of at least 1 (at the call).
            tinyio.BusyResourceError: another receive of this stream is still waiting.
            tinyio.ClosedResourceError: the stream was closed.
            tinyio.BrokenResourceError: the connection was reset by the peer.
        """
        return self._receive_some(positive_int(max_bytes, "max_bytes", "receive_some"))

    def receive_exactly(self, n: int) -> Coro[bytes]:
        """Receive exactly `n` bytes: `header = yield stream.receive_exactly(4)`.

        Cancel-safe: if the coroutine is cancelled or timed out while waiting, the bytes that
        had arrived stay in the stream, for the next receive.

        Returns:
            A coroutine giving `n` bytes; or `b""` if the peer closed its side before sending
            any of them.

        Raises:
            TypeError, ValueError: `n` is not an int of at least 1 (at the call).
            EOFError: the peer closed its side after part of the `n` bytes (they stay in the
                stream: `receive_some` gives them).
            tinyio.BusyResourceError, tinyio.ClosedResourceError, tinyio.BrokenResourceError:
                as for `receive_some`.
        """
        return self._receive_exactly(positive_int(n, "n", "receive_exactly"))

    def receive_until(self, delimiter: bytes, max_size: int) -> Coro[bytes]:
        """Receive up to and including `delimiter`: `line = yield stream.receive_until(b"\\n",
        65536)`.

        The delimiter is kept at the end of what it gives (so that the last line of a stream
        that does not end in one can be told apart). Cancel-safe, as `receive_exactly`.

        Arguments:
            delimiter: the bytes that end a piece (a line: `b"\\n"`), not empty.
            max_size: the longest piece accepted, delimiter included.

        Returns:
            A coroutine giving the bytes up to and including the first `delimiter`; or `b""`
            if the peer closed its side with nothing left unread.

        Raises:
            TypeError, ValueError: a bad `delimiter` or `max_size` (at the call).
            ValueError: `max_size` bytes arrived with no delimiter among them (they stay in the
                stream).
            EOFError: the peer closed its side after bytes with no delimiter (they stay in the
                stream: `receive_some` gives them).
            tinyio.BusyResourceError, tinyio.ClosedResourceError, tinyio.BrokenResourceError:
                as for `receive_some`.
        """
        if type(delimiter) is not bytes or not delimiter:
            delimiter = check_delimiter(delimiter)
        if type(max_size) is not int or max_size < 1:
            max_size = positive_int(max_size, "max_size", "receive_until")
        return self._receive_until(delimiter, max_size)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Close the stream and its socket; coroutines waiting on it raise
        `tinyio.ClosedResourceError`. Closing it again does nothing. Data given to
        `send_all` is still delivered (the kernel sends it), then the peer reads `b""`.
        """
        if self._closed:
            return
        self._closed = True
        notify_closing(self._fd)
        self._socket.close()

    def __enter__(self) -> SocketStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<tinyio.SocketStream {state}>"


# ---------------------------------------------------------------------- connecting


def connect_socket(sock: _socket.socket, address: Any) -> Coro[None]:
    """For the library: connect a non-blocking socket, waiting for the connection; the socket
    is closed if that fails or is cancelled."""
    try:
        try:
            sock.connect(address)
            return
        except BlockingIOError:
            pass  # in progress
        yield from wait_descriptor(sock.fileno(), WRITABLE)
        code = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            raise OSError(code, f"connect to {address!r} failed: {os.strerror(code)}")
    except BaseException:
        notify_closing(sock)
        sock.close()
        raise


def open_tcp_stream(
    host: str | bytes, port: int, *, happy_eyeballs_delay: float | None = 0.25
) -> Coro[SocketStream]:
    """Connect to `host` on TCP `port`: `stream = yield tinyio.open_tcp_stream("localhost",
    8000)`.

    ```python
    import tinyio

    def handler(stream):
        yield stream.send_all((yield stream.receive_some()).upper())

    def main():
        (listener,) = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listener.socket.getsockname()[1]
        server = tinyio.serve_listeners(handler, [listener])
        yield {server}
        with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as stream:
            yield stream.send_all(b"hello")
            print((yield stream.receive_some()))
        yield tinyio.cancel(server)

    tinyio.Loop().run(main())
    # b'HELLO'
    ```

    The name is resolved in a worker thread (`getaddrinfo`), unless it is a numeric address.
    With several addresses (IPv6 and IPv4, say), it tries them in the resolver's order, and
    starts the next attempt `happy_eyeballs_delay` seconds after the previous one began, or as
    soon as it failed (RFC 8305); the first to connect wins and the others are closed.

    Arguments:
        host: a host name or a numeric IPv4 or IPv6 address.
        port: the port, 1 to 65535.
        happy_eyeballs_delay: seconds between attempts; None: one at a time, each waiting for
            the previous to fail.

    Returns:
        A coroutine giving a connected `tinyio.SocketStream`. If it is cancelled, no socket is
        left open.

    Raises:
        TypeError, ValueError: a bad `host`, `port` or delay (at the call).
        OSError: the name does not resolve (`socket.gaierror`), or no address accepted the
            connection (the error of the first attempt, with the others in its notes).
    """
    if not isinstance(host, str | bytes):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"open_tcp_stream: host must be a str, got {host!r}.")
    port = check_port(port, "open_tcp_stream", lowest=1)
    if happy_eyeballs_delay is not None:
        if isinstance(happy_eyeballs_delay, bool) or not isinstance(
            happy_eyeballs_delay, int | float
        ):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(
                "open_tcp_stream: happy_eyeballs_delay must be a number of seconds or None, "
                f"got {happy_eyeballs_delay!r}."
            )
        if not happy_eyeballs_delay >= 0:
            raise ValueError(
                "open_tcp_stream: happy_eyeballs_delay must be non-negative, "
                f"got {happy_eyeballs_delay!r}."
            )
    return _open_tcp_stream(host, port, happy_eyeballs_delay)


def _resolve(host: str | bytes | None, port: int, passive: bool) -> Coro[list[Any]]:
    flags = _socket.AI_PASSIVE if passive else 0
    try:  # a numeric address needs no resolver, nor a thread
        return _socket.getaddrinfo(
            host, port, type=_socket.SOCK_STREAM, flags=flags | _socket.AI_NUMERICHOST
        )
    except _socket.gaierror:
        pass
    return (
        yield run_in_thread(_socket.getaddrinfo, host, port, type=_socket.SOCK_STREAM, flags=flags)
    )


def _open_tcp_stream(host: str | bytes, port: int, delay: float | None) -> Coro[SocketStream]:
    targets = yield from _resolve(host, port, passive=False)
    if not targets:
        raise OSError(f"no address found for {host!r}")
    failed = [Event() for _ in targets]
    errors: list[OSError] = []
    won: list[_socket.socket] = []

    def attempt(index: int, target: Any) -> Coro[_socket.socket | None]:
        if index:
            yield failed[index - 1].wait(delay)
        if not won:
            family, kind, proto, _, address = target
            try:
                sock = _socket.socket(family, kind, proto)
            except OSError as error:
                errors.append(error)
            else:
                try:
                    sock.setblocking(False)
                    yield from connect_socket(sock, address)
                except OSError as error:
                    errors.append(error)
                else:
                    if not won:
                        won.append(sock)
                        return sock
                    sock.close()  # connected in the same turn as the winner: not needed
        failed[index].set()
        if len(errors) == len(targets):
            return None  # every attempt failed: end the race
        yield Event().wait()  # lost, or failed while others try: wait to be cancelled
        return None

    try:
        # Inline, so that a cancellation or timeout here cancels the attempts too.
        _, sock = yield from race([attempt(i, t) for i, t in enumerate(targets)])
    except BaseException:
        for sock in won:
            sock.close()  # won, but not handed over: we are cancelled
        raise
    if sock is None:
        first = errors[0]
        for other in errors[1:]:
            first.add_note(f"another address also failed: {other}")
        raise first
    try:
        return SocketStream(sock)
    except BaseException:
        sock.close()
        raise


def open_unix_stream(path: str | bytes | os.PathLike[str]) -> Coro[SocketStream]:
    """Connect to the Unix socket at `path`: `stream = yield tinyio.open_unix_stream(path)`.

    Raises:
        TypeError: `path` is not a path (at the call).
        OSError: nothing listens there.
    """
    if not isinstance(path, str | bytes | os.PathLike):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"open_unix_stream: path must be a path, got {path!r}.")
    if not hasattr(_socket, "AF_UNIX"):  # pragma: no cover - Windows
        raise RuntimeError("open_unix_stream needs Unix sockets, which this platform lacks.")
    return _open_unix_stream(os.fspath(path))


def _open_unix_stream(path: str | bytes) -> Coro[SocketStream]:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        yield from connect_socket(sock, path)
    except OSError as error:
        if error.filename is None:
            error.filename = path  # "[Errno 2] No such file or directory: '/run/app.sock'"
        raise
    try:
        return SocketStream(sock)
    except BaseException:
        sock.close()
        raise


# ---------------------------------------------------------------------- listening


class SocketListener:
    """A listening stream socket: `stream = yield listener.accept()`.

    Made by `tinyio.open_tcp_listeners`, or around a listening socket of your own, which it
    takes over (in non-blocking mode). Closing the listener closes the socket, and a coroutine
    waiting in `accept` raises `tinyio.ClosedResourceError`.

    Raises:
        TypeError: `sock` is not a listening stream socket.
    """

    __slots__ = ("_accepting", "_closed", "_fd", "_socket")

    def __init__(self, sock: _socket.socket) -> None:
        if not isinstance(sock, _socket.socket):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"SocketListener needs a socket.socket, got {sock!r}.")
        if sock.type != _socket.SOCK_STREAM:
            raise TypeError(f"SocketListener needs a stream socket, got {sock!r}.")
        if not sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ACCEPTCONN):
            raise TypeError(
                f"SocketListener needs a listening socket (call listen()), got {sock!r}."
            )
        sock.setblocking(False)
        self._socket = sock
        self._fd = sock.fileno()
        self._closed = False
        self._accepting = False

    @property
    def socket(self) -> _socket.socket:
        """The listening socket, for its address (`getsockname()`) and options."""
        return self._socket

    def accept(self) -> Coro[SocketStream]:
        """Wait for a connection: `stream = yield listener.accept()`.

        When the process or the system is out of descriptors or buffers (EMFILE, ENFILE,
        ENOMEM, ENOBUFS), it waits 0.1 s and tries again, for as long as it takes: a server never
        spins. A connection the peer reset before it was accepted is skipped.

        Raises:
            tinyio.BusyResourceError: another coroutine is accepting on this listener.
            tinyio.ClosedResourceError: the listener was closed.
        """
        return self._accept()

    @starts_at_once
    def _accept(self) -> Coro[SocketStream]:
        if self._closed:
            raise ClosedResourceError("the listener was closed")
        if self._accepting:
            raise BusyResourceError("another coroutine is accepting on this listener")
        self._accepting = True
        sock = self._socket
        try:
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    conn = None  # wait outside the `except`: no exception kept alive meanwhile
                except (ConnectionAbortedError, ConnectionResetError):
                    continue
                except OSError as error:
                    if self._closed:
                        raise ClosedResourceError("the listener was closed") from None
                    if error.errno in _ACCEPT_BACKOFF_ERRNOS:
                        LOGGER.debug("accept() failed (%s); retrying in a moment", error)
                        yield sleep(_ACCEPT_BACKOFF_SECONDS)
                        continue
                    raise
                if conn is None:
                    try:
                        yield from wait_descriptor(self._fd, READABLE)
                    except ClosedResourceError:
                        raise ClosedResourceError("the listener was closed") from None
                    continue
                try:
                    return SocketStream(conn)
                except BaseException:
                    conn.close()
                    raise
        finally:
            self._accepting = False

    def close(self) -> None:
        """Close the listener (idempotent); a coroutine in `accept` raises
        `tinyio.ClosedResourceError`."""
        if self._closed:
            return
        self._closed = True
        notify_closing(self._fd)
        self._socket.close()

    def __enter__(self) -> SocketListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return "<tinyio.SocketListener closed>"
        return f"<tinyio.SocketListener on {self._socket.getsockname()!r}>"


def open_tcp_listeners(
    port: int, *, host: str | bytes | None = None, backlog: int | None = None
) -> Coro[list[SocketListener]]:
    """Listen on TCP `port`: `listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")`.

    One listener per address `host` resolves to; with `host=None`, every local interface, on
    IPv4 and IPv6 (two listeners where both are there). Port 0 lets the system choose a free
    port (`listener.socket.getsockname()[1]`), a different one per listener. Each socket has
    `SO_REUSEADDR` (a restarted server can listen on the port at once), and an IPv6 one
    `IPV6_V6ONLY`.

    Arguments:
        port: the port, 0 to 65535.
        host: the address to listen on (e.g. `"127.0.0.1"`, `"::1"`, a name), or None.
        backlog: how many connections may wait to be accepted (None: the system's maximum).

    Returns:
        A coroutine giving a list of `tinyio.SocketListener`, already listening.

    Raises:
        TypeError, ValueError: a bad `port`, `host` or `backlog` (at the call).
        OSError: the address is in use or cannot be had; no listener is left open.
    """
    port = check_port(port, "open_tcp_listeners")
    if host is not None and not isinstance(host, str | bytes):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"open_tcp_listeners: host must be a str or None, got {host!r}.")
    if backlog is not None:
        backlog = positive_int(backlog, "backlog", "open_tcp_listeners")
    return _open_tcp_listeners(port, host, 0xFFFF if backlog is None else backlog)


def _open_tcp_listeners(
    port: int, host: str | bytes | None, backlog: int
) -> Coro[list[SocketListener]]:
    targets = yield from _resolve(host, port, passive=True)
    listeners: list[SocketListener] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in targets:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = _socket.socket(family, kind, proto)
            try:
                if os.name != "nt":
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
                if family == _socket.AF_INET6:
                    sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(backlog)
            except OSError as error:
                sock.close()
                if error.filename is None:
                    error.filename = address  # "Address already in use: ('127.0.0.1', 80)"
                raise
            except BaseException:
                sock.close()
                raise
            listeners.append(SocketListener(sock))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


# ---------------------------------------------------------------------- serving

Handler = Callable[[SocketStream], Coro[Any]]


def serve_tcp(
    handler: Handler, port: int, *, host: str | bytes | None = None, backlog: int | None = None
) -> Coro[None]:
    """Listen on TCP `port` and run `handler(stream)` for each connection, until cancelled.

    The same as `tinyio.open_tcp_listeners(port, host=host, backlog=backlog)` then
    `tinyio.serve_listeners(handler, listeners)`; to learn the port the system chose for
    port 0, or to know that the server listens before a client connects, make those two
    calls yourself. Raises as they do.
    """
    problem = handler_problem(handler, "serve_tcp")
    if problem is not None:
        raise problem
    port = check_port(port, "serve_tcp")
    if host is not None and not isinstance(host, str | bytes):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"serve_tcp: host must be a str or None, got {host!r}.")
    if backlog is not None:
        backlog = positive_int(backlog, "backlog", "serve_tcp")
    return _serve_tcp(handler, port, host, 0xFFFF if backlog is None else backlog)


def _serve_tcp(handler: Handler, port: int, host: str | bytes | None, backlog: int) -> Coro[None]:
    listeners = yield from _open_tcp_listeners(port, host, backlog)
    yield from _serve(handler, listeners)


def serve_listeners(handler: Handler, listeners: Iterable[SocketListener]) -> Coro[None]:
    """Accept connections on `listeners` and run `handler(stream)` for each, until cancelled.

    ```python
    import tinyio

    def echo(stream):
        while data := (yield stream.receive_some()):
            yield stream.send_all(data)

    def client(port, text):
        with (yield tinyio.open_tcp_stream("127.0.0.1", port)) as stream:
            yield stream.send_all(text)
            return (yield stream.receive_some())

    def main():
        listeners = yield tinyio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = tinyio.serve_listeners(echo, listeners)
        yield {server}
        print((yield [client(port, b"one"), client(port, b"two")]))
        yield tinyio.cancel(server)

    tinyio.Loop().run(main())
    # [b'one', b'two']
    ```

    Each connection's handler runs isolated (`tinyio.isolate`): if it, or anything it starts,
    raises an `Exception`, the error is logged with its traceback (logger `"tinyio"`) and the
    server goes on serving the others. The server closes a handler's stream when the handler
    returns or fails. Cancelling the server (`tinyio.cancel`, `tinyio.timeout`, an error
    elsewhere that crashes the loop, Ctrl-C) closes the listeners and every connection, and
    cancels every handler, whose `finally` blocks run.

    Arguments:
        handler: a function taking a `tinyio.SocketStream` and returning a coroutine.
        listeners: the `tinyio.SocketListener`s to accept on (at least one); the server owns
            them from now on, and closes them when it ends.

    Returns:
        A coroutine that serves for ever, until it is cancelled; start it in the background
        (`yield {server}`) and cancel it, or give it a `tinyio.timeout`.

    Raises:
        TypeError, ValueError: `handler` is not callable, or `listeners` is empty or holds
            something else than listeners (at the call).
    """
    problem = handler_problem(handler, "serve_listeners")
    if problem is not None:
        raise problem
    if isinstance(listeners, SocketListener):
        raise TypeError("serve_listeners needs a list of listeners: write `[listener]`.")
    listeners = list(listeners)
    if not listeners:
        raise ValueError("serve_listeners needs at least one listener.")
    for listener in listeners:
        if not isinstance(listener, SocketListener):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"serve_listeners needs SocketListeners, got {listener!r}.")
    return _serve(handler, listeners)


def _serve(handler: Handler, listeners: list[SocketListener]) -> Coro[None]:
    loop: Loop = yield CURRENT_LOOP
    handlers: dict[SocketStream, Coro[None]] = {}  # the running ones, by their streams
    stopping = False

    def run_handler(stream: SocketStream) -> Coro[None]:
        try:
            try:
                peer = stream.socket.getpeername()
            except OSError:  # the peer is gone already
                peer = "a peer that left"
            try:
                coro = handler_coroutine(handler, stream)
            except Exception as error:  # as if it had failed inside, at its first step
                outcome, ok = (
                    error.with_traceback(without_library_frames(error.__traceback__)),
                    False,
                )
            else:
                outcome, ok = yield from isolate(coro)
            if not ok and not stopping:
                error: BaseException = outcome
                LOGGER.error(
                    "handler %s for %r failed; the server goes on",
                    getattr(handler, "__qualname__", repr(handler)),
                    peer,
                    exc_info=(type(error), error, error.__traceback__),
                )
        finally:
            stream.close()
            handlers.pop(stream, None)

    def accept_loop(listener: SocketListener) -> Coro[None]:
        while True:
            try:
                stream = yield from listener.accept()
            except ClosedResourceError:
                if stopping:
                    return
                raise
            running = handlers[stream] = run_handler(stream)
            yield {running}

    # What a Ctrl-C report or a snapshot names these coroutines by, instead of
    # `_serve.<locals>.accept_loop`.
    accept_loop.__qualname__ = accept_loop.__name__ = "serve_listeners.accept_loop"
    run_handler.__qualname__ = run_handler.__name__ = "serve_listeners.connection"

    accepting = [accept_loop(listener) for listener in listeners]
    try:
        yield accepting
    finally:
        stopping = True
        for listener in listeners:
            listener.close()
        if cancelling_everything(loop):
            for stream in list(handlers):
                stream.close()  # the crash cancels the handlers themselves
        else:
            yield [cancel(coro) for coro in [*accepting, *handlers.values()]]


def handler_problem(handler: object, caller: str) -> TypeError | None:
    """The error for a handler that is not a function giving coroutines (returned, so that the
    public function raises it: no frame of ours in the user's traceback)."""
    if isinstance(handler, types.GeneratorType):
        return TypeError(
            f"{caller} needs a handler function, got the generator {handler!r}: pass the "
            "function itself (`handler`, not `handler(...)`), which is called once per "
            "connection."
        )
    if not callable(handler):
        return TypeError(f"{caller} needs a handler function, got {handler!r}.")
    return None


def handler_coroutine(handler: Handler, stream: SocketStream) -> Coro[Any]:
    """The coroutine `handler` gives for `stream`, isolated as it is (no generator of ours
    around it, which each idle connection would hold), or the error that calling it raised."""
    coro: object = handler(stream)
    if not isinstance(coro, types.GeneratorType):
        raise TypeError(
            f"the handler {getattr(handler, '__qualname__', handler)!r} returned {coro!r}, not "
            "a coroutine: a handler is a generator function (with a `yield`), or a function "
            "returning a generator."
        )
    return cast(Coro[Any], coro)
