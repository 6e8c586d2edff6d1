"""Queries evaluated by the MongoDB server itself (``databases.mongodb.native_queries``).

In native mode the whole filter, sort, limit and projection of a find go to the server, and aggregations become one
``$match`` + ``$group`` pipeline: the server uses its indexes and sends back only the page or the groups, instead of
every candidate document for flowcept_core.filters to check in Python.

The results are those of flowcept_core.filters / flowcept_core.aggregate for provenance documents (one kind of value
per field). Where real MongoDB's semantics differ from the Python ones at the edges, native mode answers as MongoDB
does: a number never equals a boolean, arrays sort by their smallest (largest, descending) element, kinds of values
order as BSON orders them, a projection of ``a.b`` through an array of documents keeps the array, sums of floats are
rounded as MongoDB's compensated summation rounds them, and groups without a sort come in the server's order. Servers
that only speak the wire protocol (NX-27017, FerretDB, ...) disagree on many more cases, which is why ``auto`` turns
native mode on only for real MongoDB (``is_mongodb``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowcept_core.plugin import FilterError, aggregate, compile_filter, project, result_field
from flowcept_mongodb.query_plan import normalize_sort

__all__ = ["is_mongodb", "NativeFind", "native_find", "native_filter", "GroupPlan", "plan_group", "MIN_VERSION"]

# $isNumber, used by the aggregation pipeline, exists since MongoDB 4.4.
MIN_VERSION = (4, 4)
# Words that name a MongoDB-compatible product other than MongoDB in its buildInfo answer.
_OTHER_PRODUCTS = ("ferretdb", "nx_27017", "nx-27017", "documentdb", "cosmos")


def is_mongodb(build_info: Any) -> bool:
    """True when a buildInfo answer comes from MongoDB itself (mongod or mongos, 4.4 or later).

    MongoDB's answer has gitVersion and versionArray; wire-compatible servers either lack them (NX-27017 answers with
    its process name and a version only) or name themselves somewhere in the answer (FerretDB has a ``ferretdb`` key).
    """
    if not isinstance(build_info, dict) or not build_info.get("gitVersion"):
        return False
    version = build_info.get("versionArray")
    if not isinstance(version, (list, tuple)) or len(version) < 2 or not all(isinstance(v, int) for v in version[:2]):
        return False
    if tuple(version[:2]) < MIN_VERSION:
        return False
    if build_info.get("process", "mongod") not in ("mongod", "mongos"):
        return False
    words = " ".join(_words(build_info)).lower()
    return not any(name in words for name in _OTHER_PRODUCTS)


def _words(value: Any, depth: int = 0) -> list[str]:
    """Every key and string value of a (nested) answer, to look for product names."""
    if depth > 8:
        return []
    if isinstance(value, dict):
        return [w for k, v in value.items() for w in (str(k), *_words(v, depth + 1))]
    if isinstance(value, (list, tuple)):
        return [w for v in value for w in _words(v, depth + 1)]
    return [value] if isinstance(value, str) else []


def _plain_path(path: str) -> bool:
    """A field path an aggregation expression ("$a.b") reads as flowcept_core.filters.get_path does: no empty part,
    no leading $, no numeric part (get_path indexes lists with it; aggregation expressions do not)."""
    return bool(path) and not path.startswith("$") and all(p and not p.isdigit() for p in path.split("."))


def native_filter(flt: dict | None) -> dict:
    """The filter as the server takes it, after checking it as every store does (FilterError for an unknown
    operator or a malformed filter). Sets and tuples become lists (BSON has no sets); a stray ``$options`` without
    ``$regex``, which flowcept_core.filters ignores and MongoDB refuses, is dropped."""
    compile_filter(flt)
    return _to_bson(flt or {})


def _to_bson(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _to_bson(v) for k, v in value.items()}
        if "$options" in out and "$regex" not in out:
            del out["$options"]
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_to_bson(v) for v in value]
    return value


@dataclass(frozen=True)
class NativeFind:
    """The arguments of one pymongo find(): the results need only their _id removed."""

    filter: dict
    projection: dict
    sort: list[tuple[str, int]] | None
    limit: int


def native_find(flt: dict | None, projection: Any = None, sort: Any = None, limit: int = 0) -> NativeFind:
    """Check a query like flowcept_mongodb.query_plan.plan_find does and translate all of it for the server."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise FilterError(f"limit must be a non-negative integer, got {limit!r}")
    return NativeFind(native_filter(flt), native_projection(projection), normalize_sort(sort), limit)


