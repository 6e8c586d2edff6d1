"""MongoDB-style filters, projections and sorts evaluated in Python (for stores without a query engine, e.g. LMDB).

Supported: implicit equality, dotted paths into nested dicts (``used.x``, ``telemetry_at_end.cpu.percent_all``),
$and $or $nor $not $eq $ne $gt $gte $lt $lte $in $nin $exists $regex (+$options). Like MongoDB, a condition on an
array field matches when any element matches, and comparisons between different kinds of values are false.
An unknown operator or a malformed filter raises FilterError naming it and listing what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["FilterError", "compile_filter", "matches", "get_path", "project", "sort_documents", "OPERATORS",
           "equality_keys", "MISSING", "value_kind"]


class FilterError(ValueError):
    """A filter, projection or sort that cannot be evaluated."""


OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$options", "$not")
LOGICAL = ("$and", "$or", "$nor")
MISSING = object()  # what get_path returns for a path that is not in the document


def get_path(doc: Any, path: str) -> Any:
    """The value at a dotted path, or MISSING; list elements are searched (a list of the values found)."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, MISSING)
        elif isinstance(node, list):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                found = [get_path(x, part) for x in node if isinstance(x, dict)]
                found = [x for x in found if x is not MISSING]
                node = found if found else MISSING
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def value_kind(v: Any) -> int:
    """Which kind of value v is, for comparisons and sorting across types (as MongoDB orders kinds)."""
    if v is None:
        return 0
    if isinstance(v, bool):
        return 3
    if isinstance(v, (int, float)):
        return 1
    if isinstance(v, str):
        return 2
    return 9


def _cmp(op: str, a: Any, b: Any) -> bool:
    if value_kind(a) != value_kind(b) or value_kind(a) == 9:
        return False
    if op == "$gt":
        return a > b
    if op == "$gte":
        return a >= b
    if op == "$lt":
        return a < b
    return a <= b


def _any(value: Any, test: Callable[[Any], bool]) -> bool:
    if test(value):
        return True
    return isinstance(value, list) and any(test(v) for v in value)


def _field_test(path: str, cond: Any) -> Callable[[dict], bool]:
    if not (isinstance(cond, dict) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond)):
        return lambda doc: _any(get_path(doc, path), lambda v: v == cond) or (
            cond is None and get_path(doc, path) is MISSING)
    tests = []
    for op, arg in cond.items():
        if op not in OPERATORS:
            raise FilterError(f"unknown operator {op!r} on field {path!r}; allowed: {', '.join(OPERATORS + LOGICAL)}")
        if op == "$options":
            continue
        tests.append(_operator(path, op, arg, cond))
    return lambda doc: all(t(doc) for t in tests)


def _operator(path: str, op: str, arg: Any, cond: dict) -> Callable[[dict], bool]:
    if op == "$eq":
        return _field_test(path, arg) if not isinstance(arg, dict) else (
            lambda d: _any(get_path(d, path), lambda v: v == arg))
    if op == "$ne":
        eq = _field_test(path, {"$eq": arg})
        return lambda d: not eq(d)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return lambda d: _any(get_path(d, path), lambda v: _cmp(op, v, arg))
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple, set)):
            raise FilterError(f"{op} on {path!r} needs a list, got {arg!r}")
        values = list(arg)

        def inside(d: dict) -> bool:
            v = get_path(d, path)
            if v is MISSING:
                return None in values
            return _any(v, lambda x: x in values)

        return inside if op == "$in" else (lambda d: not inside(d))
    if op == "$exists":
        want = bool(arg)
        return lambda d: (get_path(d, path) is not MISSING) == want
    if op == "$regex":
        flags = 0
        for ch in str(cond.get("$options", "")):
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(ch, 0)
        try:
            rx = re.compile(arg, flags) if isinstance(arg, str) else arg
        except re.error as e:
            raise FilterError(f"$regex {arg!r} on {path!r} is not a valid regular expression: {e}") from None
        return lambda d: _any(get_path(d, path), lambda v: isinstance(v, str) and rx.search(v) is not None)
    # $not
    if not isinstance(arg, dict):
        raise FilterError(f"$not on {path!r} needs an operator expression, got {arg!r}")
    inner = _field_test(path, arg)
    return lambda d: not inner(d)


