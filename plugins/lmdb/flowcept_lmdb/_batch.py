"""One upsert call inside its write transaction: stored documents read at once, merged, written with their index
entries at once (cursor getmulti / putmulti: C loops in py-lmdb)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from typing import Any

from flowcept_core.plugin import ID_FIELDS, merge_documents
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._codec import MAX_KEY, index_keys, unpack_all
from flowcept_lmdb._snapshots import SnapshotRefs

__all__ = ["write_batch"]

_first, _second = itemgetter(0), itemgetter(1)  # (key, value) -> key / value, in C


def write_batch(
    txn: Any,
    db: Any,
    indexes: dict[str, Any],
    batch: dict[bytes, dict],
    more: dict[bytes, list],
    pack: Callable[[dict, str, str], bytes],
    collection: str,
    snapshots: Any = None,
) -> None:
    """Read every stored document of batch (key -> first doc with that id; more: key -> all of them, in order,
    for ids sent several times) at once, merge, then write documents and index entries at once.

    The per-document steps (decode, merge, pack, index values) run through map() and comprehensions; documents
    are packed in the order their ids first appear (the first one that cannot be stored is the one named).
    """
    cursor = txn.cursor(db=db)
    stored = cursor.getmulti(list(batch))
    olds = dict(zip(map(_first, stored), unpack_all(list(map(_second, stored))), strict=True))
    if more:  # an id sent several times: fold its documents in order onto the stored one
        merged = [_fold(olds.get(key), more.get(key) or (doc,)) for key, doc in batch.items()]
    elif len(olds) == len(batch):  # all stored before (end messages on their start messages)
        merged = list(map(merge_documents, [olds[key] for key in batch], batch.values()))
    else:  # a new document is stored as sent: merge_documents(None, doc) would only copy it
        merged = [doc if (old := olds.get(key)) is None else merge_documents(old, doc) for key, doc in batch.items()]
    id_field = ID_FIELDS[collection]
    refs = None if snapshots is None else SnapshotRefs(pack, collection, id_field)
    puts = list(zip(batch, _pack_all(merged, pack, collection, id_field, refs), strict=True))
    if refs is not None:
        refs.store(txn, snapshots)
    adds: dict[str, dict[bytes, list[bytes]]] = {field: {} for field in indexes}
    if olds:
        if len(olds) == len(batch):
            fresh, kept = {}, (list(batch), [olds[key] for key in batch], merged)
        else:
            fresh = {key: doc for key, doc in zip(batch, merged, strict=True) if key not in olds}
            pairs = [(key, doc) for key, doc in zip(batch, merged, strict=True) if key in olds]
            kept = ([k for k, _ in pairs], [olds[k] for k, _ in pairs], [d for _, d in pairs])
        for field, idx in indexes.items():
            _moved_entries(txn, idx, field, kept, adds[field])
    else:
        fresh = dict(zip(batch, merged, strict=True))
    if fresh:
        for field in indexes:
            _new_entries(fresh, field, adds[field])
    puts.sort()  # in key order, consecutive writes land on the same pages
    cursor.putmulti(puts, dupdata=False, overwrite=True)
    for field, idx in indexes.items():
        if adds[field]:
            postings.add(txn, idx, adds[field])


def _pack_all(docs: list[dict], pack: Callable[[dict, str, str], bytes], collection: str, id_field: str,
              refs: SnapshotRefs | None) -> list:
    """[pack(doc) for doc in docs], with telemetry snapshots replaced by references to their one stored copy
    (refs; see _snapshots: each distinct snapshot is packed and hashed once per batch)."""
    if refs is None:
        return [pack(doc, collection, id_field) for doc in docs]
    swap = refs.swap
    return [pack(swap(doc), collection, id_field) for doc in docs]


def _fold(old: dict | None, news: Any) -> dict:
    """The stored document old (None: not stored) after every doc in news, in order."""
    merged = old
    for new in news:
        merged = merge_documents(merged, new)
    return merged  # type: ignore[return-value]


def _moved_entries(txn: Any, idx: Any, field: str, kept: tuple[list, list, list], adds: dict) -> None:
    """For documents stored before (keys, old documents, merged documents): take them out of the posting lists of
    field values the merge removed, and add them to adds (index key -> document keys) for the new ones."""
    keys, olds, merged = kept
    rep = repeat(field)
    if list(map(dict.get, olds, rep)) == list(map(dict.get, merged, rep)):
        return  # equal values have equal index keys (the usual merge: workflow_id sent again, or absent)
    gone: dict[bytes, set[bytes]] = {}
    for key, old, doc in zip(keys, olds, merged, strict=True):
        ov, nv = old.get(field), doc.get(field)
        if ov is nv or (type(ov) is type(nv) and ov == nv):
            continue
        before, after = index_keys(old, field), index_keys(doc, field)
        for ik in before - after:
            gone.setdefault(ik, set()).add(key)
        for ik in after - before:
            adds.setdefault(ik, []).append(key)
    if gone:
        postings.remove(txn, idx, gone)


def _new_entries(docs: dict[bytes, dict], field: str, adds: dict[bytes, list[bytes]]) -> None:
    """Add to adds (index key -> document keys) the entries of field for documents not stored before."""
    values = list(map(dict.get, docs.values(), repeat(field)))  # plain dicts only (upsert copies the others)
    try:
        distinct = set(values)
    except TypeError:  # a list value: each document on its own
        distinct = set()
    if len(distinct) == 1:  # the usual batch: one workflow, one campaign, one activity (or the field unset)
        (v,) = distinct
        if type(v) is str and 0 < len(b := v.encode("utf-8", "surrogatepass")) <= MAX_KEY:
            adds.setdefault(b, []).extend(docs)
            return
        if v is None:
            return
    for v, (key, d) in zip(values, docs.items(), strict=True):
        if v is not None:
            for ik in index_keys(d, field):
                adds.setdefault(ik, []).append(key)
