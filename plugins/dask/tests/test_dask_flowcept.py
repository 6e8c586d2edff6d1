"""The dask interceptor through the public API on a real LocalCluster with worker processes: what is stored for
each task, field by field (in-process MQ, LMDB store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask_tasks
import pytest
from dask_tasks import tasks_of


def _run(client: Any, work: Any, **flowcept_kwargs: Any) -> tuple[Any, Any]:
    from flowcept import Flowcept

    with Flowcept(interceptors=["instrumentation", "dask"], dask_client=client, **flowcept_kwargs) as fc:
        result = work()
    return fc, result


def test_every_task_is_stored_with_inputs_outputs_times_worker_and_dependencies(dask_client, write_settings):
    futures: dict[str, Any] = {}

    def work():
        futures["adds"] = dask_client.map(dask_tasks.add, [1, 2, 3], y=5, pure=False)
        futures["total"] = dask_client.submit(dask_tasks.total, futures["adds"], scale=2, pure=False)
        return futures["total"].result()

    fc, result = _run(dask_client, work)
    assert result == (6 + 7 + 8) * 2
    docs = tasks_of(fc.current_workflow_id, expected=4)
    workers = set(dask_client.scheduler_info()["workers"])
    add_keys = [f.key for f in futures["adds"]]
    assert set(docs) == {*add_keys, futures["total"].key}
    for key, x in zip(add_keys, [1, 2, 3], strict=True):
        doc = docs[key]
        assert doc["activity_id"] == "add"
        assert doc["status"] == "FINISHED"
        assert doc["used"] == {"x": x, "y": 5}
        assert doc["generated"] == {"arg_0": x + 5}
        assert doc["adapter_id"] == "dask"
        assert doc["workflow_id"] == fc.current_workflow_id
        assert doc["address"] in workers
        assert isinstance(doc["hostname"], str) and doc["hostname"]
        assert doc["submitted_at"] <= doc["started_at"] <= doc["ended_at"]
        assert not doc.get("dependencies")
    total = docs[futures["total"].key]
    assert total["activity_id"] == "total" and total["status"] == "FINISHED"
    assert total["used"] == {"values": [6, 7, 8], "scale": 2}
    assert total["generated"] == {"arg_0": 42}
    assert sorted(total["dependencies"]) == sorted(add_keys)
    assert total["started_at"] >= max(docs[k]["ended_at"] for k in add_keys)


def test_a_failing_task_is_error_with_its_exception_and_traceback(dask_client, write_settings):
    holder: dict[str, Any] = {}

    def work():
        holder["f"] = dask_client.submit(dask_tasks.fail, 7, pure=False)
        with pytest.raises(ValueError, match="cannot take 7"):
            holder["f"].result()

    fc, _ = _run(dask_client, work)
    doc = tasks_of(fc.current_workflow_id, expected=1)[holder["f"].key]
    assert doc["status"] == "ERROR"
    assert doc["activity_id"] == "fail"
    assert doc["used"] == {"x": 7}
    assert doc["stderr"] == "ValueError: cannot take 7"
    assert "in fail" in doc["custom_metadata"]["traceback"]
    assert "generated" not in doc or doc["generated"] is None
    assert doc["started_at"] <= doc["ended_at"]


def test_a_retried_task_is_one_document_with_the_status_it_ended_in(dask_client, write_settings, tmp_path):
    holder: dict[str, Any] = {}
    marker = str(tmp_path / "attempts")

    def work():
        holder["f"] = dask_client.submit(dask_tasks.fail_until, marker, 2, 21, retries=2, pure=False)
        return holder["f"].result()

    fc, result = _run(dask_client, work)
    assert result == 42 and Path(marker).read_text() == "2"
    docs = tasks_of(fc.current_workflow_id, expected=1)
    assert list(docs) == [holder["f"].key]
    doc = docs[holder["f"].key]
    assert doc["status"] == "FINISHED"
    assert doc["generated"] == {"arg_0": 42}
    assert doc["used"] == {"marker": marker, "attempts": 2, "x": 21}
    assert not doc.get("stderr")


def test_a_cancelled_task_ends_as_cancelled_and_the_others_are_kept(dask_client, write_settings, tmp_path):
    import time

    release = tmp_path / "release"
    holder: dict[str, Any] = {}

    def work():
        holder["done"] = dask_client.submit(dask_tasks.add, 1, pure=False)
        holder["done"].result()
        holder["held"] = dask_client.submit(dask_tasks.wait_for_file, str(release), pure=False)
        deadline = time.monotonic() + 30
        while holder["held"].key not in {k for ks in dask_client.processing().values() for k in ks}:
            assert time.monotonic() < deadline, "the held task never started"
            time.sleep(0.05)
        holder["held"].cancel()
        release.write_text("go")  # the worker thread is free again

    fc, _ = _run(dask_client, work)
    docs = tasks_of(fc.current_workflow_id, expected=2)
    assert docs[holder["done"].key]["status"] == "FINISHED"
    held = docs[holder["held"].key]
    assert held["status"] == "ERROR"
    assert held["stderr"].startswith("CancelledError")
    assert held["custom_metadata"]["dask_state"] == "cancelled"
    assert held["activity_id"] == "wait_for_file"


def test_decorated_functions_on_workers_are_stored_as_children_of_their_dask_task(dask_client, write_settings):
    holder: dict[str, Any] = {}

    def work():
        holder["f"] = dask_client.submit(dask_tasks.uses_decorated, 2, pure=False)
        return holder["f"].result()

    fc, result = _run(dask_client, work)
    assert result == 2 * 3 + 2 * 5
    docs = tasks_of(fc.current_workflow_id, expected=3)
    parent = docs[holder["f"].key]
    assert parent["activity_id"] == "uses_decorated" and parent["generated"] == {"arg_0": 16}
    children = [d for d in docs.values() if d.get("parent_task_id") == holder["f"].key]
    assert sorted((c["used"]["factor"], c["generated"]["arg_0"]) for c in children) == [(3, 6), (5, 10)]
    assert all(c["activity_id"] == "scaled" and c["status"] == "FINISHED" for c in children)
    assert all(c["workflow_id"] == fc.current_workflow_id for c in children)


def test_the_workflow_record_carries_the_cluster_and_the_adapter(dask_client, write_settings):
    from flowcept import Flowcept

    fc, _ = _run(dask_client, lambda: dask_client.submit(dask_tasks.add, 1, pure=False).result(),
                 workflow_name="dask-wf")
    wf = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id}, collection="workflows")[0]
    assert wf["adapter_id"] == "dask" and wf["name"] == "dask-wf"
    cluster = wf["custom_metadata"]["dask"]
    info = dask_client.scheduler_info()
    assert cluster["scheduler_address"] == info["address"]
    assert cluster["n_workers"] == 2 and cluster["total_threads"] == 2
    assert sorted(w["address"] for w in cluster["workers"]) == sorted(info["workers"])


def test_settings_turn_inputs_and_outputs_off(dask_client, write_settings):
    write_settings(adapters={"dask": {"worker_should_get_input": False, "worker_should_get_output": False,
                                      "scheduler_should_get_input": False}})
    holder: dict[str, Any] = {}

    def work():
        holder["f"] = dask_client.submit(dask_tasks.add, 4, pure=False)
        return holder["f"].result()

    fc, _ = _run(dask_client, work)
    doc = tasks_of(fc.current_workflow_id, expected=1)[holder["f"].key]
    assert doc["status"] == "FINISHED" and doc["activity_id"] == "add"
    assert not doc.get("used") and not doc.get("generated")


def test_worker_timestamps_are_used_when_asked(dask_client, write_settings):
    write_settings(adapters={"dask": {"worker_create_timestamps": True}})
    holder: dict[str, Any] = {}

    def work():
        holder["f"] = dask_client.submit(dask_tasks.add, 4, pure=False)
        return holder["f"].result()

    fc, _ = _run(dask_client, work)
    doc = tasks_of(fc.current_workflow_id, expected=1)[holder["f"].key]
    assert doc["submitted_at"] <= doc["started_at"] <= doc["ended_at"]


def test_upstream_style_registration_and_scenario(dask_client, write_settings):
    """Upstream's usage: the worker plugin registered by the user before the run; tasks found by workflow_id, the
    last one's generated value right, the workflow record present with the cluster."""
    from flowcept import Flowcept, FlowceptDaskWorkerAdapter
    from flowcept.flowceptor.adapters.dask.dask_plugins import FlowceptDaskSchedulerAdapter

    dask_client.register_plugin(FlowceptDaskWorkerAdapter())
    dask_client.register_plugin(FlowceptDaskSchedulerAdapter())
    fc = Flowcept("dask", dask_client=dask_client).start()
    a = dask_client.submit(dask_tasks.add, 1, 2, pure=False)
    b = dask_client.submit(dask_tasks.add, a, 3, pure=False)
    assert b.result() == 6
    fc.stop()
    tasks = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
    assert len(tasks) == 2
    last = max(tasks, key=lambda t: t["ended_at"])
    assert last["task_id"] == b.key and last["generated"] == {"arg_0": 6} and last["used"] == {"x": 3, "y": 3}
    wf = Flowcept.db.get_workflow_object(fc.current_workflow_id)
    assert wf is not None and wf.adapter_id == "dask" and wf.custom_metadata["dask"]["n_workers"] == 2


