"""Query helpers for LMDBStore.find: decoding many documents, a guarded fast filter, sort + limit without a full sort.

Each helper gives exactly what flowcept_core.filters gives (compile_filter, sort_documents); it only gets there
with less work. Anything unusual falls back to flowcept_core.filters itself.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Iterable
from typing import Any

from flowcept_core.plugin import MISSING, get_path, sort_documents, value_kind

__all__ = ["fast_predicate", "sort_and_limit"]

_UNKNOWN = object()  # a fast check could not decide: ask the exact predicate
_MISS = object()
_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
_EQUAL = {"$eq": operator.eq, "$ne": operator.ne}
_SCALARS = (int, float, str)  # exact types only: bool is an int but has its own kind in filters._cmp


def _field_check(
    parts: tuple[str, ...],
    ops: list[tuple[Callable[[Any, Any], bool], Any, bool]],
    exact: Callable[[dict], bool] | None = None,
) -> Callable:
    """check(doc) -> True / False for one field's conditions, or when it cannot tell: exact(doc) (exact None:
    _UNKNOWN). See fast_predicate."""
    # Missing (also a scalar on the way, as in filters.get_path): equality is false, $ne true, an order comparison
    # false (filters._cmp: the kinds differ).
    if_missing = all(fn is operator.ne for fn, _, _ in ops)

    def check(doc: dict) -> Any:
        node: Any = doc
        for p in parts:
            if type(node) is dict:
                node = node.get(p, _MISS)
                if node is _MISS:
                    return if_missing
            elif isinstance(node, (dict, list)):  # a list: any element may match; a dict subclass: be exact
                return _UNKNOWN if exact is None else exact(doc)
            else:
                return if_missing
        kind = type(node)
        if kind is not str and kind is not int and kind is not float:
            return _UNKNOWN if exact is None else exact(doc)
        for fn, arg, ordered in ops:
            if ordered and (kind is str) != (type(arg) is str):
                return False  # filters._cmp: values of different kinds never compare
            if not fn(node, arg):
                return False
        return True

    return check


def fast_predicate(flt: Any, exact: Callable[[dict], bool]) -> Callable[[dict], bool]:
    """A predicate equal to exact (compile_filter(flt), already validated) but cheaper for the common filters.

    Handled: top-level fields (dotted paths through dicts) compared by equality, $eq, $ne, $gt, $gte, $lt, $lte
    with a str, int or float. When a document holds something else on the path (a list, a bool, None, a dict) the
    answer comes from exact, so the result is always exact's. Any other filter: exact itself.
    """
    if not isinstance(flt, dict) or not flt:
        return exact
    specs = []  # (path parts, [(operator, argument, is an order comparison)]) per field
    for key, cond in flt.items():
        if type(key) is not str or key.startswith("$"):
            return exact
        parts = tuple(key.split("."))
        if not all(parts) or any(p.isdigit() for p in parts):  # digits index lists in filters.get_path
            return exact
        if type(cond) in _SCALARS:
            ops = [(operator.eq, cond, False)]
        elif type(cond) is dict and cond and all(type(a) in _SCALARS for a in cond.values()):
            if not all(op in _ORDER or op in _EQUAL for op in cond):
                return exact
            ops = [(_ORDER.get(op) or _EQUAL[op], arg, op in _ORDER) for op, arg in cond.items()]
        else:
            return exact
        specs.append((parts, ops))

    if len(specs) == 1:  # the usual case: one call per document, deciding or asking exact itself
        return _field_check(*specs[0], exact)
    checks = [_field_check(parts, ops) for parts, ops in specs]

    def predicate(doc: dict) -> bool:
        unsure = False
        for check in checks:
            r = check(doc)
            if r is False:
                return False
            if r is _UNKNOWN:
                unsure = True
        return exact(doc) if unsure else True

    return predicate


def _sort_fields(sort: Any) -> list[tuple[str, bool]] | None:
    """[(field, descending)] when sort is a well-formed spec with one direction for all fields, else None."""
    if isinstance(sort, dict):
        sort = list(sort.items())
    if isinstance(sort, str):
        sort = [(sort, 1)]
    if not isinstance(sort, (list, tuple)) or not sort:
        return None
    fields = []
    for item in sort:
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str):
            return None
        if item[1] not in (1, -1):
            return None  # sort_documents raises the FilterError
        fields.append((item[0], item[1] == -1))
    if len({desc for _, desc in fields}) != 1:
        return None  # mixed directions: sort_documents' successive stable sorts
    return fields


def _value_key(d: dict, f: str) -> tuple:
    # The key of filters.sort_documents, exactly (tests/test_lmdb_query.py compares both on mixed kinds).
    v = get_path(d, f)
    if v is MISSING or v is None:
        return _NO_VALUE
    k = value_kind(v)
    return (k, v if k != 9 else repr(v))


_NO_VALUE = (-1, 0)


def _key_function(field: str) -> Callable[[dict], tuple]:
    """key(doc) = _value_key(doc, field), walking plain dicts directly; anything else goes through _value_key."""
    parts = tuple(field.split("."))
    if not all(parts) or any(p.isdigit() for p in parts):
        return lambda d: _value_key(d, field)

    def key(d: dict) -> tuple:
        node: Any = d
        for p in parts:
            if type(node) is not dict:
                return _value_key(d, field)
            node = node.get(p, _MISS)
            if node is _MISS:
                return _NO_VALUE
        kind = type(node)
        if kind is float or kind is int:
            return (1, node)
        if kind is str:
            return (2, node)
        return _NO_VALUE if node is None else _value_key(d, field)

    return key


def sort_and_limit(docs: Iterable[dict], sort: Any, limit: int) -> list[dict]:
    """sort_documents(list(docs), sort)[:limit] (limit 0: all), keeping only limit documents when it can.

    heapq.nsmallest / nlargest are documented equal to sorted(...)[:n] / sorted(..., reverse=True)[:n], ties in
    input order, which is what sort_documents' stable sorts give when every field has the same direction.
    """
    fields = _sort_fields(sort) if sort and limit else None
    if fields is None:
        out = sort_documents(docs if isinstance(docs, list) else list(docs), sort)
        return out[:limit] if limit else out
    if len(fields) == 1:
        key = _key_function(fields[0][0])
    else:
        keys = [_key_function(f) for f, _ in fields]

        def key(d: dict) -> tuple:
            return tuple([k(d) for k in keys])

    pick = heapq.nlargest if fields[0][1] else heapq.nsmallest
    return pick(limit, docs, key=key)


# -- undecoded reads (the provenance browser's pass over a workflow's tasks) ------------------------------------------


def indexed_raw(store: Any, collection: str, field: str, value: Any, skip: Any = ()) -> list[tuple[bytes, bytes]]:
    """(key, stored bytes) of the documents whose indexed top-level field equals value, in key order, undecoded;
    keys in skip (a set) are left out. An index read plus one getmulti: nothing is decoded, so a caller can decode
    with lean_unpack (telemetry snapshots left as references) and read only the snapshots it needs."""
    from flowcept_lmdb import _postings as postings
    from flowcept_lmdb._codec import lookup_key

    ik = lookup_key(value)
    if ik is None:
        raise ValueError(f"indexed_raw: {field}={value!r} is not a value an index holds (a string or a number)")

    def read(txn: Any) -> list[tuple[bytes, bytes]]:
        shared = store._env()
        index = shared.indexes[collection].get(field)
        if index is None:
            raise ValueError(
                f"indexed_raw: {collection}.{field} is not indexed; indexed: {sorted(shared.indexes[collection])}"
            )
        keys = postings.lookup(txn, index, ik)
        if skip:
            keys = [k for k in keys if k not in skip]
        return txn.cursor(db=shared.docs[collection]).getmulti(keys) if keys else []

    return store._read(read)


def indexed_raw_from(
    store: Any, collection: str, field: str, value: Any, skip: Any, first_chunk: int
) -> tuple[list[tuple[bytes, bytes]], int]:
    """indexed_raw for the keys listed in value's posting chunks numbered first_chunk and later, and the number of
    its last chunk (-1: none). Keys are only ever added to the last chunk or to new ones (see _postings.add), so a
    caller that remembers the last chunk number finds every key added since by reading from that chunk on."""
    import msgpack

    from flowcept_lmdb import _postings as postings
    from flowcept_lmdb._codec import lookup_key

    ik = lookup_key(value)
    if ik is None:
        raise ValueError(f"indexed_raw_from: {field}={value!r} is not a value an index holds (a string or a number)")
    prefix, want = ik + b"\x00", len(ik) + postings.SUFFIX

    def read(txn: Any) -> tuple[list[tuple[bytes, bytes]], int]:
        shared = store._env()
        cursor = txn.cursor(db=shared.indexes[collection][field])
        keys: set[bytes] = set()
        last = -1
        if cursor.set_range(prefix + max(0, first_chunk).to_bytes(4, "big")):
            for key, raw in cursor:
                if not key.startswith(prefix):
                    break
                if len(key) == want:
                    keys.update(msgpack.unpackb(raw))
                    last = int.from_bytes(key[-4:], "big")
        fresh = sorted(k for k in keys if k not in skip)
        return (txn.cursor(db=shared.docs[collection]).getmulti(fresh) if fresh else []), last

    return store._read(read)


def last_chunk(store: Any, collection: str, field: str, value: Any) -> int:
    """The number of the last posting chunk of value in the index of field (-1: none); see indexed_raw_from."""
    from flowcept_lmdb import _postings as postings
    from flowcept_lmdb._codec import lookup_key

    ik = lookup_key(value)
    if ik is None:
        return -1
    return store._read(lambda txn: postings._last_chunk(txn.cursor(db=store._env().indexes[collection][field]), ik)[1])


def raw_by_keys(store: Any, collection: str, keys: list[bytes]) -> list[tuple[bytes, bytes]]:
    """(key, stored bytes) of the documents with these keys (absent ones left out), undecoded."""
    if not keys:
        return []
    return store._read(lambda txn: txn.cursor(db=store._env().docs[collection]).getmulti(sorted(keys)))


def lean_unpack(raws: list[bytes]) -> list[dict]:
    """The documents stored as raws, with their telemetry snapshots left as references (see snapshot_ref): no
    snapshot is read or decoded. A msgpack extension value comes out as ``slice(code, data)`` (built in C, unlike
    msgpack.ExtType: a third of the decoding time otherwise), a JSON document's reference as its JSON form."""
    import functools

    import msgpack
    import orjson

    from flowcept_core.plugin import gc_paused

    lean = functools.partial(msgpack.unpackb, ext_hook=slice)

    def one(raw: bytes) -> dict:
        if raw[0] == 0x7B:  # "{": a JSON document (see _encoded)
            return orjson.loads(raw)
        return msgpack.unpackb(raw, raw=False, strict_map_key=False, ext_hook=slice)

    with gc_paused(promote=True):
        if raws and raws[0][0] != 0x7B:
            try:
                return list(map(lean, raws))
            except ValueError:  # a JSON document among them, or a map key other than str / bytes
                pass
        return list(map(one, raws))


