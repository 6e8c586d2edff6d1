"""The write transaction of Neo4jStore: lock and read, merge, write nodes, then the relationships that changed.

Kept apart from the store's connection and query code; ``Neo4jStore`` mixes it in. Every function here runs inside
one managed transaction (``session.execute_write``), so the driver may run it again on a transient error: it
computes everything from what it reads in the transaction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flowcept_core.plugin import merge_documents
from flowcept_neo4j.graph import (
    INFORMED_BY_GENERATED,
    INFORMED_BY_MAX_DEGREE,
    INFORMED_BY_USED,
    NODE_KINDS,
    NodeKind,
    WriteConflict,
    create_rel_statement,
    delete_rel_statement,
    lock_statement,
    node_properties,
    other_key,
    pack,
    relations,
    unpack,
    write_statement,
)

__all__ = ["GraphWrites"]


class GraphWrites:
    """Mixin: the transaction functions of Neo4jStore."""

    def _write_batch(self, tx: Any, collection: str, folded: dict[str, dict], token: str) -> None:
        """Write the folded documents (key -> merged message). Raises WriteConflict (the transaction is rolled back)
        when another writer created one of the nodes after the lock; the caller retries with a new token."""
        kind = NODE_KINDS[collection]
        stored = {r["id"]: r["doc"] for r in tx.run(lock_statement(kind), ids=list(folded), token=token)}
        rows, created, removed, used, generated = [], defaultdict(list), defaultdict(list), [], []
        reflow: dict[str, list[str]] = {"USED": [], "WAS_GENERATED_BY": []}  # tasks whose data flow is redone
        for key, new in folded.items():
            raw = stored.get(key)
            old = unpack(raw) if raw is not None else None
            doc = merge_documents(old, new)
            if old is not None and doc == old:
                continue  # a redelivered message: nothing changes
            rows.append({"id": key, "props": node_properties(collection, doc), "doc": pack(doc)})
            before, after = relations(collection, old), relations(collection, doc)
            for rel in after - before:
                other = {other_key(rel.other_label): rel.other_key, **dict(rel.other_props)}
                created[(rel.type, rel.outgoing, rel.other_label)].append(
                    {"s": key, "o": rel.other_key, "op": other, "rp": dict(rel.props)})
                if collection == "tasks" and rel.type == "USED":
                    used.append({"t": key, "e": rel.other_key})
                elif collection == "tasks" and rel.type == "WAS_GENERATED_BY":
                    generated.append({"t": key, "e": rel.other_key})
            lost = before - after
            for rel in lost:
                removed[(rel.type, rel.outgoing, rel.other_label)].append(
                    {"s": key, "o": rel.other_key, "name": dict(rel.props).get("name")})
            if collection == "tasks":  # a value that changed: its data flow links are derived again from the paths
                for rel_type, rows_of in (("USED", used), ("WAS_GENERATED_BY", generated)):
                    if any(rel.type == rel_type for rel in lost):
                        reflow[rel_type].append(key)
                        rows_of.extend({"t": key, "e": rel.other_key} for rel in after - (after - before)
                                       if rel.type == rel_type)
        if not rows:
            return
        written = tx.run(write_statement(kind), rows=rows, token=token).single()["written"]
        if written != len(rows):
            raise WriteConflict(f"{len(rows) - written} of {len(rows)} nodes were created by another writer")
        for (rel_type, outgoing, label), rel_rows in removed.items():
            tx.run(delete_rel_statement(kind, rel_type, outgoing, label), rows=rel_rows).consume()
        if reflow["USED"]:
            tx.run("UNWIND $keys AS k MATCH (:Task {task_id: k})-[x:WAS_INFORMED_BY]->() DELETE x",
                   keys=reflow["USED"]).consume()
        if reflow["WAS_GENERATED_BY"]:
            tx.run("UNWIND $keys AS k MATCH (:Task {task_id: k})<-[x:WAS_INFORMED_BY]-() DELETE x",
                   keys=reflow["WAS_GENERATED_BY"]).consume()
        for (rel_type, outgoing, label), rel_rows in created.items():
            tx.run(create_rel_statement(kind, rel_type, outgoing, label), rows=rel_rows).consume()
        if used:
            tx.run(INFORMED_BY_USED, rows=used, max_degree=INFORMED_BY_MAX_DEGREE).consume()
        if generated:
            tx.run(INFORMED_BY_GENERATED, rows=generated, max_degree=INFORMED_BY_MAX_DEGREE).consume()

    def _delete_nodes(self, tx: Any, kind: NodeKind, keys: list[str]) -> None:
        """Turn the nodes into placeholders without their own relationships; remove those nothing points to."""
        tx.run(f"UNWIND $keys AS k MATCH (n:{kind.label} {{{kind.key}: k}})-[x]->() DELETE x", keys=keys).consume()
        # what its own used/generated values made: WAS_GENERATED_BY, and the data flow it gave other tasks
        tx.run(f"UNWIND $keys AS k MATCH (n:{kind.label} {{{kind.key}: k}})<-[x:WAS_GENERATED_BY|WAS_INFORMED_BY]-() "
               "DELETE x", keys=keys).consume()
        tx.run(f"UNWIND $keys AS k MATCH (n:{kind.label} {{{kind.key}: k}}) "
               f"SET n = {{{kind.key}: n.{kind.key}}}", keys=keys).consume()
        tx.run(f"UNWIND $keys AS k MATCH (n:{kind.label} {{{kind.key}: k}}) WHERE NOT (n)--() DELETE n",
               keys=keys).consume()

