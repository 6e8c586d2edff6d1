"""Normalized DataFrames: the column-at-a-time builder against a plain row-by-row flattening of the same messages."""

from __future__ import annotations

import math
import random

import pytest

from flowcept_core.dataframes import _KEEP_NESTED, to_dataframe

pd = pytest.importorskip("pandas")


def flatten_row(msg: dict) -> dict:
    """Reference: one row at a time, nested non-empty dicts as dotted keys (top-level metadata blobs kept)."""
    flat: dict = {}

    def walk(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if v.__class__ is dict and v:
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    for k, v in msg.items():
        if v.__class__ is dict and v and k not in _KEEP_NESTED:
            walk(f"{k}.", v)
        else:
            flat[k] = v
    return flat


def cells(df) -> dict:
    out = {}
    for col in df.columns:
        vals = []
        for v in df[col].tolist():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = None
            vals.append(v)
        out[col] = vals
    return out


def expected_cells(msgs: list[dict]) -> dict:
    rows = [flatten_row(m) for m in msgs]
    names = list(dict.fromkeys(k for r in rows for k in r))
    return {k: [r.get(k) for r in rows] for k in names}


def mixed_messages(n: int, seed: int, run_length: int = 1) -> list[dict]:
    """Messages of six shapes; run_length > 1 gives runs of one shape (long runs and interleaved keys are cut into
    columns differently)."""
    rnd = random.Random(seed)
    msgs: list[dict] = [{"type": "workflow", "workflow_id": "w", "conf": {"a": 1}, "machine_info": {"cpu": {"n": 2}}}]
    kind = 0.0
    for i in range(n):
        if i % run_length == 0:
            kind = rnd.random()
        m = {"type": "task", "task_id": f"t{i}", "workflow_id": "w", "status": "FINISHED", "started_at": i * 0.5}
        if kind < 0.4:
            m["activity_id"] = "a"
            m["used"] = {"x": i, "cfg": {"lr": 0.1 * i, "layers": [1, 2]}}
            m["generated"] = {"y": i + 1}
        elif kind < 0.6:
            m["activity_id"] = "b"
            m["used"] = {"name": f"n{i}"}
            m["generated"] = None
        elif kind < 0.7:
            m["activity_id"] = "c"
            m["used"] = {}
            m["tags"] = ["t1"]
        elif kind < 0.8:
            m["activity_id"] = "d"
            m["used"] = {"x": str(i), "extra": {"deep": {"er": i}}}
            m["stderr"] = "boom"
            m["status"] = "ERROR"
        elif kind < 0.9:
            m = {"activity_id": "e", "used": {"x": i}, **m}  # same keys, another order
        else:
            m["activity_id"] = "f"
            m["used"] = 7  # not a dict at all
            m["custom_metadata"] = {"k": {"v": i}}
        msgs.append(m)
    return msgs


@pytest.mark.parametrize("run_length", [1, 150])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normalized_columns_match_row_by_row_flattening(seed, run_length):
    msgs = mixed_messages(3000, seed, run_length)
    df = to_dataframe(msgs, normalize=True)
    got, want = cells(df), expected_cells(msgs)
    assert set(got) == set(want)
    for name in want:
        assert got[name] == want[name], name
    assert len(df) == len(msgs)


def test_long_runs_keep_row_order_and_first_seen_column_order():
    msgs = [{"type": "workflow", "workflow_id": "w"}]
    msgs += [{"type": "task", "task_id": f"a{i}", "used": {"x": i}, "generated": {"y": i}} for i in range(1000)]
    msgs += [{"type": "task", "task_id": f"b{i}", "used": {"s": "v"}, "ended_at": 1.5} for i in range(500)]
    msgs += [{"type": "task", "task_id": f"a{i}", "used": {"x": i}, "generated": {"y": i}} for i in range(1000, 1200)]
    df = to_dataframe(msgs, normalize=True)
    assert list(df.columns) == ["type", "workflow_id", "task_id", "used.x", "generated.y", "used.s", "ended_at"]
    assert df["task_id"].tolist()[1:4] == ["a0", "a1", "a2"] and df["task_id"].iloc[1001] == "b0"
    assert df["used.x"].iloc[-1] == 1199 and math.isnan(df["used.x"].iloc[1001])
    assert df["used.s"].iloc[1001] == "v" and df["ended_at"].iloc[1500] == 1.5


def test_metadata_blobs_stay_whole_and_empty_or_missing_rows_work():
    msgs = [{"type": "workflow", "flowcept_settings": {"mq": {"type": "memory"}}, "extra_metadata": {"k": 1}},
            {}, {"used": {}}, {"used": {"x": 1}}]
    df = to_dataframe(msgs, normalize=True)
    assert df["flowcept_settings"].iloc[0] == {"mq": {"type": "memory"}}
    assert df["used"].iloc[2] == {} and df["used.x"].iloc[3] == 1
    assert len(df) == 4


def test_interleaved_activities_with_optional_nested_fields():
    msgs = []
    for i in range(2000):
        m = {"type": "task", "task_id": f"t{i}", "used": {"x": i}}
        if i % 2:
            m["generated"] = {"loss": i / 10}
        elif i % 4 == 0:
            m["generated"] = None
        if i % 3 == 0:
            m["used"] = {"x": i, "opt": {"lr": 0.01}}
        msgs.append(m)
    df = to_dataframe(msgs, normalize=True)
    got, want = cells(df), expected_cells(msgs)
    assert set(got) == set(want) and "generated" in got  # generated: None in some rows is a value
    for name in want:
        assert got[name] == want[name], name


@pytest.mark.parametrize("seed", [4, 5])
def test_many_sparse_keys_match_row_by_row_flattening(seed):
    rnd = random.Random(seed)
    msgs = []
    for i in range(1500):
        used = {f"k{rnd.randrange(300)}": i for _ in range(rnd.randrange(1, 4))}
        if rnd.random() < 0.3:
            used[f"n{rnd.randrange(50)}"] = {"deep": {f"d{rnd.randrange(40)}": i}} if rnd.random() < 0.8 else {}
        if rnd.random() < 0.1:
            used["k0"] = None
        m = {"type": "task", "task_id": f"t{i}", "used": used}
        if rnd.random() < 0.2:
            m["generated"] = {f"g{rnd.randrange(100)}": [i]}
        msgs.append(m)
    df = to_dataframe(msgs, normalize=True)
    got, want = cells(df), expected_cells(msgs)
    assert set(got) == set(want) and len(want) > 300
    for name in want:
        assert got[name] == want[name], name


def test_a_nested_key_missing_where_not_a_dict_gives_no_plain_column():
    msgs = [{"a": i, **({"g": {"y": i}} if i % 2 else {})} for i in range(1000)]
    df = to_dataframe(msgs, normalize=True)
    assert list(df.columns) == ["a", "g.y"]


def test_dotted_key_and_nested_key_share_one_column():
    msgs = [{"used.x": 1}, {"used": {"x": 2}}]
    df = to_dataframe(msgs, normalize=True)
    assert df["used.x"].tolist() == [1, 2]
    interleaved = [{"used.x": i} if i % 2 else {"used": {"x": i}} for i in range(300)]
    assert to_dataframe(interleaved, normalize=True)["used.x"].tolist() == list(range(300))


def test_unnormalized_frame_keeps_nested_dicts():
    msgs = [{"a": 1, "used": {"x": 1}}, {"a": 2, "used": {"x": 2}}]
    df = to_dataframe(msgs, normalize=False)
    assert list(df.columns) == ["a", "used"] and df["used"].iloc[1] == {"x": 2}


def test_a_message_that_is_not_a_dict_is_named():
    with pytest.raises(TypeError, match=r"message 1 is a list"):
        to_dataframe([{"a": 1}, [1, 2]])
