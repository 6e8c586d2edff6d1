"""A bounded on-disk spill for batches the MQ refused (broker down): delivered in order once it is back.

File format: a sequence of frames ``<4-byte big-endian length><msgpack batch>``. Frames are appended and consumed from
the front (a read offset kept in memory; the file is deleted once empty). A spill file left by a process that died
is picked up by the next producer on the same host (``adopt_orphans``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from flowcept_core.logger import get_logger
from flowcept_core.private_files import make_private_dirs, open_private
from flowcept_core.wire import decode_batch, encode_batch

__all__ = ["Spill", "default_spill_dir", "orphan_spills"]

_LEN = struct.Struct(">I")


def default_spill_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".flowcept", "spill")


class Spill:
    """Batches waiting for the broker, on disk, at most max_bytes (what does not fit is counted as dropped)."""

    def __init__(self, directory: str, name: str, max_bytes: int):
        self.path = os.path.join(directory, f"{name}.{os.getpid()}.spill")
        self.directory = directory
        self.max_bytes = max_bytes
        self.pending_messages = 0
        self.dropped = 0
        self._size = 0
        self._read_at = 0

    @property
    def empty(self) -> bool:
        return self.pending_messages == 0

    def add(self, batch: list[dict]) -> bool:
        """Append a batch; False (and counted in dropped) when the spill is full or the disk refuses it."""
        payload = encode_batch(batch)
        frame = _LEN.pack(len(payload)) + payload
        from flowcept_core.packed import message_count

        n = message_count(batch)
        if self._size + len(frame) > self.max_bytes:
            self.dropped += n
            return False
        try:
            make_private_dirs(self.directory)  # 0700 / 0600: spilled batches hold captured values
            with open_private(self.path, "ab") as f:
                f.write(frame)
                f.flush()
        except OSError as e:
            get_logger().error(f"cannot spill {n} messages to {self.path}: {e}")
            self.dropped += n
            return False
        self._size += len(frame)
        self.pending_messages += n
        return True

    def peek(self) -> Iterator[tuple[int, list[dict]]]:
        """(end offset, batch) for each pending batch, oldest first, without consuming."""
        if self.empty:
            return
        with open(self.path, "rb") as f:
            f.seek(self._read_at)
            while True:
                head = f.read(_LEN.size)
                if len(head) < _LEN.size:
                    return
                (n,) = _LEN.unpack(head)
                payload = f.read(n)
                if len(payload) < n:
                    return  # a torn frame from a crash: nothing more to read
                yield f.tell(), decode_batch(payload)

    def consumed(self, end_offset: int, count: int) -> None:
        """Mark everything up to end_offset as delivered; remove the file once empty."""
        self._read_at = end_offset
        self.pending_messages -= count
        if self.pending_messages <= 0:
            self.pending_messages = 0
            self._size = 0
            self._read_at = 0
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass


def orphan_spills(directory: str, name: str) -> list[str]:
    """Spill files for name left by processes of this host that no longer run."""
    if not os.path.isdir(directory):
        return []
    out = []
    for fn in os.listdir(directory):
        if not (fn.startswith(f"{name}.") and fn.endswith(".spill")):
            continue
        try:
            pid = int(fn[len(name) + 1:-len(".spill")])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            out.append(os.path.join(directory, fn))
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
