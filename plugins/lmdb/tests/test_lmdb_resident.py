"""The LMDB map's pages do not pile up in the process's resident memory as the store grows."""

import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and madvise are Linux's")


def _mapped_kb(path: str) -> int:
    """Resident kB of this process's mappings of path (from /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0] and ":" not in line.split(" ", 1)[0]:
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


def test_trim_releases_the_mapped_pages_and_documents_read_back(make_store):
    import os

    from flowcept_lmdb import _resident

    store = make_store()
    docs = [{"task_id": f"t{i:07d}", "workflow_id": "w", "used": {"blob": "x" * 2000}} for i in range(20000)]
    for i in range(0, len(docs), 5000):
        store.upsert("tasks", docs[i:i + 5000])
    assert len(store.find("tasks", {"workflow_id": "w"})) == 20000  # touches every page
    shared = store._env()
    data = os.path.realpath(os.path.join(shared.cfg.path, "data.mdb"))
    before = _mapped_kb(data)
    assert before > 20000, before  # ~40 MB of documents were read through the map
    assert shared.resident.trim() > 0
    assert _mapped_kb(data) < before / 4
    assert store.find("tasks", {"task_id": "t0012345"})[0]["used"]["blob"] == "x" * 2000
    assert _resident._TRIM_BYTES > 0


def test_writes_trim_once_the_file_grew(make_store, monkeypatch):
    from flowcept_lmdb import _resident

    monkeypatch.setattr(_resident, "_TRIM_BYTES", 1 << 20)
    store = make_store()
    calls = []
    shared = store._env()
    real = shared.resident.trim
    monkeypatch.setattr(shared.resident, "trim", lambda: calls.append(1) or real())
    for i in range(10):
        store.upsert("tasks", [{"task_id": f"t{i}-{j}", "used": {"blob": "y" * 1000}} for j in range(500)])
    assert calls, "the file grew by ~5 MB: at least one trim"
    assert store.count("tasks") == 5000