def test_nothing_is_captured_outside_a_run(dask_client, write_settings):
    from flowcept import Flowcept

    fc, _ = _run(dask_client, lambda: dask_client.submit(dask_tasks.add, 1, pure=False).result())
    before = len(tasks_of(fc.current_workflow_id, expected=1))
    dask_client.submit(dask_tasks.add, 2, pure=False).result()
    assert len(Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})) == before
    assert "flowcept-dask-worker" not in next(iter(dask_client.run(_plugins).values()))


def _plugins(dask_worker: Any = None) -> list[str]:
    return sorted(dask_worker.plugins)


def test_numpy_inputs_and_outputs_are_stored_as_plain_values(dask_client, write_settings):
    np = pytest.importorskip("numpy")
    holder: dict[str, Any] = {}

    def work():
        holder["f"] = dask_client.submit(dask_tasks.add, np.float64(0.5), y=np.arange(3), pure=False)
        return holder["f"].result()

    fc, result = _run(dask_client, work)
    assert list(result) == [0.5, 1.5, 2.5]
    doc = tasks_of(fc.current_workflow_id, expected=1)[holder["f"].key]
    assert doc["used"] == {"x": 0.5, "y": [0, 1, 2]}
    assert doc["generated"] == {"arg_0": [0.5, 1.5, 2.5]}


