"""Property: whatever a captured value is, sanitize() returns something msgpack, orjson (plain mode, bytes as
extended JSON) and BSON all encode; within the caps, sanitizing it again changes nothing (a value may be sanitized
twice, by a producer and by a fallback)."""

from __future__ import annotations

import math

import msgpack
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcept_core.serialize import ValueLimits, sanitize

bson = pytest.importorskip("bson", reason="pymongo (bson) is not installed")

CAPPED = ValueLimits(max_depth=6, max_items=20, max_bytes=64)  # every cap is hit often
ROOMY = ValueLimits(max_depth=64, max_items=10_000, max_bytes=1 << 20)  # no cap is hit

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(),  # unbounded: past 64 bits too
    st.integers(min_value=10**4299, max_value=10**4400),  # past Python's int-to-str digit limit
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(codec=None, categories=None), max_size=80),  # lone surrogates included
    st.binary(max_size=100),
    st.decimals(allow_nan=False, allow_infinity=False),
)
keys = st.one_of(st.text(st.characters(codec=None, categories=None), max_size=12), st.integers(), st.none(),
                 st.booleans(), st.floats(allow_nan=False), st.tuples(st.integers(), st.text(max_size=3)))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=25), st.tuples(inner, inner),
                            st.dictionaries(keys, inner, max_size=25), st.frozensets(st.integers(), max_size=5)),
    max_leaves=60,
)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _bytes_as_extended_json(obj):
    if isinstance(obj, bytes):
        return {"$binary": obj.hex()}
    raise TypeError(type(obj).__name__)


def _encodes_everywhere(out) -> None:
    doc = {"v": out}
    msgpack.packb(doc, use_bin_type=True)
    orjson.dumps(doc, default=_bytes_as_extended_json)  # no OPT_NON_STR_KEYS: keys must be str already
    bson.encode(doc)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_sanitized_values_encode_everywhere(value):
    _encodes_everywhere(sanitize(value, CAPPED))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_within_the_caps_sanitizing_twice_changes_nothing(value):
    out = sanitize(value, ROOMY)
    _encodes_everywhere(out)
    assert _same(sanitize(out, ROOMY), out)
