"""What a document becomes in the graph: its node (label, key, properties) and its relationships, from the PROV
mapping (flowcept_core.prov_mapping), plus the Cypher that writes them. No I/O here.

Layout (docs/neo4j.md draws it)::

    (:Task)-[:PART_OF]->(:Workflow)-[:PART_OF]->(:Campaign)
    (:Task)-[:WAS_STARTED_BY]->(:Task)            nested call -> the task it was called from
    (:Workflow)-[:WAS_STARTED_BY]->(:Workflow)    sub-workflow -> parent workflow
    (:Task|Workflow)-[:WAS_ASSOCIATED_WITH]->(:Agent {key: "user:ana", kind: "user", agent_id: "ana"})
    (:Task)-[:USED {name}]->(:Entity {entity_id, value})
    (:Entity)-[:WAS_GENERATED_BY {name}]->(:Task)
    (:Task)-[:WAS_INFORMED_BY]->(:Task)           data flow: the first used a value the second generated

Every stored document is one node carrying the mapping's scalar properties and the whole merged document in
``_doc`` (msgpack bytes), from which queries answer and later messages merge. Nodes a relationship needs before
their own document arrives (a parent task, a workflow) exist as placeholders: the key property only, no ``_doc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from flowcept_core.plugin import StoreError, map_task, map_workflow

__all__ = ["mapped", "hub_create_statement", "HUB_TYPES",
           "NodeKind", "NODE_KINDS", "Rel", "pack", "unpack", "node_properties", "relations", "CONSTRAINTS",
           "INDEXES", "PUSHDOWN", "WriteConflict", "other_key", "lock_statement", "write_statement",
           "create_rel_statement", "delete_rel_statement", "INFORMED_BY_USED", "INFORMED_BY_GENERATED",
           "INFORMED_BY_MAX_DEGREE", "create_nodes_statement", "set_nodes_statement", "find_nodes_statement",
           "create_others_statement", "link_statement", "informed_from_used", "informed_from_generated",
           "INFORMED_BY_LINK"]

DOC = "_doc"  # the merged document, msgpack
WRITER = "_w"  # the token of the transaction that last locked or created the node (see lock_statement)


@dataclass(frozen=True)
class NodeKind:
    """How one collection is stored: nodes labelled ``label`` with unique ``key``; ``prefix`` + the document id
    is the key value (agents share the Agent nodes of the mapping, keyed ``agent:<agent_id>``)."""

    label: str
    key: str
    id_field: str
    prefix: str = ""

    def key_of(self, ident: Any) -> str:
        return self.prefix + (ident if isinstance(ident, str) else str(ident))


NODE_KINDS: dict[str, NodeKind] = {
    "tasks": NodeKind("Task", "task_id", "task_id"),
    "workflows": NodeKind("Workflow", "workflow_id", "workflow_id"),
    "agents": NodeKind("Agent", "key", "agent_id", prefix="agent:"),
    "objects": NodeKind("Object", "object_id", "object_id"),
    "dead_letters": NodeKind("DeadLetter", "dead_letter_id", "dead_letter_id"),
}
_OTHER_KEYS = {"Entity": "entity_id", "Campaign": "campaign_id"}
CONSTRAINTS = tuple((k.label, k.key) for k in NODE_KINDS.values()) + tuple(_OTHER_KEYS.items())
# properties queries pin besides the keys (Flowcept.db.task_query by workflow, lineage by parent)
INDEXES = (("Task", "workflow_id"), ("Task", "parent_task_id"), ("Workflow", "campaign_id"),
           ("Workflow", "parent_workflow_id"))
PUSHDOWN = {"tasks": ("workflow_id", "parent_task_id"), "workflows": ("campaign_id", "parent_workflow_id")}


class WriteConflict(Exception):
    """Raised inside a write transaction (which rolls it back) when another writer created one of its nodes after
    the lock; the store retries the transaction."""


def pack(doc: dict) -> bytes:
    """The document as msgpack (bytes and unicode kept); StoreError naming the document when it cannot be."""
    try:
        return msgpack.packb(doc, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        ident = next((doc[f] for f in ("task_id", "workflow_id", "agent_id", "object_id", "dead_letter_id")
                      if f in doc), "?")
        raise StoreError(f"document {ident!r} cannot be stored in the graph: {e}") from None


def unpack(data: bytes) -> dict:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _scalars(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if isinstance(v, (str, bool, int, float)) and not isinstance(v, bytes)
            and (not isinstance(v, int) or -(2**63) <= v < 2**63)}


def mapped(coll: str, doc: dict | None) -> Any:
    """The PROV mapping of a task or workflow document (None otherwise), to hand to node_properties and relations."""
    if not doc:
        return None
    return map_task(doc) if coll == "tasks" else map_workflow(doc) if coll == "workflows" else None


def node_properties(coll: str, doc: dict, m: Any = None) -> dict:
    """The node's properties besides its key and ``_doc``: the mapping's PROV attributes for tasks and workflows
    (``m``: their mapping when already computed), the top-level scalars otherwise. Names starting with ``_`` are
    the store's own and left out."""
    if coll in ("tasks", "workflows"):
        props = (m or mapped(coll, doc)).properties
    else:
        props = _scalars(doc)
    kind = NODE_KINDS[coll]
    return {k: v for k, v in props.items() if k and not k.startswith("_") and k != kind.key}


