"""Offline, @lightweight_flowcept_task records of plain values are kept as records too (their task id given when they
are kept), kept records are encoded field by field (flowcept_core.replay_build), and dump_buffer() encodes the window
kept unencoded straight into its file: settled (encoded once for the buffer file written at stop) when there is one,
left kept otherwise."""

from __future__ import annotations

import errno
import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcept import Flowcept, flowcept_task, lightweight_flowcept_task
from flowcept_core import replay as replay_module
from flowcept_core import retained as retained_module
from flowcept_core.appender import Appender
from flowcept_core.retained import encode_lines
from tests._kept import built_and_given, kept_records, record_segments
from tests._util import tasks, use_settings

pytestmark = pytest.mark.usefixtures("keep_every_run")


@lightweight_flowcept_task
def light(x):
    return x


@lightweight_flowcept_task
def light_none(x, y=1):
    return None


@lightweight_flowcept_task(output_names="out")
def light_named(x):
    return [x] if x == "list" else x


@flowcept_task
def outer(x):
    return light(x)


@flowcept_task
def full(x):
    return x


_SLOW = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
plain = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12).filter(lambda s: "://" not in s),
    st.sampled_from(['","', '\\', '\\",\\"', '"', ",", "", "é,\"x\"", "list"]),
)


def _without_ids(msgs: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("task_id", "parent_task_id")} for m in msgs]


@settings(max_examples=120, **_SLOW)
@given(calls=st.lists(st.tuples(st.sampled_from([light, light_none, light_named, outer, full]), plain),
                      max_size=40))
def test_light_records_are_kept_and_built_as_materialize_builds_them(tmp_path, monkeypatch, calls):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        expected, got = built_and_given(fc, lambda: [f(v) for f, v in calls])
        assert [list(m) for m in got] == [list(m) for m in expected]  # the same keys in the same order
        assert repr(_without_ids(got)) == repr(_without_ids(expected))
        again = fc.get_buffer()[-len(expected):] if expected else []
        assert again == got and all(a is not b for a, b in zip(again, got, strict=True))  # fresh, same ids
        ids = [m["task_id"] for m in tasks(fc.get_buffer())]
        assert len(set(ids)) == len(ids)
        by_id = {m["task_id"]: m for m in got}
        for m in got:  # a light call inside outer names it as its parent
            if m["activity_id"] == "light" and "parent_task_id" in m:
                assert by_id[m["parent_task_id"]]["activity_id"] == "outer"
        if not any(f is light_named and v == "list" for f, v in calls):  # every record is kept as it is
            assert kept_records(fc) == len(expected)


@settings(max_examples=120, **_SLOW)
@given(calls=st.lists(st.tuples(st.sampled_from([light, light_none, light_named, outer, full]), plain),
                      min_size=1, max_size=40))
def test_kept_records_encode_to_the_bytes_of_their_built_messages(tmp_path, monkeypatch, calls):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        built_and_given(fc, lambda: [f(v) for f, v in calls])
        for _, build, flat, _ in record_segments(fc):
            direct, msgs, usual = bytearray(), [], bytearray()
            build.encode(flat, direct)
            build(flat, msgs)
            encode_lines(msgs, usual, {})
            assert bytes(direct) == bytes(usual)


@pytest.mark.parametrize("values", [
    ['","', "a", '\\', '\\",\\"', "", '"', "é\n,\t"],  # strings only: split between the encoded strings
    [1, 2.5, True, None, -(1 << 63)],  # no string: split at the commas
    ["a,b", 3, None, '","'],  # mixed: one encoding each
])
def test_a_column_of_any_plain_values_encodes_as_each_value_does(tmp_path, monkeypatch, values):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        for f in (full, light):  # a run of each: whole columns
            for v in values * 20:
                f(v)
        got = fc.get_buffer()
        assert [len(seg[2]) // seg[1].width for seg in record_segments(fc)] == [len(values) * 20] * 2
    lines = Flowcept.read_buffer_file()
    assert lines[1:] == got[1:]
    assert [t["used"]["x"] for t in tasks(lines, "full")] == values * 20
    assert [t["generated"]["arg_0"] for t in tasks(lines, "light") if "generated" in t] == [
        v for v in values * 20 if v is not None]


def test_dump_without_a_buffer_file_leaves_the_records_kept(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {"enabled": False}}})
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        for i in range(3000):
            full(i)
            light(str(i))
            if i % 1000 == 0:
                light_named("list")
        fc.dump_buffer(str(out))
        # still kept, not encoded (but the two calls before the first message not kept so: see Retained.add)
        assert kept_records(fc) == 5998
        assert fc._run.retained._fd is None  # nothing went to the spool
        got = fc.get_buffer()
        assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == got
        fc.dump_buffer(str(out))
        assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == fc.get_buffer() == got


