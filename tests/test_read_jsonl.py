"""Buffer-file reading: block boundaries, blank lines, CRLF, bad lines named by number, shared repeated values."""

from __future__ import annotations

import json

import orjson
import pytest

from flowcept_core import files
from flowcept_core.files import ValueSharer, read_jsonl


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 bytes, so that a file of a few lines spans many blocks and lines straddle them."""
    monkeypatch.setattr(files, "_BLOCK_BYTES", 64)


def task(i: int, wf: str = "wf-1") -> dict:
    return {"type": "task", "task_id": f"t{i}", "workflow_id": wf, "campaign_id": "c", "activity_id": "f",
            "status": "FINISHED", "used": {"x": i}, "generated": {"y": i + 1}}


def write(path, msgs, sep="\n", trailing=True) -> None:
    text = sep.join(json.dumps(m) for m in msgs)
    path.write_bytes((text + (sep if trailing else "")).encode())


@pytest.mark.parametrize("sep", ["\n", "\r\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_every_line_comes_back_in_order_across_block_boundaries(tmp_path, small_blocks, sep, trailing):
    msgs = [task(i) for i in range(200)]
    path = tmp_path / "b.jsonl"
    write(path, msgs, sep, trailing)
    assert read_jsonl(str(path)) == msgs


def test_a_line_longer_than_a_block_is_read_whole(tmp_path, small_blocks):
    msgs = [task(0), {**task(1), "big": "x" * 5000}, task(2)]
    path = tmp_path / "long.jsonl"
    write(path, msgs)
    assert read_jsonl(str(path)) == msgs


def test_blank_lines_anywhere_are_skipped(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text('\n{"a": 1}\n\n   \n{"a": 2}\n\n')
    assert read_jsonl(str(path)) == [{"a": 1}, {"a": 2}]


def test_empty_file_is_an_empty_list(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert read_jsonl(str(path)) == []


def test_a_bad_line_far_into_the_file_is_named_by_its_number(tmp_path, small_blocks):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(task(i)) for i in range(300)]
    lines[236] = '{"type": "task", "task_id": '
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(orjson.JSONDecodeError, match=r"bad\.jsonl:237:"):
        read_jsonl(str(path))


def test_repeated_values_become_one_object_and_equal_values_stay_equal(tmp_path, small_blocks):
    msgs = [task(i, wf="wf-a" if i < 50 else "wf-b") for i in range(100)]
    msgs.insert(30, {"type": "workflow", "workflow_id": "wf-a", "name": "main"})
    msgs.insert(60, {"type": "task", "task_id": "odd", "workflow_id": None, "status": 3})
    msgs.append({**task(100), "hostname": "h1", "node_name": "n1", "login_name": "u"})
    msgs.append({**task(101), "hostname": "h1", "node_name": "n1", "login_name": "u"})
    path = tmp_path / "s.jsonl"
    write(path, msgs)
    got = read_jsonl(str(path))
    assert got == msgs
    wf_a = [m["workflow_id"] for m in got if m.get("workflow_id") == "wf-a"]
    wf_b = [m["workflow_id"] for m in got if m.get("workflow_id") == "wf-b"]
    assert len(wf_a) == 51 and len(wf_b) == 50
    assert all(v is wf_a[0] for v in wf_a) and all(v is wf_b[0] for v in wf_b)
    for field in ("type", "status", "campaign_id", "activity_id"):
        vals = [m[field] for m in got if m.get(field) == msgs[0][field]]
        assert len(vals) > 90 and all(v is vals[0] for v in vals), field
    assert got[-1]["hostname"] is got[-2]["hostname"] and got[-1]["login_name"] is got[-2]["login_name"]


def test_sharer_never_changes_a_value_or_its_type():
    sharer = ValueSharer()
    batch1 = [{"type": "task", "workflow_id": "w", "activity_id": "a", "status": "FINISHED", "campaign_id": "c"}]
    batch2 = [
        {"type": "task", "workflow_id": 1, "activity_id": True, "status": None, "campaign_id": 1.0},
        {"type": "task", "workflow_id": "w", "activity_id": "a", "status": "FINISHED"},  # no campaign_id
        ["not", "a", "dict"],
        "text",
        {"type": "task", "workflow_id": "w2", "activity_id": "a", "status": "ERROR", "campaign_id": "c"},
        {"type": "task", "workflow_id": "w", "activity_id": "a", "status": "ERROR", "campaign_id": "c",
         "hostname": "h"},
    ]
    sharer(batch1)
    sharer(batch2)
    assert batch2[0] == {"type": "task", "workflow_id": 1, "activity_id": True, "status": None, "campaign_id": 1.0}
    assert type(batch2[0]["workflow_id"]) is int and type(batch2[0]["campaign_id"]) is float
    assert batch2[0]["activity_id"] is True
    assert "campaign_id" not in batch2[1] and batch2[1]["workflow_id"] is batch1[0]["workflow_id"]
    assert batch2[2] == ["not", "a", "dict"] and batch2[3] == "text"
    assert batch2[4]["workflow_id"] == "w2" and batch2[4]["status"] == "ERROR"
    assert batch2[4]["campaign_id"] is batch1[0]["campaign_id"]
    assert batch2[5] == {"type": "task", "workflow_id": "w", "activity_id": "a", "status": "ERROR", "campaign_id": "c",
                         "hostname": "h"}  # host fields only partly there: nothing added
    assert batch2[5]["status"] is batch2[4]["status"] and batch2[5]["workflow_id"] is batch1[0]["workflow_id"]


def test_a_line_of_many_blocks_is_joined_once(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_BLOCK_BYTES", 1024)
    msgs = [task(0), {**task(1), "big": "y" * 3_000_000}, task(2)]
    path = tmp_path / "huge.jsonl"
    write(path, msgs)
    assert read_jsonl(str(path)) == msgs


def test_iter_buffer_file_streams_the_same_messages(tmp_path, small_blocks):
    from flowcept import Flowcept

    msgs = [task(i) for i in range(150)]
    path = tmp_path / "it.jsonl"
    write(path, msgs)
    it = Flowcept.iter_buffer_file(str(path))
    assert next(it) == msgs[0]
    assert [msgs[0], *it] == msgs
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        Flowcept.iter_buffer_file(str(tmp_path / "nope.jsonl"))


def test_no_path_anywhere_is_the_documented_assertion(tmp_path, monkeypatch):
    from flowcept import Flowcept
    from tests._util import use_settings

    use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {"enabled": False, "path": None}}})
    with pytest.raises(AssertionError, match="project.dump_buffer.path"):
        Flowcept.read_buffer_file()
    with pytest.raises(AssertionError, match="project.dump_buffer.path"):
        Flowcept.iter_buffer_file()
