"""With the defaults (in-process MQ, LMDB), a run writes its task records into the store itself instead of handing
them through the MQ; what is stored, what the buffer file holds and what consumers see stays the same."""

from __future__ import annotations

import time

from flowcept import Flowcept, flowcept_task
from flowcept_core.settings import get_settings
from tests._util import Collector, tasks


@flowcept_task
def triple(x):
    return 3 * x


def test_task_records_skip_the_in_process_mq_and_are_all_stored(defaults):
    with Flowcept(workflow_name="direct") as fc:
        for i in range(3000):
            triple(i)
        run = fc._run
    assert run.published < 10  # stream markers and the workflow message only
    stored = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
    assert sorted(t["generated"]["arg_0"] for t in stored) == [3 * i for i in range(3000)]
    assert all("registered_at" in t and t["telemetry_at_end"]["cpu"] for t in stored)
    buffered = tasks(Flowcept.read_buffer_file())
    assert len(buffered) == 3000 and not any("registered_at" in t for t in buffered)  # as the MQ path writes it
    by_id = {t["task_id"]: t for t in stored}
    for t in buffered:  # one encoding, two copies: the same task in the buffer file and in the store
        doc = dict(by_id[t["task_id"]])
        del doc["registered_at"]
        assert doc == t
    assert (
        Flowcept.db.query(collection="workflows", filter={"workflow_id": fc.current_workflow_id})[0]["status"]
        == "FINISHED"
    )


def test_a_consumer_subscribing_mid_run_sees_every_later_task(defaults):
    with Flowcept(workflow_name="direct") as fc:
        for i in range(500):
            triple(i)
        fc._wait_started()
        fc._run.drain()
        assert fc._run.published < 10
        consumer = Collector().start(daemon=True)
        try:
            for i in range(500, 1000):
                triple(i)
        finally:
            fc._run.drain()
    deadline = time.time() + 10
    while time.time() < deadline and not any(m.get("info") == "end_of_stream" for m in consumer.msgs):
        time.sleep(0.05)
    consumer.stop_consumption()
    assert sorted(t["used"]["x"] for t in tasks(consumer.msgs)) == list(range(500, 1000))
    stored = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})
    assert sorted(t["used"]["x"] for t in stored) == list(range(1000))


def test_tasks_a_store_cannot_take_are_handed_back_for_the_mq(defaults, tmp_path):
    from flowcept_lmdb.store import LMDBStore

    from flowcept_core.consumers.document_inserter import DocumentInserter

    store = LMDBStore(get_settings())
    inserter = DocumentInserter(get_settings(), stores=[store])
    docs = [{"type": "task", "task_id": f"t{i}", "workflow_id": "w", "status": "FINISHED"} for i in range(3)]
    assert inserter.store_now(docs[:1]) == [] and inserter.stored == 1
    store.close()
    assert inserter.store_now(docs[1:]) == docs[1:]  # the store is gone: nothing lost, all handed back
    assert inserter.stored == 1


def test_what_a_default_run_stored_is_synced_when_it_stops(defaults):
    from flowcept_core.stores import open_store

    store = open_store(get_settings(), "lmdb")
    synced = []
    real = store.sync
    store.sync = lambda: synced.append(time.monotonic()) or real()  # LMDB commits leave the metadata page unsynced
    try:
        with Flowcept(workflow_name="durable"):
            for i in range(100):
                triple(i)
            stopped_at = time.monotonic()
        assert synced and synced[-1] >= stopped_at  # the inserter ended after the last write, then synced
    finally:
        del store.sync