def snapshot_ref(value: Any) -> bytes | None:
    """The digest a lean_unpack'ed document holds in place of a telemetry snapshot, or None when value is not a
    reference."""
    from flowcept_lmdb._snapshots import JSON_REF_KEY, SNAPSHOT_EXT

    if type(value) is slice:
        return value.stop if value.start == SNAPSHOT_EXT and type(value.stop) is bytes else None
    if type(value) is dict and len(value) == 1 and type(value.get(JSON_REF_KEY)) is str:
        try:
            return bytes.fromhex(value[JSON_REF_KEY])
        except ValueError:
            return None
    return None


def read_snapshots(store: Any, digests: Iterable[bytes]) -> dict[bytes, dict]:
    """The telemetry snapshots with these digests, each read and decoded once (missing ones left out)."""
    import msgpack

    wanted = sorted(set(digests))
    if not wanted:
        return {}

    def read(txn: Any) -> dict[bytes, bytes]:
        db = store._env().snapshots
        return {d: raw for d in wanted if (raw := txn.get(d, db=db)) is not None}

    return {d: msgpack.unpackb(raw, raw=False, strict_map_key=False) for d, raw in store._read(read).items()}


def indexed_count(store: Any, collection: str, field: str, value: Any) -> int | None:
    """How many documents the index of a top-level field lists under value, read from the headers of its posting
    chunks (nothing decoded: a 100k-document workflow is ~25 chunks). Equal to count(collection, {field: value}) for
    a string value (the index is exact for those; a document key is never listed twice). None when field is not
    indexed or value is not a string."""
    from flowcept_lmdb import _postings as postings
    from flowcept_lmdb._codec import is_exact, lookup_key

    if not isinstance(value, str) or not is_exact(value):
        return None

    def read(txn: Any) -> int | None:
        index = store._env().indexes[collection].get(field)
        if index is None:
            return None
        total = 0
        for _, raw in postings._chunks(txn.cursor(db=index), lookup_key(value)):
            head = raw[0]
            if 0x90 <= head <= 0x9F:
                total += head & 0x0F
            elif head == 0xDC:
                total += int.from_bytes(raw[1:3], "big")
            elif head == 0xDD:
                total += int.from_bytes(raw[1:5], "big")
            else:
                raise ValueError(f"index chunk of {collection}.{field}={value!r} is not a msgpack array")
        return total

    return store._read(read)
