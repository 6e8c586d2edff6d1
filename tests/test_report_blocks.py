"""Reports read a buffer file a block at a time: the column-wise collector and shared telemetry snapshots give the
same card as reading each message on its own."""

from __future__ import annotations

import math
import random

import orjson
import pytest

from flowcept import Flowcept
from flowcept_core.report.collect import RunCollector
from flowcept_core.report.markdown import render_card
from flowcept_core.report.source import iter_jsonl_blocks


def _snapshot(t: float, cpu: float) -> dict:
    return {
        "timestamp": t,
        "cpu": {"percent_all": cpu, "times_avg": {"user": t / 10, "system": 1.0}},
        "memory": {"virtual": {"percent": 40.0, "used": 1e9 + t}},
        "process": {"memory": {"rss": 5e8 + t}},
    }


def _messages(n: int, seed: int = 7) -> list[dict]:
    """A run with odd values, children before and after their parents, start/end message pairs and shared snapshots
    (the tail of some lines, the middle of others)."""
    rng = random.Random(seed)
    out: list[dict] = [{"type": "workflow", "workflow_id": "w", "name": "odd", "user": "u", "started_at": 0.0}]
    snap = _snapshot(0.0, 10.0)
    for i in range(n):
        if i % 50 == 0:
            snap = _snapshot(float(i), float(i % 97))
        act = rng.choice(["a", "b", "c"])
        value = rng.choice([1, 2.5, float("nan"), True, None, "text", [1, 2], {"k": 1}, -7, 2**62])
        msg: dict = {
            "type": "task",
            "task_id": f"t{i}",
            "activity_id": act,
            "workflow_id": "w",
            "started_at": float(i),
            "ended_at": float(i) + rng.random(),
            "status": "FINISHED",
            "used": {"x": value, "i": i} if i % 3 else {"i": i, "y": "only here", "x": value},
            "parent_task_id": f"p{i // 10}" if i % 2 else None,
            "hostname": f"h{i % 3}",
        }
        if i % 7:
            msg["generated"] = {"loss": 1.0 / (i + 1), "flag": i % 2 == 0}
        if i % 11 == 0:
            msg["status"], msg["stderr"] = "ERROR", f"Traceback\nValueError: bad {i}"
        if i % 5:  # sampled snapshots: shared by the tasks between two readings
            msg["telemetry_at_start"] = snap
            # the task that ran across a reading ends with the next one; an odd one ends with a reading of its own
            ends = _snapshot(float(i + 1), float((i + 1) % 97)) if i % 50 == 49 else snap
            msg["telemetry_at_end"] = _snapshot(float(i) + 0.5, 55.0) if i % 201 == 0 else ends
            if i % 9 == 0:  # snapshots not last in the line
                msg["tags"] = ["late"]
        out.append(msg)
        if i % 10 == 9:
            out.append(
                {
                    "type": "task",
                    "task_id": f"p{i // 10}",
                    "activity_id": "parent",
                    "workflow_id": "w",
                    "started_at": float(i - 9),
                    "ended_at": float(i + 1),
                    "status": "FINISHED",
                }
            )
    out.append(
        {
            "type": "task",
            "task_id": "r1",
            "activity_id": "a",
            "workflow_id": "w",
            "status": "RUNNING",
            "started_at": 5.0,
        }
    )
    out.append(
        {
            "type": "task",
            "task_id": "r1",
            "activity_id": "a",
            "workflow_id": "w",
            "status": "FINISHED",
            "ended_at": 9.0,
            "generated": {"loss": 0.5},
        }
    )
    return out


def _card_one_by_one(messages: list[dict]) -> str:
    run = RunCollector()
    for m in messages:
        run.add(m)
    return render_card(run.finish())


def test_block_collector_gives_the_card_of_one_message_at_a_time(tmp_path) -> None:
    messages = _messages(3000)
    path = tmp_path / "buf.jsonl"
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    expected = _card_one_by_one(orjson.loads(orjson.dumps(messages)))
    for share in (False, True):
        run = RunCollector()
        for block in iter_jsonl_blocks(str(path), share_snapshots=share):
            run.add_block(block)
        assert render_card(run.finish()) == expected
    out = Flowcept.generate_report(input_jsonl_path=str(path), output_path=str(tmp_path / "card.md"))
    assert out["markdown"] == expected and out["tasks"] == 3000 + 300 + 1


