"""tinyio: a tiny, fast and robust event loop, where coroutines are plain generators.

The public API is exactly what this module exports.
"""

from typing import TYPE_CHECKING

from ._as_completed import as_completed as as_completed
from ._cancel import cancel as cancel
from ._cancel import race as race
from ._core import BrokenResourceError as BrokenResourceError
from ._core import BusyResourceError as BusyResourceError
from ._core import CancelledError as CancelledError
from ._core import ClosedResourceError as ClosedResourceError
from ._core import Coro as Coro
from ._core import Loop as Loop
from ._core import notify_closing as notify_closing
from ._event import Event as Event
from ._executor import from_future as from_future
from ._executor import run_in_executor as run_in_executor
from ._integrations import from_asyncio as from_asyncio
from ._integrations import from_trio as from_trio
from ._integrations import to_asyncio as to_asyncio
from ._integrations import to_trio as to_trio
from ._io import wait_readable as wait_readable
from ._io import wait_writable as wait_writable
from ._isolate import copy as copy
from ._isolate import isolate as isolate
from ._named import named as named
from ._process import PipeReceiveStream as PipeReceiveStream
from ._process import PipeSendStream as PipeSendStream
from ._process import Process as Process
from ._process import open_process as open_process
from ._process import run_process as run_process
from ._queue import Queue as Queue
from ._queue import QueueShutDown as QueueShutDown
from ._settle import settle as settle
from ._socket import Socket as Socket
from ._socket import socket as socket
from ._streams import SocketListener as SocketListener
from ._streams import SocketStream as SocketStream
from ._streams import open_tcp_listeners as open_tcp_listeners
from ._streams import open_tcp_stream as open_tcp_stream
from ._streams import open_unix_stream as open_unix_stream
from ._streams import serve_listeners as serve_listeners
from ._streams import serve_tcp as serve_tcp
from ._sync import Barrier as Barrier
from ._sync import Condition as Condition
from ._sync import Lock as Lock
from ._sync import Semaphore as Semaphore
from ._thread import ThreadPool as ThreadPool
from ._thread import run_in_thread as run_in_thread
from ._time import TimeoutError as TimeoutError
from ._time import sleep as sleep
from ._time import timeout as timeout
from ._typed import gather as gather
from ._typed import wait as wait

__all__ = [
    "Barrier",
    "BrokenResourceError",
    "BusyResourceError",
    "CancelledError",
    "ClosedResourceError",
    "Condition",
    "Coro",
    "Event",
    "Lock",
    "Loop",
    "PipeReceiveStream",
    "PipeSendStream",
    "Process",
    "Queue",
    "QueueShutDown",
    "Semaphore",
    "Socket",
    "SocketListener",
    "SocketStream",
    "ThreadPool",
    "TimeoutError",
    "as_completed",
    "cancel",
    "copy",
    "from_asyncio",
    "from_future",
    "from_trio",
    "gather",
    "isolate",
    "named",
    "notify_closing",
    "open_process",
    "open_tcp_listeners",
    "open_tcp_stream",
    "open_unix_stream",
    "race",
    "run_in_executor",
    "run_in_thread",
    "run_process",
    "serve_listeners",
    "serve_tcp",
    "settle",
    "sleep",
    "socket",
    "timeout",
    "to_asyncio",
    "to_trio",
    "wait",
    "wait_readable",
    "wait_writable",
]

if TYPE_CHECKING:
    __version__: str
    """The installed release of tinyio, from the package metadata, e.g. `"0.5.0"`."""


def __getattr__(name: str) -> object:
    # `__version__` is looked up on first use: importing `importlib.metadata` costs more than
    # importing the whole of tinyio, and most programs never ask.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("tinyio")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'tinyio' has no attribute {name!r}")
