"""Waiting on file descriptors: the selector a loop blocks in while it waits on one.

A loop makes its selector when a coroutine first waits on a descriptor, and closes it when the
run ends; a loop that never waits on one never has one, and blocks on its lock as before. The
selector knows nothing of coroutines: it maps a descriptor and a direction (readable,
writable) to one waiter -- whatever the loop gives it, here a `DescriptorWait` -- and hands
back the waiters whose descriptors became ready.

Decisions (see docs/devdocs/native-io.md, with the measurements behind them):

1. A registration lives as long as one wait. On Linux it is an `EPOLLONESHOT` registration in
   a `select.epoll` of our own, kept in the kernel (disarmed) after it fires and re-armed with
   one `epoll_ctl(MOD)` at the next wait on the same descriptor: one system call per wait, and
   a descriptor nobody waits on never wakes the loop twice. Elsewhere, `selectors`'
   DefaultSelector, registered at each wait and unregistered when it ends.
2. One waiter per direction per descriptor: a second is `BusyResourceError`, at once.
3. A reused descriptor number is never taken for the old one: re-arming an entry the kernel
   has dropped (the descriptor was closed, its number given to a new file) fails with ENOENT,
   and we register afresh. A wake-up that the kernel still delivers for the old file is at
   most one spurious wake-up, which every caller survives by retrying its call.
4. `notify_closing(fd)` (called before closing a descriptor) drops its registrations in every
   live selector and wakes their waiters, who raise `ClosedResourceError`.
5. Wake-ups from other threads: a socketpair in the same selector, written to only while the
   loop sleeps in it (`blocking`), so that a busy loop pays no system call for them.
"""

from __future__ import annotations

import contextlib
import errno
import select
import selectors
import socket
import threading
import weakref
from typing import Any, Final, Generic, Protocol, TypeVar

__all__ = [
    "READABLE",
    "WRITABLE",
    "BorrowedSelector",
    "BrokenResourceError",
    "BusyResourceError",
    "ClosedResourceError",
    "Selector",
    "notify_closing",
]

READABLE: Final = selectors.EVENT_READ
WRITABLE: Final = selectors.EVENT_WRITE


class BusyResourceError(Exception):
    """Raised when a coroutine starts an operation that another is already doing on the same
    resource: two coroutines waiting for one socket to become readable (or two receiving on
    one stream, or two sending). The operation that was there first goes on undisturbed."""

    __module__ = "tinyio"


class ClosedResourceError(Exception):
    """Raised by an operation on a socket or stream that was closed by this program: after its
    `close()`, or in a coroutine that was waiting on it when another coroutine closed it."""

    __module__ = "tinyio"


class BrokenResourceError(Exception):
    """Raised by an operation on a stream whose connection is broken: the peer reset it, the
    pipe is broken, or an earlier `send_all` was cancelled half-way. The `OSError` that broke
    it, if any, is the `__cause__`. Once broken, the same direction stays broken."""

    __module__ = "tinyio"


class Waiter(Protocol):
    """What a selector asks of a waiter: to be told that its descriptor is being closed."""

    def closing(self) -> None: ...


_W = TypeVar("_W", bound=Waiter)

# The live selectors (those of running loops), for `notify_closing`. Few: one per loop that
# waits on a descriptor right now.
_LIVE: Final[weakref.WeakSet[Selector[Waiter]]] = weakref.WeakSet()
_LIVE_LOCK: Final = threading.Lock()


class _Entry(Generic[_W]):
    """One descriptor's waiters. `armed`: whether the kernel knows the descriptor (epoll)."""

    __slots__ = ("armed", "reader", "writer")

    def __init__(self) -> None:
        self.reader: _W | None = None
        self.writer: _W | None = None
        self.armed = False


_HAS_EPOLL: Final = hasattr(select, "epoll")
# epoll's flags (0 where there is no epoll: then they are never used).
_EPOLL_READ: Final[int] = (
    getattr(select, "EPOLLIN", 0)
    | getattr(select, "EPOLLPRI", 0)
    | getattr(select, "EPOLLRDHUP", 0)
)
_EPOLL_WRITE: Final[int] = getattr(select, "EPOLLOUT", 0)
_EPOLL_BOTH: Final[int] = getattr(select, "EPOLLHUP", 0) | getattr(select, "EPOLLERR", 0)
_ONESHOT: Final[int] = getattr(select, "EPOLLONESHOT", 0)


