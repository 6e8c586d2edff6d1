"""A batch msgpack refuses (a lone surrogate, an int past 64 bits) is sanitized value by value: no list is cut and
no other message of the batch is lost."""

from __future__ import annotations

from flowcept_core.wire import decode_batch, encode_batch


def test_a_refused_batch_keeps_every_message_and_every_record():
    records = [*range(20_000), "bad \ud800 text", 2**70]
    batch = [{"type": "note", "records": records}] + [{"type": "task", "task_id": f"t-{i}", "used": {"x": i}}
                                                     for i in range(3000)]
    batch[1500]["used"]["x"] = "\udcff"
    out = decode_batch(encode_batch(batch))
    assert len(out) == 3001
    assert out[0]["records"][:20_000] == list(range(20_000))
    assert out[0]["records"][20_000:] == ["bad \\ud800 text", str(2**70)]
    assert [m["used"]["x"] for m in out[1:]] == [*range(1499), "\\udcff", *range(1500, 3000)]
