"""Packed records of one-argument calls (the shortcut in pack()): numbers that cannot travel as they are (past 64
bits, NaN, infinities) are built on the producer side exactly as unpacked batches build them."""

from __future__ import annotations

import math

import pytest

from flowcept import Flowcept, flowcept_task
from flowcept_core.capture.context import STATE
from flowcept_core.packed import pack
from flowcept_core.wire import decode_batch, encode_batch
from tests._util import use_settings


@flowcept_task
def echo(x):
    return x


@flowcept_task
def nothing(x):
    return None


EDGES = [
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**63,
    -(2**63) - 1,
    2**64 + 1,
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    True,
    1e308,
    "text",
    "http://u:pw@h/x",
]


@pytest.mark.parametrize("func", [echo, nothing])
def test_one_argument_records_expand_to_the_messages_built_directly(tmp_path, monkeypatch, func):
    monkeypatch.chdir(tmp_path)
    use_settings(tmp_path, monkeypatch)
    with Flowcept(workflow_name="numbers") as fc:
        fc._wait_started()  # the flusher is started by the start-up thread
        run = STATE.run
        run._stop.set()  # keep the flusher away: this test drains by hand
        run._thread.join()
        for v in EDGES:
            func(v)
        raw = list(run.items)
        direct = [m for chunk in run.materialize_chunks(raw) for m in chunk]
        packed = pack(run, raw)
        expanded = decode_batch(encode_batch([packed]))
    shipped = [v for v in packed["records"] if type(v) is tuple]
    assert len(shipped) >= 8  # a one-parameter call records its bare argument (TaskTemplate.bare): sent as a tuple
    flat = [v[0] if type(v) is tuple and len(v) == 1 else v for v in packed["records"]]
    assert not [v for v in flat if type(v) is int and not -(2**63) <= v < 2**63]  # built here, not shipped raw
    assert not [v for v in flat if type(v) is float and not math.isfinite(v)]
    assert not [v for v in flat if type(v) is str and "pw@" in v]
    tasks = [m for m in expanded if m.get("type") == "task"]
    assert len(tasks) == len(EDGES) and len(expanded) == len(direct)
    for want, got in zip(direct, expanded, strict=True):
        assert got == want
    used = [t["used"]["x"] for t in tasks]
    assert used[4] == str(2**63) and used[5] == str(-(2**63) - 1) and used[9] == "NaN" and used[10] == "Infinity"
    assert "pw" not in used[15]
