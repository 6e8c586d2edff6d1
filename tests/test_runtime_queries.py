"""Runtime queries: Flowcept.db answers while a run is still writing, on LMDB (in the writing process and from another
process) and on MongoDB (wire). What a query returns is always whole documents, never fewer than an earlier query,
and after stop() everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from flowcept import Flowcept, flowcept_task
from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings
from flowcept_core.stores import close_stores
from tests._util import use_settings

N = 3000


@flowcept_task(output_names="y")
def step(x):
    time.sleep(0.0005)
    return x + 1


@pytest.fixture(autouse=True)
def fresh():
    close_stores()
    reset_registry()
    yield
    close_stores()
    reset_settings()


def _settings(tmp_path, store: str, uri: str | None = None) -> dict:
    dbs = {"lmdb": {"enabled": store == "lmdb", "path": str(tmp_path / "lmdb")}, "mongodb": {"enabled": False}}
    if store == "mongodb":
        dbs["mongodb"] = {"enabled": True, "uri": uri, "db": f"rt_{os.getpid()}_{tmp_path.name[-10:]}"}
    return {"mq": {"type": "memory", "buffer_size": 20, "insertion_buffer_time_secs": 0.05},
            "db_buffer": {"buffer_size": 20, "insertion_buffer_time_secs": 0.05},
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}}, "databases": dbs}


def _check_growing(counts: list[int], docs_seen: list[dict]) -> None:
    assert counts == sorted(counts), f"a later query returned fewer tasks: {counts}"
    assert any(0 < c < N for c in counts), f"no query saw the run in progress: {counts}"
    for d in docs_seen:
        assert d["status"] == "FINISHED" and d["generated"] == {"y": d["used"]["x"] + 1}, d


def _run_while_querying(query) -> tuple[list[int], list[dict], str]:
    counts, seen = [], []
    with Flowcept(workflow_name="runtime") as fc:
        done = threading.Event()

        def work():
            for i in range(N):
                step(i)
            done.set()

        t = threading.Thread(target=work)
        t.start()
        while not done.is_set():
            docs = query(fc.current_workflow_id)
            counts.append(len(docs))
            seen.extend(docs[:5])
            time.sleep(0.05)
        t.join()
    return counts, seen, fc.current_workflow_id


@pytest.mark.parametrize("store", ["lmdb", "mongodb"])
def test_queries_while_the_run_writes_see_a_growing_set_of_whole_documents(tmp_path, monkeypatch, store, request):
    if store == "lmdb":
        pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    uri = request.getfixturevalue("mongo_uri") if store == "mongodb" else None
    use_settings(tmp_path, monkeypatch, _settings(tmp_path, store, uri))
    counts, seen, wf = _run_while_querying(
        lambda wf: Flowcept.db.task_query(filter={"workflow_id": wf, "used.x": {"$gte": 0}}))
    _check_growing(counts, seen)
    final = Flowcept.db.task_query(filter={"workflow_id": wf})
    assert sorted(d["used"]["x"] for d in final) == list(range(N))


_READER = textwrap.dedent("""
    import json, sys, time
    from flowcept import Flowcept
    wf, stop_file = sys.argv[1], sys.argv[2]
    import os
    counts = []
    while not os.path.exists(stop_file):
        docs = Flowcept.db.task_query(filter={"workflow_id": wf})
        assert all(d["status"] == "FINISHED" and "generated" in d for d in docs)
        counts.append(len(docs))
        time.sleep(0.03)
    counts.append(len(Flowcept.db.task_query(filter={"workflow_id": wf})))
    print(json.dumps(counts))
""")


def test_another_process_queries_the_lmdb_store_while_this_one_writes(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    settings_path = use_settings(tmp_path, monkeypatch, _settings(tmp_path, "lmdb"))
    stop_file = tmp_path / "stop"
    with Flowcept(workflow_name="runtime-2") as fc:
        env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=settings_path)
        reader = subprocess.Popen([sys.executable, "-c", _READER, fc.current_workflow_id, str(stop_file)],
                                  env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the reader's interpreter is up and querying
        for i in range(N):
            step(i)
    stop_file.write_text("")
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err[-2000:]
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts == sorted(counts), counts
    assert any(0 < c < N for c in counts), counts
    assert counts[-1] == N
