"""A loop's simplest task records encoded column by column (flowcept_core.direct_columns): the same bytes, ids and
stored fields as record by record, everything else left to the record-by-record way, and runs stored as the
documents they stand for."""

from __future__ import annotations

import math

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcept import Flowcept, flowcept_task
from flowcept_core.direct import _Encoder
from flowcept_core.direct_columns import encode_columns
from tests.test_direct_records import _records, one


@flowcept_task
def nothing(x):
    return None


@flowcept_task
def kw(x):
    return x


@flowcept_task
def extra(x, **more):
    return x


def _flat(recs: list[list]) -> list:
    return [x for rec in recs for x in rec]


def _both(raw: list, run) -> tuple[tuple, tuple]:
    """(pieces, runs) encoded column by column, and (pieces, heads, docs) record by record, of the loop in raw."""
    pieces, runs, heads, docs = [], [], [], []
    end = _Encoder().encode_run(raw[0], raw, 0, run, pieces, heads, docs, runs)
    assert end == len(raw) and not heads and not docs, "the loop was not encoded column by column"
    pieces2, heads2, docs2 = [], [], []
    assert _Encoder().encode_run(raw[0], raw, 0, run, pieces2, heads2, docs2) == len(raw)
    return (pieces, runs), (pieces2, heads2, docs2)


def _check(columns: tuple, usual: tuple) -> None:
    (pieces, runs), (pieces2, heads2, docs2) = columns, usual
    assert b"".join(bytes(p) for p in pieces) == b"".join(bytes(p) for p in pieces2)
    assert [bytes(h) for _, _, hs in runs for h in hs] == [bytes(h) for h in heads2]
    assert [k for _, keys, _ in runs for k in keys] == [d["task_id"].encode() for d in docs2]
    shared = [s for s, keys, _ in runs for _ in keys]
    for s, doc in zip(shared, docs2, strict=True):
        assert {k: v for k, v in doc.items() if k != "task_id"} == s
        assert s.get("telemetry_at_end") is doc.get("telemetry_at_end")


_numbers = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_numbers, min_size=16, max_size=80), st.booleans())
def test_a_loop_encodes_column_by_column_to_the_bytes_of_record_by_record(defaults, values, returns):
    recs, (fc, run) = _records([(one if returns else nothing, (v,)) for v in values])
    try:
        columns, usual = _both(_flat(recs), run)
        _check(columns, usual)
        assert len(columns[1]) == 1  # one telemetry reading: one run
        if not returns:
            assert b'"generated"' not in b"".join(columns[1][0][2])
    finally:
        fc.stop()


def test_each_telemetry_reading_makes_its_own_run(defaults):
    recs, (fc, run) = _records([(one, (i,)) for i in range(60)])
    try:
        raw = _flat(recs)
        width = len(recs[0])
        later = {"cpu": {"percent_all": 12.5}, "memory": {"virtual": {"used": 1}}}
        for r in range(20, 60):  # a newer reading from the 21st call on, none (before the first) for the first 5
            raw[r * width + 9] = raw[r * width + 10] = later
        for r in range(5):
            raw[r * width + 9] = raw[r * width + 10] = None
        columns, usual = _both(raw, run)
        _check(columns, usual)
        runs = columns[1]
        assert [len(keys) for _, keys, _ in runs] == [20, 40]  # the first five took the run's latest reading
        assert runs[1][0]["telemetry_at_start"] is later
        lines = [orjson.loads(line) for line in b"".join(columns[0]).splitlines()]
        assert [t["telemetry_at_end"] == later for t in lines] == [False] * 20 + [True] * 40
    finally:
        fc.stop()


def test_loops_of_other_kinds_are_left_to_record_by_record(defaults):
    loops = {
        "a string": [(one, (i,)) for i in range(20)] + [(one, ("s",))],
        "a NaN": [(one, (math.nan,))] + [(one, (i,)) for i in range(20)],
        "an infinite result": [(one, (math.inf,))] + [(one, (1.5,)) for _ in range(20)],
        "an int past 64 bits": [(one, (2**63,))] + [(one, (1,)) for _ in range(20)],
        "a list": [(one, ([1],))] + [(one, (1,)) for _ in range(20)],
        "some results None": [(kw, (None if i % 2 else i,)) for i in range(20)],
        "too short": [(one, (i,)) for i in range(10)],
    }
    for what, calls in loops.items():
        recs, (fc, run) = _records(calls)
        try:
            raw = _flat(recs)
            encoder = _Encoder()
            encoder.encode_run(raw[0], raw[: len(recs[0])], 0, run, [], [], [])  # makes the template's shape
            shape = encoder._shapes[id(raw[0])][1]
            runs: list = []
            assert encode_columns(encoder, raw[0], shape, raw, 0, run, [], runs) == 0 and not runs, what
        finally:
            fc.stop()


