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
    HUB_TYPES,
    INFORMED_BY_LINK,
    INFORMED_BY_MAX_DEGREE,
    NODE_KINDS,
    NodeKind,
    WriteConflict,
    create_nodes_statement,
    create_others_statement,
    delete_rel_statement,
    find_nodes_statement,
    hub_create_statement,
    informed_from_generated,
    informed_from_used,
    link_statement,
    lock_statement,
    mapped,
    node_properties,
    other_key,
    pack,
    relations,
    set_nodes_statement,
    unpack,
)

__all__ = ["GraphWrites"]

_HUB_GROUP_MIN = 20  # fewer new nodes with the same hubs are linked to them by the general link statements


class GraphWrites:
    """Mixin: the transaction functions of Neo4jStore."""

    def _write_batch(self, tx: Any, collection: str, folded: dict[str, dict], token: str) -> None:
        """Write the folded documents (key -> merged message): nodes seen for the first time are created, the others
        locked, merged and set; then the relationships that changed. A node another writer creates meanwhile fails
        the transaction on its unique constraint (ConstraintError), and the caller retries it."""
        kind = NODE_KINDS[collection]
        stored = {r["id"]: (r["eid"], r["doc"]) for r in tx.run(lock_statement(kind), ids=list(folded), token=token)}
        new_rows, set_rows, removed = [], [], defaultdict(list)
        added: list[tuple[str, Any]] = []  # (node key, Rel) for each relationship to create
        reflow: dict[str, list[str]] = {"USED": [], "WAS_GENERATED_BY": []}  # tasks whose data flow is redone
        kept_flow: list[tuple[str, Any]] = []  # data flow to derive again for those tasks
        for key, new in folded.items():
            eid, raw = stored.get(key, (None, None))
            old = unpack(raw) if raw is not None else None
            doc = merge_documents(old, new)
            if old is not None and doc == old:
                continue  # a redelivered message: nothing changes
            m = mapped(collection, doc)
            row = {"props": node_properties(collection, doc, m), "doc": pack(doc)}
            if key in stored:
                set_rows.append({"eid": eid, **row})
            else:
                new_rows.append({"id": key, **row})
            before, after = relations(collection, old), relations(collection, doc, m)
            added.extend((key, rel) for rel in after - before)
            lost = before - after
            for rel in lost:
                removed[(rel.type, rel.outgoing, rel.other_label)].append(
                    {"s": key, "o": rel.other_key, "name": dict(rel.props).get("name")})
            if collection == "tasks":  # a value that changed: its data flow links are derived again from the paths
                for rel_type in ("USED", "WAS_GENERATED_BY"):
                    if any(rel.type == rel_type for rel in lost):
                        reflow[rel_type].append(key)
                        kept_flow.extend((key, rel) for rel in after & before if rel.type == rel_type)
        if not new_rows and not set_rows:
            return
        eids = {key: eid for key, (eid, _) in stored.items()}
        batch = {r["id"] for r in new_rows} | set(eids)  # this batch's nodes: their element ids come from the writes
        others, new_others = self._other_ends(
            tx, [rel for _, rel in added + kept_flow if rel.other_label != kind.label or rel.other_key not in batch])
        created_nodes: set[str] = set()
        if new_rows:
            added = self._create_nodes(tx, kind, new_rows, added, others, eids, created_nodes)
        if set_rows:
            tx.run(set_nodes_statement(), rows=set_rows).consume()
        for (rel_type, outgoing, label), rel_rows in removed.items():
            tx.run(delete_rel_statement(kind, rel_type, outgoing, label), rows=rel_rows).consume()
        if reflow["USED"]:
            tx.run("UNWIND $keys AS k MATCH (:Task {task_id: k})-[x:WAS_INFORMED_BY]->() DELETE x",
                   keys=reflow["USED"]).consume()
        if reflow["WAS_GENERATED_BY"]:
            tx.run("UNWIND $keys AS k MATCH (:Task {task_id: k})<-[x:WAS_INFORMED_BY]-() DELETE x",
                   keys=reflow["WAS_GENERATED_BY"]).consume()
        others.update(((kind.label, key), eid) for key, eid in eids.items())
        links: dict[tuple[str, tuple], list[dict]] = defaultdict(list)
        for key, rel in added:
            s, o = eids[key], others[(rel.other_label, rel.other_key)]
            names = tuple(name for name, _ in rel.props)
            links[(rel.type, names)].append({"s": s, "e": o, "p": [v for _, v in rel.props]} if rel.outgoing
                                            else {"s": o, "e": s, "p": [v for _, v in rel.props]})
        for (rel_type, names), rows in links.items():
            tx.run(link_statement(rel_type, names), rows=rows).consume()
        if collection == "tasks":
            self._link_data_flow(tx, eids, others, new_others, created_nodes, added, kept_flow)

    def _create_nodes(self, tx: Any, kind: NodeKind, rows: list[dict], added: list[tuple[str, Any]],
                      others: dict[tuple[str, str], str], eids: dict[str, str], created: set[str]) -> list:
        """Create the new nodes, those sharing the same hubs (workflow, agents) in one statement each with their
        links to them; adds their element ids to eids and created. Returns the relationships still to create."""
        hubs: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, rel in added:
            if rel.outgoing and rel.type in HUB_TYPES and not rel.props and rel.other_label != kind.label:
                hubs[key].append((rel.type, others[(rel.other_label, rel.other_key)]))
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for row in rows:
            groups[tuple(sorted(hubs.get(row["id"], ())))].append(row)
        linked: set[str] = set()
        for signature, part in groups.items():
            if len(part) < _HUB_GROUP_MIN or not signature:
                rec = tx.run(create_nodes_statement(kind), rows=part).single()
            else:
                rec = tx.run(hub_create_statement(kind, tuple(t for t, _ in signature)), rows=part,
                             hubs=[e for _, e in signature]).single()
                linked.update(rec["ids"])
            if len(rec["ids"]) != len(part):  # a hub removed meanwhile: the transaction is rolled back and retried
                raise WriteConflict(f"{len(part) - len(rec['ids'])} of {len(part)} nodes were not written")
            eids.update(zip(rec["ids"], rec["eids"], strict=True))
            created.update(rec["eids"])
        return [(key, rel) for key, rel in added if key not in linked or not (
            rel.outgoing and rel.type in HUB_TYPES and not rel.props and rel.other_label != kind.label)]

    def _other_ends(self, tx: Any, rels: list[Any]) -> tuple[dict[tuple[str, str], str], set[str]]:
        """Element ids of the relationships' other nodes outside the batch, by (label, key): the stored ones (one
        lookup per label), and the missing ones created (returned apart too: nothing points to them yet)."""
        wanted: dict[str, dict[str, dict]] = defaultdict(dict)
        found: dict[tuple[str, str], str] = {}
        for rel in rels:
            wanted[rel.other_label].setdefault(
                rel.other_key, {other_key(rel.other_label): rel.other_key, **dict(rel.other_props)})
        created: set[str] = set()
        for label, props in wanted.items():
            rec = tx.run(find_nodes_statement(label), keys=list(props)).single()
            found.update(((label, k), e) for k, e in zip(rec["ids"], rec["eids"], strict=True))
            missing = [{"k": k, "op": op} for k, op in props.items() if (label, k) not in found]
            if missing:
                rec = tx.run(create_others_statement(label), rows=missing).single()
                found.update(((label, k), e) for k, e in zip(rec["ids"], rec["eids"], strict=True))
                created.update(rec["eids"])
        return found, created

    def _link_data_flow(self, tx: Any, eids: dict[str, str], others: dict[tuple[str, str], str],
                        new_entities: set[str], new_tasks: set[str], added: list[tuple[str, Any]],
                        kept_flow: list[tuple[str, Any]]) -> None:
        """WAS_INFORMED_BY from each task that used a value to each task that generated it, for the batch's new
        USED / WAS_GENERATED_BY relationships. An entity created in this batch has all its paths in the batch, so
        its links are derived here; those of stored entities are read from the graph. Links touching a task created
        in this batch cannot exist yet and are created; the others are merged."""
        by_entity: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"USED": [], "WAS_GENERATED_BY": []})
        graph_rows: dict[str, list[dict]] = {"USED": [], "WAS_GENERATED_BY": []}
        for key, rel in added + kept_flow:
            if rel.type not in graph_rows:
                continue
            task, entity = eids[key], others[(rel.other_label, rel.other_key)]
            if entity in new_entities:
                by_entity[entity][rel.type].append(task)
            else:
                graph_rows[rel.type].append({"t": task, "e": entity})
        pairs: set[tuple[str, str]] = set()
        for flow in by_entity.values():
            if len(flow["WAS_GENERATED_BY"]) <= INFORMED_BY_MAX_DEGREE:
                pairs.update((c, g) for c in flow["USED"] for g in flow["WAS_GENERATED_BY"] if c != g)
        for rel_type, statement in (("USED", informed_from_used), ("WAS_GENERATED_BY", informed_from_generated)):
            if graph_rows[rel_type]:
                rec = tx.run(statement, es=sorted({r["e"] for r in graph_rows[rel_type]}),
                             max_degree=INFORMED_BY_MAX_DEGREE).single()
                ends: dict[str, list[str]] = defaultdict(list)
                for entity, task in zip(rec["e"], rec["o"], strict=True):
                    ends[entity].append(task)
                for r in graph_rows[rel_type]:
                    pairs.update(((r["t"], o) if rel_type == "USED" else (o, r["t"])) for o in ends.get(r["e"], ())
                                 if o != r["t"])
        fresh = [{"s": c, "e": g} for c, g in pairs if c in new_tasks or g in new_tasks]
        known = [{"s": c, "e": g} for c, g in pairs if c not in new_tasks and g not in new_tasks]
        if fresh:
            tx.run(link_statement("WAS_INFORMED_BY"), rows=fresh).consume()
        if known:
            tx.run(INFORMED_BY_LINK, rows=known).consume()

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