def native_projection(projection: Any) -> dict:
    """A MongoDB projection giving what flowcept_core.filters.project gives once _id is removed.

    _id is never returned (stores do not expose it), values become 1/0 (MongoDB would read another value as an
    expression), and a path under another projected path is dropped (MongoDB refuses the "path collision"; the
    Python projection gives the same document without it).
    """
    if not projection:
        return {"_id": 0}
    project({}, projection)  # validates: a list of fields or {field: 0/1}, not both kinds
    if isinstance(projection, (list, tuple)):
        projection = {f: 1 for f in projection}
    spec = {str(k): 1 if v else 0 for k, v in projection.items() if k != "_id"}
    spec = {k: v for k, v in spec.items() if not any(k.startswith(other + ".") for other in spec)}
    if not spec and projection.get("_id"):
        return {"_id": 1}  # only _id kept: an empty document once _id is removed, as in Python
    return {"_id": 0, **spec}


@dataclass(frozen=True)
class GroupPlan:
    """A ``$match`` + ``$group`` pipeline for an aggregation, and how to turn its groups into aggregate() rows."""

    pipeline: list[dict]
    ops: list[tuple[str, str]]
    fields: list[str]
    sort: list[tuple[str, int]] | None

    def rows(self, groups: list[dict]) -> list[dict]:
        """One row per group, laid out as flowcept_core.aggregate.aggregate lays it out (unsorted, unlimited)."""
        rows = []
        for g in groups:
            row: dict = {}
            for i, f in enumerate(self.fields):
                # a group-by field absent from the group's first document is absent from the row (None is kept)
                if g.get(f"t{i}") != "missing":
                    _set_path(row, f, g.get(f"v{i}"))
            for i, (op, field) in enumerate(self.ops):
                value = g.get(f"a{i}")
                if op in ("sum", "avg"):
                    n = g.get(f"n{i}") or 0
                    value = (float(value) if n else 0) if op == "sum" else (float(value) / n if n else None)
                row[result_field(op, field)] = value
            rows.append(row)
        return rows


def plan_group(flt: dict | None, aggregation: Any, group_by: Any = None, sort: Any = None) -> GroupPlan | None:
    """The pipeline computing flowcept_core.aggregate.aggregate(find(flt), aggregation, group_by); None when a field
    cannot be read by an aggregation expression exactly as get_path reads it (then the caller aggregates in Python).

    Checks everything first (FilterError as on every store). Per group the server computes: the group key (missing
    and null in one group, as aggregate.py puts them); the first document's group-by values and their BSON types
    (so a field missing there is left out of the row); per aggregation the count of documents with a non-null value,
    or the sum and count of numeric values (booleans are not numbers in BSON either), or their min / max.
    """
    aggregate([], aggregation)  # validates the (operation, field) pairs with aggregate.py's own messages
    ops = [(op, field) for op, field in ([aggregation] if _is_pair(aggregation) else aggregation)]
    if isinstance(group_by, dict):
        group_by = [k for k, v in group_by.items() if v and k != "_id"]
    fields = list(group_by or [])
    pairs = normalize_sort(sort)
    match = native_filter(flt)
    read = fields + [f for op, f in ops if not (op == "count" and f in ("*", ""))]
    if not all(isinstance(f, str) and _plain_path(f) for f in read):
        return None
    if not fields:
        key: Any = None
    elif len(fields) == 1:
        key = f"${fields[0]}"  # a single missing key groups with null
    else:
        key = {f"k{i}": {"$ifNull": [f"${f}", None]} for i, f in enumerate(fields)}
    group: dict[str, Any] = {"_id": key}
    for i, f in enumerate(fields):
        group[f"v{i}"] = {"$first": f"${f}"}
        group[f"t{i}"] = {"$first": {"$type": f"${f}"}}
    for i, (op, f) in enumerate(ops):
        ref = f"${f}"
        number = {"$isNumber": ref}
        if op == "count":
            present = {"$cond": [{"$eq": [{"$ifNull": [ref, None]}, None]}, 0, 1]}
            group[f"a{i}"] = {"$sum": 1 if f in ("*", "") else present}
        elif op in ("sum", "avg"):
            group[f"a{i}"] = {"$sum": {"$cond": [number, ref, 0]}}
            group[f"n{i}"] = {"$sum": {"$cond": [number, 1, 0]}}
        else:  # min / max ignore nulls
            group[f"a{i}"] = {f"${op}": {"$cond": [number, ref, None]}}
    pipeline = ([{"$match": match}] if match else []) + [{"$group": group}]
    return GroupPlan(pipeline, ops, fields, pairs)


def _is_pair(aggregation: Any) -> bool:
    return isinstance(aggregation, tuple) and len(aggregation) == 2 and isinstance(aggregation[0], str)


def _set_path(doc: dict, path: str, value: Any) -> None:
    """doc[a][b] = value for path "a.b", creating the dicts on the way (as flowcept_core.filters.project does)."""
    parts = path.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
    doc[parts[-1]] = value
