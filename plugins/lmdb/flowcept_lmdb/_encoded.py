"""Documents that arrive JSON-encoded: the default pipeline's direct writes (upsert_json), kept as JSON values.

The caller encoded each document once (orjson) without its telemetry snapshots and ``registered_at``; the stored
value is that JSON with ``registered_at`` and a reference per snapshot appended: ``{"\\u0000snapshot": "<digest>"}``,
the digest of the snapshot stored once in ``snap`` (the same entries msgpack documents refer to). A JSON value starts
with ``{``, which no msgpack document does, so both kinds live side by side and _codec.unpack tells them apart; on
read a reference becomes the snapshot again (see _snapshots.reading), so documents come out as they went in.
A document whose id is stored already is merged the usual way (write_batch), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import orjson

from flowcept_core.plugin import ID_FIELDS
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._batch import _new_entries
from flowcept_lmdb._snapshots import SNAPSHOT_FIELDS, SnapshotRefs

__all__ = ["write_json_batch"]

_first = itemgetter(0)
_START, _END = (f',"{f}":'.encode() for f in SNAPSHOT_FIELDS)


def write_json_batch(
    txn: Any,
    db: Any,
    indexes: dict[str, Any],
    keys: list[bytes],
    docs: list[dict],
    bodies: list[bytes],
    pack: Callable[[dict, str, str], bytes],
    collection: str,
    snapshots: Any,
) -> list[int]:
    """Put the documents whose id is not stored yet (values built from bodies), with their index entries and
    snapshots. Returns the positions of the others (stored before, or an id given twice), to merge the usual way."""
    cursor = txn.cursor(db=db)
    stored = cursor.getmulti(keys)
    taken = set(map(_first, stored))
    refs = SnapshotRefs(pack, collection, ID_FIELDS[collection])
    json_ref = refs.json_ref
    registered: dict[Any, bytes] = {}
    fresh: dict[bytes, dict] = {}
    puts: list[tuple[bytes, bytes]] = []
    again: list[int] = []
    for i, (key, doc, body) in enumerate(zip(keys, docs, bodies, strict=True)):
        if key in taken or key in fresh:
            again.append(i)
            continue
        parts = [body[:-1]]
        at = doc.get("registered_at")
        if at is not None:
            enc = registered.get(at)
            if enc is None:
                enc = registered[at] = b',"registered_at":' + orjson.dumps(at)
            parts.append(enc)
        start, end = doc.get("telemetry_at_start"), doc.get("telemetry_at_end")
        if type(start) is dict:
            parts += (_START, json_ref(start, doc))
        if type(end) is dict:
            parts += (_END, json_ref(end, doc))
        parts.append(b"}")
        puts.append((key, b"".join(parts)))
        fresh[key] = doc
    refs.store(txn, snapshots)
    for field, idx in indexes.items():
        adds: dict[bytes, list[bytes]] = {}
        _new_entries(fresh, field, adds)
        if adds:
            postings.add(txn, idx, adds)
    puts.sort()  # in key order, consecutive writes land on the same pages
    cursor.putmulti(puts, dupdata=False, overwrite=True)
    return again