def compile_filter(flt: dict | None) -> Callable[[dict], bool]:
    """A predicate doc -> bool for a MongoDB-style filter (validated once, evaluated many times)."""
    if flt is None:
        return lambda doc: True
    if not isinstance(flt, dict):
        raise FilterError(f"a filter must be a dict, got {type(flt).__name__}: {flt!r}")
    tests = []
    for key, cond in flt.items():
        if not isinstance(key, str):
            raise FilterError(f"filter keys must be strings, got {key!r}")
        if key in LOGICAL:
            if not isinstance(cond, list) or not cond:
                raise FilterError(f"{key} needs a non-empty list of filters, got {cond!r}")
            subs = [compile_filter(c) for c in cond]
            if key == "$and":
                tests.append(lambda d, s=subs: all(t(d) for t in s))
            elif key == "$or":
                tests.append(lambda d, s=subs: any(t(d) for t in s))
            else:
                tests.append(lambda d, s=subs: not any(t(d) for t in s))
        elif key.startswith("$"):
            raise FilterError(f"unknown top-level operator {key!r}; allowed: {', '.join(LOGICAL)}")
        else:
            tests.append(_field_test(key, cond))
    return lambda doc: all(t(doc) for t in tests)


def matches(doc: dict, flt: dict | None) -> bool:
    return compile_filter(flt)(doc)


def equality_keys(flt: dict | None, keys: Iterable[str]) -> dict[str, list]:
    """For index use: {key: [values]} for top-level keys the filter pins by equality or $in (also inside $and)."""
    out: dict[str, list] = {}
    if not isinstance(flt, dict):
        return out
    wanted = set(keys)
    for k, cond in flt.items():
        if k == "$and" and isinstance(cond, list):
            for sub in cond:
                for kk, vv in equality_keys(sub, wanted).items():
                    out.setdefault(kk, vv)
        elif k in wanted:
            if isinstance(cond, dict) and set(cond) == {"$eq"}:
                cond = cond["$eq"]
            if isinstance(cond, dict) and set(cond) == {"$in"} and isinstance(cond["$in"], list):
                out[k] = list(cond["$in"])
            elif not isinstance(cond, (dict, list)):
                out[k] = [cond]
    return out


def project(doc: dict, projection: Any) -> dict:
    """Apply a projection: a list of fields to keep, or {field: 1|0}; dotted paths allowed; None keeps all."""
    if not projection:
        return doc
    if isinstance(projection, (list, tuple)):
        projection = {f: 1 for f in projection}
    if not isinstance(projection, dict):
        raise FilterError(f"a projection must be a list of fields or a dict of field: 0/1, got {projection!r}")
    include = {k for k, v in projection.items() if v}
    exclude = {k for k, v in projection.items() if not v}
    if include and exclude - {"_id"}:
        raise FilterError("a projection cannot both include and exclude fields (except _id)")
    if include:
        out: dict = {}
        for path in include:
            value = get_path(doc, path)
            if value is not MISSING:
                _set(out, path, value)
        return out
    out = dict(doc)
    for path in exclude:
        _drop(out, path)
    return out


def _set(doc: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
    doc[parts[-1]] = value


def _drop(doc: dict, path: str) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = doc.get(p)
        if not isinstance(nxt, dict):
            return
        doc[p] = nxt = dict(nxt)
        doc = nxt
    doc.pop(parts[-1], None)


def sort_documents(docs: list[dict], sort: Any) -> list[dict]:
    """Sort by [(field, 1|-1), ...] (or a dict); missing values first ascending, like MongoDB."""
    if not sort:
        return docs
    if isinstance(sort, dict):
        sort = list(sort.items())
    if isinstance(sort, str):
        sort = [(sort, 1)]
    for field, direction in reversed(list(sort)):
        if direction not in (1, -1):
            raise FilterError(f"sort direction for {field!r} must be 1 or -1, got {direction!r}")

        def key(d: dict, f: str = field) -> tuple:
            v = get_path(d, f)
            return (-1, 0) if v is MISSING or v is None else (value_kind(v), v if value_kind(v) != 9 else repr(v))

        docs = sorted(docs, key=key, reverse=direction == -1)
    return docs
