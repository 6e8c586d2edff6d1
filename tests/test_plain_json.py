"""plain_copy gives a value as its JSON round trip would (orjson through dumps_line), or None for what that trip
changes otherwise (the caller then makes the trip)."""

from __future__ import annotations

import math

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcept_core.plain_json import plain_copy
from flowcept_core.serialize import dumps_line

_leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(), st.text(max_size=20))
_values = st.recursive(_leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.tuples(inner, inner),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_a_plain_copy_equals_the_json_round_trip(value):
    copy = plain_copy({"v": value})
    if copy is not None:
        assert copy == orjson.loads(dumps_line({"v": value}))
        assert copy["v"] is not value or not isinstance(value, (dict, list, tuple))  # a copy, not the same object


def test_values_the_round_trip_changes_give_none():
    for odd in ({1: "int key"}, math.nan, math.inf, 2**64, "\ud800", b"bytes", {"k": {1, 2}}, [object()]):
        assert plain_copy({"v": odd}) is None, odd
    assert plain_copy({"t": (1, [2, (3,)])}) == {"t": [1, [2, [3]]]}
