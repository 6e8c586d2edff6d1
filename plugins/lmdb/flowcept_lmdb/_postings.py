"""Secondary indexes as posting lists: an indexed value's document keys in chunks, one LMDB entry per chunk.

Sub-database ``ix:<collection>:<field>``: key = index key (_codec.lookup_key of the value) + 0x00 + 4-byte big-endian
chunk number, value = msgpack list of document keys. A write batch adds one chunk per distinct value (tasks of one
workflow share workflow_id, campaign_id and activity_id), so indexing costs a few puts per batch instead of one B-tree
insert per document and field; the last chunk of a value is topped up while it is small, so trickling batches do not
leave a long tail of tiny chunks. Removing keys (a merge that changed an indexed field, a delete) rewrites the chunks
that hold them.

A chunk key is its value's index key plus exactly 5 bytes; a scan checks the length, so a value whose key happens to
start with another value's key plus 0x00 is never mistaken for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

__all__ = ["add", "remove", "lookup", "SUFFIX"]

SUFFIX = 5  # 0x00 + 4-byte chunk number
_TOP_UP_BELOW = 256  # the last chunk is extended while it holds fewer keys than this
_MAX_CHUNK = 4096  # keys per chunk at most (bounds what removing one key rewrites)
_LAST = b"\x00\xff\xff\xff\xff"


def _chunks(cursor: Any, ik: bytes) -> Iterable[tuple[bytes, bytes]]:
    """(chunk key, packed keys) of ik, in chunk order."""
    prefix = ik + b"\x00"
    want = len(ik) + SUFFIX
    if not cursor.set_range(prefix):
        return
    for key, raw in cursor:
        if not key.startswith(prefix):
            return
        if len(key) == want:
            yield key, raw


def _last_chunk(cursor: Any, ik: bytes) -> tuple[bytes | None, int]:
    """(key of ik's last chunk or None, its number or -1)."""
    prefix = ik + b"\x00"
    want = len(ik) + SUFFIX
    found = cursor.set_range(ik + _LAST)
    # set_range lands on the first key >= ik+_LAST (or nowhere): step back over longer keys sharing the prefix
    if found:
        if cursor.key() == ik + _LAST:
            return ik + _LAST, 0xFFFFFFFF
        found = cursor.prev()
    else:
        found = cursor.last()
    while found:
        key = cursor.key()
        if not key.startswith(prefix):
            return None, -1
        if len(key) == want:
            return key, int.from_bytes(key[-4:], "big")
        found = cursor.prev()
    return None, -1


def add(txn: Any, db: Any, entries: dict[bytes, list[bytes]]) -> None:
    """Append document keys to each index key's posting list (a key listed twice is read back once)."""
    cursor = txn.cursor(db=db)
    puts = []
    for ik, keys in entries.items():
        if not keys:
            continue
        last, number = _last_chunk(cursor, ik)
        if last is not None:
            held = msgpack.unpackb(cursor.value())
            if len(held) < _TOP_UP_BELOW:
                keys = held + keys
                number -= 1  # rewrite the last chunk
        for start in range(0, len(keys), _MAX_CHUNK):
            number += 1
            if number > 0xFFFFFFFF:
                raise OverflowError(f"index key {ik[:40]!r}: too many chunks")
            puts.append((ik + b"\x00" + number.to_bytes(4, "big"), msgpack.packb(keys[start : start + _MAX_CHUNK])))
    if puts:
        puts.sort()
        cursor.putmulti(puts, dupdata=False, overwrite=True)


def remove(txn: Any, db: Any, entries: dict[bytes, set[bytes]]) -> None:
    """Take document keys out of each index key's posting list (chunks left empty are deleted)."""
    cursor = txn.cursor(db=db)
    for ik, doomed in entries.items():
        if not doomed:
            continue
        rewrites = []
        for key, raw in _chunks(cursor, ik):
            held = msgpack.unpackb(raw)
            kept = [k for k in held if k not in doomed]
            if len(kept) != len(held):
                rewrites.append((key, kept))
        for key, kept in rewrites:
            if kept:
                txn.put(key, msgpack.packb(kept), db=db)
            else:
                txn.delete(key, db=db)


def lookup(txn: Any, db: Any, ik: bytes) -> list[bytes]:
    """The document keys listed under ik, unique, in key order."""
    cursor = txn.cursor(db=db)
    out: list[bytes] = []
    for _, raw in _chunks(cursor, ik):
        out.extend(msgpack.unpackb(raw))
    return sorted(set(out))
