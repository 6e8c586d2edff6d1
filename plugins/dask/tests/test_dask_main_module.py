"""Decorated functions defined in the user's script (``__main__``), as upstream's examples write them, run on Dask
worker processes and are stored as children of their Dask task."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json
    from distributed import Client, LocalCluster
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def square(x):
        return x * x

    def outer(x):
        return square(x) + 1

    if __name__ == "__main__":
        cluster = LocalCluster(n_workers=2, processes=True, dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
        with Flowcept(interceptors=["instrumentation", "dask"], dask_client=client) as fc:
            assert client.gather(client.map(outer, [1, 2, 3])) == [2, 5, 10]
        client.close()
        cluster.close()
        docs = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
        print(json.dumps([{k: d.get(k) for k in ("activity_id", "task_id", "parent_task_id", "used", "status")}
                          for d in docs]))
""")


def test_decorated_functions_of_the_main_script_are_children_of_their_dask_task(tmp_path):
    (tmp_path / "run.py").write_text(SCRIPT)
    out = subprocess.run([sys.executable, "run.py"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    docs = json.loads(out.stdout.strip().splitlines()[-1])
    outers = {d["task_id"]: d for d in docs if d["activity_id"] == "outer"}
    squares = [d for d in docs if d["activity_id"] == "square"]
    assert len(outers) == 3 and len(squares) == 3
    for sq in squares:
        parent = outers[sq["parent_task_id"]]
        assert parent["used"] == sq["used"] and sq["status"] == "FINISHED"
