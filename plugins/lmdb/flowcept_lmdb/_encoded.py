"""Documents that arrive JSON-encoded: the default pipeline's direct writes (upsert_json), kept as JSON values.

The caller encoded each document once (orjson) without its telemetry snapshots and ``registered_at``, and gives that
JSON without its closing brace (its ``head``: bytes or a memoryview); the head is the document, with ``registered_at``
and the snapshots the document dict holds (it may hold only those, its id and its indexed fields). The stored value is
the head with ``registered_at`` and a reference per snapshot appended: ``{"\\u0000snapshot": "<digest>"}``,
the digest of the snapshot stored once in ``snap`` (the same entries msgpack documents refer to). A JSON value starts
with ``{``, which no msgpack document does, so both kinds live side by side and _codec.unpack tells them apart; on
read a reference becomes the snapshot again (see _snapshots.reading), so documents come out as they went in.
A document whose id is stored already is merged the usual way (write_batch), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from flowcept_core.plugin import ID_FIELDS
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._batch import _new_entries
from flowcept_lmdb._snapshots import SNAPSHOT_FIELDS, SnapshotRefs

__all__ = ["whole_document", "write_json_batch"]

_NONE = object()
_START, _END = (f',"{f}":'.encode() for f in SNAPSHOT_FIELDS)


def write_json_batch(
    txn: Any,
    db: Any,
    indexes: dict[str, Any],
    keys: list[bytes],
    docs: list[dict],
    heads: list[bytes | memoryview],
    pack: Callable[[dict, str, str], bytes],
    collection: str,
    snapshots: Any,
) -> list[int]:
    """Put the documents whose id is not stored yet (values built from heads), with their index entries and
    snapshots. Returns the positions of the others (stored before, or an id given twice), to merge the usual way."""
    cursor = txn.cursor(db=db)
    refs = SnapshotRefs(pack, collection, ID_FIELDS[collection])
    json_ref = refs.json_ref
    fresh: dict[bytes, dict] = {}
    puts: list[tuple[bytes, bytes]] = []
    again: list[int] = []
    join = b"".join
    # what follows the head: registered_at and the snapshot references, "}" (the same for every document of a batch
    # that shares its snapshots, as consecutive tasks mostly do)
    last: tuple[Any, Any, Any, bytes] = (_NONE, _NONE, _NONE, b"}")
    for i, (key, doc, head) in enumerate(zip(keys, docs, heads, strict=True)):
        if key in fresh:
            again.append(i)
            continue
        at, start, end = doc.get("registered_at"), doc.get("telemetry_at_start"), doc.get("telemetry_at_end")
        if at is not last[0] or start is not last[1] or end is not last[2]:
            parts = []
            if at is not None:
                parts += (b',"registered_at":', orjson.dumps(at))
            if type(start) is dict:
                parts += (_START, json_ref(start, doc))
            if type(end) is dict:
                parts += (_END, json_ref(end, doc))
            parts.append(b"}")
            last = (at, start, end, join(parts))
        puts.append((key, join((head, last[3]))))
        fresh[key] = doc
    puts.sort()  # in key order, consecutive writes land on the same pages
    # ids stored before are left as they are (no overwrite) and merged the usual way: found only when the count of
    # documents added falls short, so the common batch (every id new) needs no lookup first
    if cursor.putmulti(puts, dupdata=False, overwrite=False)[1] < len(puts):
        get = txn.get
        before = {key for key, value in puts if get(key, db=db) != value}
        again += (i for i, key in enumerate(keys) if key in before and fresh.pop(key, None) is not None)
        again.sort()
    refs.store(txn, snapshots)
    for field, idx in indexes.items():
        adds: dict[bytes, list[bytes]] = {}
        _new_entries(fresh, field, adds)
        if adds:
            postings.add(txn, idx, adds)
    return again


def whole_document(doc: dict, head: Any) -> dict:
    """The document given as doc and its head (see the module's doc), as one dict."""
    whole = orjson.loads(bytes(head) + b"}")
    for field in ("registered_at", *SNAPSHOT_FIELDS):
        if field in doc:
            whole[field] = doc[field]
    return whole