@dataclass(frozen=True)
class Rel:
    """One relationship of a document's node: ``type``, whether the node is its start (``outgoing``), the other
    node (label, key value, properties set when it is created) and the relationship's own properties."""

    type: str
    outgoing: bool
    other_label: str
    other_key: str
    other_props: tuple = ()
    props: tuple = ()


def _agent_rels(agents: tuple) -> set[Rel]:
    return {Rel("WAS_ASSOCIATED_WITH", True, "Agent", f"{a.kind}:{a.agent_id}",
                (("kind", a.kind), ("agent_id", a.agent_id))) for a in agents}


def relations(coll: str, doc: dict | None, m: Any = None) -> set[Rel]:
    """The relationships the mapping gives the document's node (none for collections outside PROV); ``m``: its
    mapping when already computed."""
    if not doc:
        return set()
    if coll == "tasks":
        m = m or map_task(doc)
        rels = _agent_rels(m.agents)
        if m.workflow_id:
            rels.add(Rel("PART_OF", True, "Workflow", m.workflow_id))
        if m.parent_task_id and m.parent_task_id != m.task_id:
            rels.add(Rel("WAS_STARTED_BY", True, "Task", m.parent_task_id))
        rels.update(Rel("USED", True, "Entity", e.entity_id, (("value", e.value),), (("name", e.name),))
                    for e in m.used)
        rels.update(Rel("WAS_GENERATED_BY", False, "Entity", e.entity_id, (("value", e.value),), (("name", e.name),))
                    for e in m.generated)
        return rels
    if coll == "workflows":
        m = m or map_workflow(doc)
        rels = _agent_rels(m.agents)
        if m.campaign_id:
            rels.add(Rel("PART_OF", True, "Campaign", m.campaign_id))
        if m.parent_workflow_id and m.parent_workflow_id != m.workflow_id:
            rels.add(Rel("WAS_STARTED_BY", True, "Workflow", m.parent_workflow_id))
        return rels
    return set()


def other_key(label: str) -> str:
    return _OTHER_KEYS.get(label) or next(k.key for k in NODE_KINDS.values() if k.label == label)


def lock_statement(kind: NodeKind) -> str:
    """Lock the batch's existing nodes (a write takes the lock) and read their documents, under the lock."""
    return (f"UNWIND $ids AS id MATCH (n:{kind.label} {{{kind.key}: id}}) SET n.{WRITER} = $token "
            f"RETURN id, elementId(n) AS eid, n.{DOC} AS doc")


# Nodes and relationships new to the graph are CREATEd and linked by the element ids the transaction itself got
# (MATCH ... WHERE elementId(n) = ...): MERGE and key lookups cost a server several times as much per row. A node
# another writer creates at the same time fails the transaction on the unique constraint, and the store retries it
# (the retry finds the node and updates it). Results come back as one record of lists (cheap for the driver).
def create_nodes_statement(kind: NodeKind) -> str:
    """Create the batch's new document nodes (rows: id, props, doc); returns their keys and element ids."""
    return (f"UNWIND $rows AS r CREATE (n:{kind.label} {{{kind.key}: r.id}}) SET n += r.props, n.{DOC} = r.doc "
            "RETURN collect(r.id) AS ids, collect(elementId(n)) AS eids")


# Relationships from a new node to a node many share (its workflow, campaign, agents) are created with the node:
# the hubs are found once per statement, which costs a server less than one link statement per type.
HUB_TYPES = ("PART_OF", "WAS_ASSOCIATED_WITH")


def hub_create_statement(kind: NodeKind, hub_types: tuple) -> str:
    """Create new document nodes (rows: id, props, doc), each linked to the hubs ($hubs: element ids, one per type
    in hub_types, in that order); returns their keys and element ids."""
    found = " ".join(f"MATCH (h{i}) WHERE elementId(h{i}) = $hubs[{i}]" for i in range(len(hub_types)))
    links = ", ".join(f"(n)-[:{t}]->(h{i})" for i, t in enumerate(hub_types))
    return (f"{found} UNWIND $rows AS r CREATE (n:{kind.label} {{{kind.key}: r.id}}) SET n += r.props, "
            f"n.{DOC} = r.doc CREATE {links} RETURN collect(r.id) AS ids, collect(elementId(n)) AS eids")


def set_nodes_statement() -> str:
    """Write merged documents into nodes the transaction locked (rows: eid, props, doc)."""
    return f"UNWIND $rows AS r MATCH (n) WHERE elementId(n) = r.eid SET n += r.props, n.{DOC} = r.doc"


def find_nodes_statement(label: str) -> str:
    """Element ids of the nodes with these keys (the other ends of relationships)."""
    return (f"UNWIND $keys AS k MATCH (o:{label} {{{other_key(label)}: k}}) "
            "RETURN collect(k) AS ids, collect(elementId(o)) AS eids")


