"""MongoDBStore: the flowcept Store protocol on MongoDB (pymongo).

Layout: one database (databases.mongodb.db) with collections tasks, workflows, objects, agents; one document per id
(flowcept_core.documents.ID_FIELDS), with a unique index on the id field and plain indexes on the keys queries pin
(tasks: workflow_id, campaign_id, parent_task_id, activity_id; workflows: campaign_id, parent_workflow_id).

Writes are read-merge-replace: the documents of a batch are read with one find($in), merged in Python with
flowcept_core.documents.merge_documents, and written back with one unordered bulk_write of ReplaceOne(upsert=True)
per document.
A server-side update ($set/$min/$max) cannot express those rules (dict fields merged key by key, a terminal status
that a late RUNNING must not reopen, ERROR beating FINISHED), and every store must end with identical documents
for the same message stream: the LMDB store merges the same way, with the same function.

Queries are evaluated one of two ways, chosen once when the store opens (databases.mongodb.native_queries, see
flowcept_mongodb.native): natively, the server gets the whole filter, sort, limit and projection and computes
aggregations with a pipeline; otherwise it gets only the part of a filter every MongoDB-compatible server evaluates
alike and Python finishes the query (flowcept_mongodb.query_plan). "auto" is native on real MongoDB only, because
wire-compatible servers differ from MongoDB's (and flowcept_core.filters') semantics on many edge cases.
"""

from __future__ import annotations

import threading
from typing import Any

import bson
import pymongo
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from flowcept_core.plugin import (
    COLLECTIONS,
    ID_FIELDS,
    FilterError,
    StoreError,
    StoreUnavailableError,
    sort_documents,
)
from flowcept_core.plugin import aggregate as aggregate_documents
from flowcept_mongodb.config import SERVER_SELECTION_TIMEOUT_MS, MongoDBConfig
from flowcept_mongodb.lineage import create_lineage_index, tasks_by_entity
from flowcept_mongodb.native import is_mongodb, native_filter, native_find, plan_group
from flowcept_mongodb.query_plan import filter_fields, plan_find
from flowcept_mongodb.writes import MergingWrites

__all__ = ["MongoDBStore", "INDEXED_FIELDS"]

# Plain (non-unique) indexes besides the unique one on each id field. Created with default names and ascending
# direction: wire-compatible servers (NX-27017) drop custom names/directions, so nothing relies on them.
INDEXED_FIELDS = {
    "tasks": ("workflow_id", "campaign_id", "parent_task_id", "activity_id"),
    "workflows": ("campaign_id", "parent_workflow_id"),
    "objects": (),
    "agents": (),
    "dead_letters": ("task_id",),
}
# Server error codes meaning "not now" (retry later): shutdown, step-down, network, out of disk space.
_TEMPORARY_CODES = frozenset({6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436, 14031})


