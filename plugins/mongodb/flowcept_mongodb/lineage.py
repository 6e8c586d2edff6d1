"""Lineage lookups of the MongoDB store (flowcept_core.lineage's store protocol ``tasks_by_entity``).

Collection ``prov_values``: one document per (role, entity id, task id), ``{"_id": "<role> <entity id> <task id>",
"e": entity id, "r": "used" | "generated", "t": task id}``, indexed on ``e``. It is kept up to date off the write
path: an upsert of tasks adds one document to ``prov_pending`` listing the task ids (``{"t": [...]}``); the first
lineage query after writes reads the pending tasks, computes the entity ids of their values
(flowcept_core.prov_mapping) and upserts them by ``_id`` (so two processes catching up at once write the same
documents), then removes the pending documents it handled. A database never indexed (``{"_id": "built"}`` missing
from ``prov_pending``) is indexed whole by its first lineage query. The task documents are not changed. Entries of
deleted tasks, and of values a later message replaced, are skipped when read.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne
from pymongo.errors import PyMongoError

from flowcept_core.plugin import StoreError
from flowcept_core.plugin import entity_ids as ids_of_values

__all__ = ["LINEAGE_COLLECTION", "PENDING_COLLECTION", "ROLES", "create_lineage_index", "note_written",
           "tasks_by_entity"]

LINEAGE_COLLECTION = "prov_values"
PENDING_COLLECTION = "prov_pending"
ROLES = ("used", "generated")
_IN_CHUNK = 1000
_BUILT = "built"


def create_lineage_index(db: Any) -> None:
    """Called when the store opens (with the other indexes)."""
    db[LINEAGE_COLLECTION].create_index("e")


def note_written(store: Any, task_ids: list[Any]) -> None:
    """Called after an upsert of tasks: remember their ids for the next catch-up (one insert per call)."""
    if not task_ids:
        return
    try:
        store._db[PENDING_COLLECTION].insert_one({"t": task_ids})
    except PyMongoError as e:
        raise store._failure(e, f"noting {len(task_ids)} tasks for the lineage index") from None


def _catch_up(store: Any) -> None:
    """Index the pending tasks (every task when the database was never indexed); remove the pending entries."""
    pending = store._db[PENDING_COLLECTION]
    full = pending.find_one({"_id": _BUILT}) is None
    entries = list(pending.find({"_id": {"$ne": _BUILT}}))
    if full:
        docs = store.find("tasks", {})
    else:
        ids = sorted({t for entry in entries for t in entry.get("t", ())}, key=str)
        docs = []
        for i in range(0, len(ids), _IN_CHUNK):
            docs.extend(store.find("tasks", {"task_id": {"$in": ids[i : i + _IN_CHUNK]}}))
    ops = []
    for doc in docs:
        for role in ROLES:
            held = doc.get(role)
            if held is None:
                continue
            for eid in set(ids_of_values(held)):
                key = f"{role} {eid} {doc['task_id']}"
                ops.append(ReplaceOne({"_id": key}, {"_id": key, "e": eid, "r": role, "t": doc["task_id"]},
                                      upsert=True))
    for i in range(0, len(ops), _IN_CHUNK):
        store._db[LINEAGE_COLLECTION].bulk_write(ops[i : i + _IN_CHUNK], ordered=False)
    if entries:
        pending.delete_many({"_id": {"$in": [entry["_id"] for entry in entries]}})
    if full:
        pending.replace_one({"_id": _BUILT}, {"_id": _BUILT}, upsert=True)


def _behind(store: Any) -> bool:
    pending = store._db[PENDING_COLLECTION]
    return pending.find_one({"_id": {"$ne": _BUILT}}) is not None or pending.find_one({"_id": _BUILT}) is None


def tasks_by_entity(store: Any, role: str, entity_ids: list[str]) -> list[tuple[str, dict]]:
    """(entity id, task document) for each stored task whose role field holds a value with one of entity_ids;
    brings the index up to date first when tasks were written since."""
    if role not in ROLES:
        raise StoreError(f"tasks_by_entity: role={role!r} is not one of {list(ROLES)}")
    eids = list(dict.fromkeys(entity_ids))
    pairs: list[tuple[str, Any]] = []
    try:
        if _behind(store):
            _catch_up(store)
        for i in range(0, len(eids), _IN_CHUNK):
            query = {"e": {"$in": eids[i : i + _IN_CHUNK]}}
            pairs.extend((row["e"], row["t"]) for row in store._db[LINEAGE_COLLECTION].find(query)
                         if row.get("r") == role)
    except PyMongoError as e:
        raise store._failure(e, "reading the lineage index") from None
    ids = sorted({t for _, t in pairs}, key=str)
    docs: dict[Any, dict] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        for doc in store.find("tasks", {"task_id": {"$in": ids[i : i + _IN_CHUNK]}}):
            docs[doc["task_id"]] = doc
    held: dict[Any, set[str]] = {}  # a task's entity ids now: an entry a later message replaced is stale
    out = []
    for e, t in pairs:
        doc = docs.get(t)
        if doc is None:
            continue
        if t not in held:
            value = doc.get(role)
            held[t] = set() if value is None else set(ids_of_values(value))
        if e in held[t]:
            out.append((e, doc))
    return out
