"""Keeping the pages of the LMDB map from piling up in this process's resident memory.

LMDB reads through a shared read-only memory map of ``data.mdb``. Every page a write transaction looks at (the
B-tree path to where new documents go, the posting lists) stays mapped in this process afterwards, so a long run's
resident set grew by about 50 MB per million stored tasks although nothing in the process used those pages again.
After every ``_TRIM_BYTES`` the file grew, the mapped ranges of ``data.mdb`` are released with
``madvise(MADV_DONTNEED)``: the pages stay in the kernel's page cache (a later read maps them back without I/O) and
LMDB's data is untouched. Linux only; elsewhere, or if anything about it fails, nothing is done.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

__all__ = ["ResidentTrim"]

_TRIM_BYTES = 64 << 20
_MADV_DONTNEED = 4


class ResidentTrim:
    """Called after each write transaction of an environment (after_write); trims when the file grew enough."""

    def __init__(self, directory: str):
        self.data_file = os.path.realpath(os.path.join(directory, "data.mdb"))
        self._enabled = sys.platform.startswith("linux")
        self._trimmed_at = self._size()
        self._lock = threading.Lock()
        self._madvise: Any = None

    def _size(self) -> int:
        try:
            return os.stat(self.data_file).st_size
        except OSError:
            return 0

    def after_write(self) -> None:
        if not self._enabled:
            return
        size = self._size()
        if size - self._trimmed_at < _TRIM_BYTES:
            return
        with self._lock:
            self._trimmed_at = size
            try:
                self.trim()
            except Exception:  # an optimisation only: never fail a write over it
                self._enabled = False

    def trim(self) -> int:
        """Release this process's mappings of data.mdb; returns how many bytes of ranges were advised."""
        if self._madvise is None:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            self._madvise = libc.madvise
        advised = 0
        with open("/proc/self/maps") as maps:
            for line in maps:
                if not line.rstrip().endswith(self.data_file):
                    continue
                start, end = (int(x, 16) for x in line.split(None, 1)[0].split("-"))
                if self._madvise(start, end - start, _MADV_DONTNEED) == 0:
                    advised += end - start
        return advised