def test_keyword_arguments_errors_and_parents_are_left_to_record_by_record(defaults):
    @flowcept_task
    def inner(x):
        return x

    @flowcept_task
    def outer(x):
        return inner(x)

    @flowcept_task
    def fails(x):
        raise ValueError("no")

    for calls in ([(lambda x: extra(x, y=x), (i,)) for i in range(20)], [(fails, (i,)) for i in range(20)],
                  [(outer, (i,)) for i in range(20)]):
        recs, (fc, run) = _records(calls)
        try:
            raw = _flat([r for r in recs if r[0].activity_id != "outer"])  # outer's records interleave inner's
            encoder = _Encoder()
            encoder.encode_run(raw[0], raw[: len(recs[0])], 0, run, [], [], [])
            shape = encoder._shapes[id(raw[0])][1]
            if shape is not None:
                assert encode_columns(encoder, raw[0], shape, raw, 0, run, [], []) == 0
        finally:
            fc.stop()


def test_runs_are_stored_as_the_documents_they_stand_for(defaults):
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import get_settings

    store = LMDBStore(get_settings())
    store.upsert("tasks", [{"task_id": "r3", "workflow_id": "old", "custom_metadata": {"k": 3}}])
    snap = {"cpu": {"percent_all": 1.0}}
    shared = {"activity_id": "a", "workflow_id": "w", "campaign_id": "c", "registered_at": 2.0,
              "telemetry_at_start": snap, "telemetry_at_end": snap}
    keys = [b"r%d" % i for i in range(6)]
    heads = [orjson.dumps({"type": "task", "task_id": f"r{i}", "activity_id": "a" if i < 4 else "b",
                           "workflow_id": "w", "campaign_id": "c", "used": {"x": i}})[:-1] for i in range(6)]
    plain = {"task_id": "p1", "workflow_id": "w", "registered_at": 1.0}
    store.upsert_json("tasks", [plain], [orjson.dumps({"type": "task", "task_id": "p1", "workflow_id": "w"})[:-1]],
                      [(shared, keys[:4], heads[:4]), ({**shared, "activity_id": "b"}, keys[4:], heads[4:])])
    got = {d["task_id"]: d for d in store.find("tasks", {"workflow_id": "w"})}
    assert sorted(got) == ["p1", "r0", "r1", "r2", "r3", "r4", "r5"]
    assert store.count("tasks", {"activity_id": "a"}) == 4 and store.count("tasks", {"activity_id": "b"}) == 2
    assert store.count("tasks", {"workflow_id": "old"}) == 0  # r3 was stored before: merged, its index moved
    assert got["r3"]["custom_metadata"] == {"k": 3} and got["r3"]["used"] == {"x": 3}
    assert all(got[f"r{i}"]["telemetry_at_end"] == snap and got[f"r{i}"]["registered_at"] == 2.0 for i in range(6))
    assert got["r5"]["activity_id"] == "b" and got["p1"]["registered_at"] == 1.0


def test_a_default_run_stores_and_writes_a_long_loop_the_same(defaults):
    with Flowcept(workflow_name="columns") as fc:
        for i in range(20_000):
            one(i * 0.5 if i % 3 else i)
    stored = {t["task_id"]: t for t in Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})}
    lines = [m for m in Flowcept.read_buffer_file() if m.get("type") == "task"]
    assert len(stored) == len(lines) == 20_000
    for line in lines:
        doc = dict(stored[line["task_id"]])
        assert doc.pop("registered_at") >= line["ended_at"]
        assert doc == line
    assert sorted(t["used"]["x"] for t in lines) == sorted(i * 0.5 if i % 3 else i for i in range(20_000))
