"""Every task of a Dask run recorded: a LocalCluster with two worker processes, no server, no settings file.

Run: python examples/dask_example.py      (needs: pip install "flowcept[dask]")

``Flowcept(interceptors=["instrumentation", "dask"], dask_client=client)`` registers flowcept's scheduler and worker
plugins on the client. Each Dask task becomes a task whose task_id is its key, with its inputs by parameter name, its
output, status, times, worker and the keys it depends on; the decorated ``normalize`` calls made inside are stored as
its children. Everything is read back with ``Flowcept.db``.
"""

from __future__ import annotations

from dask_tasks import square, total
from distributed import Client, LocalCluster

from flowcept import Flowcept


def main() -> None:
    cluster = LocalCluster(n_workers=2, processes=True, dashboard_address=None, host="127.0.0.1")
    client = Client(cluster)
    with Flowcept(interceptors=["instrumentation", "dask"], dask_client=client, workflow_name="dask_example") as fc:
        squares = client.map(square, [1, 2, 3, 4])
        result = client.submit(total, squares).result()
    client.close()
    cluster.close()

    print(f"result: {result}")
    tasks = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
    dask_tasks = [t for t in tasks if t.get("adapter_id") == "dask"]
    for t in sorted(dask_tasks, key=lambda t: t["started_at"]):
        print(f"{t['activity_id']:8} {t['status']:9} used={t['used']} generated={t.get('generated')} "
              f"on {t['address']} depends on {len(t.get('dependencies') or [])} task(s)")
    children = [t for t in tasks if t.get("parent_task_id")]
    print(f"{len(dask_tasks)} Dask tasks, {len(children)} decorated calls inside them")
    workflow = Flowcept.db.get_workflow_object(fc.current_workflow_id)
    cluster_info = workflow.custom_metadata["dask"]
    print(f"workflow {workflow.name}: adapter {workflow.adapter_id}, {cluster_info['n_workers']} workers, "
          f"{cluster_info['total_threads']} threads, scheduler {cluster_info['scheduler_address']}")


if __name__ == "__main__":
    main()