class MongoDBStore(MergingWrites):
    """A flowcept store on one MongoDB database; safe to share between threads (pymongo's client is thread-safe,
    and upserts of this process are serialized so a read-merge-replace is not interleaved with another)."""

    name = "mongodb"

    def __init__(self, settings: Any):
        self.config = MongoDBConfig.from_settings(settings)
        self._write_lock = threading.Lock()
        self._closed = False
        args, kwargs = self.config.client_args()
        try:
            self._client: pymongo.MongoClient = pymongo.MongoClient(*args, **kwargs)
        except (ConfigurationError, ValueError, TypeError) as e:
            raise StoreError(f"{self.config.location()}: {self._describe(e)}") from None
        try:
            hello = self._client.admin.command("hello")
            self._max_bson = int(hello.get("maxBsonObjectSize", 16 * 1024 * 1024))
            self._db = self._client[self.config.db]
            self._native = self._decide_native()
            if self.config.create_collection_index:
                self._create_indexes()
        except ConnectionFailure as e:
            self._client.close()
            raise StoreUnavailableError(
                f"{self.config.location()}: no MongoDB server answered within {SERVER_SELECTION_TIMEOUT_MS // 1000} s "
                f"({self._describe(e)})"
            ) from None
        except PyMongoError as e:
            self._client.close()
            raise StoreError(
                f"{self.config.location()}, databases.mongodb.db={self.config.db!r}: {self._describe(e)}"
            ) from None

    # -- setup -------------------------------------------------------------------------------------------------
    @property
    def native(self) -> bool:
        """Whether the server evaluates whole queries and aggregations (decided once, when the store opened)."""
        return self._native

    def _decide_native(self) -> bool:
        """databases.mongodb.native_queries, with "auto" resolved by asking the server what it is (buildInfo); a
        server that does not answer buildInfo is not taken for MongoDB."""
        mode = self.config.native_queries
        if isinstance(mode, bool):
            return mode
        try:
            return is_mongodb(self._client.admin.command("buildInfo"))
        except PyMongoError:
            return False

    def _create_indexes(self) -> None:
        for coll in COLLECTIONS:
            try:
                self._db[coll].create_index(ID_FIELDS[coll], unique=True)
            except OperationFailure as e:
                raise StoreError(
                    f"databases.mongodb.db={self.config.db!r}: cannot create the unique index on {coll}."
                    f"{ID_FIELDS[coll]} ({self._describe(e)}); remove the duplicates or set "
                    "databases.mongodb.create_collection_index: false"
                ) from None
            for key in INDEXED_FIELDS[coll]:
                self._db[coll].create_index(key)
        create_lineage_index(self._db)

    def _describe(self, e: BaseException) -> str:
        """'ErrorClass: message' with credentials scrubbed and pymongo's long server lists cut."""
        text = str(e).split(", Timeout:")[0].split(", full error:")[0]
        return self.config.scrub(f"{type(e).__name__}: {text}")[:500]

    def _collection(self, collection: str) -> Any:
        if collection not in COLLECTIONS:
            raise StoreError(f"collection={collection!r} is not one of {list(COLLECTIONS)}")
        if self._closed:
            raise StoreError(f"the mongodb store ({self.config.location()}) is closed")
        return self._db[collection]

    def _failure(self, e: BaseException, what: str) -> StoreError:
        """The StoreError (or StoreUnavailableError when retrying later may help) for a pymongo error."""
        where = f"{self.config.location()}, databases.mongodb.db={self.config.db!r}"
        if isinstance(e, InvalidOperation) and self._closed:
            return StoreError(f"the mongodb store ({self.config.location()}) is closed")
        if _is_temporary(e):
            return StoreUnavailableError(f"{where}: {what} failed, the server is unavailable ({self._describe(e)})")
        return StoreError(f"{where}: {what} failed ({self._describe(e)})")

    # -- writes (upsert: flowcept_mongodb.writes) -------------------------------------------------------------
    def delete(self, collection: str, filter: dict) -> int:
        """Delete the documents matching filter; returns how many."""
        coll = self._collection(collection)
        if self._native:
            query = self._encodable(native_filter(filter))
            try:
                with self._write_lock:
                    return coll.delete_many(query).deleted_count
            except PyMongoError as e:
                raise self._failure(e, f"delete from {collection}") from None
        plan = plan_find(filter)
        id_field = ID_FIELDS[collection]
        try:
            with self._write_lock:
                if plan.exact:
                    return coll.delete_many(plan.native_filter).deleted_count
                ids = [d[id_field] for d in self._matching(coll, plan, id_field, filter or {})]
                deleted = 0
                for i in range(0, len(ids), 1000):
                    deleted += coll.delete_many({id_field: {"$in": ids[i : i + 1000]}}).deleted_count
                return deleted
        except PyMongoError as e:
            raise self._failure(e, f"delete from {collection}") from None

    # -- reads -------------------------------------------------------------------------------------------------
    def find(
        self, collection: str, filter: dict | None = None, projection: Any = None, limit: int = 0, sort: Any = None
    ) -> list[dict]:
        """Documents matching filter (flowcept_core.filters semantics), projected, sorted, limited; no _id.

        Natively the server evaluates all of it (flowcept_mongodb.native); otherwise the server narrows the documents
        with what it is certain to evaluate alike and Python finishes (flowcept_mongodb.query_plan).
        """
        coll = self._collection(collection)
        if self._native:
            query = native_find(filter, projection, sort, limit)
            self._encodable(query.filter)
            try:
                cursor = coll.find(query.filter, query.projection, limit=query.limit, sort=query.sort)
                return [_strip(d) for d in cursor]
            except PyMongoError as e:
                raise self._failure(e, f"find in {collection}") from None
        plan = plan_find(filter, projection, sort, limit)
        try:
            cursor = coll.find(
                plan.native_filter, plan.native_projection, limit=plan.native_limit, sort=plan.native_sort
            )
            docs = [_strip(d) for d in cursor]
        except PyMongoError as e:
            raise self._failure(e, f"find in {collection}") from None
        return plan.finish(docs)

    def _matching(self, coll: Any, plan: Any, id_field: str, flt: dict) -> list[dict]:
        """Documents (id and filter fields only) that the whole filter matches, checked in Python."""
        projection = {"_id": 0, id_field: 1, **{f: 1 for f in filter_fields(flt)}}
        return [d for d in map(_strip, coll.find(plan.native_filter, projection)) if plan.predicate(d)]

    def count(self, collection: str, filter: dict | None = None) -> int:
        """How many documents match filter."""
        coll = self._collection(collection)
        if self._native:
            query = self._encodable(native_filter(filter))
            try:
                return coll.count_documents(query)
            except PyMongoError as e:
                raise self._failure(e, f"count in {collection}") from None
        plan = plan_find(filter)
        try:
            if plan.exact:
                return coll.count_documents(plan.native_filter)
            projection = {"_id": 0, **{f: 1 for f in filter_fields(filter or {})}}
            return sum(1 for d in coll.find(plan.native_filter, projection) if plan.predicate(_strip(d)))
        except PyMongoError as e:
            raise self._failure(e, f"count in {collection}") from None

    def aggregate(
        self,
        collection: str,
        filter: dict | None,
        aggregation: Any,
        group_by: Any = None,
        sort: Any = None,
        limit: int = 0,
    ) -> list[dict]:
        """What flowcept_core.aggregate.aggregate(self.find(collection, filter), aggregation, group_by, sort, limit)
        returns (the optional Store method DBAPI.query uses for aggregations).

        Natively, the server groups the matching documents ($match + $group, flowcept_mongodb.native.plan_group) and
        only one small document per group comes back, instead of every matching document; the rows are then laid
        out, sorted and limited here as aggregate.py does it. Otherwise, and for fields an aggregation expression
        cannot read as flowcept_core.filters does (numeric path parts), the documents are aggregated in Python.
        Without a sort, native rows come in the server's group order (aggregate.py: first-seen order).
        """
        coll = self._collection(collection)
        plan = plan_group(filter, aggregation, group_by, sort) if self._native else None
        if plan is None:
            return aggregate_documents(self.find(collection, filter), aggregation, group_by, sort, limit)
        self._encodable(plan.pipeline)
        try:
            groups = list(coll.aggregate(plan.pipeline))
        except PyMongoError as e:
            raise self._failure(e, f"aggregation over {collection}") from None
        rows = sort_documents(plan.rows(groups), plan.sort)
        return rows[:limit] if limit else rows

    @staticmethod
    def _encodable(query: Any) -> Any:
        """query, checked to be BSON-encodable: a filter value MongoDB cannot represent is a FilterError (a bad
        query, as on every store), not a server failure."""
        try:
            bson.encode({"q": query})
        except (bson.errors.InvalidDocument, OverflowError, TypeError, ValueError) as e:
            raise FilterError(f"the filter cannot be sent to MongoDB ({type(e).__name__}: {e})") from None
        return query

    def tasks_by_entity(self, role: str, entity_ids: list[str]) -> list[tuple[str, dict]]:
        """(entity id, task) for each task whose used / generated (role) holds one of entity_ids (lineage queries;
        see flowcept_mongodb.lineage)."""
        return tasks_by_entity(self, role, entity_ids)

    def liveness_test(self) -> bool:
        """True when the server answers a ping; never raises."""
        if self._closed:
            return False
        try:
            return bool(self._client.admin.command("ping").get("ok"))
        except Exception:
            return False

    def close(self) -> None:
        """Close the client; idempotent."""
        if not self._closed:
            self._closed = True
            self._client.close()

    def __repr__(self) -> str:
        native = getattr(self, "_native", False)
        return f"MongoDBStore({self.config.location()}, db={self.config.db!r}, native={native})"


def _is_temporary(e: BaseException) -> bool:
    if isinstance(e, (ConnectionFailure, WriteConcernError)):
        return True
    if isinstance(e, OperationFailure):
        msg = str(e).lower()
        return e.code in _TEMPORARY_CODES or "disk is full" in msg or "no space left" in msg
    return False


def _strip(doc: dict) -> dict:
    doc.pop("_id", None)
    return doc