def test_shared_snapshots_are_parsed_once_per_block_and_messages_keep_their_values(tmp_path) -> None:
    messages = _messages(2000)
    path = tmp_path / "buf.jsonl"
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in messages))
    plain = [m for b in iter_jsonl_blocks(str(path)) for m in b]
    shared = [m for b in iter_jsonl_blocks(str(path), share_snapshots=True) for m in b]
    assert len(plain) == len(shared)
    for a, b in zip(plain, shared, strict=True):
        assert orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    snaps = [m["telemetry_at_start"] for m in shared if "telemetry_at_start" in m]
    assert len({id(s) for s in snaps}) < len(snaps) / 5  # one dict per reading and block, not one per task


def test_snapshot_keys_inside_values_or_strings_are_left_alone(tmp_path) -> None:
    snap = _snapshot(1.0, 5.0)
    text = orjson.dumps({"telemetry_at_start": snap, "telemetry_at_end": snap}).decode()
    lines = [
        {
            "type": "task",
            "task_id": f"t{i}",
            "activity_id": "a",
            "workflow_id": "w",
            "started_at": 0.0,
            "ended_at": 1.0,
            "used": {"nested": {"telemetry_at_start": snap, "telemetry_at_end": snap}},
            "generated": {"text": text},
            "telemetry_at_start": snap,
            "telemetry_at_end": snap,
        }
        for i in range(20)
    ]
    path = tmp_path / "buf.jsonl"
    path.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in lines))
    got = [m for b in iter_jsonl_blocks(str(path), share_snapshots=True) for m in b]
    assert got == lines


@pytest.mark.parametrize("values", [[float("nan"), 3, 1.5], [2, float("nan")], ["a", None, 4], [None, None], [True]])
def test_field_stats_of_a_column_match_value_by_value(values) -> None:
    one, col = RunCollector(), RunCollector()
    msgs = [
        {"type": "task", "task_id": f"t{i}", "activity_id": "a", "workflow_id": "w", "used": {"v": v}}
        for i, v in enumerate(values)
    ]
    for m in msgs:
        one.add(m)
    col.add_block(msgs)
    a, b = one.workflows["w"].activities["a"].used["v"], col.workflows["w"].activities["a"].used["v"]
    assert (a.count, a.types, a.example) == (b.count, b.types, b.example) == (len(values), a.types, a.example)
    nums = [v for v in values if type(v) in (int, float) and not math.isnan(v)]
    assert (b.low, b.high) == ((min(nums), max(nums)) if nums else (None, None))


def test_a_malformed_line_among_shared_snapshots_is_skipped_once(tmp_path) -> None:
    snap = _snapshot(1.0, 5.0)
    lines = [
        orjson.dumps(
            {
                "type": "task",
                "task_id": f"t{i}",
                "activity_id": "a",
                "workflow_id": "w",
                "started_at": 0.0,
                "ended_at": 1.0,
                "telemetry_at_start": snap,
                "telemetry_at_end": snap,
            }
        )
        for i in range(30)
    ]
    lines[10] = lines[10][:-1]  # cut the closing brace
    path = tmp_path / "buf.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = Flowcept.generate_report(input_jsonl_path=str(path), output_path=str(tmp_path / "card.md"))
    assert out["skipped_lines"] == 1 and out["tasks"] == 29


def test_timeline_row_of_many_tasks_keeps_their_busy_time() -> None:
    np = pytest.importorskip("numpy", reason="numpy comes with matplotlib")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install flowcept[report])")
    from flowcept_core.report.collect import ActivityStats
    from flowcept_core.report.pdf import _running

    act = ActivityStats("a", 0)
    for i in range(5000):  # 1 s tasks, one every 2 s, then a stretch of 3 running at once
        act.starts.append(100.0 + 2 * i)
        act.ends.append(101.0 + 2 * i)
    for _ in range(3):
        act.starts.append(10_100.0)
        act.ends.append(10_200.0)
    rows = _running(act, 100.0, 10_100.0, bins=101)
    width = 10_100.0 / 101
    assert rows.sum() * width == pytest.approx(5000 + 300)  # every task's time, however short
    assert rows[:99] == pytest.approx(np.full(99, 0.5), abs=0.01)  # half of the time one task runs
    assert rows[-1] == pytest.approx(3.0)  # the last slice: three at once
