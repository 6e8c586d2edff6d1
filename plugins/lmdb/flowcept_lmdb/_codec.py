"""Bytes on disk: document keys, index keys and msgpack document values.

Keys are the id (or indexed value) as UTF-8. Values UTF-8 cannot produce use the bytes 0xfd-0xff as a first byte,
so they never collide with a string: 0xff is the empty string (LMDB refuses empty keys), 0xfe + digits a number,
0xfd + a prefix + SHA-256 a string longer than LMDB's 511-byte key limit.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from typing import Any

import msgpack
import orjson

from flowcept_core.plugin import StoreError
from flowcept_lmdb._snapshots import ext_hook, resolve_json_refs

__all__ = ["doc_key", "index_keys", "lookup_key", "is_exact", "pack", "unpack", "unpack_all", "MAX_KEY"]

_MAX_KEY = MAX_KEY = 480  # a str whose UTF-8 is 1..MAX_KEY bytes is its own key (LMDB keys stop at 511 bytes)
_local = threading.local()  # one msgpack.Packer per thread: a Packer is not thread-safe, building one costs


def _str_key(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    if not b:
        return b"\xff"
    if len(b) > _MAX_KEY:
        return b"\xfd" + b[:400] + hashlib.sha256(b).digest()
    return b


def _num_key(v: int | float) -> bytes:
    # True, 1 and 1.0 are equal in a filter, so they share a key.
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return b"\xfe" + str(int(v) if isinstance(v, bool) else v).encode()


def lookup_key(v: Any) -> bytes | None:
    """The key a filter value is looked up under, or None when it cannot be looked up (then: full scan)."""
    if isinstance(v, str):
        return _str_key(v)
    if isinstance(v, (int, float)):
        return _num_key(v)
    return None


def is_exact(v: Any) -> bool:
    """True when v's key stands for v alone (a string stored as its own UTF-8), so an index hit needs no re-check."""
    return isinstance(v, str) and 0 < len(v.encode("utf-8", "surrogatepass")) <= _MAX_KEY


def doc_key(collection: str, id_field: str, value: Any) -> bytes:
    """The key of a document from its id value; StoreError when it has none or a kind that cannot be an id."""
    if type(value) is str:  # the common case, inlined: an id is its own UTF-8
        b = value.encode("utf-8", "surrogatepass")
        if 0 < len(b) <= _MAX_KEY:
            return b
    if isinstance(value, str):
        return _str_key(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _num_key(value)
    if value is None:
        raise StoreError(f"a {collection} document has no {id_field!r}; every {collection} document needs one")
    raise StoreError(
        f"{collection} document {id_field}={value!r}: the id must be a string or an integer, not {type(value).__name__}"
    )


def index_keys(doc: dict, field: str) -> set[bytes]:
    """The index keys of doc's top-level field: its value, or each element of a list value."""
    value = doc.get(field)
    values = value if isinstance(value, list) else [value]
    keys = set()
    for v in values:
        k = lookup_key(v)
        if k is not None:
            keys.add(k)
    return keys


def pack(doc: dict, collection: str, id_field: str) -> bytes:
    """msgpack bytes of doc (bytes stay bytes); StoreError naming the document when a value cannot be stored."""
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)  # = msgpack.packb(doc, use_bin_type=True)
    try:
        return packer.pack(doc)  # the Packer empties its buffer after an error too
    except (TypeError, ValueError, OverflowError) as e:
        raise StoreError(
            f"{collection} document {id_field}={doc.get(id_field)!r} cannot be stored: {e} (values must "
            "be None, bool, int, float, str, bytes, list or dict)"
        ) from None


# A msgpack document value: bound once, called for every document read (also through map() in a C loop).
# ext_hook puts back the telemetry snapshots documents refer to (see _snapshots).
_unpack_msgpack = functools.partial(msgpack.unpackb, raw=False, strict_map_key=False, ext_hook=ext_hook)
_unpack_str_keys = functools.partial(msgpack.unpackb, ext_hook=ext_hook)
_JSON = 0x7B  # "{": the first byte of a JSON document (see _encoded); a msgpack map never starts with it


def unpack(raw: bytes) -> dict:
    """The document stored as raw (msgpack, or JSON written by upsert_json)."""
    if raw[0] == _JSON:
        return resolve_json_refs(orjson.loads(raw))
    return _unpack_msgpack(raw)


def unpack_all(raws: list[bytes]) -> list[dict]:
    """[unpack(raw) for raw in raws], in a C loop when they are all msgpack.

    msgpack.unpackb's defaults are unpack's settings but strict_map_key, which is about 6% faster. A document with
    a map key other than str/bytes, or a JSON document, fails that way (ValueError): then all are decoded again with
    unpack, which also raises for data that is really damaged.
    """
    if raws and raws[0][0] == _JSON:
        return list(map(unpack, raws))
    try:
        return list(map(_unpack_str_keys, raws))
    except ValueError:
        return list(map(unpack, raws))
