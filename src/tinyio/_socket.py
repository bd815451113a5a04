"""A thin socket wrapper: the standard library's socket, with its blocking calls as coroutines.

Each call is tried first, and waits for the descriptor only on `BlockingIOError`, so a socket
with data waiting costs no `epoll_wait` (trio issue 1595: a UDP server lost half its speed to
one extra wait per operation).
"""

from __future__ import annotations

import socket as _socket
from typing import Any

from ._core import READABLE, WRITABLE, Coro, notify_closing, starts_at_once
from ._io import wait_descriptor
from ._streams import connect_socket

__all__ = ["Socket", "socket"]


def socket(
    family: int = _socket.AF_INET,
    type: int = _socket.SOCK_STREAM,  # the standard library's name
    proto: int = 0,
) -> Socket:
    """A new socket whose blocking calls are coroutines: `sock = tinyio.socket(AF_INET,
    SOCK_DGRAM)`.

    ```python
    import socket
    import tinyio

    def main():
        server = tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("127.0.0.1", 0))
        client = tinyio.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with server, client:
            yield client.sendto(b"ping", server.getsockname())
            data, address = yield server.recvfrom(100)
            yield server.sendto(data.upper(), address)
            print((yield client.recv(100)))

    tinyio.Loop().run(main())
    # b'PING'
    ```

    Arguments: as for `socket.socket`.

    Returns:
        A `tinyio.Socket`, in non-blocking mode.
    """
    return Socket(_socket.socket(family, type, proto))


class Socket:
    """A socket (`socket.socket`) whose `recv`, `recv_into`, `recvfrom`, `send`, `sendto`,
    `accept` and `connect` are coroutines to yield; every other method and attribute is the
    socket's own (`bind`, `listen`, `setsockopt`, `getsockname`, ...).

    Made by `tinyio.socket(...)`, or around a socket of your own, which it takes over (and puts
    in non-blocking mode). For a connected stream, `tinyio.SocketStream` does more: whole
    sends, buffered reads, and errors of its own; this is the thin layer, for datagrams and
    for what streams do not cover. Errors are the socket's own `OSError`s.

    `close()` (and `with`) wakes the coroutines waiting on the socket with
    `tinyio.ClosedResourceError`. A `connect` that is cancelled or fails closes the socket
    (as in trio): make a new one to try again.

    Raises:
        TypeError: `sock` is not a `socket.socket`.
    """

    __slots__ = ("_socket",)

    def __init__(self, sock: _socket.socket) -> None:
        if not isinstance(sock, _socket.socket):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Socket needs a socket.socket, got {sock!r}.")
        sock.setblocking(False)
        self._socket = sock

    @property
    def socket(self) -> _socket.socket:
        """The standard library's socket underneath."""
        return self._socket

    def __getattr__(self, name: str) -> Any:
        return getattr(self._socket, name)

    def recv(self, bufsize: int, flags: int = 0) -> Coro[bytes]:
        """`data = yield sock.recv(bufsize)`: as `socket.recv`, waiting until something came."""
        return self._readable(self._socket.recv, bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> Coro[int]:
        """`count = yield sock.recv_into(buffer)`: as `socket.recv_into`."""
        return self._readable(self._socket.recv_into, buffer, nbytes, flags)

    def recvfrom(self, bufsize: int, flags: int = 0) -> Coro[tuple[bytes, Any]]:
        """`data, address = yield sock.recvfrom(bufsize)`: as `socket.recvfrom`."""
        return self._readable(self._socket.recvfrom, bufsize, flags)

    def send(self, data: Any, flags: int = 0) -> Coro[int]:
        """`count = yield sock.send(data)`: as `socket.send` (it may send only part)."""
        return self._writable(self._socket.send, data, flags)

    def sendto(self, data: Any, *flags_and_address: Any) -> Coro[int]:
        """`yield sock.sendto(data, address)` (or `(data, flags, address)`): as `socket.sendto`."""
        return self._writable(self._socket.sendto, data, *flags_and_address)

    def accept(self) -> Coro[tuple[Socket, Any]]:
        """`conn, address = yield sock.accept()`: as `socket.accept`; `conn` is a `Socket`."""
        return self._accept()

    @starts_at_once
    def _accept(self) -> Coro[tuple[Socket, Any]]:
        conn, address = yield from self._readable(self._socket.accept)
        return Socket(conn), address

    def connect(self, address: Any) -> Coro[None]:
        """`yield sock.connect(address)`: as `socket.connect`, waiting for the connection. If
        it fails or is cancelled, the socket is closed."""
        return connect_socket(self._socket, address)

    @starts_at_once
    def _readable(self, call: Any, *args: Any) -> Coro[Any]:
        fd = self._socket.fileno()
        while True:
            try:
                return call(*args)
            except BlockingIOError:
                pass  # wait outside the `except`: no exception kept alive meanwhile
            yield from wait_descriptor(fd, READABLE)

    @starts_at_once
    def _writable(self, call: Any, *args: Any) -> Coro[Any]:
        fd = self._socket.fileno()
        while True:
            try:
                return call(*args)
            except BlockingIOError:
                pass  # wait outside the `except`: no exception kept alive meanwhile
            yield from wait_descriptor(fd, WRITABLE)

    def close(self) -> None:
        """Close the socket (idempotent); coroutines waiting on it raise
        `tinyio.ClosedResourceError`."""
        if self._socket.fileno() >= 0:
            notify_closing(self._socket)
        self._socket.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<tinyio.Socket {self._socket!r}>"
