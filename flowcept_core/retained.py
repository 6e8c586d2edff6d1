"""The messages a run keeps for ``get_buffer()`` and the buffer file, in memory that does not grow with the run.

Messages are encoded as JSONL as they drain (a telemetry snapshot shared by many messages is encoded once and
spliced in), held in memory up to ``_MEMORY_BYTES`` and then appended to a spool file. With
``project.dump_buffer.enabled`` the spool lies beside the buffer file and becomes it at stop (a rename, no copy);
otherwise it is a private temporary file removed with the run. ``get_buffer()`` decodes what was kept, so it gives
the same messages a reader of the buffer file gets.

Offline, the newest messages are kept unencoded, in a window bounded by their estimated memory (``_KEEP_BYTES``):
capture records that can be built again at any time, as records (flowcept_core.replay: each ``get_buffer()`` builds
fresh messages from them); messages of plain JSON values that share nothing with other messages (no telemetry
snapshot, tag list or metadata dict), as built and as their lines: ``get_buffer()`` hands those dicts over (once:
later calls decode their lines). What leaves the window, and the whole window when the lines are needed (a dump, the
buffer file, a message that is not kept so), is encoded after the lines before it: the order never changes.

Pinned messages (the workflow message, changed at stop) are written padded with spaces, so their final version is
written over them in place; one that outgrew its room is spliced in when the messages are read or written out.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque

from flowcept_core.appender import Appender
from flowcept_core.logger import get_logger
from flowcept_core.plain_json import loads as _loads
from flowcept_core.plain_json import plain_copy
from flowcept_core.replay import Replay, drain_kept
from flowcept_core.retained_lines import encode_lines, record_lines
from flowcept_core.serialize import dumps_line

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Retained", "encode_lines", "drain_kept"]  # drain_kept: see flowcept_core.replay

_PAD = 512  # room left after a pinned line for the fields it gets at stop (ended_at, status, a short stderr)
_FILE_MODE = 0o600
_MEMORY_BYTES = 4 << 20  # encoded messages held in memory before they go to the spool file
_KEEP_BYTES = 64 << 20  # estimated memory of the window kept unencoded (a plain task: ~280 B as a record, ~1 KB as
# a dict and its line)
_DICT_FACTOR = 4  # memory of a message kept as built and as its line, per byte of its line
_READ_BYTES = 1 << 18  # spool bytes decoded at a time
_CHUNK = 256  # messages encoded at a time


class Retained:
    """The encoded messages of one run: in memory, then in a spool file. The run calls it under its drain lock."""

    def __init__(self, spool_dir: str | None = None):
        self.count = 0
        self.spool_dir = spool_dir
        self.spool_path: str | None = None
        self._fd: int | None = None
        self._writer: Appender | None = None  # writes to _fd
        self._size = 0  # bytes in the spool file
        self._buf = bytearray()  # bytes not in the file yet
        self._fragments: dict[int, tuple[dict, Any]] = {}
        self._pinned: dict[int, tuple[dict, dict]] = {}  # id(msg) -> (msg, its latest version), until encoded
        self._pins: dict[int, tuple[int, int]] = {}  # id(original) -> (offset, room) of its padded line
        self._stale: dict[int, dict] = {}  # offset -> new version that did not fit its room
        self._lock = threading.Lock()
        self._finalizer: Any = None
        self.replay = Replay()  # builders of records kept as they are (flowcept_core.replay)
        self._tail: deque[list] = deque()  # the window kept unencoded, oldest first: [kind, x, y, estimated memory]
        # with kind "r" (x builds the messages of the flat records y), "d" (messages x as built, their lines y), "l"
        # (lines y of messages handed over as built) or "p" (the pinned message x, its latest version in _pinned)
        self._tail_bytes = 0

    # adding -----------------------------------------------------------------------------------------------------
    def add(self, batch: list[dict], exact: bool = False) -> None:
        """Encode and keep batch (called by the drain); the spool file takes over past _MEMORY_BYTES.

        exact: every message of batch is a fresh dict of plain JSON values that nothing else holds; they are kept
        as built as well (handed to get_buffer instead of their decoded lines) unless the encoder refused one."""
        with self._lock:
            self.count += len(batch)
            if len(batch) == 1 and self._pinned.get(id(batch[0]), (None,))[0] is batch[0]:
                self._keep(["p", batch[0], None, 0])  # encoded when it leaves the window (offline: maybe never)
                return
            if exact and not self._pinned:
                lines = bytearray()
                if not encode_lines(batch, lines, self._fragments):
                    self._keep(["d", batch, lines, _DICT_FACTOR * len(lines)])
                    return
                self._settle()
                self._buf += lines
            else:
                self._settle()
                if not self._pinned:
                    encode_lines(batch, self._buf, self._fragments)
                else:
                    for msg in batch:
                        pinned = self._pinned.get(id(msg))
                        if pinned is not None and pinned[0] is msg:
                            self._add_pinned(msg)
                        else:
                            encode_lines([msg], self._buf, self._fragments)
            if len(self._buf) >= _MEMORY_BYTES:
                self._flush()

    def add_records(self, build: Any, flat: list, count: int, size: int) -> None:
        """Keep count capture records (flat) as they are, with the function that builds their messages (into a
        list: build(flat, out)); size: their estimated memory (see flowcept_core.replay)."""
        with self._lock:
            self.count += count
            self._keep(["r", build, flat, size])

    def add_encoded(self, pieces: list, count: int) -> None:
        """Keep count messages given as the pieces of their JSONL lines (bytes-like; encoded by the drain, none of
        them pinned). Past _MEMORY_BYTES they go to the spool file (joined, written by its writer thread)."""
        with self._lock:
            self.count += count
            self._settle()
            if self._fd is None and len(self._buf) < _MEMORY_BYTES:
                self._buf += b"".join(pieces)
                if len(self._buf) >= _MEMORY_BYTES:
                    self._flush()
            else:
                self._flush(create=True)  # what is in memory goes first (and the spool file is opened)
                block = b"".join(pieces)  # one write on the appender's thread (see flowcept_core.appender)
                self._writer.append(block)
                self._size += len(block)

    def _keep(self, segment: list) -> None:
        """Add segment to the window kept unencoded; the oldest leave it (encoded) past _KEEP_BYTES."""
        self._tail.append(segment)
        self._tail_bytes += segment[3]
        while self._tail_bytes > _KEEP_BYTES and self._tail:
            self._encode(self._tail.popleft())

    def _settle(self) -> None:
        """Encode the whole window kept unencoded (what is added next, or a dump, comes after it)."""
        if self._tail:
            from flowcept_core.gcpause import gc_paused

            with gc_paused():  # acyclic dicts, dropped segment by segment
                for segment in self._tail:
                    self._encode(segment)
            self._tail, self._tail_bytes = deque(), 0

    def _encode(self, segment: list) -> None:
        kind, x, y, size = segment
        self._tail_bytes -= size
        if kind == "p":
            self._add_pinned(x)
            return
        for block in record_lines(x, y) if kind == "r" else (y,):
            self._keep_lines(block)

    def _keep_lines(self, block: Any) -> None:
        """Keep encoded lines (block is not changed afterwards): a large block goes to the spool as it is."""
        if len(block) < _MEMORY_BYTES >> 2:
            self._buf += block
            if len(self._buf) >= _MEMORY_BYTES:
                self._flush()
        else:
            self._flush(create=True)  # what is in memory goes first (and the spool file is opened)
            self._writer.append(block)
            self._size += len(block)

    def _add_pinned(self, msg: dict) -> None:
        """The pinned msg's latest version, written padded: its final version is written over it in place."""
        line = dumps_line(self._pinned.pop(id(msg), (msg, msg))[1])
        self._pins[id(msg)] = (self._size + len(self._buf), len(line) + _PAD)
        self._buf += line[:-1] + b" " * _PAD + b"\n"

    def pin(self, msg: dict) -> None:
        """msg changes later (replace()): it is written with room to be overwritten in place."""
        with self._lock:
            self._pinned[id(msg)] = (msg, msg)

    def _flush(self, create: bool = False) -> None:
        if not self._buf and not (create and self._fd is None):
            return
        if self._fd is None:
            import tempfile

            directory = self.spool_dir or tempfile.gettempdir()
            from flowcept_core.private_files import make_private_dirs

            make_private_dirs(directory)  # a directory created here is 0700
            fd, path = tempfile.mkstemp(prefix=".flowcept-buffer-", suffix=".jsonl.part", dir=directory)
            os.fchmod(fd, _FILE_MODE)
            self._fd, self.spool_path, self._writer = fd, path, Appender(fd, direct=True)
            self._finalizer = weakref.finalize(self, _remove, fd, path, self._writer)
        self._writer.append(self._buf)  # replaced below, never changed again
        self._size += len(self._buf)
        self._buf = bytearray()

    # changing ---------------------------------------------------------------------------------------------------
    def replace(self, original: dict, new: dict) -> None:
        """The kept copy of the pinned message original becomes new (original is never mutated: it may be in a
        consumer's hands). No effect for a message that was not pinned or not added yet."""
        with self._lock:
            pinned = self._pinned.get(id(original))
            if pinned is not None and pinned[0] is original:  # not added yet: it is encoded as new when it is
                self._pinned[id(original)] = (original, new)
                return
            if id(original) not in self._pins:
                return
            offset, room = self._pins[id(original)]
            line = dumps_line(new)
            if len(line) > room:
                self._stale[offset] = new
                return
            self._stale.pop(offset, None)
            padded = line[:-1] + b" " * (room - len(line)) + b"\n"
            if offset >= self._size:
                self._buf[offset - self._size:offset - self._size + room] = padded
            else:
                self._writer.write_at(padded, offset)

    # reading and writing out ---------------------------------------------------------------------------------------
    def messages(self) -> list[dict]:
        """Every kept message, as a reader of the buffer file gets them: decoded, except those kept as built,
        which are handed over (the next call decodes them)."""
        from flowcept_core.gcpause import gc_paused
        from flowcept_core.value_sharing import ValueSharer

        with self._lock:
            out: list[dict] = []
            loads, share = _loads, ValueSharer()
            with gc_paused(promote=True):  # only new, acyclic dicts; promoted at the end
                for body in self._bodies(self._size + len(self._buf)):
                    # one line per message, no blank lines: the body of a JSON array (padding is whitespace)
                    msgs = loads(b"[" + body.replace(b"\n", b",") + b"]")
                    share(msgs)
                    out += msgs
                for segment in self._tail:
                    kind, x, y = segment[0], segment[1], segment[2]
                    if kind == "r":
                        x(y, out)  # fresh dicts each time
                    elif kind == "p":  # what its line would give
                        latest = self._pinned[id(x)][1]
                        msg = plain_copy(latest)
                        out.append(msg if msg is not None else loads(dumps_line(latest)))
                    elif kind == "d":  # handed over: the caller may change them, later calls read their lines
                        out += x
                        segment[0], segment[1] = "l", None
                    else:
                        msgs = loads(b"[" + bytes(y).rstrip(b"\n").replace(b"\n", b",") + b"]")
                        share(msgs)
                        out += msgs
            for offset, new in self._stale.items():  # rare: a pinned message that outgrew its room
                out[self._line_index(offset)] = dict(new)
        return out

    def _bodies(self, end: int) -> Any:
        """The bytes of the lines before offset end (a line boundary), in blocks of whole lines without their last
        newline: the spool file's, then those in memory."""
        pos, rest = 0, b""
        if self._writer is not None:
            self._writer.sync()
        while pos < min(end, self._size):  # through the open descriptor: the path may be gone or replaced
            read = os.pread(self._fd, min(_READ_BYTES, min(end, self._size) - pos), pos)
            if not read:
                break
            block, pos = rest + read, pos + len(read)
            cut = block.rfind(b"\n")
            rest = block[cut + 1 :]
            if cut > 0:
                yield block[:cut]
        if end > self._size:
            body = bytes(rest + self._buf[: end - self._size]).rstrip(b"\n")
            if body:
                yield body

    def _readable_path(self) -> str:
        """The spool through its open descriptor where the system offers that (Linux): the path may have been
        removed or replaced since stop (by the user, or by another run dumping to the same path)."""
        by_fd = f"/proc/self/fd/{self._fd}"
        return by_fd if os.path.exists(by_fd) else self.spool_path

    def _line_index(self, offset: int) -> int:
        head = b""
        if self._size:
            self._writer.sync()
            with open(self._readable_path(), "rb") as f:
                head = f.read(min(offset, self._size))
        return head.count(b"\n") + self._buf[: max(offset - self._size, 0)].count(b"\n")

    def write_to(self, path: str, final: bool = False) -> int:
        """Write every kept message to path as JSONL (overwriting it). Returns the count.

        final (at stop): the spool itself becomes path by a rename when it lies beside it; the run reads its
        messages from path afterwards. Otherwise (dump_buffer) the window kept unencoded is encoded into path
        (see _write_window), not written to the spool and read back.
        """
        with self._lock:
            if final:
                self._settle()
            if self._writer is not None:
                self._writer.sync()
            directory = os.path.dirname(os.path.abspath(path))
            if final and not self._stale and (self.spool_dir is not None
                                              and os.path.abspath(self.spool_dir) == directory):
                self._flush(create=True)  # nothing kept: still an (empty) file
                self._writer.sync()
                os.replace(self.spool_path, path)
                self.spool_path = path
                if self._finalizer is not None:
                    self._finalizer.detach()
                self._finalizer = weakref.finalize(self, _close, self._fd)
                return self.count
            import tempfile

            fd, tmp = tempfile.mkstemp(prefix=".flowcept-buffer-", suffix=".jsonl.tmp", dir=directory)
            try:
                os.fchmod(fd, _FILE_MODE)
                with os.fdopen(fd, "wb") as out:
                    self._copy_to(out)
                    if self._tail:  # after the lines encoded before them
                        out.flush()
                        self._write_window(fd)
                os.replace(tmp, path)
            except BaseException:
                _remove(None, tmp)
                raise
            return self.count

    def _write_window(self, fd: int) -> None:
        """Append the lines of the window kept unencoded to the file fd, written on a writer thread while the next
        block is encoded (through the page cache: a dump is usually read soon). When the buffer file is written at
        stop (spool_dir set), they are kept encoded too and the window is emptied: encoded once for both files."""
        writer, settle, failed = Appender(fd), self.spool_dir is not None, None
        try:
            for segment in list(self._tail) if settle else self._tail:
                kind, x, y = segment[0], segment[1], segment[2]
                lines = (dumps_line(self._pinned[id(x)][1]),) if kind == "p" else (y,)
                for block in record_lines(x, y) if kind == "r" else lines:
                    if failed is None:
                        try:
                            writer.append(block)
                        except OSError as e:  # raised below: the window is settled all the same
                            failed = e
                    if settle and kind != "p":
                        self._keep_lines(block)
                if settle:
                    if kind == "p":
                        self._add_pinned(x)
                    self._tail.popleft()
                    self._tail_bytes -= segment[3]
            writer.close()
        finally:
            writer.close(wait=False)
        if failed is not None:
            raise failed

    def _copy_to(self, out: Any) -> None:
        if not self._stale:
            if self._size:
                out.flush()
                done = 0
                while done < self._size:  # in the kernel, no copy through Python
                    sent = os.sendfile(out.fileno(), self._fd, done, self._size - done)
                    if sent == 0:
                        break
                    done += sent
            out.write(self._buf)
            return
        pos = 0

        def lines() -> Any:  # streamed: the spool may be large
            if self._size:
                with open(self._readable_path(), "rb") as src:
                    yield from src
            yield from bytes(self._buf).splitlines(keepends=True)

        for line in lines():
            new = self._stale.get(pos)
            out.write(dumps_line(new) if new is not None else line)
            pos += len(line)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _remove(fd: int | None, path: str, writer: Appender | None = None) -> None:
    if writer is not None:
        try:
            writer.sync()  # the descriptor is not closed under its thread
        except OSError:
            pass
    if fd is not None:
        _close(fd)
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        get_logger().warning(f"could not remove the buffer spool {path}: {e}")