class Selector(Generic[_W]):
    """A loop's waits on descriptors, and the system call it blocks in while it has some.

    Used from the loop's thread (or the thread that blocks for it, never both at once), but
    for `wake` and `notify_closing`, which any thread may call; `_lock` guards the entries
    against the latter.
    """

    # The wake-ups (`wakeups.Wakeups`) of the loop whose selector a `BorrowedSelector` stands
    # for; None for a selector of its own.
    lender: Any = None
    # Steps until the next poll, for a loop stepped one at a time (`runtime`).
    countdown = 0

    def __init__(self, portable: bool = False) -> None:
        # `portable`: use `selectors.DefaultSelector` even where epoll is there (the tests run
        # both ways).
        self.waiting = 0  # how many waiters are registered: the loop polls only if any is
        self.blocking = False  # set while the loop sleeps in `select`: then `wake` writes
        self.fired: list[_W] = []  # waiters whose descriptor is ready, for the loop to resume
        self._entries: dict[int, _Entry[_W]] = {}
        self._lock = threading.Lock()
        self._epoll: select.epoll | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_recv, self._wake_send = socket.socketpair()
        try:
            self._wake_recv.setblocking(False)
            self._wake_send.setblocking(False)
            self._wake_fd = self._wake_recv.fileno()
            if _HAS_EPOLL and not portable:
                self._epoll = select.epoll()
                self._epoll.register(self._wake_fd, select.EPOLLIN)
            else:
                self._selector = selectors.DefaultSelector()
                self._selector.register(self._wake_fd, READABLE, None)
        except BaseException:
            self.close()
            raise
        self._own_fd = self.fileno()  # its epoll's (or kqueue's): never a waiter's
        with _LIVE_LOCK:
            _LIVE.add(self)  # pyright: ignore[reportArgumentType]

    # ------------------------------------------------------------------ registrations

    def register(self, fd: int, events: int, waiter: _W) -> None:
        """Wake `waiter` when `fd` is ready for `events` (READABLE or WRITABLE), once.

        Raises BusyResourceError if another waiter waits for the same; the OSError of the system
        call for a descriptor that cannot be waited on (closed, or a regular file)."""
        if fd == self._wake_fd or fd == self._own_fd:
            raise ValueError(
                f"descriptor {fd} is the loop's own selector's (the number of a descriptor that "
                "was closed, and reused?)"
            )
        with self._lock:
            entry = self._entries.get(fd)
            if entry is None:
                entry = self._entries[fd] = _Entry()
            if (entry.reader if events == READABLE else entry.writer) is not None:
                raise BusyResourceError(
                    f"another coroutine is already waiting for descriptor {fd} to become "
                    f"{'readable' if events == READABLE else 'writable'}"
                )
            wanted = events | (READABLE if entry.reader is not None else 0)
            wanted |= WRITABLE if entry.writer is not None else 0
            try:
                self._arm(fd, entry, wanted)
            except OSError as error:  # `_arm` dropped the entry if it had no waiter
                direction = "readable" if events == READABLE else "writable"
                hint = {errno.EBADF: " (closed?)", errno.EPERM: " (a regular file?)"}
                raise OSError(
                    error.errno,
                    f"cannot wait for descriptor {fd} to become {direction}: "
                    f"{error.strerror}{hint.get(error.errno or 0, '')}",
                ) from None
            if events == READABLE:
                entry.reader = waiter
            else:
                entry.writer = waiter
            self.waiting += 1

    def withdraw(self, fd: int, events: int, waiter: _W) -> None:
        """Stop waiting (a cancelled or timed-out wait); nothing if `waiter` is not registered.

        With epoll, no system call: an armed registration with no waiter fires at most once
        and is then ignored. Elsewhere the registration is changed at once, as a level-triggered
        one with no waiter would wake the loop at every poll."""
        with self._lock:
            entry = self._entries.get(fd)
            if entry is None:
                return
            if events == READABLE and entry.reader is waiter:
                entry.reader = None
            elif events == WRITABLE and entry.writer is waiter:
                entry.writer = None
            else:
                return
            self.waiting -= 1
            if self._selector is not None:
                try:
                    self._rearm_portable(fd, entry)
                except (OSError, ValueError, KeyError):  # closed under us: wake the other one
                    self._fire_all(entry)
                    self._drop(fd)

    def _arm(self, fd: int, entry: _Entry[_W], wanted: int) -> None:
        epoll = self._epoll
        if epoll is not None:
            mask = _ONESHOT
            mask |= _EPOLL_READ if wanted & READABLE else 0
            mask |= _EPOLL_WRITE if wanted & WRITABLE else 0
            if entry.armed:
                try:
                    epoll.modify(fd, mask)
                    return
                except FileNotFoundError:
                    pass  # the kernel forgot it: closed, its number perhaps reused
            try:
                epoll.register(fd, mask)
            except FileExistsError:  # known to the kernel after all (an entry we had dropped)
                epoll.modify(fd, mask)
            except BaseException:
                if entry.reader is None and entry.writer is None:
                    del self._entries[fd]
                raise
            entry.armed = True
            return
        selector = self._selector
        assert selector is not None
        try:
            if entry.armed:
                selector.modify(fd, wanted, None)
            else:
                selector.register(fd, wanted, None)
                entry.armed = True
        except BaseException:
            if entry.reader is None and entry.writer is None:
                del self._entries[fd]
            raise

    def _rearm_portable(self, fd: int, entry: _Entry[_W]) -> None:
        """With `selectors`: register exactly the directions still waited on (or none)."""
        selector = self._selector
        assert selector is not None
        wanted = (READABLE if entry.reader is not None else 0) | (
            WRITABLE if entry.writer is not None else 0
        )
        if wanted:
            selector.modify(fd, wanted, None)
        else:
            del self._entries[fd]
            with contextlib.suppress(KeyError, ValueError, OSError):
                selector.unregister(fd)

    def closing(self, fd: int) -> list[_W]:
        """`fd` is about to be closed: drop its registration, and give its waiters."""
        with self._lock:
            entry = self._entries.pop(fd, None)
            if entry is None:
                return []
            waiters = [w for w in (entry.reader, entry.writer) if w is not None]
            self.waiting -= len(waiters)
            if entry.armed:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    if self._epoll is not None:
                        self._epoll.unregister(fd)
                    elif self._selector is not None:
                        self._selector.unregister(fd)
            return waiters

    # ------------------------------------------------------------------ blocking

    def select(self, timeout: float | None) -> None:
        """Wait at most `timeout` seconds (None: for ever) for a descriptor to become ready or
        a `wake`; add the waiters that are ready to `fired`, their registrations ended."""
        epoll = self._epoll
        if epoll is not None:
            # epoll counts in milliseconds, rounding up: a timer is never fired early.
            ready = epoll.poll(-1 if timeout is None else timeout)
            if not ready:
                return
            fired = self.fired
            with self._lock:
                for fd, mask in ready:
                    entry = self._entries.get(fd)
                    if entry is None:
                        if fd == self._wake_fd:
                            self._drain_wake()
                        continue
                    # One-shot: the kernel disarmed every direction of `fd`.
                    reader = entry.reader
                    writer = entry.writer
                    if reader is not None and mask & (_EPOLL_READ | _EPOLL_BOTH):
                        entry.reader = None
                        self.waiting -= 1
                        fired.append(reader)
                    if writer is not None and mask & (_EPOLL_WRITE | _EPOLL_BOTH):
                        entry.writer = None
                        self.waiting -= 1
                        fired.append(writer)
                    if entry.reader is not None or entry.writer is not None:
                        # The other direction is still waited on: arm it again.
                        again = READABLE if entry.reader is not None else 0
                        try:
                            self._arm(
                                fd, entry, again | (WRITABLE if entry.writer is not None else 0)
                            )
                        except OSError:  # closed under us: wake it too, its call will tell
                            self._fire_all(entry)
            return
        selector = self._selector
        assert selector is not None
        ready_keys = selector.select(timeout)
        fired = self.fired
        with self._lock:
            for key, mask in ready_keys:
                fd = key.fd
                if fd == self._wake_fd:
                    self._drain_wake()
                    continue
                entry = self._entries.get(fd)
                if entry is None:
                    continue
                reader = entry.reader
                writer = entry.writer
                if reader is not None and mask & READABLE:
                    entry.reader = None
                    self.waiting -= 1
                    fired.append(reader)
                if writer is not None and mask & WRITABLE:
                    entry.writer = None
                    self.waiting -= 1
                    fired.append(writer)
                try:
                    self._rearm_portable(fd, entry)
                except (OSError, ValueError, KeyError):  # closed under us: its call will tell
                    self._fire_all(entry)
                    self._drop(fd)

    def _fire_all(self, entry: _Entry[_W]) -> None:
        """Wake every waiter of `entry` (its registration could not be kept)."""
        for waiter in (entry.reader, entry.writer):
            if waiter is not None:
                self.waiting -= 1
                self.fired.append(waiter)
        entry.reader = entry.writer = None

    def _drop(self, fd: int) -> None:
        """Forget `fd` altogether (with `selectors`), whatever state it is in."""
        self._entries.pop(fd, None)
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(fd)

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_recv.recv(4096):
                pass

    def wake(self) -> None:
        """Make a `select` in progress (in another thread) return. Safe from any thread."""
        with contextlib.suppress(OSError):  # full (it is readable already), or closed
            self._wake_send.send(b"\0")

    def fileno(self) -> int | None:
        """A descriptor that becomes readable when one of ours is ready (for a driver that
        waits in another event loop), or None where the platform's selector has none."""
        if self._epoll is not None:
            return self._epoll.fileno()
        fileno = getattr(self._selector, "fileno", None)
        number: object = fileno() if callable(fileno) else None
        return number if isinstance(number, int) else None

    def close(self) -> None:
        """Release the system resources (idempotent). Waiters still registered are forgotten."""
        with _LIVE_LOCK:
            _LIVE.discard(self)  # pyright: ignore[reportArgumentType]
        self._entries.clear()
        self.waiting = 0
        if self._epoll is not None:
            self._epoll.close()
        if self._selector is not None:
            self._selector.close()
        self._wake_recv.close()
        self._wake_send.close()