def test_dump_with_a_buffer_file_settles_the_window_once(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        for i in range(20_000):
            full(i)
            light(i)
            if i % 5000 == 0:  # messages kept as built ("d"), between runs of records
                light_named("list")
        fc._run.drain()
        assert {"r", "d"} <= {seg[0] for seg in fc._run.retained._tail}
        fc.dump_buffer(str(out))
        assert not fc._run.retained._tail  # encoded once, for both files
        dumped = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        for i in range(100):
            light(-i)
        got = fc.get_buffer()
    assert dumped == got[: len(dumped)] and len(got) == len(dumped) + 100
    final = Flowcept.read_buffer_file()
    assert final[1:] == got[1:] and final[0]["status"] == "FINISHED"  # the workflow message changed at stop
    assert [t["used"]["x"] for t in tasks(final, "light")] == list(range(20_000)) + [-i for i in range(100)]
    assert [t["generated"]["out"] for t in tasks(final, "light_named")] == [["list"]] * 4


class _FailingDumps(Appender):
    """An appender whose writes to a dump's temporary file fail as on a full disk."""

    def append(self, block):
        if os.readlink(f"/proc/self/fd/{self.fd}").endswith(".jsonl.tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        super().append(block)


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_failed_dump_loses_nothing(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    monkeypatch.setattr(retained_module, "Appender", _FailingDumps)
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        for i in range(10_000):
            full(i)
            light(i)
        with pytest.raises(OSError, match="No space"):
            fc.dump_buffer(str(out))
        assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".jsonl.tmp")]
        got = fc.get_buffer()
    assert len(tasks(got)) == 20_000
    assert Flowcept.read_buffer_file()[1:] == got[1:]


def test_a_closed_appender_ends_its_thread_and_closes_what_it_opened(tmp_path):
    fd = os.open(tmp_path / "f.bin", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        writer = Appender(fd, direct=True)
        writer.append(b"x" * 10_000)
        writer.append(b"y" * 5000)
        writer.sync()
        opened, thread = list(writer._fds), writer._thread
        assert thread is not None and thread.is_alive()  # idle: it would wait a second for more
        writer.close()
        assert (tmp_path / "f.bin").read_bytes() == b"x" * 10_000 + b"y" * 5000
        thread.join(0.5)
        assert not thread.is_alive()
        for other in opened:
            with pytest.raises(OSError):
                os.fstat(other)
    finally:
        os.close(fd)


def test_interleaved_calls_take_the_general_path_and_keep_their_order(tmp_path, monkeypatch):
    """Calls of two functions in turn (nested or alternating) make runs of one record: kept as records, each would
    cost a bulk check and a window entry (a 1M-call run then took minutes); they are built the general way."""
    monkeypatch.setattr(replay_module, "_MIN_RUN", 16)
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        for i in range(5000):
            outer(i)  # outer's record follows light's: runs of one
        for i in range(100):
            full(i)  # a run long enough to be kept as records
        got = fc.get_buffer()
        tail = fc._run.retained._tail
        assert kept_records(fc) == 100
        assert len(tail) < 100  # a few hundred messages per window entry, not one entry per call
    assert [t["activity_id"] for t in tasks(got)] == ["light", "outer"] * 5000 + ["full"] * 100
    assert [t["used"]["x"] for t in tasks(got, "light")] == list(range(5000))
    assert Flowcept.read_buffer_file()[1:] == got[1:]


def test_dumps_while_threads_capture_lose_and_repeat_nothing(tmp_path, monkeypatch):
    import threading

    use_settings(tmp_path, monkeypatch)
    out = tmp_path / "copy.jsonl"
    n = 40_000

    def work(k: int) -> None:
        for i in range(n):
            (full if k else light)(k * 1_000_000 + i)

    with Flowcept() as fc:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        dumps = 0
        while any(t.is_alive() for t in threads) or dumps < 2:
            fc.dump_buffer(str(out))
            dumps += 1
            ids = [m["task_id"] for m in tasks([orjson.loads(line) for line in out.read_bytes().splitlines()])]
            assert len(set(ids)) == len(ids) <= 2 * n
        for t in threads:
            t.join()
        got = fc.get_buffer()
    final = Flowcept.read_buffer_file()
    assert final[1:] == got[1:]
    for name, k in (("light", 0), ("full", 1)):  # each thread's calls, all, in order, once
        assert [t["used"]["x"] - k * 1_000_000 for t in tasks(final, name)] == list(range(n))
