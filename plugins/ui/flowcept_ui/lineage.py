"""A task's lineage as a small graph for the task page: the tasks it came from (upstream) and those it affected
(downstream).

Uses ``db.get_lineage(task_id, direction, max_depth)`` when the query API has it (parent links and data flow);
otherwise follows parent/children links only (upstream: the chain of parents; downstream: the nested calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["task_lineage", "MAX_DEPTH", "MAX_NODES"]

MAX_DEPTH = 4
MAX_NODES = 200

_NODE_FIELDS = ("task_id", "activity_id", "status", "started_at", "ended_at", "parent_task_id")


def _node(doc: dict, side: str, depth: int) -> dict:
    node = {k: doc.get(k) for k in _NODE_FIELDS}
    node.update(side=side, depth=depth)
    return node


def task_lineage(db: Any, task: dict, find: Callable[..., list[dict]]) -> dict:
    """{"source": "get_lineage"|"parent_links", "nodes": [...], "edges": [{"from", "to", "kind"}]}; edges point
    from what came first to what followed (parent -> child, producer -> consumer); the task itself has depth 0."""
    if callable(getattr(db, "get_lineage", None)):
        try:
            return _from_get_lineage(db, task, find)
        except Exception as e:  # a lineage the store cannot answer must not hide the task page
            fallback = _from_links(task, find)
            fallback["note"] = f"get_lineage failed ({type(e).__name__}: {e}); parent/children links shown"
            return fallback
    return _from_links(task, find)


def _from_links(task: dict, find: Callable[..., list[dict]]) -> dict:
    nodes = {task["task_id"]: _node(task, "self", 0)}
    edges: list[dict] = []
    current, depth = task, 0
    while current.get("parent_task_id") and depth < MAX_DEPTH and len(nodes) < MAX_NODES:
        pid = current["parent_task_id"]
        edges.append({"from": pid, "to": current["task_id"], "kind": "parent"})
        if pid in nodes:
            break
        found = find({"task_id": pid}, limit=1)
        depth += 1
        if not found:
            nodes[pid] = {"task_id": pid, "side": "upstream", "depth": -depth, "missing": True}
            break
        current = found[0]
        nodes[pid] = _node(current, "upstream", -depth)
    frontier, depth = [task["task_id"]], 0
    while frontier and depth < MAX_DEPTH and len(nodes) < MAX_NODES:
        depth += 1
        nxt = []
        for tid in frontier:
            for child in find({"parent_task_id": tid}, sort=[("task_id", 1)], limit=MAX_NODES):
                if child["task_id"] in nodes or len(nodes) >= MAX_NODES:
                    continue
                nodes[child["task_id"]] = _node(child, "downstream", depth)
                edges.append({"from": tid, "to": child["task_id"], "kind": "parent"})
                nxt.append(child["task_id"])
        frontier = nxt
    return {"source": "parent_links", "nodes": list(nodes.values()), "edges": edges}


def _signed(entry: dict) -> float:
    depth = entry.get("depth") if isinstance(entry.get("depth"), int) else 1
    return -depth if entry.get("direction") == "upstream" else depth


def _from_get_lineage(db: Any, task: dict, find: Callable[..., list[dict]]) -> dict:
    """Nodes and edges from Flowcept.db.get_lineage(task_id, "both", MAX_DEPTH) (shape: flowcept_core.lineage):
    tasks at their depth (upstream negative), values between the tasks that generated and used them, edges turned
    from PROV's direction (dependent -> dependency) into the direction data flowed."""
    result = db.get_lineage(task["task_id"], direction="both", max_depth=MAX_DEPTH)
    entries = sorted(result.get("tasks") or [], key=lambda e: (abs(_signed(e)), str(e.get("task_id"))))
    shown = entries[:MAX_NODES]
    nodes: dict[str, dict] = {}
    for entry in shown:
        doc = entry.get("document") or {"task_id": entry.get("task_id")}
        side = entry.get("direction") or "upstream"
        nodes[entry["task_id"]] = _node(doc, "self" if entry.get("depth") == 0 else side, _signed(entry))
    if task["task_id"] not in nodes:
        nodes[task["task_id"]] = _node(task, "self", 0)
    values = {v["entity_id"]: v for v in result.get("values") or [] if isinstance(v, dict) and v.get("entity_id")}
    edges: list[dict] = []
    ends: dict[str, list[float]] = {}
    for e in result.get("edges") or []:
        src, dst, relation = e.get("from"), e.get("to"), e.get("relation") or "lineage"
        if not src or not dst:
            continue
        edges.append({"from": dst, "to": src, "kind": relation})  # data-flow direction
        for value_id, task_id, offset in ((dst, src, -0.5), (src, dst, 0.5)):
            if value_id in values and task_id in nodes:
                ends.setdefault(value_id, []).append(nodes[task_id]["depth"] + offset)
    for value_id, depths in ends.items():
        if len(nodes) >= MAX_NODES + 50:
            break
        v = values[value_id]
        text = repr(v.get("value"))
        nodes[value_id] = {
            "task_id": value_id,
            "kind": "value",
            "activity_id": f"{v.get('name', 'value')} = {text if len(text) <= 24 else text[:23] + '…'}",
            "side": "value",
            "depth": sum(depths) / len(depths),
        }
    edges = [e for e in edges if e["from"] in nodes and e["to"] in nodes]
    out = {"source": "get_lineage", "nodes": list(nodes.values()), "edges": edges}
    if len(entries) > len(shown):
        out["note"] = f"{len(shown)} of {len(entries)} tasks shown (nearest first)"
    return out
