"""The one mapping of flowcept documents to W3C PROV; the PROV export, lineage queries and graph stores all use it.

A task document is a ``prov:Activity``; its workflow is a ``prov:Activity`` it is part of; ``user``, ``agent_id``
and ``hostname`` are ``prov:Agent``s the activity ``wasAssociatedWith``; a nested call is linked to its parent task;
each value in ``used`` / ``generated`` is a ``prov:Entity`` (``used`` / ``wasGeneratedBy``). Two tasks are linked by
data flow when one generated the entity another used: the entity id is the same (see :func:`value_entity_id`).
``docs/prov.md`` draws the whole mapping.

What this module returns is plain, frozen and store-agnostic: :func:`map_task` gives a :class:`TaskMapping` and
:func:`map_workflow` a :class:`WorkflowMapping`, whose ``properties`` hold only PROV-able scalars (str, int, float,
bool): nested dicts and lists are JSON-serialized into a string, never dropped; ``None`` fields are left out.

Example::

    from flowcept_core.prov_mapping import map_task

    m = map_task({"task_id": "t1", "workflow_id": "w1", "activity_id": "train", "used": {"lr": 0.1},
                  "generated": {"model": {"data_id": "s3://bucket/model.pt"}}, "user": "ana"})
    m.used[0].entity_id        # 'sha256:…' (the content hash of 0.1)
    m.generated[0].entity_id   # 'data:s3://bucket/model.pt' (an explicit data id wins)
    m.agents                   # (AgentRef(kind='user', agent_id='ana'),)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "AgentRef",
    "DATA_ID_KEY",
    "canonical_bytes",
    "EntityRef",
    "ProvMappingError",
    "Scalar",
    "TaskMapping",
    "TaskTuple",
    "WorkflowMapping",
    "entity_ids",
    "map_task",
    "map_workflow",
    "prov_scalar",
    "task_tuple",
    "value_entity_id",
]

Scalar = str | int | float | bool
"""A value PROV (and a graph store property) holds as is."""

DATA_ID_KEY = "data_id"
"""A value that is a dict with a non-empty string under this key names its entity explicitly (``data:<id>``)."""

# Fields that are not properties of the activity: relations of the mapping, or store/transport bookkeeping.
_TASK_SKIP = frozenset(("task_id", "used", "generated", "_id", "type"))
_WORKFLOW_SKIP = frozenset(("workflow_id", "_id", "type"))
_INT64 = 2**63
_JSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class ProvMappingError(ValueError):
    """A document cannot be mapped: it lacks its id (the message names the document and the missing field)."""


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A value a task used or generated: ``entity_id`` (see value_entity_id), the field ``name`` it had in the
    task, and ``value`` as a PROV-able scalar (JSON text when it is not one)."""

    entity_id: str
    name: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class AgentRef:
    """Who or where an activity ran: ``kind`` is ``"user"`` (user / login_name), ``"agent"`` (agent_id) or
    ``"host"`` (hostname); ``agent_id`` is the name itself."""

    kind: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class TaskMapping:
    """A task as PROV: the activity ``task_id`` with its scalar ``properties`` (activity_id, status, started_at,
    ended_at, ... and workflow_id / parent_task_id too), the workflow it is part of, the parent task it was called
    from, its agents and the entities it used and generated (in the document's key order)."""

    task_id: str
    workflow_id: str | None
    parent_task_id: str | None
    properties: dict[str, Scalar]
    agents: tuple[AgentRef, ...]
    used: tuple[EntityRef, ...]
    generated: tuple[EntityRef, ...]


@dataclass(frozen=True, slots=True)
class WorkflowMapping:
    """A workflow as PROV: the activity ``workflow_id`` (a bundle in exports), the campaign that groups it, its
    parent workflow, scalar ``properties`` (name, started_at, ... nested values JSON-serialized) and its agents."""

    workflow_id: str
    campaign_id: str | None
    parent_workflow_id: str | None
    properties: dict[str, Scalar]
    agents: tuple[AgentRef, ...]


