"""Telemetry snapshots stored once, referenced by the documents that carry them.

A task's ``telemetry_at_start`` / ``telemetry_at_end`` is a snapshot the sampler takes about once a second and
shares with every task of that second (~500 bytes each, twice per task: most of a task document). On write, each
distinct snapshot is stored in the sub-database ``snap`` under the 16-byte BLAKE2b digest of its msgpack bytes, and
the document holds a msgpack extension value (type ``SNAPSHOT_EXT``, the digest) in its place. On read, the
extension is replaced by a freshly decoded snapshot, so documents come out exactly as they went in (queries and
filters on telemetry fields see the values). Content addressing makes entries immutable: any process may cache them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgpack

from flowcept_core.plugin import StoreError

__all__ = [
    "SNAPSHOT_EXT",
    "SNAPSHOT_FIELDS",
    "JSON_REF_KEY",
    "SnapshotRefs",
    "ext_hook",
    "reading",
    "resolve_json_refs",
]

SNAPSHOT_EXT = 0x46
JSON_REF_KEY = "\x00snapshot"  # a snapshot reference in a JSON document (see _encoded)
SNAPSHOT_FIELDS = ("telemetry_at_start", "telemetry_at_end")
_CACHE_MAX = 4096  # packed snapshots kept per environment (each ~0.5 KB)
_ctx = threading.local()
_decode = functools.partial(msgpack.unpackb, raw=False, strict_map_key=False)


class SnapshotRefs:
    """One write batch's snapshots: swap() replaces them in a document by references; new holds what to store."""

    def __init__(self, pack: Callable[[dict, str, str], bytes], collection: str, id_field: str):
        self._pack = pack
        self._collection, self._id_field = collection, id_field
        self._seen: dict[int, tuple[dict, msgpack.ExtType]] = {}  # id(snapshot) -> (it, its reference)
        self._json: dict[int, tuple[dict, bytes]] = {}  # id(snapshot) -> (it, its reference as JSON)
        self.new: dict[bytes, bytes] = {}  # digest -> packed snapshot, to store

    def swap(self, doc: dict) -> dict:
        """doc, or a shallow copy of it with its snapshot dicts replaced by references."""
        start, end = doc.get("telemetry_at_start"), doc.get("telemetry_at_end")
        if type(start) is not dict and type(end) is not dict:
            return doc
        doc = doc.copy()
        if type(start) is dict:
            doc["telemetry_at_start"] = self._ref(start, doc)
        if type(end) is dict:
            doc["telemetry_at_end"] = end_ref = self._ref(end, doc)
            if start is end:
                doc["telemetry_at_start"] = end_ref
        return doc

    def _ref(self, snap: dict, doc: dict) -> msgpack.ExtType:
        entry = self._seen.get(id(snap))
        if entry is not None and entry[0] is snap:
            return entry[1]
        try:
            packed = self._pack(snap, self._collection, self._id_field)
        except StoreError as e:  # name the document, not the snapshot
            raise StoreError(f"{self._collection} document {self._id_field}={doc.get(self._id_field)!r} cannot be "
                             f"stored: its telemetry {str(e).split(' cannot be stored: ', 1)[-1]}") from None
        digest = hashlib.blake2b(packed, digest_size=16).digest()
        self.new[digest] = packed
        ref = msgpack.ExtType(SNAPSHOT_EXT, digest)
        self._seen[id(snap)] = (snap, ref)
        return ref

    def json_ref(self, snap: dict, doc: dict) -> bytes:
        """The JSON reference to snap for a JSON-encoded document (see _encoded)."""
        entry = self._json.get(id(snap))
        if entry is None or entry[0] is not snap:
            digest = self._ref(snap, doc).data
            entry = self._json[id(snap)] = (snap, b'{"\\u0000snapshot":"' + digest.hex().encode() + b'"}')
        return entry[1]

    def store(self, txn: Any, db: Any) -> None:
        """Put the batch's snapshots inside its write transaction (one already stored is left as it is)."""
        for digest, packed in self.new.items():
            txn.put(digest, packed, db=db, overwrite=False)


def ext_hook(code: int, data: bytes) -> Any:
    """msgpack's ext_hook for documents: a snapshot reference becomes the snapshot (read in the current
    transaction; see reading()); other extension values and references read outside one stay ExtType."""
    if code == SNAPSHOT_EXT:
        reader = getattr(_ctx, "reader", None)
        if reader is not None:
            return reader(data)
    return msgpack.ExtType(code, data)


def resolve_json_refs(doc: dict) -> dict:
    """A JSON-decoded document with its snapshot references replaced by the snapshots (inside reading(); outside
    one they stay references)."""
    reader = getattr(_ctx, "reader", None)
    if reader is not None:
        for field in SNAPSHOT_FIELDS:
            ref = doc.get(field)
            if type(ref) is dict and len(ref) == 1:
                digest = ref.get(JSON_REF_KEY)
                if type(digest) is str:
                    doc[field] = reader(bytes.fromhex(digest))
    return doc


@contextlib.contextmanager
def reading(txn: Any, db: Any, cache: dict[bytes, bytes]) -> Iterator[None]:
    """Documents decoded in this block (in this thread) get their snapshots from txn's ``snap`` database."""

    def read(digest: bytes) -> dict:
        packed = cache.get(digest)
        if packed is None:
            packed = txn.get(digest, db=db)
            if packed is None:
                raise StoreError(f"a stored document refers to telemetry snapshot {digest.hex()}, which is missing")
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[digest] = packed
        return _decode(packed)

    previous = getattr(_ctx, "reader", None)
    _ctx.reader = read
    try:
        yield
    finally:
        _ctx.reader = previous
