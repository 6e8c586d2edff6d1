"""The write path of MongoDBStore: read-merge-replace upserts, all or nothing per call (see flowcept_mongodb.store).

MergingWrites is a base of MongoDBStore; it uses the store's ``config``, ``_collection``, ``_failure``,
``_write_lock`` and ``_max_bson``.
"""

from __future__ import annotations

from typing import Any

import bson
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import DeleteOne, ReplaceOne
from pymongo.errors import BulkWriteError, PyMongoError

from flowcept_core.plugin import COLLECTIONS, ID_FIELDS, StoreError, StoreUnavailableError, merge_documents
from flowcept_mongodb.lineage import note_written

__all__ = ["MergingWrites"]

_DUPLICATE_KEY = 11000
_RACE_RETRIES = 3


class MergingWrites:
    """Upserts that merge each document with the stored one of the same id (flowcept_core's merge rules)."""

    def upsert(self, collection: str, docs: list[dict]) -> None:
        """Merge docs into the stored documents with the same id; all or nothing per call.

        Several docs with the same id in one call merge in order. Raises StoreError for a document that cannot be
        stored (no id, a value BSON cannot encode, too large), StoreUnavailableError when the server is down.
        """
        coll = self._collection(collection)
        batch = _merge_batch(collection, docs)
        if not batch:
            return
        with self._write_lock:
            for attempt in range(_RACE_RETRIES):
                try:
                    self._upsert_once(collection, coll, batch)
                    return
                except _DuplicateIdRace:
                    if attempt == _RACE_RETRIES - 1:
                        raise StoreError(
                            f"{collection}: concurrent inserts of the same ids kept conflicting "
                            f"after {_RACE_RETRIES} attempts; nothing of this call was written"
                        ) from None

    def _upsert_once(self, collection: str, coll: Any, batch: dict[Any, dict]) -> None:
        id_field = ID_FIELDS[collection]
        try:
            existing = {d[id_field]: d for d in coll.find({id_field: {"$in": list(batch)}})}
        except PyMongoError as e:
            raise self._failure(e, f"reading {len(batch)} {collection} documents to merge") from None
        # Every write targets one _id: the stored document's, or a fresh ObjectId for a new document (also put in
        # the document, since some servers ignore the filter's _id on upsert). So a failed call can be undone
        # exactly (_restore), and a concurrent insert of the same new id hits the unique index instead of being
        # silently replaced.
        ops, written = [], {}
        for ident, new in batch.items():
            old = existing.get(ident)
            oid = old.pop("_id") if old is not None else ObjectId()
            merged = merge_documents(old, new)
            body = merged if old is not None else {"_id": oid, **merged}
            ops.append(ReplaceOne({"_id": oid}, self._encode(collection, id_field, ident, body), upsert=True))
            written[oid] = old
        # Race (another process, or a second store on the same database): a writer that read the same old version
        # of a document between our read and our write has its merge replaced by ours, or ours by theirs (lost
        # update). In one process the write lock prevents it; across processes the DocumentInserters share one
        # persistence group, so one task's messages are normally merged by one consumer. Two first inserts of the
        # same id collide on the unique index (databases.mongodb.create_collection_index): the call is undone and
        # retried (re-read, merge), so neither is lost.
        try:
            coll.bulk_write(ops, ordered=False)
        except BulkWriteError as e:
            self._restore(coll, written)
            errors = e.details.get("writeErrors", [])
            if errors and all(err.get("code") == _DUPLICATE_KEY for err in errors):
                raise _DuplicateIdRace() from None
            first = errors[0].get("errmsg", "") if errors else e.details.get("writeConcernErrors")
            err = StoreUnavailableError if e.details.get("writeConcernErrors") else StoreError
            raise err(
                f"{self.config.location()}: upsert of {len(ops)} {collection} documents refused "
                f"({self.config.scrub(str(first))[:300]}); nothing of this call was kept"
            ) from None
        except PyMongoError as e:
            restored = self._restore(coll, written)
            failure = self._failure(e, f"upsert of {len(ops)} {collection} documents")
            if not restored:
                failure.args = (
                    failure.args[0] + "; the server may have applied part of the batch: retrying it "
                    "gives the same documents (merging a message twice changes nothing)",
                )
            raise failure from None
        if collection == "tasks":
            note_written(self, list(batch))

    def _encode(self, collection: str, id_field: str, ident: Any, doc: dict) -> RawBSONDocument:
        """BSON-encode doc now, so a value MongoDB cannot store fails the call before anything is written."""
        try:
            raw = bson.encode(doc)
        except (bson.errors.InvalidDocument, OverflowError, TypeError, ValueError) as e:
            raise StoreError(
                f"{collection} document {id_field}={ident!r} cannot be stored in MongoDB "
                f"({type(e).__name__}: {e}); nothing of this call was written"
            ) from None
        if len(raw) > self._max_bson:
            raise StoreError(
                f"{collection} document {id_field}={ident!r} is {len(raw)} bytes as BSON, over the "
                f"server's limit of {self._max_bson}; nothing of this call was written"
            )
        return RawBSONDocument(raw)

    def _restore(self, coll: Any, written: dict[ObjectId, dict | None]) -> bool:
        """Put back what a failed bulk_write may have changed, by _id (old version, or no document); False if that
        failed too (server gone)."""
        ops: list[Any] = []
        for oid, old in written.items():
            ops.append(DeleteOne({"_id": oid}) if old is None else ReplaceOne({"_id": oid}, old, upsert=True))
        try:
            coll.bulk_write(ops, ordered=False)
            return True
        except PyMongoError:
            return False


class _DuplicateIdRace(Exception):
    """Another writer inserted one of the batch's new ids between our read and our write."""


def _merge_batch(collection: str, docs: list[dict]) -> dict[Any, dict]:
    """{id: merged doc} for one upsert call, in first-seen order; StoreError before anything is written when a doc
    is not a dict or lacks its id."""
    if collection not in ID_FIELDS:
        raise StoreError(f"collection={collection!r} is not one of {list(COLLECTIONS)}")
    if not isinstance(docs, (list, tuple)):
        raise StoreError(f"upsert({collection!r}, docs): docs must be a list of dicts, got {type(docs).__name__}")
    id_field = ID_FIELDS[collection]
    batch: dict[Any, dict] = {}
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise StoreError(
                f"{collection} document #{i} is a {type(doc).__name__}, not a dict; nothing of this call was written"
            )
        ident = doc.get(id_field)
        if ident is None or ident == "" or isinstance(ident, (dict, list)):
            raise StoreError(
                f"{collection} document #{i} has {id_field}={ident!r}: every document needs a "
                f"non-empty scalar {id_field}; nothing of this call was written"
            )
        batch[ident] = merge_documents(batch.get(ident), doc)
    return batch
