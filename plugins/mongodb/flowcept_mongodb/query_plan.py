"""How a find() is split between the MongoDB server and flowcept_core.filters, so results equal the Python semantics.

Every store must return what flowcept_core.filters would give. MongoDB servers differ from those semantics at the
edges (real MongoDB: ``{"x": 1}`` does not match ``True``, arrays sort by their smallest element; wire-compatible
servers such as NX-27017 compare across types, ignore ``null`` vs missing, flatten dotted projections). So:

* The filter sent to the server is the part both agree on exactly: string equality / ``$in`` of strings on paths
  without array indexes (task_id, workflow_id, activity_id, ...), also inside ``$and``. It uses the indexes.
  When that is the whole filter (``exact``), the server also applies the limit and counts natively; otherwise the
  server returns a superset and flowcept_core.filters decides.
* Sort is sent to the server (index use), then the page is re-sorted stably in Python (a no-op unless values of
  different kinds are compared).
* Projection is sent as its top-level fields (less data on the wire) and applied exactly in Python.

This is how queries run when databases.mongodb.native_queries is false, or "auto" on a server that is not MongoDB
itself; on MongoDB, "auto" sends whole queries (flowcept_mongodb.native).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowcept_core.plugin import FilterError, compile_filter, project, sort_documents

__all__ = ["FindPlan", "plan_find", "normalize_sort", "filter_fields"]

_LOGICAL = ("$and", "$or", "$nor")


@dataclass
class FindPlan:
    """What to send to the server (filter/projection/sort/limit) and what to finish in Python."""

    native_filter: dict
    exact: bool
    native_projection: dict
    native_sort: list[tuple[str, int]] | None
    native_limit: int
    predicate: Any = field(repr=False)
    projection: Any = None
    sort: list[tuple[str, int]] | None = None
    limit: int = 0

    def finish(self, docs: list[dict]) -> list[dict]:
        """Apply in Python what the server was not trusted with; docs come without _id."""
        if not self.exact:
            docs = [d for d in docs if self.predicate(d)]
        if self.sort:
            docs = sort_documents(docs, self.sort)
        if self.limit:
            docs = docs[: self.limit]
        if self.projection:
            docs = [project(d, self.projection) for d in docs]
        return docs


def normalize_sort(sort: Any) -> list[tuple[str, int]] | None:
    """[(field, 1|-1), ...] from a list of pairs, a dict or a field name; FilterError on a bad direction."""
    if not sort:
        return None
    if isinstance(sort, str):
        sort = [(sort, 1)]
    elif isinstance(sort, dict):
        sort = list(sort.items())
    try:
        pairs = [(str(f), d) for f, d in sort]
    except (TypeError, ValueError):
        raise FilterError(f"a sort must be [(field, 1|-1), ...], a dict or a field name, got {sort!r}") from None
    sort_documents([], pairs)  # validates the directions
    return pairs


def plan_find(flt: dict | None, projection: Any = None, sort: Any = None, limit: int = 0) -> FindPlan:
    """Validate the query (FilterError like every store) and split it between the server and Python."""
    predicate = compile_filter(flt)
    if projection:
        project({}, projection)  # validates: a list of fields or {field: 0/1}, not both kinds
        if isinstance(projection, (list, tuple)):
            projection = {f: 1 for f in projection}
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise FilterError(f"limit must be a non-negative integer, got {limit!r}")
    pairs = normalize_sort(sort)
    native_filter, exact = _pushdown(flt or {})
    keep = {_top(f) for f, _ in pairs or ()}  # Python re-sorts, so sort fields must come back
    if not exact:
        keep |= filter_fields(flt or {})  # and Python filters
    return FindPlan(
        native_filter=native_filter,
        exact=exact,
        native_projection=_native_projection(projection, keep),
        native_sort=pairs,
        native_limit=limit if exact else 0,
        predicate=predicate,
        projection=projection or None,
        sort=pairs,
        limit=limit,
    )


def _top(path: str) -> str:
    return path.split(".", 1)[0]


def _native_projection(projection: dict | None, keep: set[str]) -> dict:
    out: dict[str, int] = {"_id": 0}
    if not projection:
        return out
    include = {_top(k) for k, v in projection.items() if v and k != "_id"}
    if include:
        out.update({f: 1 for f in sorted(include | keep)})
    else:  # exclusion: only whole top-level fields the finishing steps do not need
        out.update({k: 0 for k, v in projection.items() if not v and "." not in k and k not in keep and k != "_id"})
    return out


def filter_fields(flt: dict) -> set[str]:
    """The top-level fields a filter reads (so a projection for checking it in Python keeps them)."""
    out: set[str] = set()
    for k, cond in flt.items():
        if k in _LOGICAL:
            for sub in cond:
                out |= filter_fields(sub)
        else:
            out.add(_top(k))
    return out


def _safe_path(path: str) -> bool:
    return not path.startswith("$") and all(p and not p.isdigit() for p in path.split("."))


def _exact_condition(cond: Any) -> Any:
    """The native condition when both semantics agree exactly on it (string equality or $in of strings), else None."""
    if isinstance(cond, str):
        return cond
    if isinstance(cond, dict) and len(cond) == 1:
        ((op, arg),) = cond.items()
        if op == "$eq" and isinstance(arg, str):
            return arg
        if op == "$in" and isinstance(arg, (list, tuple)) and arg and all(isinstance(v, str) for v in arg):
            return {"$in": list(arg)}
    return None


def _pushdown(flt: dict) -> tuple[dict, bool]:
    """(native filter, exact): a filter every matching document also matches, and whether it is the whole filter."""
    parts: list[dict] = []
    exact = True
    for k, cond in flt.items():
        if k == "$and":
            subs = [_pushdown(s) for s in cond]
            parts.extend(s for s, _ in subs if s)
            exact &= all(e for _, e in subs)
        elif k in ("$or", "$nor"):
            subs = [_pushdown(s) for s in cond]
            if k == "$or" and all(e for _, e in subs) and all(s for s, _ in subs):
                parts.append({"$or": [s for s, _ in subs]})
            else:
                exact = False
        elif _safe_path(k) and (native := _exact_condition(cond)) is not None:
            parts.append({k: native})
        else:
            exact = False
    if not parts:
        return {}, exact
    if len(parts) == 1:
        return parts[0], exact
    return {"$and": parts}, exact
