"""Bad settings and bad input: specific errors naming the setting or value, and nothing half-written."""

from __future__ import annotations

import sys

import pytest

from flowcept_core.filters import FilterError
from flowcept_core.settings import Settings
from flowcept_core.stores import StoreError, StoreUnavailableError


def test_path_that_is_a_file_is_rejected_naming_the_setting(tmp_path, settings_for):
    from flowcept_lmdb.store import LMDBStore

    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises(StoreError, match=r"databases\.lmdb\.path=.*a-file.*is a file, not a directory"):
        LMDBStore(settings_for(f))


def test_path_that_cannot_be_created_is_rejected_naming_the_setting(settings_for):
    from flowcept_lmdb.store import LMDBStore

    with pytest.raises(StoreError, match=r"databases\.lmdb\.path='/proc/x': cannot create the directory"):
        LMDBStore(settings_for("/proc/x"))


def test_path_below_a_file_is_rejected(tmp_path, settings_for):
    from flowcept_lmdb.store import LMDBStore

    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match=r"databases\.lmdb\.path=.*NotADirectoryError"):
        LMDBStore(settings_for(tmp_path / "f" / "db"))


def test_unwritable_directory_is_rejected(tmp_path, settings_for, monkeypatch):
    from flowcept_lmdb import _config
    from flowcept_lmdb.store import LMDBStore

    # The tests may run as root, for whom chmod does not bite: report the directory as not writable instead.
    monkeypatch.setattr(_config.os, "access", lambda path, mode: False)
    with pytest.raises(StoreError, match=r"databases\.lmdb\.path=.*: not writable \(PermissionError\)"):
        LMDBStore(settings_for(tmp_path / "ro"))


def test_missing_directory_is_created(tmp_path, settings_for):
    from flowcept_lmdb.store import LMDBStore

    target = tmp_path / "a" / "b" / "db"
    store = LMDBStore(settings_for(target))
    try:
        assert (target / "data.mdb").is_file()
    finally:
        store.close()


@pytest.mark.parametrize("path", [None, "", 5])
def test_missing_or_non_string_path_is_rejected(path):
    from flowcept_lmdb.store import LMDBStore

    with pytest.raises(StoreError, match=rf"databases\.lmdb\.path={path!r}: give the directory"):
        LMDBStore(Settings({"databases": {"lmdb": {"enabled": True, "path": path}}}))


@pytest.mark.parametrize(
    "key,value", [("map_size", "lots"), ("map_size", 0), ("map_size", True), ("max_map_size", -1), ("max_readers", 0)]
)
def test_bad_size_settings_are_rejected_naming_key_and_value(tmp_path, settings_for, key, value):
    from flowcept_lmdb.store import LMDBStore

    with pytest.raises(StoreError, match=rf"databases\.lmdb\.{key}={value!r}"):
        LMDBStore(settings_for(tmp_path / "db", **{key: value}))


def test_max_map_size_below_map_size_is_rejected(tmp_path, settings_for):
    from flowcept_lmdb.store import LMDBStore

    with pytest.raises(StoreError, match=r"databases\.lmdb\.max_map_size=.*smaller than databases\.lmdb\.map_size"):
        LMDBStore(settings_for(tmp_path / "db", map_size="2GiB", max_map_size="1GiB"))


def test_document_without_id_fails_the_whole_call(make_store):
    store = make_store()
    with pytest.raises(StoreError, match=r"tasks document has no 'task_id'"):
        store.upsert("tasks", [{"task_id": "ok"}, {"status": "RUNNING"}])
    assert store.count("tasks") == 0


def test_unstorable_value_fails_the_whole_call_naming_the_document(make_store):
    store = make_store()
    store.upsert("tasks", [{"task_id": "t0", "status": "RUNNING"}])
    with pytest.raises(StoreError, match=r"tasks document task_id='t2' cannot be stored"):
        store.upsert(
            "tasks",
            [
                {"task_id": "t1", "workflow_id": "w"},
                {"task_id": "t0", "status": "FINISHED"},
                {"task_id": "t2", "used": {"s": {1, 2}}},
            ],
        )
    assert [d["task_id"] for d in store.find("tasks")] == ["t0"]
    assert store.find("tasks", {"task_id": "t0"})[0]["status"] == "RUNNING"
    assert store.find("tasks", {"workflow_id": "w"}) == []


