"""Odd captured values (huge ints, lone surrogates, non-str keys, Decimal, NaN/inf, big bytes) through the public API:
every task is stored, with the documented conversion, stop() neither raises nor blocks, and queries keep working.

Pipelines: the zero-configuration default (in-process MQ + LMDB), offline (buffer file), Redis MQ (real server,
packed batches) + LMDB, and the in-process MQ + a MongoDB-wire store.
"""

from __future__ import annotations

import base64
import time
import uuid
from decimal import Decimal
from typing import Any

from flowcept import Flowcept, FlowceptTask, flowcept_task
from tests._util import use_settings

BIG_INT = 10**5000
BYTES = b"x" * (3 << 20)
MAX_BYTES = 1 << 20
STOP_TIMEOUT = 10

# name -> (captured value, what a store keeps)
ODD = {
    "huge_int": (BIG_INT, hex(BIG_INT)),
    "u64_int": (2**63 + 5, str(2**63 + 5)),
    "lone_surrogate": ("a\ud800b", "a\\ud800b"),
    "tuple_keys": ({(1, 2): 3, 4: 5, None: 6, True: 7}, {"(1, 2)": 3, "4": 5, "null": 6, "true": 7}),
    "decimal": (Decimal("1.10"), "1.10"),
    "nan": (float("nan"), "NaN"),
    "inf": (float("inf"), "Infinity"),
    "minus_inf": (float("-inf"), "-Infinity"),
    "bytes": (BYTES, BYTES[:MAX_BYTES] + f"...(truncated, {len(BYTES)} bytes)".encode()),
}


@flowcept_task
def echo(x: Any) -> Any:
    return x


def _run_with_odd_values(plain_calls: int) -> tuple[str, float]:
    """plain_calls good tasks, then each odd value as an argument and a result and in a FlowceptTask, then
    plain_calls more; returns (workflow_id, seconds stop() took)."""
    fc = Flowcept(workflow_name="odd-values").start()
    for i in range(plain_calls):
        echo(i)
    for name, (value, _) in ODD.items():
        echo(value)
        with FlowceptTask(activity_id=f"explicit_{name}", used={"v": value}) as t:
            t.end(generated={"v": value, name: 1})
    for i in range(plain_calls, 2 * plain_calls):
        echo(i)
    t0 = time.monotonic()
    fc.stop()
    return fc.current_workflow_id, time.monotonic() - t0


def _same(stored: Any, expected: Any) -> bool:
    return stored == expected and type(stored) is type(expected)


def _check_documents(docs: list[dict], plain_calls: int, json_floats: bool = False) -> None:
    tasks = [d for d in docs if d.get("type", "task") == "task" and "activity_id" in d]
    plain = sorted(d["used"]["x"] for d in tasks if d["activity_id"] == "echo" and type(d["used"]["x"]) is int
                   and d["used"]["x"] < 2 * plain_calls)
    assert plain == list(range(2 * plain_calls)), "every good task is stored"
    odd_echo = [d for d in tasks if d["activity_id"] == "echo" and not (
        type(d["used"]["x"]) is int and d["used"]["x"] < 2 * plain_calls)]
    assert len(odd_echo) == len(ODD)
    for name, (_, expected) in ODD.items():
        if json_floats and name == "bytes":  # JSON lines hold bytes as MongoDB extended JSON
            expected = {"$binary": {"base64": base64.b64encode(expected).decode(), "subType": "00"}}
        explicit = [d for d in tasks if d["activity_id"] == f"explicit_{name}"]
        assert len(explicit) == 1, name
        assert _same(explicit[0]["used"]["v"], expected), (name, explicit[0]["used"])
        assert _same(explicit[0]["generated"]["v"], expected), (name, explicit[0]["generated"])
        assert any(_same(d["used"]["x"], expected) and _same(d["generated"]["arg_0"] if "arg_0" in d["generated"]
                                                             else d["generated"], expected) for d in odd_echo), name


def test_default_pipeline_stores_every_odd_value_and_queries_keep_working(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online"},
        "mq": {"stop_timeout_secs": STOP_TIMEOUT},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    wf, stop_s = _run_with_odd_values(500)
    assert stop_s < STOP_TIMEOUT
    docs = Flowcept.db.task_query({"workflow_id": wf})
    assert len(docs) == 1000 + 2 * len(ODD)
    _check_documents(docs, 500)
    assert len(Flowcept.db.task_query({"used.x": {"$gte": 10, "$lt": 20}})) == 10
    assert len(Flowcept.db.task_query({})) == len(docs)  # a store-wide scan decodes every document


def test_offline_buffer_and_file_hold_every_odd_value(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "offline"}})
    _, stop_s = _run_with_odd_values(100)
    assert stop_s < STOP_TIMEOUT
    docs = Flowcept.read_buffer_file()
    _check_documents(docs, 100, json_floats=True)


def test_a_value_whose_conversion_raises_is_stored_as_a_marker(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online"},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})

    class Hostile(dict):
        def items(self):
            raise RuntimeError("no items")

    with Flowcept() as fc:
        echo(Hostile())
        echo(1)
    stored = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
    assert sorted(str(d["used"]["x"])[:7] for d in stored) == ["1", "Hostile"]


def redis_settings(tmp_path: Any, monkeypatch: Any, port: int, **project: Any) -> str:
    channel = f"values-{uuid.uuid4().hex[:8]}"
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}, **project},
        "mq": {"type": "redis", "host": "127.0.0.1", "port": port, "channel": channel,
               "stop_timeout_secs": STOP_TIMEOUT, "insertion_buffer_time_secs": 0.2},
        "db_buffer": {"insertion_buffer_time_secs": 0.2},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    return channel


def test_redis_one_bad_value_drops_nothing_of_its_packed_batch(tmp_path, monkeypatch, redis_port):
    redis_settings(tmp_path, monkeypatch, redis_port)
    wf, stop_s = _run_with_odd_values(1000)
    assert stop_s < STOP_TIMEOUT
    docs = Flowcept.db.task_query({"workflow_id": wf})
    assert len(docs) == 2000 + 2 * len(ODD)
    _check_documents(docs, 1000)
    assert len(Flowcept.db.task_query({"workflow_id": wf, "used.x": {"$lt": 5}})) == 5


def test_mongodb_wire_store_takes_every_odd_value_and_queries_keep_working(tmp_path, monkeypatch, mongo_uri):
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"stop_timeout_secs": STOP_TIMEOUT},
        "databases": {"lmdb": {"enabled": False},
                      "mongodb": {"enabled": True, "uri": mongo_uri, "db": f"values_{uuid.uuid4().hex[:8]}"}}})
    wf, stop_s = _run_with_odd_values(100)
    assert stop_s < STOP_TIMEOUT
    docs = Flowcept.db.task_query({"workflow_id": wf})
    assert len(docs) == 200 + 2 * len(ODD)
    _check_documents(docs, 100)
    assert len(Flowcept.db.task_query({"workflow_id": wf, "used.x": {"$gte": 10, "$lt": 20}})) == 10
