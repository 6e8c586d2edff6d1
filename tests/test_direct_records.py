"""The default pipeline encodes the common task record without building its message (flowcept_core.direct,
_Encoder.encode_run): the bytes must be exactly those of the message built the usual way, records of any other
kind must be left to the usual way, and a store that fails on such documents must still get whole messages."""

from __future__ import annotations

import math

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcept import Flowcept, flowcept_task
from flowcept_core.direct import DirectStore, _Encoder, _rebuild


@flowcept_task
def one(x):
    return x


@flowcept_task
def two(a, b):
    return None


@flowcept_task
def none():
    return 7


@flowcept_task
def with_default(x, y=2):
    return x


@flowcept_task
def fails(x):
    raise ValueError("no")


@flowcept_task
def outer(x):
    return one(x) + 1


def _records(calls) -> tuple[list[list], object]:
    """The flat records of calls, captured in a started default run and taken off its buffer undrained."""
    fc = Flowcept(workflow_name="direct-records").start()
    fc._wait_started()
    run = fc._run
    with run._drain_lock:
        start = len(run.items)
        for fn, args in calls:
            try:
                fn(*args)
            except ValueError:
                pass
        raw = run.items[start:]
        del run.items[start:]
    recs, i = [], 0
    while i < len(raw):
        item = raw[i]
        width = 1 if type(item) is dict else item.width
        recs.append(raw[i : i + width])
        i += width
    return recs, (fc, run)


def _encode_one(encoder: _Encoder, rec: list, run, pieces: list, heads: list) -> dict | None:
    """The document encode_run gives for the one record rec, or None when it leaves it to the usual way."""
    docs: list = []
    end = encoder.encode_run(rec[0], rec, 0, run, pieces, heads, docs)
    assert end in (0, len(rec)) and len(docs) == (end > 0)
    return docs[0] if docs else None


def _both_ways(rec: list, run) -> tuple[tuple | None, tuple]:
    pieces, heads = [], []
    doc = _encode_one(_Encoder(), rec, run, pieces, heads)
    fast = None if doc is None else (b"".join(bytes(p) for p in pieces), bytes(heads[0]), doc)
    msg = rec[0].materialize(rec, run)
    pieces2, heads2 = [], []
    assert _Encoder().encode(msg, pieces2, heads2)
    return fast, (b"".join(bytes(p) for p in pieces2), bytes(heads2[0]), msg)


def _check(fast, usual) -> None:
    line, head, doc = fast
    line2, head2, msg = usual
    assert line == line2 and head == head2
    assert orjson.loads(line) == msg
    for key, value in doc.items():  # what the store reads besides the head agrees with the message
        assert msg[key] is value or msg[key] == value
    assert _rebuild(doc, head) == msg


def test_common_records_encode_to_the_bytes_of_their_messages(defaults):
    calls = [
        (one, (1,)),
        (one, (2.5,)),
        (one, ("é ü 漢字",)),
        (one, (True,)),
        (one, (None,)),
        (one, (-(2**63),)),
        (two, (1, "b")),
        (none, ()),
        (outer, (3,)),
    ]
    recs, (fc, run) = _records(calls)
    early = recs[0][:9] + [None, None]  # recorded before telemetry's first reading: the run's latest is used
    try:
        fast = [_both_ways(rec, run) for rec in [*recs, early]]
    finally:
        fc.stop()
    assert all(f is not None for f, _ in fast)  # every one of these takes the direct way
    for f, usual in fast:
        _check(f, usual)
    nested = [u[2] for _, u in fast if u[2]["activity_id"] == "one" and u[2].get("parent_task_id")]
    assert len(nested) == 1  # the call inside outer: its parent id is encoded too


def test_other_records_are_left_to_the_usual_way(defaults):
    calls = [
        (one, ("http://user:pw@host",)),
        (one, (2**64,)),
        (one, (math.nan,)),
        (one, ([1, 2],)),
        (with_default, (1,)),
        (fails, (1,)),
        (one, ("x" * 2_000_000,)),
    ]
    recs, (fc, run) = _records(calls)
    try:
        encoder = _Encoder()
        assert [_encode_one(encoder, rec, run, [], []) for rec in recs] == [None] * len(recs)
    finally:
        fc.stop()


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_scalars, _scalars), min_size=1, max_size=20))
def test_any_scalar_arguments_encode_like_their_messages(defaults, pairs):
    recs, (fc, run) = _records([(two, p) for p in pairs] + [(one, (p[0],)) for p in pairs])
    try:
        for rec in recs:
            fast, usual = _both_ways(rec, run)
            if fast is not None:
                _check(fast, usual)
            else:  # only values the usual way must clean (a URL, too long, not UTF-8) are left to it
                args = rec[5]
                assert any(type(a) is str and ("://" in a or not a.isascii()) for a in args)
    finally:
        fc.stop()


