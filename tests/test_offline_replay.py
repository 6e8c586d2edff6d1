"""Offline, records of plain JSON values are kept as they are and built into messages by a generated function at
each get_buffer() (flowcept_core.replay): those messages must be exactly what TaskTemplate.materialize builds for the
same records (same keys, same order, same values), fresh at each call, in capture order among the others."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcept import Flowcept, flowcept_task
from flowcept_core import retained as retained_module
from flowcept_core.serialize import dumps_line
from tests._kept import built_and_given, kept_records, record_segments
from tests._util import tasks, use_settings

pytestmark = pytest.mark.usefixtures("keep_every_run")


@flowcept_task
def one(x):
    return x


@flowcept_task
def two(x, y):
    return y


@flowcept_task
def three(x, y=2, z="d"):
    return z


@flowcept_task(output_names="out")
def named(x):
    return x


@flowcept_task(output_names=["only"], subtype="kind")
def subtyped(x):
    return x


@flowcept_task
def outer(x):
    return one(x)


@flowcept_task
def workflow_id(workflow_id, x):  # a parameter the message takes its workflow_id from: built the general way
    return x


@flowcept_task(tags=["t"])
def tagged(x):
    return x


@flowcept_task
def pair(x):
    return (x, [x])


@flowcept_task
def fails(x):
    raise ValueError(f"bad {x}")


FUNCS = [one, two, three, named, subtyped, outer]
plain = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 63) - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="ascii"), max_size=20).filter(lambda s: "://" not in s),
)
anything = st.one_of(
    plain, st.integers(), st.floats(), st.text(st.characters(codec=None, categories=None), max_size=30),
    st.sampled_from(["http://user:secret@host/x", "x" * 300_000, "é", "\ud800"]),
    st.tuples(st.integers()), st.lists(st.integers(), max_size=3),
)


def _call(func, values: list) -> None:
    arity = {two: 2, three: 3, workflow_id: 2}.get(func, 1)
    args = (values * 3)[:arity] if values else [None] * arity
    try:
        func(*args)
    except ValueError:
        pass


def _same(got: list[dict], expected: list[dict], read_back: bool = False) -> None:
    """read_back: a message the encoder had to convert (a lone surrogate...) may be given as its line reads back."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert list(g) == list(e)  # the same keys in the same order
        if not (read_back and repr(g) != repr(e)):
            assert repr(g) == repr(e)  # the same values (NaN included)
        else:
            assert repr(g) == repr(orjson.loads(dumps_line(e)))


_SLOW = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])


@settings(max_examples=150, **_SLOW)
@given(calls=st.lists(st.tuples(st.sampled_from(FUNCS), st.lists(plain, min_size=1, max_size=3)), max_size=12))
def test_plain_records_are_kept_and_built_as_materialize_builds_them(tmp_path, monkeypatch, calls):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        expected, got = built_and_given(fc, lambda: [_call(f, v) for f, v in calls])
        _same(got, expected)
        assert kept_records(fc) == len(expected)  # the path under test is taken for each of them
        _same(fc.get_buffer()[-len(expected):] if expected else [], expected)  # built again, equal


@settings(max_examples=150, **_SLOW)
@given(calls=st.lists(st.tuples(st.sampled_from(FUNCS + [tagged, pair, fails, workflow_id]),
                                st.lists(anything, min_size=1, max_size=3)), max_size=12),
       enrich=st.booleans())
def test_any_scalars_give_the_messages_of_the_general_path_in_order(tmp_path, monkeypatch, calls, enrich):
    use_settings(tmp_path, monkeypatch, {"project": {"enrich_messages": enrich}})
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        expected, got = built_and_given(fc, lambda: [_call(f, v) for f, v in calls])
        _same(got, expected, read_back=True)
        fc.dump_buffer(str(out))
        lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert len(lines) == len(fc.get_buffer())  # overwritten, nothing twice
        _same(fc.get_buffer()[-len(expected):] if expected else [], lines[len(lines) - len(expected):], True)


def test_each_get_buffer_gives_fresh_messages(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        for i in range(5000):
            outer(i)
        first = fc.get_buffer()
        assert kept_records(fc) == 10_000
        snapshot = orjson.dumps(first)
        for m in first:
            m["status"] = "changed"
            for key in ("used", "generated"):
                if key in m:
                    m[key]["x"] = "changed"
                    m[key].clear()
        second = fc.get_buffer()
        assert orjson.dumps(second) == snapshot
        assert all(a is not b and ("used" not in a or a["used"] is not b["used"])
                   for a, b in zip(first, second, strict=True))
    inner = tasks(second, "one")
    assert [t["used"]["x"] for t in inner] == list(range(5000))
    parents = {t["task_id"] for t in tasks(second, "outer")}
    assert all(t["parent_task_id"] in parents for t in inner)


def test_dump_buffer_overwrites_and_the_records_stay_readable(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    out = tmp_path / "copy.jsonl"
    with Flowcept() as fc:
        for i in range(3000):
            two(i, str(i))
        fc.dump_buffer(str(out))
        fc.dump_buffer(str(out))
        for i in range(1000):
            named(float(i))
        got = fc.get_buffer()
        fc.dump_buffer(str(out))
        assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == got == fc.get_buffer()
    assert [t["generated"]["out"] for t in tasks(got, "named")] == [float(i) for i in range(1000)]
    assert len(tasks(got)) == 4000 and Flowcept.read_buffer_file()[1:] == got[1:]


def test_the_records_kept_are_bounded_and_keep_their_order(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    monkeypatch.setattr(retained_module, "_KEEP_BYTES", 1200 << 10)  # fewer than 5000 records
    with Flowcept() as fc:
        for i in range(20_000):
            one(i)
            if i % 5000 == 0:
                pair(i)
                fc._run.drain()
                assert fc._run.retained._tail_bytes <= 1200 << 10
        got = fc.get_buffer()
        assert 0 < kept_records(fc) < 20_000  # the oldest were encoded
    assert [t["used"]["x"] for t in tasks(got, "one")] == list(range(20_000))
    assert [t["used"]["x"] for t in tasks(got, "pair")] == list(range(0, 20_000, 5000))
    assert got[1:] == Flowcept.read_buffer_file()[1:]  # the workflow message changed at stop


def test_records_with_telemetry_are_not_kept(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"telemetry_capture": {"cpu": True}})
    with Flowcept() as fc:
        for i in range(300):
            one(i)
        got = fc.get_buffer()
        assert kept_records(fc) == 0
    assert all("telemetry_at_end" in t for t in tasks(got))


@settings(max_examples=100, **_SLOW)
@given(calls=st.lists(st.tuples(st.sampled_from(FUNCS), st.lists(plain, min_size=1, max_size=3)), min_size=1,
                      max_size=12), enrich=st.booleans())
def test_kept_records_encode_to_the_bytes_of_their_built_messages(tmp_path, monkeypatch, calls, enrich):
    from flowcept_core.retained import encode_lines

    use_settings(tmp_path, monkeypatch, {"project": {"enrich_messages": enrich}})
    with Flowcept() as fc:
        built_and_given(fc, lambda: [_call(f, v) for f, v in calls])
        segments = record_segments(fc)
        assert segments
        for _, build, flat, _ in segments:
            direct, msgs, usual = bytearray(), [], bytearray()
            build.encode(flat, direct)
            build(flat, msgs)
            encode_lines(msgs, usual, {})
            assert bytes(direct) == bytes(usual)