def test_delayed_graphs_and_collections_are_captured(dask_client, write_settings):
    import dask
    import dask.bag as db

    holder: dict[str, Any] = {}

    def work():
        a = dask.delayed(dask_tasks.add)(1, 2, dask_key_name=f"a-{id(holder)}")
        b = dask.delayed(dask_tasks.add)(a, 4, dask_key_name=f"b-{id(holder)}")
        holder["keys"] = (a.key, b.key)
        bag_total = db.from_sequence(range(10), npartitions=2).map(dask_tasks.add, y=1).sum()
        return dask_client.compute([b, bag_total], sync=True)

    fc, (b_value, bag_value) = _run(dask_client, work)
    assert b_value == 7 and bag_value == sum(range(10)) + 10
    docs = tasks_of(fc.current_workflow_id, expected=3)
    a_key, b_key = holder["keys"]
    assert docs[a_key]["used"] == {"x": 1, "y": 2} and docs[a_key]["generated"] == {"arg_0": 3}
    assert docs[b_key]["used"] == {"x": 3, "y": 4} and docs[b_key]["dependencies"] == [a_key]
    statuses = {k: (d.get("status"), d.get("activity_id")) for k, d in docs.items()}
    assert all(status == "FINISHED" and activity for status, activity in statuses.values()), statuses
    # a fused subgraph's inputs (dicts keyed by tuples) reach the store with their task
    assert all(d.get("used") for k, d in docs.items() if "from_sequence" in k)
    assert len(docs) > 2  # the bag's partitions and its reduction