def test_id_of_an_unsupported_kind_is_rejected(make_store):
    with pytest.raises(StoreError, match=r"task_id=1\.5: the id must be a string or an integer"):
        make_store().upsert("tasks", [{"task_id": 1.5}])


def test_unknown_collection_is_rejected_listing_the_known_ones(make_store):
    with pytest.raises(StoreError, match=r"collection='task' is not one of \['tasks'"):
        make_store().find("task")


def test_bad_filter_raises_filter_error(make_store):
    with pytest.raises(FilterError, match=r"\$bogus"):
        make_store().find("tasks", {"x": {"$bogus": 1}})


def test_closed_store_says_so_and_is_not_alive(make_store):
    store = make_store()
    store.close()
    store.close()  # idempotent
    assert store.liveness_test() is False
    with pytest.raises(StoreError, match=r"databases\.lmdb\.path=.* is closed"):
        store.find("tasks")


def test_missing_library_gives_the_install_hint(monkeypatch, settings_for, tmp_path):
    from flowcept_core.registry import PluginRegistry

    monkeypatch.setitem(sys.modules, "lmdb", None)
    factory = PluginRegistry(env={}).resolve("store", "lmdb").factory
    with pytest.raises(ImportError, match=r"pip install (-e \S+/plugins/lmdb|\"flowcept\[lmdb\]\")"):
        factory(settings_for(tmp_path / "db"))


def test_map_grows_automatically_when_full(make_store):
    store = make_store(map_size=64 * 1024)
    start = store._env().map_size()
    for i in range(20):
        store.upsert("tasks", [{"task_id": f"t{i}-{j}", "blob": b"\x01" * 20_000} for j in range(5)])
    assert store.count("tasks") == 100
    assert store._env().map_size() > start
    assert store.find("tasks", {"task_id": "t19-4"})[0]["blob"] == b"\x01" * 20_000


def test_full_map_at_max_size_is_temporary_and_writes_nothing_of_the_call(make_store):
    store = make_store(map_size=64 * 1024, max_map_size=512 * 1024)
    written = 0
    with pytest.raises(StoreUnavailableError, match=r"databases\.lmdb\.map_size.*max_map_size=524288"):
        for i in range(100):
            store.upsert(
                "tasks", [{"task_id": f"t{i}-{j}", "workflow_id": "w", "blob": b"x" * 30_000} for j in range(3)]
            )
            written += 3
    assert store.count("tasks") == written == store.count("tasks", {"workflow_id": "w"})
    # still usable: reads work, and a small write that fits (a merge in place) still succeeds
    store.delete("tasks", {"workflow_id": "w"})
    store.upsert("tasks", [{"task_id": "small"}])
    assert store.count("tasks") == 1


def test_disk_full_during_a_write_is_temporary_and_writes_nothing_of_the_call(make_store, monkeypatch):
    import lmdb
    from flowcept_lmdb import store as store_module

    store = make_store()
    store.upsert("tasks", [{"task_id": "before", "workflow_id": "w"}])
    real_pack, calls = store_module.pack, []

    def pack_then_fail(doc, collection, id_field):
        calls.append(doc)
        if len(calls) == 3:  # two documents already put in this transaction
            raise lmdb.DiskError("mdb_put: No space left on device")
        return real_pack(doc, collection, id_field)

    monkeypatch.setattr(store_module, "pack", pack_then_fail)
    with pytest.raises(StoreUnavailableError, match=r"databases\.lmdb\.path=.*DiskError.*nothing of this call"):
        store.upsert("tasks", [{"task_id": f"t{i}", "workflow_id": "w"} for i in range(5)])
    assert [d["task_id"] for d in store.find("tasks", {"workflow_id": "w"})] == ["before"]
    assert store.count("tasks") == 1
