"""How a run ends: client.shutdown() or client.close() then cluster.close() inside the run, a worker that dies
mid-run; and what happens without the library. Each cluster here is the test's own (these tests end it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import dask_tasks
import pytest
from dask_tasks import new_cluster, tasks_of


def test_client_shutdown_inside_the_run_raises_nothing_and_keeps_finished_tasks(write_settings):
    from flowcept import Flowcept

    cluster, client = new_cluster()
    with Flowcept(interceptors=["dask"], dask_client=client) as fc:
        futures = client.map(dask_tasks.add, [1, 2, 3], pure=False)
        keys = [f.key for f in futures]
        assert client.gather(futures) == [11, 12, 13]
        client.shutdown()
    cluster.close()
    docs = tasks_of(fc.current_workflow_id, expected=3)
    assert {k: docs[k]["status"] for k in keys} == dict.fromkeys(keys, "FINISHED")
    assert [docs[k]["generated"] for k in keys] == [{"arg_0": 11}, {"arg_0": 12}, {"arg_0": 13}]


def test_client_close_then_cluster_close_inside_the_run_raises_nothing(write_settings):
    from flowcept import Flowcept

    cluster, client = new_cluster()
    with Flowcept(interceptors=["dask"], dask_client=client) as fc:
        future = client.submit(dask_tasks.add, 5, pure=False)
        key = future.key
        assert future.result() == 15
        client.close()
        cluster.close()
    doc = tasks_of(fc.current_workflow_id, expected=1)[key]
    assert doc["status"] == "FINISHED" and doc["generated"] == {"arg_0": 15}


def test_stopping_after_the_client_is_gone_raises_nothing(write_settings):
    from flowcept import Flowcept

    cluster, client = new_cluster()
    fc = Flowcept(interceptors=["dask"], dask_client=client).start()
    future = client.submit(dask_tasks.add, 6, pure=False)
    key = future.result() and future.key
    client.close()
    cluster.close()
    fc.stop()
    assert tasks_of(fc.current_workflow_id, expected=1)[key]["status"] == "FINISHED"


def test_a_worker_that_dies_mid_run_leaves_every_task_recorded_once_as_it_ended(write_settings, tmp_path):
    from flowcept import Flowcept

    cluster, client = new_cluster()
    try:
        with Flowcept(interceptors=["dask"], dask_client=client) as fc:
            before = client.map(dask_tasks.add, [1, 2], pure=False)
            client.gather(before)
            dying = client.submit(dask_tasks.die_once, str(tmp_path / "died"), 41, pure=False)
            assert dying.result(timeout=120) == 42
            after = client.submit(dask_tasks.add, dying, 0, pure=False)
            assert after.result(timeout=60) == 42
    finally:
        client.close()
        cluster.close()
    docs = tasks_of(fc.current_workflow_id, expected=4)
    assert set(docs) == {*(f.key for f in before), dying.key, after.key}
    assert all(docs[f.key]["status"] == "FINISHED" for f in before)
    assert docs[dying.key]["status"] == "FINISHED" and docs[dying.key]["generated"] == {"arg_0": 42}
    assert docs[after.key]["dependencies"] == [dying.key]


def _run_hidden(code: str, tmp_path: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


def test_without_distributed_choosing_dask_fails_at_start_naming_the_plugin_and_install_command(tmp_path):
    result = _run_hidden("""
        import sys
        sys.modules["distributed"] = None  # the library is missing
        from flowcept import Flowcept
        try:
            Flowcept(interceptors=["dask"]).start()
        except Exception as e:
            print(type(e).__name__, e)
        else:
            print("STARTED")
    """, tmp_path)
    out = result.stdout
    assert "STARTED" not in out, out + result.stderr
    assert "dask" in out and "distributed" in out, out + result.stderr
    assert "pip install" in out and ("flowcept[dask]" in out or "plugins/dask" in out), out


def test_the_upstream_names_say_what_to_install_without_distributed(tmp_path):
    result = _run_hidden("""
        import sys
        sys.modules["distributed"] = None
        try:
            from flowcept import FlowceptDaskWorkerAdapter
        except ImportError as e:
            print("ImportError", e)
    """, tmp_path)
    assert "ImportError" in result.stdout and "flowcept-dask" in result.stdout, result.stdout + result.stderr
    assert "pip install" in result.stdout


@pytest.mark.parametrize("path", ["flowcept", "flowcept.flowceptor.adapters.dask.dask_plugins"])
def test_the_plugins_are_importable_by_their_upstream_names(path):
    import importlib

    from flowcept_dask.plugins import FlowceptDaskSchedulerAdapter, FlowceptDaskWorkerAdapter

    module = importlib.import_module(path)
    assert module.FlowceptDaskWorkerAdapter is FlowceptDaskWorkerAdapter
    assert module.FlowceptDaskSchedulerAdapter is FlowceptDaskSchedulerAdapter


def test_without_a_client_the_run_goes_on_saying_what_to_pass(tmp_path):
    """The seeds' form (interceptors=["instrumentation", "dask"] with no dask_client) runs as written: decorated
    functions are captured, and a warning says that Dask tasks need dask_client=client."""
    result = _run_hidden("""
        from flowcept import Flowcept, flowcept_task

        @flowcept_task
        def train_model(epochs=2):
            return {"loss": 0.1}

        with Flowcept(workflow_name="training_workflow", interceptors=["instrumentation", "dask"],
                      workflow_args={"epochs_list": [10, 100]}) as fc:
            train_model()
        tasks = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
        print("TASKS", [(t["activity_id"], t["generated"]) for t in tasks])
    """, tmp_path)
    assert "TASKS [('train_model', {'loss': 0.1})]" in result.stdout, result.stdout + result.stderr
    assert "dask_client=client" in result.stdout + result.stderr


def test_without_the_plugin_choosing_dask_fails_at_start_with_the_install_command(tmp_path):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from flowcept import Flowcept
        try:
            Flowcept(interceptors=["dask"]).start()
        except Exception as e:
            print(type(e).__name__, e)
        else:
            print("STARTED")
    """)], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "FLOWCEPT_DISABLE_PLUGIN_AUTOLOAD": "1"})
    out = result.stdout
    assert "STARTED" not in out and "dask" in out, out + result.stderr
    assert "pip install" in out and ("flowcept[dask]" in out or "plugins/dask" in out), out


def test_workers_in_the_client_process_are_captured_once_by_the_clients_run(write_settings):
    from distributed import Client, LocalCluster

    from flowcept import Flowcept

    cluster = LocalCluster(n_workers=2, processes=False, dashboard_address=None)
    client = Client(cluster)
    try:
        with Flowcept(interceptors=["instrumentation", "dask"], dask_client=client) as fc:
            futures = client.map(dask_tasks.uses_decorated, [1, 2], pure=False)
            assert client.gather(futures) == [8, 16]
    finally:
        client.close()
        cluster.close()
    docs = tasks_of(fc.current_workflow_id, expected=6)
    assert len(docs) == 6
    for future in futures:
        assert docs[future.key]["status"] == "FINISHED" and docs[future.key]["activity_id"] == "uses_decorated"
        children = [d for d in docs.values() if d.get("parent_task_id") == future.key]
        assert sorted(c["used"]["factor"] for c in children) == [3, 5]
