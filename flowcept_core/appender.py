"""Appending large blocks to a file on a background thread.

Copying bytes into new page-cache pages is kernel time the encoding thread would otherwise wait for: on virtual
machines that hand freed memory back to their host, 2-3 ns a byte (seconds for the ~1.4 GB buffer file of a
1M-task run with telemetry). An Appender takes whole blocks and writes them in order on its own thread while the
caller encodes the next; at most ``depth`` blocks wait, so memory stays bounded and a caller faster than the disk is
held back.

``direct=True`` (a regular file on Linux): blocks go past the page cache (``O_DIRECT``), through one reused,
page-aligned staging area, so a large file costs no new page-cache memory at all (a 1.4 GB file: ~0.7 s of device
time against ~3.5 s of kernel time). Direct writes need whole, aligned pages: what a block leaves of a page is written
through the page cache and written again, with what follows, by the next block; so after each block the file holds
every byte appended, as with plain writes. Where the file system refuses direct writes (tmpfs), plain writes are
used. After a fork, parent and child append through their own ``O_APPEND`` descriptors (neither knows where the
other's bytes end).

A failed write (a full disk) is raised by the next ``append`` or ``sync``; blocks after a failed one are dropped. The
thread ends after a second without blocks (and starts again with the next).
"""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections import deque

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Appender"]

_ALIGN = 4096  # direct writes: offsets, lengths and memory in whole pages (covers 512-byte and 4K devices)
_STAGE = 4 << 20  # the staging area of direct writes
_IDLE_S = 1.0
_REFUSED = {errno.EINVAL, getattr(errno, "EOPNOTSUPP", errno.EINVAL), getattr(errno, "ENOTSUP", errno.EINVAL)}
_forks = [0]  # forks of this process so far (a direct appender's offsets are its own only until one)


def _count_fork() -> None:
    _forks[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_parent=_count_fork)


class Appender:
    """Writes appended blocks to fd, in order, on one daemon thread (started with the first block)."""

    def __init__(self, fd: int, depth: int = 2, direct: bool = False):
        self.fd = fd
        self._depth = depth
        self._blocks: deque = deque()
        self._cond = threading.Condition(threading.Lock())
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._want_direct = direct and hasattr(os, "O_DIRECT")
        self._direct: _Direct | None = None  # opened by the thread, with the first block
        self._append_fd: int | None = None  # after a fork: this process' O_APPEND descriptor
        self._fds: list[int] = []  # descriptors this appender opened (closed with it)
        self._closing = weakref.finalize(self, _close_fds, self._fds)

    def append(self, block: Any) -> None:
        """Queue block (bytes-like, not changed afterwards) to be written after those queued before it."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            self._raise_error()
            while len(self._blocks) >= self._depth:
                self._cond.wait()
                self._raise_error()
            self._blocks.append(block)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flowcept-buffer-writer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def sync(self) -> None:
        """Wait until every queued block is written (raises the write error, if one happened)."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._cond:
            while self._blocks:
                self._cond.wait()
            self._raise_error()

    def close(self, wait: bool = True) -> None:
        """End the thread and close the descriptors this appender opened (not fd), once the queued blocks are
        written (wait=False: only the one being written, the others are dropped). Raises a write error as sync does
        (wait=False: never)."""
        with self._cond:
            if not wait:
                while len(self._blocks) > 1:
                    self._blocks.pop()
        try:
            self.sync()
        except OSError:
            if wait:
                raise
        finally:
            with self._cond:
                self._cond.notify_all()  # the idle thread wakes up and ends
            self._closing()

    def write_at(self, data: bytes, offset: int) -> None:
        """Write data over the file's bytes at offset, after every queued block (it changes bytes appended before:
        the caller appends nothing meanwhile)."""
        self.sync()
        direct = self._direct
        if direct is not None:  # the staging area holds the last, partial page: it is written again from there
            direct.patch(data, offset)
        _pwrite_all(self.fd, memoryview(data), offset)

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is not here, and its lock may have been held at the fork. What
        was queued is the parent's to write; this process starts afresh."""
        self._blocks = deque()
        self._cond = threading.Condition(threading.Lock())
        self._error, self._thread, self._pid = None, None, os.getpid()
        self._direct, self._append_fd = None, None
        self._closing.detach()  # the descriptors are the parent's copies: closed with this process
        self._fds = []
        self._closing = weakref.finalize(self, _close_fds, self._fds)
        if self._want_direct:
            self._want_direct = False
            self._append_fd = self._open(os.O_APPEND)

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        cond, blocks = self._cond, self._blocks
        while True:
            with cond:
                if not blocks:
                    cond.wait(_IDLE_S)
                    if not blocks:  # idle: this thread ends (the next append starts another)
                        self._thread = None
                        return
                block = blocks[0]
            try:
                self._write(block)
            except OSError as e:
                with cond:
                    self._error = e
                    blocks.clear()
                    cond.notify_all()
                continue
            with cond:
                if blocks and blocks[0] is block:
                    blocks.popleft()
                cond.notify_all()

    def _write(self, block: Any) -> None:
        if self._want_direct:
            if self._direct is None:
                self._direct = _Direct.open(self)
                if self._direct is None:
                    self._want_direct = False
                    return self._write(block)
            if self._direct.forks == _forks[0]:
                self._direct.write(block)
                return
            self._want_direct = False  # forked since: appended at the end, like the child's blocks
            self._direct = None
            self._append_fd = self._open(os.O_APPEND)
        _write_all(self._append_fd if self._append_fd is not None else self.fd, block)

    def _open(self, flags: int) -> int:
        """Another descriptor of fd's file (closed with this appender)."""
        fd = os.open(f"/proc/self/fd/{self.fd}", os.O_WRONLY | os.O_CLOEXEC | flags)
        self._fds.append(fd)
        return fd


