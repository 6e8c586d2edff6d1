"""Lineage lookups of the LMDB store: the tasks that used or generated given PROV entities, from the derived indexes
``ix:tasks:~used`` / ``ix:tasks:~generated`` (entity id -> task keys; see _codec.DERIVED_FIELDS). The store's
``tasks_by_entity`` (flowcept_core.lineage's store protocol) runs this inside a read transaction.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import StoreError
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._codec import lookup_key, unpack

__all__ = ["ROLES", "tasks_by_entity_in"]

ROLES = {"used": "~used", "generated": "~generated"}


def tasks_by_entity_in(txn: Any, docs: Any, indexes: dict[str, Any], role: str,
                       entity_ids: list[str]) -> list[tuple[str, dict]]:
    """(entity id, task document) for each stored task whose role field ("used" / "generated") holds a value with
    one of entity_ids; a task listed under an entity id but no longer stored is skipped."""
    field = ROLES.get(role)
    if field is None:
        raise StoreError(f"tasks_by_entity: role={role!r} is not one of {sorted(ROLES)}")
    idx = indexes[field]
    out: list[tuple[str, dict]] = []
    decoded: dict[bytes, dict | None] = {}
    for eid in dict.fromkeys(entity_ids):
        ik = lookup_key(eid)
        if ik is None:
            continue
        for key in postings.lookup(txn, idx, ik):
            if key not in decoded:
                raw = txn.get(key, db=docs)
                decoded[key] = None if raw is None else unpack(raw)
            doc = decoded[key]
            if doc is not None:
                out.append((eid, doc))
    return out