class BorrowedSelector(Selector[_W]):
    """The place of the selector in a loop that puts its waits in another loop's (`lender`):
    it has no waits, never blocks and owns nothing, so the borrowing loop neither polls nor
    sleeps in it; its waits go to the lender's selector (`Wakeups.register`)."""

    def __init__(self, lender: Any) -> None:  # no super().__init__: nothing to open
        self.lender = lender
        self.waiting = 0
        self.blocking = False
        self.fired = []

    def select(self, timeout: float | None) -> None:
        return

    def wake(self) -> None:
        return

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        return


def notify_closing(fd: int | object) -> None:
    """Tell tinyio that a descriptor is about to be closed: call it just before closing one
    that a coroutine may be waiting on (`SocketStream.close`, `SocketListener.close` and the
    like do).

    Every coroutine waiting for it to become readable or writable (`tinyio.wait_readable`) is
    woken with `tinyio.ClosedResourceError`, and its registration is dropped, so that a new
    file given the same number later is never taken for this one. Safe to call from any
    thread, and for a descriptor nobody waits on.

    Arguments:
        fd: the descriptor, an `int` or an object with a `fileno()` method (a socket).

    Raises:
        TypeError, ValueError: `fd` is not a descriptor.
    """
    number = descriptor_of(fd, "notify_closing")
    with _LIVE_LOCK:
        selectors_now = list(_LIVE)
    for selector in selectors_now:
        for waiter in selector.closing(number):
            waiter.closing()


def descriptor_of(fd: object, caller: str) -> int:
    """The descriptor number of `fd` (an int, or an object with `fileno()`), else TypeError or
    ValueError naming `fd` and the function the user called."""
    number: object = fd
    if not isinstance(fd, int):
        fileno = getattr(fd, "fileno", None)
        if not callable(fileno):
            raise TypeError(
                f"{caller} needs a file descriptor: an int, or an object with a fileno() method "
                f"such as a socket; got {fd!r}."
            )
        number = fileno()
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"{caller} needs a file descriptor (an int), got {fd!r}.")
    if number < 0:
        raise ValueError(
            f"{caller} needs an open file descriptor, got {fd!r} (descriptor {number}: closed?)."
        )
    return number
