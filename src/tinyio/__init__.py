"""tinyio: a tiny, fast and robust event loop, where coroutines are plain generators.

The public API is exactly what this module exports.
"""

from ._event import Event as Event
from ._loop import CancelledError as CancelledError
from ._loop import Coro as Coro
from ._loop import Loop as Loop
from ._time import sleep as sleep

__all__ = ["CancelledError", "Coro", "Event", "Loop", "sleep"]