def create_others_statement(label: str) -> str:
    """Create missing other ends (rows: k, op: key and properties): placeholders, agents, entities."""
    return (f"UNWIND $rows AS r CREATE (o:{label}) SET o = r.op "
            "RETURN collect(r.k) AS ids, collect(elementId(o)) AS eids")


def link_statement(rel_type: str, prop_names: tuple = ()) -> str:
    """Create one relationship per row between two nodes given by element id (rows: s start, e end, p props)."""
    props = (" {" + ", ".join(f"{name}: r.p[{i}]" for i, name in enumerate(prop_names)) + "}") if prop_names else ""
    return (f"UNWIND $rows AS r MATCH (s) WHERE elementId(s) = r.s MATCH (e) WHERE elementId(e) = r.e "
            f"CREATE (s)-[:{rel_type}{props}]->(e)")


def write_statement(kind: NodeKind) -> str:
    """Write merged documents; a node another transaction created after lock_statement is left alone (its row is
    not returned, and the caller retries the transaction)."""
    return (f"UNWIND $rows AS r MERGE (n:{kind.label} {{{kind.key}: r.id}}) ON CREATE SET n.{WRITER} = $token "
            f"WITH n, r WHERE n.{WRITER} = $token SET n += r.props, n.{DOC} = r.doc RETURN count(n) AS written")


def _rel_pattern(rel_type: str, outgoing: bool) -> str:
    return f"(s)-[x:{rel_type}]->(o)" if outgoing else f"(o)-[x:{rel_type}]->(s)"


def create_rel_statement(kind: NodeKind, rel_type: str, outgoing: bool, other_label: str) -> str:
    """Create one relationship per row (rows: s, o, op, rp), the other node merged (placeholder if new)."""
    return (f"UNWIND $rows AS r MATCH (s:{kind.label} {{{kind.key}: r.s}}) "
            f"MERGE (o:{other_label} {{{other_key(other_label)}: r.o}}) ON CREATE SET o += r.op "
            f"CREATE {_rel_pattern(rel_type, outgoing)} SET x += r.rp")


def delete_rel_statement(kind: NodeKind, rel_type: str, outgoing: bool, other_label: str) -> str:
    """Delete the relationships the merged document no longer has (rows: s, o, name)."""
    return (f"UNWIND $rows AS r MATCH {_rel_pattern(rel_type, outgoing)} WHERE s:{kind.label} AND s.{kind.key} = r.s "
            f"AND o:{other_label} AND o.{other_key(other_label)} = r.o AND "
            f"(r.name IS NULL OR x.name = r.name) DELETE x")


# Data flow between tasks, after new USED / WAS_GENERATED_BY relationships (rows: t, e). Each pattern starts from
# the two nodes looked up by key (a planner starting from the Task label would scan every task). An entity
# generated by more than INFORMED_BY_MAX_DEGREE tasks (a constant such as 0 or true, by content hash) adds no more
# WAS_INFORMED_BY links: they would grow with the square of its tasks (the PROV export skips the same values). Its
# USED / WAS_GENERATED_BY paths remain, and lineage queries follow those, not WAS_INFORMED_BY.
INFORMED_BY_MAX_DEGREE = 100
_SMALL = "WHERE COUNT { (e)-[:WAS_GENERATED_BY]->() } <= $max_degree "
INFORMED_BY_USED = ("UNWIND $rows AS r MATCH (t:Task {task_id: r.t}) MATCH (e:Entity {entity_id: r.e}) " + _SMALL +
                    "MATCH (e)-[:WAS_GENERATED_BY]->(g:Task) WHERE g <> t "
                    "MERGE (t)-[:WAS_INFORMED_BY]->(g)")
INFORMED_BY_GENERATED = ("UNWIND $rows AS r MATCH (g:Task {task_id: r.t}) MATCH (e:Entity {entity_id: r.e}) " +
                         _SMALL + "MATCH (e)<-[:USED]-(c:Task) WHERE c <> g "
                         "MERGE (c)-[:WAS_INFORMED_BY]->(g)")

# The same data flow for entities given by element ids ($es, each once), returning (entity, generator) or
# (entity, consumer) pairs instead of merging links, so the store pairs them with the batch's tasks, creates the
# links that cannot exist yet and merges only the others.
informed_from_used = ("UNWIND $es AS eid MATCH (e) WHERE elementId(e) = eid WITH eid, e " + _SMALL +
                      "MATCH (e)-[:WAS_GENERATED_BY]->(g:Task) RETURN collect(eid) AS e, collect(elementId(g)) AS o")
informed_from_generated = ("UNWIND $es AS eid MATCH (e) WHERE elementId(e) = eid WITH eid, e " + _SMALL +
                           "MATCH (e)<-[:USED]-(c:Task) RETURN collect(eid) AS e, collect(elementId(c)) AS o")
INFORMED_BY_LINK = ("UNWIND $rows AS r MATCH (c) WHERE elementId(c) = r.s MATCH (g) WHERE elementId(g) = r.e "
                    "MERGE (c)-[:WAS_INFORMED_BY]->(g)")