def canonical_bytes(value: Any) -> bytes:
    """Deterministic bytes of a value, what its content hash is taken of: JSON with sorted keys; what JSON cannot
    hold is encoded as its str()."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).encode()  # nan / inf / -inf: not JSON's null (None), nor the strings "nan" ("\"nan\"")
    try:
        return orjson.dumps(value, option=_JSON_OPTS, default=str)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(str(value))


def value_entity_id(value: Any) -> str:
    """The PROV entity id of a used/generated value.

    An explicit data id wins: a dict value with a non-empty string under ``"data_id"`` (for example
    ``{"data_id": "s3://bucket/model.pt", "bytes": 1024}``) is the entity ``"data:<that id>"``, whatever else it
    holds. Any other value is identified by its content: ``"sha256:<hex>"`` of its canonical JSON (keys sorted, so
    equal dicts built in another order match; ``1``, ``1.0``, ``"1"`` and ``true`` are different values). The same
    value used by one task and generated by another is therefore the same entity, which is how data flow between
    tasks is found.
    """
    t = type(value)
    if t is dict:
        data_id = value.get(DATA_ID_KEY)
        if type(data_id) is str and data_id:
            return "data:" + data_id
    elif t in _CACHED and (t is not str or len(value) <= _CACHED_STR):  # a value of one task is often another's
        key = (t, value)
        found = _ID_CACHE.get(key)
        if found is None:
            if len(_ID_CACHE) >= _ID_CACHE_MAX:
                _ID_CACHE.clear()
            found = _ID_CACHE[key] = "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()
        return found
    elif isinstance(value, dict):
        return value_entity_id(dict(value))
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()


_CACHED = frozenset((str, int, float, bool, type(None)))
_CACHED_STR = 256
_ID_CACHE: dict[tuple[type, Any], str] = {}  # (type, scalar) -> entity id; True == 1 == 1.0, so the type is in the key
_ID_CACHE_MAX = 65536


def prov_scalar(value: Any) -> Scalar:
    """``value`` as a PROV-able scalar: str, bool, finite float and int within 64 bits as they are; anything else
    (None, dicts, lists, big ints, NaN, other objects) as its JSON text."""
    t = type(value)
    if t is str or t is bool:
        return value
    if t is int or (t is not float and isinstance(value, int) and not isinstance(value, bool)):
        return value if -_INT64 <= value < _INT64 else str(value)
    if t is float or isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (str, bool)):
        return value
    return canonical_bytes(value).decode()


def _entity_tuples(values: Any) -> list[tuple[str, str, Scalar]]:
    if values is None:
        return []
    if not isinstance(values, dict):  # a bare value (not the usual {name: value}) is one entity named "value"
        values = {"value": values}
    out = []
    for k, v in values.items():
        t = type(v)
        if t in _CACHED and (t is not str or len(v) <= _CACHED_STR):  # (entity id, scalar) of a repeated value
            key = (t, v)
            found = _REF_CACHE.get(key)
            if found is None:
                if len(_REF_CACHE) >= _ID_CACHE_MAX:
                    _REF_CACHE.clear()
                found = _REF_CACHE[key] = (
                    "sha256:" + _sha256(canonical_bytes(v)).hexdigest(),
                    v if t is str else prov_scalar(v),
                )
            out.append((found[0], k if type(k) is str else str(k), found[1]))
        elif t is dict or t is list:  # its canonical JSON is both its scalar and what its content hash is of
            text = canonical_bytes(v)
            data_id = v.get(DATA_ID_KEY) if t is dict else None
            entity_id = (
                "data:" + data_id if type(data_id) is str and data_id else ("sha256:" + _sha256(text).hexdigest())
            )
            out.append((entity_id, k if type(k) is str else str(k), text.decode()))
        else:
            out.append((value_entity_id(v), k if type(k) is str else str(k), prov_scalar(v)))
    return out


_REF_CACHE: dict[tuple[type, Any], tuple[str, Scalar]] = {}  # (type, scalar) -> (entity id, PROV scalar)
_sha256 = hashlib.sha256


def entity_ids(values: Any) -> list[str]:
    """The entity ids of a document's ``used`` or ``generated`` field (what stores index for lineage)."""
    if values is None:
        return []
    if not isinstance(values, dict):
        return [value_entity_id(values)]
    return [value_entity_id(v) for v in values.values()]


def _properties(doc: dict, skip: frozenset[str]) -> dict[str, Scalar]:
    return {
        k if type(k) is str else str(k): v if type(v) is str else prov_scalar(v)
        for k, v in doc.items()
        if v is not None and k not in skip
    }


def _agents(user: Any, agent_id: Any, hostname: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for kind, name in (("user", user), ("agent", agent_id), ("host", hostname)):
        if name is not None and name != "":
            out.append((kind, str(name)))
    return tuple(out)


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


TaskTuple = tuple[str, str | None, str | None, dict, tuple, list, list]


def task_tuple(doc: dict, properties: bool = True) -> TaskTuple:
    """map_task's mapping as plain tuples, for exports of many tasks: ``(task_id, workflow_id, parent_task_id,
    properties, agents as (kind, agent_id) pairs, used and generated as (entity_id, name, value) triples)``;
    properties is an empty dict when not asked for (a caller that maps the fields itself)."""
    task_id = doc.get("task_id")
    if task_id is None or task_id == "":
        raise ProvMappingError(f"a task document needs a task_id to be mapped to PROV; got keys {sorted(doc)[:12]}")
    return (
        str(task_id),
        _opt_str(doc.get("workflow_id")),
        _opt_str(doc.get("parent_task_id")),
        _properties(doc, _TASK_SKIP) if properties else {},
        _agents(doc.get("user") or doc.get("login_name"), doc.get("agent_id"), doc.get("hostname")),
        _entity_tuples(doc.get("used")),
        _entity_tuples(doc.get("generated")),
    )


def map_task(doc: dict) -> TaskMapping:
    """Map a task document (a stored document or a captured message) to PROV; raises ProvMappingError when it
    has no task_id."""
    task_id, workflow_id, parent, properties, agents, used, generated = task_tuple(doc)
    return TaskMapping(
        task_id=task_id,
        workflow_id=workflow_id,
        parent_task_id=parent,
        properties=properties,
        agents=tuple(AgentRef(*a) for a in agents),
        used=tuple(EntityRef(*e) for e in used),
        generated=tuple(EntityRef(*e) for e in generated),
    )


def map_workflow(doc: dict) -> WorkflowMapping:
    """Map a workflow document to PROV; raises ProvMappingError when it has no workflow_id. The host agent is
    ``hostname`` or, failing that, ``machine_info.hostname``."""
    workflow_id = doc.get("workflow_id")
    if workflow_id is None or workflow_id == "":
        raise ProvMappingError(
            f"a workflow document needs a workflow_id to be mapped to PROV; got keys {sorted(doc)[:12]}"
        )
    machine = doc.get("machine_info")
    host = doc.get("hostname") or (machine.get("hostname") if isinstance(machine, dict) else None)
    return WorkflowMapping(
        workflow_id=str(workflow_id),
        campaign_id=_opt_str(doc.get("campaign_id")),
        parent_workflow_id=_opt_str(doc.get("parent_workflow_id")),
        properties=_properties(doc, _WORKFLOW_SKIP),
        agents=tuple(
            AgentRef(*a) for a in _agents(doc.get("user") or doc.get("login_name"), doc.get("agent_id"), host)
        ),
    )
