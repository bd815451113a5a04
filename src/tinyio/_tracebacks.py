"""Which code is tinyio's own: its frames are left out of the tracebacks and reports a user
reads, so that they show the user's coroutines as a call stack."""

from __future__ import annotations

import os
from typing import Final

__all__ = ["is_library_code"]

_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TOUR: Final = _PACKAGE_DIR + "__main__.py"  # user-level example code, though shipped with us


def is_library_code(filename: str) -> bool:
    """Whether code from `filename` is tinyio's own (hidden from tracebacks and reports)."""
    return filename.startswith(_PACKAGE_DIR) and filename != _TOUR
