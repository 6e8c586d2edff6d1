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

from collections.abc import Callable, Iterable
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from flowcept_core.plugin import ID_FIELDS
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._batch import _new_entries
from flowcept_lmdb._codec import index_keys
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
    runs: Iterable[tuple[dict, list[bytes], list[bytes]]] = (),
) -> list[tuple[bytes, dict, Any]]:
    """Put the documents whose id is not stored yet (values built from heads), with their index entries and
    snapshots. runs: (shared, keys, heads) of documents that share every field besides their id and head (shared
    holds those fields, without the id): their values and index entries are made run by run, not document by
    document. Returns (key, document, head) of the others (stored before, or an id given twice), to merge the usual
    way."""
    cursor = txn.cursor(db=db)
    refs = SnapshotRefs(pack, collection, ID_FIELDS[collection])
    fresh: dict[bytes, dict] = {}
    puts: list[tuple[bytes, bytes]] = []
    again: list[tuple[int, bytes, dict, Any]] = []  # (position, key, document, head): merged in the order given
    join = b"".join
    # what follows the head: registered_at and the snapshot references, "}" (the same for every document of a batch
    # that shares its snapshots, as consecutive tasks mostly do)
    last: tuple[Any, Any, Any, bytes] = (_NONE, _NONE, _NONE, b"}")
    for i, (key, doc, head) in enumerate(zip(keys, docs, heads, strict=True)):
        if key in fresh:
            again.append((i, key, doc, head))
            continue
        at, start, end = doc.get("registered_at"), doc.get("telemetry_at_start"), doc.get("telemetry_at_end")
        if at is not last[0] or start is not last[1] or end is not last[2]:
            last = (at, start, end, _tail(doc, refs))
        puts.append((key, join((head, last[3]))))
        fresh[key] = doc
    runs = list(runs)
    for shared, run_keys, run_heads in runs:  # C loops: a value per document, the tail made once
        puts += zip(run_keys, map(join, zip(run_heads, repeat(_tail(shared, refs)), strict=False)), strict=True)
    puts.sort()  # in key order, consecutive writes land on the same pages
    # ids stored before are left as they are (no overwrite) and merged the usual way: found only when the count of
    # documents added falls short, so the common batch (every id new) needs no lookup first
    if cursor.putmulti(puts, dupdata=False, overwrite=False)[1] < len(puts):
        get = txn.get
        before = {key for key, value in puts if get(key, db=db) != value}
        again += ((i, k, d, heads[i]) for i, (k, d) in enumerate(zip(keys, docs, strict=True))
                  if k in before and fresh.pop(k, None) is not None)
        again.sort(key=itemgetter(0))
        id_field, n = ID_FIELDS[collection], len(keys)
        for r, (shared, run_keys, run_heads) in enumerate(runs):
            if not before.isdisjoint(run_keys):
                again += ((n, k, {**shared, id_field: k.decode("utf-8", "surrogatepass")}, h)
                          for k, h in zip(run_keys, run_heads, strict=True) if k in before)
                runs[r] = (shared, [k for k in run_keys if k not in before], run_heads)
    refs.store(txn, snapshots)
    for field, idx in indexes.items():
        adds: dict[bytes, list[bytes]] = {}
        _new_entries(fresh, field, adds)
        for shared, run_keys, _ in runs:  # one value for the whole run
            for ik in index_keys(shared, field):
                adds.setdefault(ik, []).extend(run_keys)
        if adds:
            postings.add(txn, idx, adds)
    return [entry[1:] for entry in again]


def _tail(doc: dict, refs: SnapshotRefs) -> bytes:
    """What follows a document's head: its registered_at and snapshot references, and its closing brace."""
    at, start, end = doc.get("registered_at"), doc.get("telemetry_at_start"), doc.get("telemetry_at_end")
    parts = []
    if at is not None:
        parts += (b',"registered_at":', orjson.dumps(at))
    if type(start) is dict:
        parts += (_START, refs.json_ref(start, doc))
    if type(end) is dict:
        parts += (_END, refs.json_ref(end, doc))
    parts.append(b"}")
    return b"".join(parts)


def whole_document(doc: dict, head: Any) -> dict:
    """The document given as doc and its head (see the module's doc), as one dict."""
    whole = orjson.loads(bytes(head) + b"}")
    for field in ("registered_at", *SNAPSHOT_FIELDS):
        if field in doc:
            whole[field] = doc[field]
    return whole
