"""Waiting for a file descriptor to become readable or writable: the core's `DescriptorWait`,
wrapped so that the wait always ends its registration, and a close raises.

The operations run as part of the coroutine that yields them (`starts_at_once`), so that
cancelling or timing out that coroutine ends the wait at once: the `finally` below withdraws
the registration before the error reaches the caller's code.
"""

from __future__ import annotations

from ._core import (
    READABLE,
    WRITABLE,
    ClosedResourceError,
    Coro,
    DescriptorWait,
    descriptor_of,
    starts_at_once,
)

__all__ = ["wait_descriptor", "wait_readable", "wait_writable"]


def wait_readable(fd: int | object) -> Coro[None]:
    """Wait until a file descriptor is readable: `yield tinyio.wait_readable(sock)`.

    The low-level primitive under tinyio's sockets and streams, for a descriptor of your own
    (a pipe, a socket in non-blocking mode): try the call first, and wait only when it raises
    `BlockingIOError`. A wait may end without the descriptor being ready (say, a descriptor
    number reused after a close), so call again and wait again in a loop.

    ```python
    import os
    import tinyio

    def main():
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)

        def writer():
            yield tinyio.sleep(0.01)
            os.write(write_end, b"hello")

        def reader():
            while True:
                try:
                    return os.read(read_end, 100)
                except BlockingIOError:
                    yield tinyio.wait_readable(read_end)

        data, _ = yield [reader(), writer()]
        print(data)
        os.close(read_end)
        os.close(write_end)

    tinyio.Loop().run(main())
    # b'hello'
    ```

    Arguments:
        fd: the descriptor, an `int` or an object with a `fileno()` method.

    Returns:
        A coroutine to yield, which finishes when `fd` is readable (or at end of file, or on an
        error condition, where reading will not block either).

    Raises:
        TypeError, ValueError: `fd` is not a descriptor (at the call).
        tinyio.BusyResourceError: another coroutine already waits for `fd` to be readable (at
            the `yield`).
        tinyio.ClosedResourceError: `tinyio.notify_closing(fd)` was called while waiting.
        OSError: the descriptor cannot be waited on (closed; a regular file, on Linux).
    """
    return wait_descriptor(descriptor_of(fd, "wait_readable"), READABLE)


def wait_writable(fd: int | object) -> Coro[None]:
    """Wait until a file descriptor is writable: `yield tinyio.wait_writable(sock)`.

    As `tinyio.wait_readable`, for writing: a socket whose send buffer is full becomes
    writable when the peer has read enough.

    ```python
    import socket
    import tinyio

    def main():
        a, b = socket.socketpair()
        a.setblocking(False)
        yield tinyio.wait_writable(a)  # an empty send buffer: at once
        print(a.send(b"ping"), b.recv(4))
        a.close()
        b.close()

    tinyio.Loop().run(main())
    # 4 b'ping'
    ```

    Raises:
        TypeError, ValueError: `fd` is not a descriptor (at the call).
        tinyio.BusyResourceError: another coroutine already waits for `fd` to be writable (at
            the `yield`).
        tinyio.ClosedResourceError: `tinyio.notify_closing(fd)` was called while waiting.
        OSError: the descriptor cannot be waited on (closed; a regular file, on Linux).
    """
    return wait_descriptor(descriptor_of(fd, "wait_writable"), WRITABLE)


@starts_at_once
def wait_descriptor(fd: int, events: int) -> Coro[None]:
    """For the library: wait for `fd` (a number) to be ready for `events` (READABLE or
    WRITABLE)."""
    wait = DescriptorWait(fd, events)
    try:
        yield wait
    finally:
        wait.withdraw()
    if wait.closed:
        raise ClosedResourceError(f"descriptor {fd} was closed while a coroutine waited on it")