def test_a_store_failing_on_encoded_documents_gets_whole_messages(defaults):
    with Flowcept(workflow_name="direct-fallback") as fc:
        fc._wait_started()
        direct = fc._run.direct
        assert isinstance(direct, DirectStore)
        store = direct.inserter.stores[0]
        real = store.upsert_json
        store.upsert_json = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("refused as JSON"))
        try:
            for i in range(300):
                one(i)
            fc._run.drain()
        finally:
            store.upsert_json = real
    stored = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
    assert sorted(t["used"]["x"] for t in stored) == list(range(300))
    assert all(t["generated"] == {"arg_0": t["used"]["x"]} and t["telemetry_at_end"]["cpu"] for t in stored)


def test_a_task_id_stored_before_is_merged_with_the_whole_encoded_document(defaults):
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import get_settings

    store = LMDBStore(get_settings())
    store.upsert("tasks", [{"task_id": "t1", "workflow_id": "w", "custom_metadata": {"k": 1}}])
    head = orjson.dumps({"type": "task", "task_id": "t1", "workflow_id": "w", "used": {"x": 1}, "status": "FINISHED"})
    store.upsert_json("tasks", [{"task_id": "t1", "workflow_id": "w", "registered_at": 5.0}], [head[:-1]])
    got = store.find("tasks", {"task_id": "t1"})[0]
    assert got["used"] == {"x": 1} and got["custom_metadata"] == {"k": 1} and got["status"] == "FINISHED"
    assert got["registered_at"] == 5.0


def test_a_loop_of_records_is_encoded_at_once_up_to_the_first_of_another_kind(defaults):
    calls = [(one, (1,)), (one, (2.5,)), (one, ("s",)), (one, ([1, 2],)), (one, (4,)), (two, (1, 2)), (one, (5,))]
    recs, (fc, run) = _records(calls)
    try:
        raw = [x for rec in recs for x in rec]
        width = len(recs[0])
        encoder, pieces, heads, docs = _Encoder(), [], [], []
        end = encoder.encode_run(recs[0][0], raw, 0, run, pieces, heads, docs)
        assert end == 3 * width and len(docs) == len(heads) == 3  # stops at the list argument
        usual = [_both_ways(rec, run)[1] for rec in recs[:3]]
        assert b"".join(bytes(p) for p in pieces) == b"".join(u[0] for u in usual)
        assert [d["task_id"] for d in docs] == [u[2]["task_id"] for u in usual]
        assert encoder.encode_run(recs[3][0], raw, end, run, [], [], []) == end  # left to the caller
        assert encoder.encode_run(recs[4][0], raw, 4 * width, run, [], [], []) == 5 * width  # another template
        assert encoder.encode_run(recs[5][0], raw, 5 * width, run, [], [], []) == 6 * width
        assert encoder.encode_run(recs[6][0], raw, 6 * width, run, [], [], []) == len(raw)
    finally:
        fc.stop()


def test_a_batch_mixing_new_ids_ids_stored_before_and_repeated_ids_stores_each_once(defaults):
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import get_settings

    store = LMDBStore(get_settings())
    store.upsert("tasks", [{"task_id": f"t{i}", "workflow_id": "old", "custom_metadata": {"k": i}} for i in (3, 7)])
    docs, heads = [], []
    for i in [*range(10), 5]:  # t3 and t7 stored before, t5 given twice
        docs.append({"task_id": f"t{i}", "workflow_id": "new", "registered_at": float(i)})
        heads.append(orjson.dumps({"type": "task", "task_id": f"t{i}", "workflow_id": "new", "used": {"x": i}})[:-1])
    heads[-1] = orjson.dumps({"type": "task", "task_id": "t5", "workflow_id": "new", "status": "FINISHED"})[:-1]
    store.upsert_json("tasks", docs, heads)
    got = {d["task_id"]: d for d in store.find("tasks", {"workflow_id": "new"})}
    assert sorted(got) == [f"t{i}" for i in range(10)] and store.count("tasks", {"workflow_id": "new"}) == 10
    assert store.count("tasks", {"workflow_id": "old"}) == 0  # the merged ones left the old workflow's index
    assert got["t3"]["custom_metadata"] == {"k": 3} and got["t3"]["used"] == {"x": 3}
    assert got["t5"]["status"] == "FINISHED" and got["t5"]["used"] == {"x": 5}  # merged in order
    assert all(got[f"t{i}"]["registered_at"] == float(i) for i in range(10))
