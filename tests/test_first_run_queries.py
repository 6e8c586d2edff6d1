"""With the built-in defaults (no settings file: in-process MQ -> DocumentInserter -> LMDB), a task can be found
through Flowcept.db within 1 s of ending while the run goes on."""

from __future__ import annotations

import time

from flowcept import Flowcept, FlowceptTask, flowcept_task


@flowcept_task
def square(x):
    return x * x


def _found_within(task_id: str, limit: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 <= limit:
        if Flowcept.db.task_query({"task_id": task_id}):
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def test_a_task_is_queryable_within_a_second_of_ending_while_the_run_goes_on(defaults):
    with Flowcept(workflow_name="live") as fc:
        for i in range(3):
            with FlowceptTask(activity_id="probe", used={"i": i}) as task:
                square(i)
            waited = _found_within(task.get_id(), 1.0)
            assert waited is not None, f"task {i} not queryable within 1 s of ending"
        children = Flowcept.db.task_query({"workflow_id": fc.current_workflow_id, "activity_id": "square"})
        assert len(children) == 3  # the decorated calls ended before their probes: already there too
        assert fc.is_started
