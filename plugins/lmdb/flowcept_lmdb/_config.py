"""The databases.lmdb.* settings, read and checked once when a store is built."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from flowcept_core.plugin import StoreError

__all__ = ["LMDBConfig", "read_config", "prepare_directory", "DEFAULT_MAP_SIZE", "DEFAULT_MAX_MAP_SIZE"]

GIB = 1 << 30
DEFAULT_MAP_SIZE = GIB
DEFAULT_MAX_MAP_SIZE = 64 * GIB
DEFAULT_MAX_READERS = 126
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 10**6,
    "mb": 10**6,
    "mib": 1 << 20,
    "g": 10**9,
    "gb": 10**9,
    "gib": GIB,
    "t": 10**12,
    "tb": 10**12,
    "tib": 1 << 40,
}


@dataclass(frozen=True)
class LMDBConfig:
    """What the store needs: the directory (absolute), and the environment's size and reader limits."""

    path: str
    raw_path: str
    map_size: int
    max_map_size: int
    max_readers: int


def _size(key: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif (
        isinstance(value, str)
        and (m := re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", value))
        and m.group(2).lower() in _UNITS
    ):
        n = int(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        raise StoreError(
            f"databases.lmdb.{key}={value!r}: expected a size in bytes (an integer) or a string such as "
            f"'512MiB' or '2GiB'"
        )
    if n <= 0:
        raise StoreError(f"databases.lmdb.{key}={value!r}: must be greater than 0")
    return n


def read_config(settings: Any) -> LMDBConfig:
    """The checked databases.lmdb settings; StoreError naming the key and value when one is wrong."""
    section = settings.section("databases").get("lmdb") or {}
    raw = section.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise StoreError(f"databases.lmdb.path={raw!r}: give the directory that holds the LMDB files")
    map_size = _size("map_size", section.get("map_size"), DEFAULT_MAP_SIZE)
    max_map = _size("max_map_size", section.get("max_map_size"), max(DEFAULT_MAX_MAP_SIZE, map_size))
    if max_map < map_size:
        raise StoreError(
            f"databases.lmdb.max_map_size={section.get('max_map_size')!r} is smaller than "
            f"databases.lmdb.map_size={section.get('map_size')!r}"
        )
    readers = section.get("max_readers", DEFAULT_MAX_READERS)
    readers = DEFAULT_MAX_READERS if readers is None else readers
    if not isinstance(readers, int) or isinstance(readers, bool) or readers < 1:
        raise StoreError(f"databases.lmdb.max_readers={readers!r}: expected a positive integer")
    path = os.path.abspath(os.path.expanduser(raw))
    return LMDBConfig(path, raw, map_size, max_map, readers)


def prepare_directory(cfg: LMDBConfig) -> None:
    """Create the directory if missing; StoreError naming databases.lmdb.path when it is a file or not writable."""
    where = f"databases.lmdb.path={cfg.raw_path!r}"
    if os.path.exists(cfg.path) and not os.path.isdir(cfg.path):
        raise StoreError(f"{where}: is a file, not a directory (LMDB needs a directory for data.mdb and lock.mdb)")
    from flowcept_core.plugin import make_private_dirs

    try:
        make_private_dirs(cfg.path)  # 0700 (data.mdb and lock.mdb are 0600): the store holds captured values
    except OSError as e:
        raise StoreError(f"{where}: cannot create the directory ({type(e).__name__}: {e.strerror or e})") from None
    if not os.access(cfg.path, os.W_OK | os.X_OK):
        raise StoreError(f"{where}: not writable (PermissionError)")
    for name in ("data.mdb", "lock.mdb"):
        f = os.path.join(cfg.path, name)
        if os.path.exists(f) and not os.access(f, os.R_OK | os.W_OK):
            raise StoreError(f"{where}: {name} is not writable (PermissionError)")
