"""Handing memory back between pipeline stages.

A Germany-size run holds about 1.3 GiB of parsed records for its whole length; every stage's own
structures come and go around them. Freed Python objects return to the allocator, but glibc keeps
freed heap pages mapped until it is asked to trim, so without `release_memory` the import (when
PostgreSQL is busiest too) still carried the match and problem stages' peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on another C library (musl, macOS): then nothing is trimmed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Collect garbage cycles and return the C heap's free pages to the operating system."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)
