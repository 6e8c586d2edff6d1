"""Writing a batch of documents to every store, isolating the documents a store refuses.

A store error is either about the store (StoreUnavailableError, OSError: the server is down, the disk is full) and
the whole batch is kept for retry, or about the documents (a value the store cannot encode, a document too large).
For the latter, write_isolating() first sets aside the documents msgpack cannot encode (the usual culprits) and writes
the rest at once; when that does not explain the failure, it splits the batch in halves until the refused documents
are alone. It stores every other document and hands each refused one back with the store's error, for the caller
to dead-letter.
"""

from __future__ import annotations

from typing import Any

import msgpack

from flowcept_core.stores import StoreUnavailableError

__all__ = ["is_transient", "write_isolating"]


def is_transient(err: BaseException) -> bool:
    """True when err says the store is unavailable (retry later), False when it is about the documents."""
    return isinstance(err, (StoreUnavailableError, OSError))


def write_isolating(stores: list[Any], coll: str, docs: list[dict],
                    refuse_all: bool = False) -> list[tuple[dict, BaseException]]:
    """Upsert docs into every store; returns the documents every attempt refused, with the error.

    Called by the DocumentInserter when it flushes. Raises the store's error when it is transient (nothing is
    known to be refused; the caller retries the batch). A batch that fails is split in halves, each written on
    its own, recursively: with one bad document among n, about log2(n) extra writes store everything else.
    When every one of several documents is refused, the store more likely has a problem of its own (closed,
    misconfigured): the first error is raised for a retry, unless refuse_all (the caller retried enough).
    """
    try:
        _upsert_all(stores, coll, docs)
        return []
    except Exception as e:
        if is_transient(e):
            raise
        first = e
    refused: list[tuple[dict, BaseException]] = []
    suspects = _unpackable(docs)
    if suspects and len(suspects) < len(docs):
        # the likely culprits first (one write for the rest, one try each): halving costs a write per level
        skip = set(suspects)
        _write_or_bisect(stores, coll, [d for i, d in enumerate(docs) if i not in skip], refused)
        for i in suspects:
            _write_or_bisect(stores, coll, [docs[i]], refused)
    else:
        _bisect(stores, coll, docs, first, refused)
    if len(refused) == len(docs) > 1 and not refuse_all:
        raise first
    return refused


def _unpackable(docs: list[dict]) -> list[int]:
    """Positions of the documents msgpack refuses (the usual reason a store refuses one): a chunk at a time, and
    document by document only inside a chunk that fails."""
    packer = msgpack.Packer(use_bin_type=True)
    out: list[int] = []
    for start in range(0, len(docs), _SCAN_CHUNK):
        chunk = docs[start:start + _SCAN_CHUNK]
        try:
            packer.pack(chunk)
            continue
        except Exception:
            pass
        for i, doc in enumerate(chunk, start):
            try:
                packer.pack(doc)
            except Exception:
                out.append(i)
    return out


_SCAN_CHUNK = 256


def _write_or_bisect(stores: list[Any], coll: str, docs: list[dict], refused: list) -> None:
    try:
        _upsert_all(stores, coll, docs)
    except Exception as e:
        if is_transient(e):
            raise
        _bisect(stores, coll, docs, e, refused)


def _bisect(stores: list[Any], coll: str, docs: list[dict], err: BaseException,
            refused: list[tuple[dict, BaseException]]) -> None:
    if len(docs) == 1:
        refused.append((docs[0], err))
        return
    mid = len(docs) // 2
    for half in (docs[:mid], docs[mid:]):
        try:
            _upsert_all(stores, coll, half)
        except Exception as e:
            if is_transient(e):
                raise
            _bisect(stores, coll, half, e, refused)


def _upsert_all(stores: list[Any], coll: str, docs: list[dict]) -> None:
    for store in stores:
        store.upsert(coll, docs)
