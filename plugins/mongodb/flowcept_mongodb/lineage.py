"""Lineage lookups of the MongoDB store (flowcept_core.lineage's store protocol).

When tasks are upserted, the PROV entity ids of their used and generated values (flowcept_core.prov_mapping) are
written to the collection ``prov_values``, one document per (role, entity id, task id) with an index on the entity
id: ``{"_id": "<role> <entity id> <task id>", "e": entity id, "r": "used" | "generated", "t": task id}``. The task
documents themselves are not changed, so queries return them as before. Writes are upserts by ``_id``: a message
delivered twice adds nothing. Entries of deleted tasks, and of values a later message replaced, are skipped when read.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne
from pymongo.errors import PyMongoError

from flowcept_core.plugin import StoreError
from flowcept_core.plugin import entity_ids as ids_of_values

__all__ = ["LINEAGE_COLLECTION", "ROLES", "create_lineage_index", "tasks_by_entity", "write_lineage"]

LINEAGE_COLLECTION = "prov_values"
ROLES = ("used", "generated")
_IN_CHUNK = 1000


def create_lineage_index(db: Any) -> None:
    """Called when the store opens (with the other indexes)."""
    db[LINEAGE_COLLECTION].create_index("e")


def write_lineage(store: Any, batch: dict[Any, dict]) -> None:
    """Index the entity ids of the used / generated values of the task documents in batch (task id -> document
    as sent); raises the store's StoreError / StoreUnavailableError when the server refuses (the caller's retry of
    the whole upsert writes them again)."""
    ops = []
    for ident, doc in batch.items():
        for role in ROLES:
            held = doc.get(role)
            if held is None:
                continue
            for eid in dict.fromkeys(ids_of_values(held)):
                key = f"{role} {eid} {ident}"
                ops.append(ReplaceOne({"_id": key}, {"_id": key, "e": eid, "r": role, "t": ident}, upsert=True))
    if not ops:
        return
    try:
        store._db[LINEAGE_COLLECTION].bulk_write(ops, ordered=False)
    except PyMongoError as e:
        raise store._failure(e, f"indexing the values of {len(batch)} tasks for lineage queries") from None


def tasks_by_entity(store: Any, role: str, entity_ids: list[str]) -> list[tuple[str, dict]]:
    """(entity id, task document) for each stored task whose role field holds a value with one of entity_ids."""
    if role not in ROLES:
        raise StoreError(f"tasks_by_entity: role={role!r} is not one of {list(ROLES)}")
    eids = list(dict.fromkeys(entity_ids))
    pairs: list[tuple[str, Any]] = []
    try:
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
