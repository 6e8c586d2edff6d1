"""Record batches of the current wire format version as fixtures (tests/test_wire_format.py decodes them).

Run from the repository root when WIRE_VERSION changes: ``.venv/bin/python tests/data/wire/record.py``. It writes
v<N>_packed.msgpack (a captured run, packed records) and v<N>_plain.msgpack (hand-made messages), each with
v<N>_*.expected.msgpack, the messages a consumer of that version decoded. Never re-record an earlier version.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.getcwd())

import msgpack

from flowcept import Flowcept, FlowceptLoop, flowcept_task
from flowcept_core.capture.context import STATE
from flowcept_core.packed import pack
from flowcept_core.wire import WIRE_VERSION, decode_batch, encode_batch
from tests._util import use_settings


class _Env:
    def setenv(self, k, v):
        os.environ[k] = v


@flowcept_task(output_names=["a", "b"], tags=["t"], custom_metadata={"k": 1})
def pair(x, y=3, *rest, **kw):
    return x, y

@flowcept_task
def outer(n):
    return [inner(i) for i in range(n)]

@flowcept_task
def inner(i):
    return {"i": i, "s": "é" * 3, "f": 1.5, "n": None, "b": True}

out = os.path.abspath("tests/data/wire")
tmp = tempfile.mkdtemp()
os.chdir(tmp)
use_settings(tmp, _Env())
with Flowcept(workflow_name="wire-v2") as fc:
    fc._wait_started()
    run = STATE.run
    run._stop.set()
    run._thread.join()
    pair(1)
    pair(2.5, 4, 9, z="zz")
    outer(3)
    for _ in FlowceptLoop(2, loop_name="L", item_name="epoch"):
        pass
    raw = list(run.items)
    packed = pack(run, raw)
    payload = encode_batch([packed])
plain = [
    {"type": "flowcept_control", "info": "start_of_stream", "producer_id": "p-v2", "workflow_id": "wf-v2"},
    {"type": "workflow", "workflow_id": "wf-v2", "name": "recorded", "campaign_id": "c-v2", "utc_timestamp": 1.7e9},
    {"type": "task", "task_id": "t-v2-1", "workflow_id": "wf-v2", "activity_id": "a", "status": "RUNNING",
     "started_at": 1.7e9, "used": {"x": 1, "l": [1, 2]}},
    {"type": "task", "task_id": "t-v2-1", "workflow_id": "wf-v2", "activity_id": "a", "status": "FINISHED",
     "ended_at": 1.7e9 + 1, "generated": {"y": "z"}},
    {"type": "task", "task_id": "t-v2-2", "workflow_id": "wf-v2", "activity_id": "b", "status": "ERROR",
     "started_at": 1.7e9, "ended_at": 1.7e9 + 2, "stderr": "boom", "used": {"b": b"\x00\x01"}},
    {"type": "flowcept_control", "info": "end_of_stream", "producer_id": "p-v2", "workflow_id": "wf-v2",
     "message_count": 4},
]
for name, data in ((f"v{WIRE_VERSION}_packed", payload), (f"v{WIRE_VERSION}_plain", encode_batch(plain))):
    with open(os.path.join(out, name + ".msgpack"), "wb") as f:
        f.write(data)
    decoded = decode_batch(data)
    with open(os.path.join(out, name + ".expected.msgpack"), "wb") as f:
        f.write(msgpack.packb(decoded, use_bin_type=True))
    print(name, len(data), len(decoded))
