"""Packed batches (networked MQs): the consumer rebuilds exactly the messages the producer would have built."""

from __future__ import annotations

import argparse

from flowcept import (
    Flowcept,
    FlowceptLightweightLoop,
    FlowceptLoop,
    FlowceptTask,
    flowcept_task,
    lightweight_flowcept_task,
)
from flowcept_core.capture.context import STATE
from flowcept_core.packed import message_count, pack
from flowcept_core.wire import decode_batch, encode_batch
from tests._util import use_settings


class Opaque:
    pass


@flowcept_task(output_names=["a", "b"], tags=["t"], custom_metadata={"k": 1})
def pair(x, y=3, *rest, **kw):
    return x, y


@flowcept_task
def outer(n):
    return [inner(i) for i in range(n)]


@flowcept_task
def inner(i):
    return {"i": i, "big": list(range(100))}


@lightweight_flowcept_task
def light(s):
    return s.upper()


@flowcept_task(args_handler=lambda *a, **k: {"handled": len(a)})
def handled(x):
    return x


@flowcept_task
def odd(obj, ns, text):
    raise ValueError("no")


def test_packed_batches_expand_to_the_same_messages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_name="packed") as fc:
        fc._wait_started()  # the flusher is started by the start-up thread
        run = STATE.run
        run._stop.set()  # keep the flusher away: this test drains by hand
        run._thread.join()
        pair(1)
        pair(1.5, 2, 9, 8, z="zz")
        outer(3)
        light("abc")
        handled(5)
        try:
            odd(Opaque(), argparse.Namespace(lr=0.1), "é" * 10)
        except ValueError:
            pass
        for _ in FlowceptLoop(3, loop_name="L", item_name="epoch"):
            pass
        lw = FlowceptLightweightLoop([1, 2], loop_name="W")
        for i in lw:
            lw.end_iter({"v": i})
        FlowceptTask(activity_id="explicit", used={"o": Opaque()}, generated={"g": 1})
        raw = list(run.items)
        direct = [m for chunk in run.materialize_chunks(raw) for m in chunk]
        packed = pack(run, raw)
        assert packed["count"] == len(direct) == message_count([packed])
        expanded = decode_batch(encode_batch([packed]))
    assert len(expanded) == len(direct)
    for want, got in zip(direct, expanded, strict=True):
        if want.get("activity_id") == "light":
            assert got["task_id"] and got["task_id"] != want["task_id"]  # lightweight ids are made on each side
            want, got = {**want, "task_id": None}, {**got, "task_id": None}
        assert got == want, want.get("activity_id")
    ids = {m["activity_id"]: m for m in expanded if m.get("type") == "task"}
    assert ids["inner"]["parent_task_id"] == ids["outer"]["task_id"]
    assert ids["pair"]["generated"] == {"a": 1.5, "b": 2}
    assert fc.current_workflow_id == ids["pair"]["workflow_id"]
