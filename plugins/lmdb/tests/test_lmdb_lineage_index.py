"""The lineage value index of the LMDB store: its keys, the background catch-up while the store is idle, and
catch-ups by several threads and processes at once (the answers always equal those computed without an index)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from flowcept_core.lineage import get_lineage
from flowcept_core.prov_mapping import value_entity_id


class _PlainStore:  # only find(): lineage answers computed without any index
    def __init__(self, store):
        self.find = store.find


def _chain(n: int, start: int = 0) -> list[dict]:
    """Tasks t<i> in chains of 10: each uses what the one before generated; every 5th is a nested call."""
    out = []
    for i in range(start, start + n):
        doc = {
            "task_id": f"t{i:06d}",
            "workflow_id": "w",
            "used": {"x": f"v{i - 1}" if i % 10 else f"in{i}"},
            "generated": {"y": f"v{i}", "n": i % 3},
        }
        if i % 5 == 0 and i % 10:
            doc["parent_task_id"] = f"t{i - i % 10:06d}"
        out.append(doc)
    return out


def _behind(store) -> bool:
    from flowcept_lmdb import _lineage

    return store._read(_lineage._behind_of(store))


def _same_answers(store, task_ids) -> None:
    for task_id in task_ids:
        for direction in ("upstream", "downstream", "both"):
            assert get_lineage(store, task_id, direction) == get_lineage(_PlainStore(store), task_id, direction)


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "",
        "é ✓",
        "a" * 300,
        0,
        1,
        -7,
        2**70,
        1.0,
        0.1,
        -0.0,
        math.nan,
        math.inf,
        True,
        False,
        None,
        [1, 2, "3"],
        {"b": 1, "a": [None]},
        {"data_id": "s3://b/m.pt", "bytes": 3},
        {"data_id": ""},
        {"data_id": "d" * 600},
        {1: "int key"},
        b"raw",
        (1, 2),
    ],
)
def test_the_index_key_of_a_value_is_the_key_of_its_entity_id(value):
    from flowcept_lmdb._lineage import entity_key, value_key

    assert value_key(value) == entity_key(value_entity_id(value))
    assert value_key(value) == entity_key(value_entity_id(value))  # again, from the cache of scalars


def test_an_idle_store_is_indexed_in_the_background_without_a_query(make_store, monkeypatch):
    from flowcept_lmdb import _lineage

    monkeypatch.setattr(_lineage, "IDLE_S", 0.05)
    monkeypatch.setattr(_lineage, "BACKGROUND_STEP", 7)  # many steps
    monkeypatch.setattr(_lineage, "BACKGROUND_MAX_STEP", 7)
    store = make_store()
    for start in range(0, 100, 20):
        store.upsert("tasks", _chain(20, start))
    assert _behind(store)
    assert store.lineage_indexer.idle.wait(10), "the background catch-up did not finish"
    assert not _behind(store) and store.lineage_indexer.steps >= 100 // 7
    _same_answers(store, ["t000013", "t000050", "t000099"])


def test_the_background_catch_up_waits_for_an_idle_period(make_store, monkeypatch):
    from flowcept_lmdb import _lineage

    monkeypatch.setattr(_lineage, "IDLE_S", 0.4)
    store = make_store()
    for i in range(8):  # a write every 0.1 s: never idle for 0.4 s
        store.upsert("tasks", _chain(5, 5 * i))
        time.sleep(0.1)
    assert store.lineage_indexer.steps == 0 and _behind(store)
    assert store.lineage_indexer.idle.wait(10)
    assert not _behind(store)


def test_close_stops_a_long_background_catch_up_at_once_and_the_next_query_finishes_it(tmp_path, monkeypatch):
    from flowcept_lmdb import _lineage
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import Settings

    monkeypatch.setattr(_lineage, "IDLE_S", 0.0)
    monkeypatch.setattr(_lineage, "BACKGROUND_STEP", 1)  # a step per task: thousands of steps to go
    monkeypatch.setattr(_lineage, "BACKGROUND_MAX_STEP", 1)
    settings = Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "s")}}})
    store = LMDBStore(settings)
    store.upsert("tasks", _chain(1000))
    deadline = time.monotonic() + 10
    while store.lineage_indexer.steps < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.lineage_indexer.steps >= 3
    t0 = time.perf_counter()
    store.close()
    assert time.perf_counter() - t0 < 1.0
    assert not store.lineage_indexer._thread.is_alive()
    reopened = LMDBStore(settings)
    try:
        reopened.lineage_indexer.stop()  # only the query path catches up now
        assert _behind(reopened)
        _same_answers(reopened, ["t000013", "t000999"])
        assert not _behind(reopened)
    finally:
        reopened.close()


def test_queries_and_the_background_catch_up_at_once_give_complete_answers(make_store, monkeypatch):
    from flowcept_lmdb import _lineage

    monkeypatch.setattr(_lineage, "IDLE_S", 0.0)
    monkeypatch.setattr(_lineage, "BACKGROUND_STEP", 3)
    monkeypatch.setattr(_lineage, "BACKGROUND_MAX_STEP", 3)
    monkeypatch.setattr(_lineage, "_STEP", 5)
    store = make_store()
    errors: list[BaseException] = []

    def query() -> None:
        try:
            for _ in range(3):
                _same_answers(store, ["t000013", "t000199"])
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    store.upsert("tasks", _chain(200))
    threads = [threading.Thread(target=query) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_processes_catching_up_one_directory_at_once_give_complete_answers(tmp_path):
    path = str(tmp_path / "shared")
    child = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from flowcept_lmdb import _lineage
        from flowcept_lmdb.store import LMDBStore
        from flowcept_core.settings import Settings
        from test_lmdb_lineage_index import _chain
        store = LMDBStore(Settings({{"databases": {{"lmdb": {{"enabled": True, "path": {path!r}}}}}}}))
        store.lineage_indexer.stop()
        which = int(sys.argv[1])
        for start in range(which * 300, which * 300 + 300, 30):
            store.upsert("tasks", _chain(30, start))
            while _lineage.catch_up_step(store, 7):
                pass
        store.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child, str(k)], stderr=subprocess.PIPE) for k in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import Settings

    store = LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))
    try:
        store.lineage_indexer.stop()
        assert not _behind(store)  # every process's tasks were indexed by one of them
        _same_answers(store, ["t000013", "t000359", "t000899"])
        assert json.dumps(get_lineage(store, "t000899", "upstream", 3)["tasks"][-1]["task_id"]) == '"t000896"'
    finally:
        store.close()


def test_a_store_that_only_reads_does_not_index_in_the_background(tmp_path, monkeypatch):
    from flowcept_lmdb import _lineage
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.settings import Settings

    settings = Settings({"databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "s")}}})
    writer = LMDBStore(settings)
    writer.upsert("tasks", _chain(50))
    writer.close()  # at once: nothing indexed yet
    monkeypatch.setattr(_lineage, "IDLE_S", 0.0)
    reader = LMDBStore(settings)
    try:
        assert len(reader.find("tasks", {"workflow_id": "w"})) == 50
        time.sleep(0.3)
        assert reader.lineage_indexer._thread is None and _behind(reader)
        _same_answers(reader, ["t000013"])  # the query path catches up
        assert not _behind(reader)
    finally:
        reader.close()
