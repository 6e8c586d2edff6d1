"""Message schema round trips (TaskObject, WorkflowObject, Status) and id uniqueness across threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import orjson
import pytest

from flowcept_core import ids
from flowcept_core.ids import COUNTER, format_id, new_id
from flowcept_core.schema import TASK_FIELDS, WORKFLOW_FIELDS, Status, TaskObject, WorkflowObject

# ---------------------------------------------------------------- schema


def _full_dict(fields: tuple[str, ...]) -> dict:
    d: dict = {}
    for i, name in enumerate(fields):
        if name == "status":
            d[name] = "FINISHED"
        elif name in (
            "used",
            "generated",
            "custom_metadata",
            "telemetry_at_start",
            "telemetry_at_end",
            "data",
            "machine_info",
            "conf",
            "flowcept_settings",
            "code_repository",
            "extra_metadata",
        ):
            d[name] = {"k": i, "nested": {"list": [1, 2.5, "x"]}}
        elif name in ("tags", "dependencies", "dependents", "interceptor_ids"):
            d[name] = [f"{name}-a", f"{name}-b"]
        elif name.endswith("_at") or name == "utc_timestamp":
            d[name] = 1_700_000_000.0 + i
        else:
            d[name] = f"{name}-value"
    return d


def test_task_round_trips_through_from_dict_and_to_dict():
    d = _full_dict(TASK_FIELDS)
    d["my_unknown_extra_field"] = {"kept": True}
    d["type"] = "task"
    task = TaskObject.from_dict(d)
    assert task.to_dict() == d
    assert task.to_dict()["type"] == "task"
    assert set(TASK_FIELDS) <= set(task.to_dict())


def test_task_from_dict_without_type_gets_type_task():
    out = TaskObject.from_dict({"task_id": "t1"}).to_dict()
    assert out == {"task_id": "t1", "type": "task"}


def test_workflow_round_trips_through_from_dict_and_to_dict():
    d = _full_dict(WORKFLOW_FIELDS)
    d["some_extra"] = [1, 2, 3]
    d["type"] = "workflow"
    wf = WorkflowObject.from_dict(d)
    assert wf.to_dict() == d
    assert wf.to_dict()["type"] == "workflow"


def test_workflow_deserialize_inverts_serialize():
    wf = WorkflowObject(workflow_id="wf-1", name="train", used={"lr": 0.1}, custom_field="x")
    back = WorkflowObject.deserialize(wf.serialize())
    assert back == wf
    assert back.to_dict()["custom_field"] == "x"


def test_to_dict_omits_none_fields():
    out = TaskObject(task_id="t1", activity_id=None).to_dict()
    assert "activity_id" not in out
    assert out == {"task_id": "t1", "type": "task"}


def test_status_is_a_str_equal_to_its_name():
    assert isinstance(Status.FINISHED, str)
    assert "FINISHED" == Status.FINISHED
    assert str(Status.ERROR) == "ERROR"
    assert f"{Status.RUNNING}" == "RUNNING"


def test_status_is_json_serializable():
    assert json.dumps({"s": Status.FINISHED}) == '{"s": "FINISHED"}'
    assert orjson.loads(orjson.dumps({"s": Status.ERROR})) == {"s": "ERROR"}


def test_from_dict_turns_status_string_into_status():
    task = TaskObject.from_dict({"task_id": "t1", "status": "RUNNING"})
    assert task.status is Status.RUNNING
    wf = WorkflowObject.from_dict({"workflow_id": "w1", "status": "ERROR"})
    assert wf.status is Status.ERROR


def test_from_dict_keeps_unknown_status_string_as_is():
    task = TaskObject.from_dict({"task_id": "t1", "status": "PAUSED_BY_USER"})
    assert task.status == "PAUSED_BY_USER"
    assert task.to_dict()["status"] == "PAUSED_BY_USER"


def test_to_dict_writes_status_enum_as_plain_string():
    out = TaskObject(task_id="t1", status=Status.FINISHED).to_dict()
    assert out["status"] == "FINISHED"
    assert type(out["status"]) is str


def test_serialize_gives_json_bytes_of_to_dict():
    task = TaskObject(task_id="t1", status=Status.FINISHED, used={"x": 1}, generated={"y": [1, 2]})
    raw = task.serialize()
    assert isinstance(raw, bytes)
    assert orjson.loads(raw) == {
        "task_id": "t1",
        "status": "FINISHED",
        "used": {"x": 1},
        "generated": {"y": [1, 2]},
        "type": "task",
    }


# ---------------------------------------------------------------- ids


def _prefix(id_str: str) -> str:
    prefix, _, counter = id_str.rpartition("-")
    assert prefix and counter.isdigit(), id_str
    return prefix


def test_new_id_unique_over_100k_calls():
    got = [new_id() for _ in range(100_000)]
    assert len(set(got)) == len(got)


def test_new_id_unique_across_four_threads():
    results: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def work(out: list[str]) -> None:
        start.wait()
        for _ in range(25_000):
            out.append(new_id())

    threads = [threading.Thread(target=work, args=(results[i],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for r in results for i in r]
    assert len(every) == 100_000
    assert len(set(every)) == 100_000


def test_format_id_of_counter_value_is_stable():
    n = next(COUNTER)
    first = format_id(n)
    for _ in range(10):
        new_id()
    assert format_id(n) == first
    assert first.endswith(f"-{n}")
    assert _prefix(first) == _prefix(new_id())  # same process: same prefix


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_ids_do_not_collide_across_fork_and_pre_fork_ints_keep_parent_prefix():
    parent_prefix = _prefix(new_id())
    taken_before_fork = [next(COUNTER) for _ in range(5)]
    before_strings = [format_id(n) for n in taken_before_fork]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its ids and how it formats the parent's ints, then leave without cleanup
        try:
            os.close(read_fd)
            payload = {
                "new": [new_id() for _ in range(1000)],
                "pre_fork_formatted": [format_id(n) for n in taken_before_fork],
                "prefix_now": ids._prefix,
            }
            with os.fdopen(write_fd, "wb") as w:
                w.write(orjson.dumps(payload))
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as r:
        data = orjson.loads(r.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    parent_ids = [new_id() for _ in range(1000)]
    child_ids = data["new"]
    assert len(child_ids) == 1000
    assert not set(child_ids) & set(parent_ids)
    assert not set(child_ids) & set(before_strings)
    child_prefixes = {_prefix(i) for i in child_ids}
    assert child_prefixes == {data["prefix_now"]}
    assert data["prefix_now"] != parent_prefix
    # ints taken in the parent before the fork keep the parent's prefix when the child formats them
    assert data["pre_fork_formatted"] == before_strings
    assert {_prefix(i) for i in data["pre_fork_formatted"]} == {parent_prefix}
    # the parent's own prefix did not change
    assert {_prefix(i) for i in parent_ids} == {parent_prefix}


def test_separate_processes_get_different_prefixes():
    code = "from flowcept_core.ids import new_id; print(new_id())"
    outs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
        for _ in range(2)
    ]
    p1, p2 = (_prefix(o.strip()) for o in outs)
    assert p1 != p2
    assert _prefix(new_id()) not in (p1, p2)
