"""Creating files and directories only the owner can read: 0600 files, 0700 directories, whatever the umask.

Provenance holds arguments, results and host details, so everything flowcept creates (the buffer file, LMDB
environments, spill files, exports) is private by default. Called wherever flowcept creates a file or directory;
directories that already exist are left as they are (they belong to the user).

Example::

    make_private_dirs("out/run1")                 # creates out/ and out/run1/ as 0700
    with open_private("out/run1/export.jsonl") as f:
        f.write(b"...")                           # a 0600 file
"""

from __future__ import annotations

import os
from typing import IO

__all__ = ["FILE_MODE", "DIR_MODE", "make_private_dirs", "open_private", "make_private"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(path: str) -> None:
    """Create path and its missing parents as 0700 directories (existing ones keep their mode).

    Raises OSError like os.makedirs when a directory cannot be created; a directory created meanwhile by another
    process is fine.
    """
    path = os.path.abspath(path)
    missing = []
    while path and not os.path.exists(path):  # an existing file on the way makes mkdir raise NotADirectoryError
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue
        os.chmod(directory, DIR_MODE)  # mkdir applies the umask; chmod does not


def open_private(path: str, mode: str = "wb") -> IO[bytes]:
    """open(path, mode) for writing bytes ("wb" or "ab"), the file created or reset to 0600."""
    if mode not in ("wb", "ab"):
        raise ValueError(f"open_private mode={mode!r} is not supported; use 'wb' or 'ab'")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if mode == "wb" else os.O_APPEND)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def make_private(path: str) -> None:
    """chmod an existing file flowcept wrote (by a library that chose its own mode) to 0600; missing: ignored."""
    try:
        os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
