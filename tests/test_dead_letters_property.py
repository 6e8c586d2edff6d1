"""Property: whatever entries and values reach the DocumentInserter through a real MQ (in-process, Redis), every good
message is stored, every malformed one (and every undecodable stream entry) is in the dead letters, an odd value
ends up in exactly one of the two, and the inserter keeps running."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from flowcept_core.consumers.document_inserter import DocumentInserter  # noqa: E402
from flowcept_core.mq import open_mq  # noqa: E402
from flowcept_core.query import DBAPI  # noqa: E402
from flowcept_core.settings import get_settings  # noqa: E402
from flowcept_core.stores import close_stores  # noqa: E402
from tests._util import use_settings  # noqa: E402

EXAMPLES = int(os.environ.get("FLOWCEPT_PROPERTY_EXAMPLES", "20"))

_text = st.text(max_size=20)
_plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=12)
_odd = st.sampled_from([2**70, -(10**5000), "\ud800", "a\udfffb", float("nan"), float("inf"), b"\x00\xff" * 10,
                        {"nested": 2**65}, [1, "\ud83d"], object()])
_not_str = st.sampled_from([["a"], {"a": 1}, 1.5, True, False, 7, None, ""])

# Each malformed kind: (name, how it turns a good task into a bad entry)
_MALFORMED = {
    "task_id": lambda t, v: {**t, "task_id": v},
    "no_task_id": lambda t, v: {k: x for k, x in t.items() if k != "task_id"},
    "type_list": lambda t, v: {**t, "type": ["task"]},
    "type_unknown": lambda t, v: {**t, "type": "not-a-type"},
    "used": lambda t, v: {**t, "used": 5 if v is None else [v]},
    "started_at": lambda t, v: {**t, "started_at": "yesterday"},
    "workflow_id": lambda t, v: {**t, "workflow_id": [v]},
    "marker_count": lambda t, v: {"type": "flowcept_control", "info": "end_of_stream", "producer_id": "px",
                                  "message_count": "lots", "probe": t["probe"]},
}


@st.composite
def entries(draw: Any, in_process: bool) -> list[tuple[str, Any]]:
    """A batch: (kind, entry) with kind "good", "bad" (must be dead-lettered) or "odd" (stored or dead-lettered)."""
    out = []
    for _ in range(draw(st.integers(1, 12))):
        task = {"type": "task", "task_id": "", "workflow_id": "wf", "used": draw(st.dictionaries(_text, _plain,
                                                                                                   max_size=4)),
                "started_at": draw(st.floats(0, 2e9)), "probe": ""}
        kind = draw(st.sampled_from(["good", "good", "bad", "odd"] + (["not_dict"] if in_process else [])))
        if kind == "bad":
            name = draw(st.sampled_from(sorted(_MALFORMED)))
            out.append(("bad", (name, draw(_not_str), task)))
        elif kind == "odd":
            task["used"]["odd"] = draw(_odd)
            out.append(("odd", task))
        elif kind == "not_dict":
            out.append(("bad", ("not_dict", None, task)))
        else:
            out.append(("good", task))
    return out


def _materialize(run: str, drawn: list[tuple[str, Any]]) -> tuple[list, dict[str, str]]:
    """The batch to publish and probe -> kind, with fresh ids and probes (hypothesis reuses drawn objects)."""
    batch, kinds = [], {}
    for k, (kind, item) in enumerate(drawn):
        probe = f"{run}-{k}"
        kinds[probe] = kind
        if kind == "bad":
            name, value, task = item
            task = {**task, "task_id": f"t-{probe}", "probe": probe}
            batch.append(["not a dict", probe] if name == "not_dict" else _MALFORMED[name](task, value))
        else:
            batch.append({**item, "task_id": f"t-{probe}", "probe": probe})
    return batch, kinds


def _check(settings_: Any, inserter: DocumentInserter, run: str, kinds: dict[str, str],
           injected: list[bytes] = ()) -> None:
    assert inserter.wait_for_producer(run, 30), "the inserter did not store the batch in time"
    assert inserter.is_running
    db = DBAPI(settings_)
    stored = {t["probe"] for t in db.task_query({"task_id": {"$in": [f"t-{p}" for p in kinds]}})}
    lettered = set()
    letters = db.dead_letters()
    raw_bytes = {bytes(d["raw"]) for d in letters if isinstance(d["raw"], bytes)}
    assert all(payload in raw_bytes for payload in injected), "an undecodable entry is not in the dead letters"
    for letter in letters:
        text = repr(letter["raw"])
        lettered.update(p for p in kinds if f"'{p}'" in text)
    for probe, kind in kinds.items():
        if kind == "good":
            assert probe in stored and probe not in lettered, probe
        elif kind == "bad":
            assert probe in lettered and probe not in stored, probe
        else:
            assert (probe in stored) != (probe in lettered), probe


def _settings(tmp_path: Any, monkeypatch: Any, mq: dict) -> Any:
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"channel": f"prop-{uuid.uuid4().hex[:8]}", **mq},
        "db_buffer": {"insertion_buffer_time_secs": 0.05},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    close_stores()
    return get_settings()


def _property(settings_: Any, in_process: bool, inject: Any = None) -> None:
    inserter = DocumentInserter(settings_)
    inserter.start(threaded=True, daemon=True)
    mq = open_mq(settings_)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(drawn=entries(in_process), garbage=st.lists(st.binary(max_size=64), max_size=2 if inject else 0))
    def prop(drawn: list[tuple[str, Any]], garbage: list[bytes]) -> None:
        run = uuid.uuid4().hex[:10]
        batch, kinds = _materialize(run, drawn)
        mq.publish(batch)
        # bytes no msgpack reader accepts (0xc1 is never valid), straight onto the broker
        injected = [b"\xc1" + f"{run}-{k}".encode() + junk for k, junk in enumerate(garbage)]
        for payload in injected:
            inject(payload)
        mq.publish([{"type": "flowcept_control", "info": "end_of_stream", "producer_id": run, "message_count": 0}])
        _check(settings_, inserter, run, kinds, injected)

    try:
        prop()
    finally:
        inserter.stop_consumption(20)
        mq.close(10)
        close_stores()


def test_in_process_mq_every_good_message_is_stored_and_every_bad_one_dead_lettered(tmp_path, monkeypatch):
    _property(_settings(tmp_path, monkeypatch, {"type": "memory"}), in_process=True)


def test_redis_every_good_message_is_stored_and_every_bad_one_dead_lettered(tmp_path, monkeypatch, redis_port):
    import redis

    settings_ = _settings(tmp_path, monkeypatch, {"type": "redis", "host": "127.0.0.1", "port": redis_port})
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    _property(settings_, False, lambda payload: client.xadd(settings_.get("mq.channel"), {b"b": payload}))
