"""One upsert call inside its write transaction: stored documents read at once, merged, written with their index
entries at once (cursor getmulti / putmulti: C loops in py-lmdb)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from typing import Any

from flowcept_core.documents import ID_FIELDS, merge_documents
from flowcept_lmdb._codec import MAX_KEY, index_keys, unpack_all

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
    puts = list(zip(batch, map(pack, merged, repeat(collection), repeat(ID_FIELDS[collection])), strict=True))
    adds: dict[Any, list[tuple[bytes, bytes]]] = {idx: [] for idx in indexes.values()}
    if olds:
        if len(olds) == len(batch):
            fresh, kept = {}, (list(batch), [olds[key] for key in batch], merged)
        else:
            fresh = {key: doc for key, doc in zip(batch, merged, strict=True) if key not in olds}
            pairs = [(key, doc) for key, doc in zip(batch, merged, strict=True) if key in olds]
            kept = ([k for k, _ in pairs], [olds[k] for k, _ in pairs], [d for _, d in pairs])
        for field, idx in indexes.items():
            _moved_entries(txn, idx, field, kept, adds[idx])
    else:
        fresh = dict(zip(batch, merged, strict=True))
    if fresh:
        for field, idx in indexes.items():
            adds[idx].extend(_new_entries(fresh, field))
    puts.sort()  # in key order, consecutive writes land on the same pages
    cursor.putmulti(puts, dupdata=False, overwrite=True)
    for idx, entries in adds.items():
        if entries:
            entries.sort()
            txn.cursor(db=idx).putmulti(entries, dupdata=True)


def _fold(old: dict | None, news: Any) -> dict:
    """The stored document old (None: not stored) after every doc in news, in order."""
    merged = old
    for new in news:
        merged = merge_documents(merged, new)
    return merged  # type: ignore[return-value]


def _moved_entries(txn: Any, idx: Any, field: str, kept: tuple[list, list, list], adds: list) -> None:
    """For documents stored before (keys, old documents, merged documents): delete the index entries of field
    that the merge removed, add the new ones to adds."""
    keys, olds, merged = kept
    rep = repeat(field)
    if list(map(dict.get, olds, rep)) == list(map(dict.get, merged, rep)):
        return  # equal values have equal index keys (the usual merge: workflow_id sent again, or absent)
    for key, old, doc in zip(keys, olds, merged, strict=True):
        ov, nv = old.get(field), doc.get(field)
        if ov is nv or (type(ov) is type(nv) and ov == nv):
            continue
        before, after = index_keys(old, field), index_keys(doc, field)
        for ik in before - after:
            txn.delete(ik, key, db=idx)
        adds.extend((ik, key) for ik in after - before)


def _new_entries(docs: dict[bytes, dict], field: str) -> list[tuple[bytes, bytes]]:
    """(index key, document key) pairs of field for documents not stored before, built in comprehensions."""
    values = list(map(dict.get, docs.values(), repeat(field)))  # plain dicts only (upsert copies the others)
    try:
        distinct = set(values)
    except TypeError:  # a list value: each document on its own
        own = {}
    else:  # few distinct values (one workflow_id per batch): encode each once
        own = {v: b for v in distinct if type(v) is str and 0 < len(b := v.encode("utf-8", "surrogatepass")) <= MAX_KEY}
    entries = [(own[v], key) for v, key in zip(values, docs, strict=True) if v in own] if own else []
    if len(entries) + values.count(None) < len(values):  # numbers, lists, empty or long strings
        for v, (key, d) in zip(values, docs.items(), strict=True):
            if v is not None and (type(v) is not str or v not in own):
                entries.extend((ik, key) for ik in index_keys(d, field))
    return entries
