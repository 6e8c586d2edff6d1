"""Copying a value the way a JSON round trip (orjson) would give it back, without encoding it."""

from __future__ import annotations

from flowcept_core.serialize import _utf8, finite

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["loads", "plain_copy"]


def loads(data: bytes) -> Any:
    """orjson.loads, orjson imported at the first call (~19 ms with what it imports: an offline run kept as records
    decodes nothing)."""
    import orjson

    return orjson.loads(data)


def plain_copy(value: Any, depth: int = 0) -> Any:
    """A deep copy of value as decoding its JSON would give it, when value holds only dicts with str keys, lists,
    tuples, str without lone surrogates, bools, None, ints in 64 bits and finite floats; else None."""
    t = type(value)
    if t is str:
        return value if value.isascii() or _utf8(value) else None
    if t is bool or value is None or (t is int and -(2**63) <= value < 2**64) or (t is float and finite(value)):
        return value
    if depth > 64:
        return None
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or not (k.isascii() or _utf8(k)):
                return None
            c = plain_copy(v, depth + 1)
            if c is None and v is not None:
                return None
            out[k] = c
        return out
    if t is list or t is tuple:
        out_list = []
        for v in value:
            c = plain_copy(v, depth + 1)
            if c is None and v is not None:
                return None
            out_list.append(c)
        return out_list
    return None
