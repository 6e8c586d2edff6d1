"""Offline, get_buffer() hands over the messages kept as built instead of decoding their lines: what it returns must
be exactly what a reader of the buffer file gets, unshared, and the memory this takes stays bounded."""

from __future__ import annotations

import orjson
import pytest

from flowcept import Flowcept, FlowceptTask, flowcept_task
from flowcept_core import retained as retained_module
from tests._util import tasks, use_settings


@flowcept_task
def inc(x):
    return x + 1


@flowcept_task
def pair(x):
    return (x, [x, {"k": (1, 2)}])


@flowcept_task(tags=["a", "b"])
def tagged(x):
    return x


@flowcept_task(custom_metadata={"owner": "me", "n": (1, 2)})
def with_metadata(x):
    return x


@flowcept_task
def fails(x):
    raise ValueError("bad \ud800 value " + str(x))


def _kept(retained, kinds: str = "rd") -> int:
    """How many messages the window kept unencoded holds: as records ("r") or as built ("d")."""
    return sum(len(seg[2]) // seg[1].width if seg[0] == "r" else len(seg[1])
               for seg in retained._tail if seg[0] in kinds)


def _file_lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _mixed_calls(fc: Flowcept, n: int) -> None:
    for i in range(n):
        inc(i)
        if i % 97 == 0:
            pair(i)
        if i % 389 == 0:
            tagged(i)
            with_metadata(i)
            with FlowceptTask(activity_id="manual", used={"i": i, "t": (i, i)}) as t:
                t.end(generated={"out": float(i) / 3})
            try:
                fails(i)
            except ValueError:
                pass


def test_get_buffer_gives_what_the_buffer_file_holds(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    out = tmp_path / "copy.jsonl"
    with Flowcept(workflow_name="kept") as fc:
        _mixed_calls(fc, 3000)
        for i in range(2000):  # a long stretch of plain tasks: kept as built
            inc(i)
        fc._run.drain()
        assert _kept(fc._run.retained) >= 1500  # the path under test is taken
        got = fc.get_buffer()
        assert _kept(fc._run.retained, "r") >= 1500  # records stay: built again by each call
        fc.dump_buffer(str(out))
        assert got == _file_lines(out)
        for m in got:
            m["status"] = "changed by the caller"
            if "used" in m:
                m["used"]["x"] = "changed"
        again = fc.get_buffer()  # decoded: the caller's changes are not seen
        assert again == _file_lines(out)
        for i in range(300):
            inc(i)
        third = fc.get_buffer()
    assert third[: len(again)] == again and len(tasks(third)) == len(tasks(again)) + 300
    assert fc.get_buffer() == Flowcept.read_buffer_file()
    assert [t["used"]["x"] for t in tasks(third, "inc")] == list(range(3000)) + list(range(2000)) + list(range(300))


def test_handed_messages_share_no_container(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        _mixed_calls(fc, 1000)
        got = fc.get_buffer()
    containers: set[int] = set()
    count = 0

    def walk(value) -> None:
        nonlocal count
        if isinstance(value, (dict, list)):
            containers.add(id(value))
            count += 1
            for v in value.values() if isinstance(value, dict) else value:
                walk(v)

    walk(got)
    assert len(containers) == count  # each dict and list appears once
    assert all(type(t["generated"]["arg_1"]) is list for t in tasks(got, "pair"))  # tuples read back as lists


def test_the_messages_kept_as_built_are_bounded(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    monkeypatch.setattr(retained_module, "_KEEP_BYTES", 600 << 10)
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        for i in range(5000):
            inc(i)
            if i % 1000 == 0:
                fc._run.drain()
                kept = fc._run.retained
                assert kept._tail_bytes <= 600 << 10
                assert _kept(kept) * 150 <= 600 << 10  # a kept record takes more than 150 bytes
        fc._run.drain()
        assert _kept(fc._run.retained)  # the newest are kept
        fc.dump_buffer(str(out))
        got = fc.get_buffer()
    assert got == _file_lines(out)
    assert [t["used"]["x"] for t in tasks(got)] == list(range(5000))


@pytest.mark.parametrize("tree", [{"telemetry_capture": {"cpu": True, "mem": True}}, {}])
def test_messages_sharing_values_are_read_back_from_their_lines(tmp_path, monkeypatch, tree):
    use_settings(tmp_path, monkeypatch, tree)
    with Flowcept() as fc:
        for i in range(600):
            (tagged if not tree else inc)(i)
        fc._run.drain()
        assert not fc._run.retained._tail
        got = fc.get_buffer()
    assert len(tasks(got)) == 600
    assert got[1:] == Flowcept.read_buffer_file()[1:]  # the workflow message changed at stop
