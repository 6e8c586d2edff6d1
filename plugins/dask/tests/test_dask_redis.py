"""The dask interceptor with a networked MQ (Redis Streams, the pre-started server on 127.0.0.1:6379): worker
records still travel through Dask, and reach the store through Redis and the DocumentInserter."""

from __future__ import annotations

import uuid
from typing import Any

import dask_tasks
import pytest
from dask_tasks import tasks_of

from flowcept_core.testing.services import redis_answers


def test_tasks_and_decorated_children_reach_the_store_through_redis(dask_client, write_settings):
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    if not redis_answers():
        pytest.skip("no Redis answers PING on 127.0.0.1:6379 (see /work/shared/services.md to start one)")
    from flowcept import Flowcept

    write_settings(mq={"type": "redis", "host": "127.0.0.1", "port": 6379,
                       "channel": f"dask-test-{uuid.uuid4().hex[:8]}"})
    holder: dict[str, Any] = {}
    with Flowcept(interceptors=["instrumentation", "dask"], dask_client=dask_client) as fc:
        holder["f"] = dask_client.submit(dask_tasks.uses_decorated, 3, pure=False)
        assert holder["f"].result() == 3 * 3 + 3 * 5
    docs = tasks_of(fc.current_workflow_id, expected=3)
    parent = docs[holder["f"].key]
    assert parent["status"] == "FINISHED" and parent["used"] == {"x": 3} and parent["generated"] == {"arg_0": 24}
    assert parent["adapter_id"] == "dask" and parent["address"] in dask_client.scheduler_info()["workers"]
    children = [d for d in docs.values() if d.get("parent_task_id") == holder["f"].key]
    assert sorted(c["generated"]["arg_0"] for c in children) == [9, 15]
    wf = Flowcept.db.get_workflow_object(fc.current_workflow_id)
    assert wf.adapter_id == "dask" and wf.custom_metadata["dask"]["n_workers"] == 2
