"""Give freed heap back to the kernel after a burst of allocation.

Loading a config, a first large nftables transaction (run in a worker thread, so in a malloc
arena of its own) and reloads allocate far more than stays in use. glibc keeps what was freed
in its arenas, so a child's resident size would stay at its peak for its whole life: with three
processes on a router that is most of the memory budget. ``malloc_trim`` returns the free
pages of every arena.
"""
from __future__ import annotations

import ctypes
import functools


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        # The C library this process already runs on: ctypes.util.find_library would run
        # ldconfig in a subprocess, on every process's start-up path.
        lib = ctypes.CDLL(None)
        lib.malloc_trim  # glibc only: musl and others have no arenas to trim
    except (OSError, AttributeError):
        return None
    return lib


def trim() -> bool:
    """Release free heap pages to the kernel; False where the C library cannot."""
    lib = _libc()
    if lib is None:
        return False
    return bool(lib.malloc_trim(0))
