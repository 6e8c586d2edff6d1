"""Threads and processes: one environment per directory per process, reader threads beside a writer thread, and a
second process reading what this one wrote while this one keeps writing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading


def test_two_stores_on_one_directory_share_one_environment(make_store):
    a = make_store("shared")
    b = make_store("shared")
    assert a._env() is b._env()
    a.upsert("tasks", [{"task_id": "t"}])
    a.close()
    assert b.count("tasks") == 1 and b.liveness_test() is True


def test_reader_threads_see_whole_batches_while_a_writer_thread_writes(make_store):
    store = make_store()
    errors: list[str] = []
    done = threading.Event()

    def write() -> None:
        for i in range(60):
            store.upsert(
                "tasks", [{"task_id": f"t{i}-{j}", "workflow_id": "w", "blob": b"z" * 5000} for j in range(50)]
            )
        done.set()

    def read() -> None:
        while not done.is_set():
            n = store.count("tasks", {"workflow_id": "w"})
            if n % 50:
                errors.append(f"saw a partial batch: {n}")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.count("tasks") == 3000


_READER = textwrap.dedent("""
    import json, sys, time
    from flowcept_core.settings import Settings
    from flowcept_lmdb.store import LMDBStore

    lmdb = {"enabled": True, "path": sys.argv[1], "map_size": 256 * 1024}  # the writer grows it meanwhile
    store = LMDBStore(Settings({"databases": {"lmdb": lmdb}}))
    first = store.find("tasks", {"workflow_id": "before"})
    print(json.dumps({"before": len(first), "blob_ok": all(d["blob"] == b"b" * 100 for d in first)}), flush=True)
    seen, deadline = [], time.time() + 30
    while time.time() < deadline:
        n = store.count("tasks", {"workflow_id": "during"})
        seen.append(n)
        if n >= int(sys.argv[2]):
            break
        time.sleep(0.005)
    print(json.dumps({"seen": seen, "map_size": store._env().map_size()}))
    store.close()
""")


def test_second_process_reads_what_this_one_wrote_while_it_keeps_writing(make_store, tmp_path):
    store = make_store("mp", map_size=256 * 1024)  # small: the writer grows the map while the reader has it open
    store.upsert("tasks", [{"task_id": f"b{i}", "workflow_id": "before", "blob": b"b" * 100} for i in range(200)])
    batches, size = 40, 100
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(tmp_path / "mp"), str(batches * size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = json.loads(reader.stdout.readline() or "{}")  # it has read the first batch; now keep writing
    assert ready == {"before": 200, "blob_ok": True}, reader.stderr.read()
    for i in range(batches):
        store.upsert(
            "tasks", [{"task_id": f"d{i}-{j}", "workflow_id": "during", "pad": "p" * 2000} for j in range(size)]
        )
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert len(result["seen"]) > 1, "the reader should have read while this process was writing"
    assert result["seen"][-1] == batches * size
    assert all(n % size == 0 for n in result["seen"]), "the reader saw part of a batch"
    assert result["seen"] == sorted(result["seen"])
    assert result["map_size"] == store._env().map_size() > 256 * 1024  # it took over the map this process grew


def test_store_used_in_a_forked_child_opens_its_own_environment(make_store):
    import os

    store = make_store()
    store.upsert("tasks", [{"task_id": "parent", "workflow_id": "w"}])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: read what the parent wrote, write one more, report
        try:
            store.upsert("tasks", [{"task_id": "child", "workflow_id": "w"}])
            ok = store.count("tasks", {"workflow_id": "w"}) == 2 and store._env().key[0] == os.getpid()
            store.close()
            os.write(write_end, b"ok" if ok else b"bad")
        except BaseException as e:
            os.write(write_end, repr(e).encode()[:500])
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 600)
    os.waitpid(pid, 0)
    assert answer == b"ok"
    assert store.count("tasks", {"workflow_id": "w"}) == 2 and store.liveness_test() is True