class _Direct:
    """Direct writes of one appender: the file's bytes [pos, pos + fill) are in the staging area."""

    def __init__(self, owner: Appender, dfd: int, stage: Any, pos: int, fill: int):
        self.fd, self.dfd, self.forks = owner.fd, dfd, _forks[0]
        self.stage, self.view = stage, memoryview(stage)
        self.pos, self.fill = pos, fill

    @classmethod
    def open(cls, owner: Appender) -> _Direct | None:
        """Direct writes to owner's file from its end, or None where the system or file system has none."""
        import mmap
        import stat

        try:
            if not stat.S_ISREG(os.fstat(owner.fd).st_mode):
                return None
            dfd = owner._open(os.O_DIRECT)
        except OSError:
            return None
        end = os.lseek(owner.fd, 0, os.SEEK_END)
        pos = end - end % _ALIGN
        stage = mmap.mmap(-1, _STAGE)  # page-aligned; reused for the whole file
        head = os.pread(owner.fd, end - pos, pos) if end > pos else b""
        stage[: len(head)] = head
        return cls(owner, dfd, stage, pos, len(head))

    def write(self, block: Any) -> None:
        src = memoryview(block)
        n, i, stage, view = len(src), 0, self.stage, self.view
        while i < n:
            take = min(_STAGE - self.fill, n - i)
            stage[self.fill : self.fill + take] = src[i : i + take]
            self.fill += take
            i += take
            if self.fill == _STAGE:
                self._put(_STAGE)
        whole = self.fill - self.fill % _ALIGN
        if whole:
            self._put(whole)
        if self.fill:  # the last, partial page: through the page cache (the next block writes it again)
            _pwrite_all(self.fd, view[: self.fill], self.pos)
        src.release()

    def patch(self, data: bytes, offset: int) -> None:
        """The file's bytes at offset are changed to data: so are those in the staging area."""
        start, end = max(offset, self.pos), min(offset + len(data), self.pos + self.fill)
        if start < end:
            self.stage[start - self.pos : end - self.pos] = data[start - offset : end - offset]

    def _put(self, size: int) -> None:
        """Write the staging area's first size bytes (whole pages) past the page cache; keep what follows."""
        if self.dfd is not None:
            try:
                _pwrite_all(self.dfd, self.view[:size], self.pos)
            except OSError as e:
                if e.errno not in _REFUSED:
                    raise
                self.dfd = None  # refused (a file system without direct writes): plain writes from now on
        if self.dfd is None:
            _pwrite_all(self.fd, self.view[:size], self.pos)
        self.stage.move(0, size, self.fill - size)
        self.pos += size
        self.fill -= size


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _write_all(fd: int, block: Any) -> None:
    view = memoryview(block)
    while view:  # a short write (a signal, a nearly full disk): the rest
        view = view[os.write(fd, view) :]
    view.release()


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
