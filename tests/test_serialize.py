"""sanitize(): captured Python values to message-safe values; dumps_line(): messages to JSON lines."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime
import types

import orjson
import pytest

from flowcept_core.serialize import ValueLimits, dumps_line, dumps_lines, object_placeholder, sanitize, sanitize_dict

try:
    import numpy as np
except ModuleNotFoundError:  # numpy is optional
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy not installed")


# ---------------------------------------------------------------- scalars and simple containers


@pytest.mark.parametrize("value", ["text", "", 0, -7, 2**63 - 1, 3.5, True, False, None])
def test_json_scalars_are_kept_as_is(value):
    out = sanitize(value)
    assert out == value
    assert type(out) is type(value)


def test_ints_beyond_signed_64_bits_become_strings():
    assert sanitize(2**64 + 5) == str(2**64 + 5)
    assert sanitize(-(2**63) - 1) == str(-(2**63) - 1)
    assert sanitize(2**64 - 1) == str(2**64 - 1)  # past BSON's signed 64 bits
    assert sanitize(2**63 - 1) == 2**63 - 1
    assert sanitize(-(2**63)) == -(2**63)


def test_sets_become_sorted_lists():
    assert sanitize({3, 1, 2}) == [1, 2, 3]
    assert sanitize(frozenset({"b", "c", "a"})) == ["a", "b", "c"]


def test_sets_of_numbers_sort_numerically():
    assert sanitize({10, 9, 100}) == [9, 10, 100]


def test_mixed_type_set_does_not_raise():
    out = sanitize({1, "a", None})
    assert sorted(map(repr, out)) == sorted(["1", "'a'", "None"])


def test_tuples_become_lists():
    assert sanitize((1, (2, 3))) == [1, [2, 3]]


def test_dict_non_str_keys_become_json_keys():
    class Key:
        def __str__(self):
            return "custom-key"

    out = sanitize({1: "int", 2.5: "float", (1, 2): "tuple", None: "none", Key(): "obj"})
    assert out["1"] == "int"
    assert out["2.5"] == "float"
    assert out["(1, 2)"] == "tuple"
    assert out["null"] == "none"
    assert out["custom-key"] == "obj"
    line = dumps_line({"d": out})
    assert orjson.loads(line)["d"]["(1, 2)"] == "tuple"


# ---------------------------------------------------------------- objects


def test_argparse_namespace_becomes_dict():
    ns = argparse.Namespace(lr=0.1, epochs=3, name="run")
    assert sanitize(ns) == {"lr": 0.1, "epochs": 3, "name": "run"}


def test_simple_namespace_becomes_dict_recursively():
    ns = types.SimpleNamespace(a=1, inner=types.SimpleNamespace(b=[1, 2]))
    assert sanitize(ns) == {"a": 1, "inner": {"b": [1, 2]}}


def test_to_flowcept_dict_is_preferred_over_to_dict():
    class Both:
        def to_flowcept_dict(self):
            return {"via": "to_flowcept_dict"}

        def to_dict(self):
            return {"via": "to_dict"}

    assert sanitize(Both()) == {"via": "to_flowcept_dict"}


def test_to_dict_is_used_when_no_to_flowcept_dict():
    class OnlyToDict:
        def to_dict(self):
            return {"x": {1, 2}}

    assert sanitize(OnlyToDict()) == {"x": [1, 2]}


def test_dataclass_becomes_dict():
    @dataclasses.dataclass
    class Point:
        x: int
        y: float
        tags: tuple = ("a",)

    assert sanitize(Point(1, 2.0)) == {"x": 1, "y": 2.0, "tags": ["a"]}


def test_object_without_conversion_becomes_class_name_and_id_placeholder():
    class Opaque:
        pass

    obj = Opaque()
    out = sanitize(obj)
    assert out == f"Opaque_instance_id_{id(obj)}"
    assert out == object_placeholder(obj)


def test_to_dict_that_raises_gives_placeholder_saying_conversion_failed():
    class Broken:
        def to_dict(self):
            raise RuntimeError("boom")

    obj = Broken()
    out = sanitize(obj)
    assert isinstance(out, str)
    assert out.startswith(f"Broken_instance_id_{id(obj)}")
    assert "conversion failed" in out
    assert "RuntimeError" in out


def test_datetime_date_and_time_become_isoformat():
    dt = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    assert sanitize(dt) == "2024-05-06T07:08:09+00:00"
    assert sanitize(datetime.date(2024, 5, 6)) == "2024-05-06"
    assert sanitize(datetime.time(7, 8, 9)) == "07:08:09"


def test_class_objects_are_not_called_as_converters():
    class HasToDict:
        def to_dict(self):
            return {"instance": True}

    out = sanitize(HasToDict)  # the class itself, not an instance: to_dict() would need self
    assert out == object_placeholder(HasToDict)


# ---------------------------------------------------------------- cycles, depth, size caps


def test_cyclic_dict_gives_cycle_marker():
    d = {"a": 1}
    d["self"] = d
    out = sanitize(d)
    assert out["a"] == 1
    assert isinstance(out["self"], str) and out["self"].startswith("<cycle")


def test_cyclic_list_gives_cycle_marker():
    lst = [1, 2]
    lst.append(lst)
    out = sanitize(lst)
    assert out[:2] == [1, 2]
    assert isinstance(out[2], str) and out[2].startswith("<cycle")


def test_shared_non_cyclic_reference_is_not_a_cycle():
    shared = [1, 2]
    out = sanitize({"a": shared, "b": shared})
    assert out == {"a": [1, 2], "b": [1, 2]}


def test_depth_cap_replaces_deeper_values_with_marker():
    deep: list = []
    node = deep
    for _ in range(100):
        child: list = []
        node.append(child)
        node = child
    out = sanitize(deep, ValueLimits(max_depth=5))
    depth = 0
    node = out
    while isinstance(node, list):
        node = node[0]
        depth += 1
    assert depth == 5
    assert isinstance(node, str) and "max depth 5" in node


def test_very_deep_nesting_does_not_hit_recursion_limit():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["n"] = {}
        node = node["n"]
    out = sanitize(deep)  # default max_depth caps the walk
    assert isinstance(out, dict)
    assert dumps_line({"v": deep}).endswith(b"\n")


def test_list_of_50k_ints_truncated_with_more_items_marker():
    out = sanitize(list(range(50_000)), ValueLimits(max_items=10_000))
    assert len(out) == 10_001
    assert out[:10_000] == list(range(10_000))
    assert "40000 more items" in out[-1]


def test_dict_over_max_items_truncated_with_count():
    out = sanitize({f"k{i}": i for i in range(100)}, ValueLimits(max_items=10))
    assert len(out) == 11
    assert out["__truncated_items__"] == 90


def test_5mb_string_truncated_to_max_bytes_mentioning_original_length():
    s = "x" * (5 * 1024 * 1024)
    out = sanitize(s, ValueLimits(max_bytes=1_048_576))
    assert out.startswith("x" * 1_048_576)
    assert len(out) < 1_048_576 + 100
    assert str(len(s)) in out
    assert "truncated" in out


def test_multibyte_string_truncated_by_encoded_size():
    s = "\U0001f600" * 600_000  # 2.4 MB in UTF-8
    out = sanitize(s, ValueLimits(max_bytes=1_048_576))
    assert len(out.encode("utf-8")) < 1_048_576 + 100


def test_long_bytes_are_cut_to_max_bytes():
    out = sanitize(b"\x00" * 5000, ValueLimits(max_bytes=100))
    assert out == b"\x00" * 100 + b"...(truncated, 5000 bytes)"


def test_ten_million_element_list_is_capped():
    big = [0] * 10_000_000
    limits = ValueLimits()
    out = sanitize(big, limits)
    assert len(out) <= limits.max_items + 1
    assert "more items" in out[-1]


# ---------------------------------------------------------------- array-likes


class FakeArray:
    """The shape of a numpy array as sanitize sees it: tolist(), shape, size, dtype."""

    def __init__(self, n: int):
        self.n = n
        self.shape = (n,)
        self.size = n
        self.dtype = "float32"

    def tolist(self):
        return [0.5] * self.n


def test_small_array_like_becomes_list():
    assert sanitize(FakeArray(4)) == [0.5, 0.5, 0.5, 0.5]


def test_large_array_like_becomes_summary_without_tolist():
    class NoToListWhenLarge(FakeArray):
        def tolist(self):
            raise AssertionError("tolist() must not be called for a large array")

    out = sanitize(NoToListWhenLarge(50_000), ValueLimits(max_items=10_000))
    assert out == {"type": "NoToListWhenLarge", "shape": [50_000], "dtype": "float32"}


@needs_numpy
def test_small_numpy_array_becomes_nested_list():
    out = sanitize(np.arange(6).reshape(2, 3))
    assert out == [[0, 1, 2], [3, 4, 5]]
    assert all(type(v) is int for row in out for v in row)


@needs_numpy
def test_large_numpy_array_becomes_shape_and_dtype_summary():
    out = sanitize(np.zeros((200, 100), dtype=np.float64), ValueLimits(max_items=10_000))
    assert out == {"type": "ndarray", "shape": [200, 100], "dtype": "float64"}


@needs_numpy
def test_numpy_scalars_become_python_numbers():
    assert sanitize(np.int64(7)) == 7
    assert type(sanitize(np.int64(7))) is int
    assert sanitize(np.float32(0.5)) == 0.5
    assert orjson.loads(dumps_line({"a": np.int64(7), "b": np.float64(1.5)})) == {"a": 7, "b": 1.5}


# ---------------------------------------------------------------- sanitize_dict


def test_sanitize_dict_returns_same_object_when_all_values_plain():
    d = {"a": 1, "b": "two", "c": 3.0, "d": None, "e": True}
    assert sanitize_dict(d, ValueLimits()) is d


def test_sanitize_dict_returns_new_sanitized_dict_when_a_value_needs_work():
    d = {"a": 1, "s": {2, 1}, "ns": argparse.Namespace(x=1)}
    out = sanitize_dict(d, ValueLimits())
    assert out is not d
    assert out == {"a": 1, "s": [1, 2], "ns": {"x": 1}}
    assert d["s"] == {1, 2}  # input untouched


def test_sanitize_dict_cuts_long_plain_string():
    d = {"s": "y" * 500}
    out = sanitize_dict(d, ValueLimits(max_bytes=100))
    assert out is not d
    assert len(out["s"]) < 200


# ---------------------------------------------------------------- dumps_line


def test_dumps_line_ends_with_newline_and_round_trips():
    msg = {"type": "task", "task_id": "t-1", "used": {"x": [1, 2.5, None, True]}, "n": 2**64 - 1}
    line = dumps_line(msg)
    assert isinstance(line, bytes)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == msg


def test_dumps_line_encodes_bytes_as_extended_json_binary():
    payload = b"\x00\x01binary\xff"
    out = orjson.loads(dumps_line({"blob": payload}))
    assert out["blob"] == {"$binary": {"base64": base64.b64encode(payload).decode("ascii"), "subType": "00"}}


def test_dumps_line_never_raises_for_cyclic_structure():
    d: dict = {"a": 1}
    d["me"] = d
    lst: list = [1]
    lst.append(lst)
    out = orjson.loads(dumps_line({"d": d, "l": lst}))
    assert out["d"]["a"] == 1
    assert out["d"]["me"].startswith("<cycle")
    assert out["l"][1].startswith("<cycle")


def test_dumps_line_never_raises_for_arbitrary_object():
    class Opaque:
        pass

    obj = Opaque()
    out = orjson.loads(dumps_line({"obj": obj, "ns": types.SimpleNamespace(k="v")}))
    assert out["obj"] == f"Opaque_instance_id_{id(obj)}"
    assert out["ns"] == {"k": "v"}


def test_dumps_line_handles_big_ints_and_sets():
    out = orjson.loads(dumps_line({"big": 2**70, "s": {1}}))
    assert out == {"big": str(2**70), "s": [1]}


def test_dumps_line_never_raises_for_lone_surrogate_string():
    line = dumps_line({"path": "bad-\udcff-name"})
    assert orjson.loads(line)["path"].startswith("bad-")


def test_dumps_line_never_raises_for_huge_int_dict_key():
    out = orjson.loads(dumps_line({"d": {2**70: 1}}))
    assert out["d"] == {str(2**70): 1}


def test_jsonl_lines_with_non_string_keys_still_serialize():
    from flowcept_core.serialize import dumps_line

    assert dumps_line({"used": {1: "a", "b": 2}}) == b'{"used":{"1":"a","b":2}}\n'
    assert dumps_line({"used": {"x": 1}}) == b'{"used":{"x":1}}\n'


def test_batch_encoding_equals_line_by_line_including_fallbacks():
    class Odd:
        pass

    msgs = [
        {"type": "task", "used": {"x": 1}},
        {"used": {1: "int key", (2, 3): "tuple key"}},  # needs the non-str-key mode
        {"data": b"\x00\xff", "s": {3, 1, 2}},  # encoded by the default hook
        {"odd": Odd(), "n": 2**70},  # only a sanitized copy encodes
        {"name": "bad \udcff surrogate"},
        {},
    ]
    batch = dumps_lines(msgs)
    assert batch == b"".join(dumps_line(m) for m in msgs)
    assert [orjson.loads(line) for line in batch.splitlines()][0] == {"type": "task", "used": {"x": 1}}
    assert len(batch.splitlines()) == len(msgs)
    assert dumps_lines([]) == b""
