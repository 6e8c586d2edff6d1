"""A decorated function defined in ``__main__`` can be sent by value (cloudpickle, as Dask and Ray send functions) to
another process, where its calls are captured by that process's own run: its parent task and its task ids are the
receiving process's, never copies of the sender's."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("cloudpickle", reason="cloudpickle (a Dask dependency) is not installed")

SENDER = textwrap.dedent("""
    import sys, cloudpickle
    from flowcept import flowcept_task

    @flowcept_task
    def square(x):
        return x * x

    assert square.__module__ == "__main__"
    sys.stdout.buffer.write(cloudpickle.dumps(square))
""")

RECEIVER = textwrap.dedent("""
    import json, pickle, sys
    from flowcept import Flowcept, FlowceptTask, flowcept_task

    square = pickle.loads(open(sys.argv[1], "rb").read())

    @flowcept_task
    def local(x):
        return x + 1

    assert square(3) == 9  # no run: the function is simply called
    with Flowcept(workflow_name="received") as fc:
        with FlowceptTask(activity_id="host") as host:
            square(4)
        local(1)
        square(5)
    docs = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id})
    print(json.dumps([[d["activity_id"], d["task_id"], d.get("parent_task_id"), d.get("used"),
                       d.get("generated"), d["status"]] for d in docs]))
    print(host.get_id())
""")


def test_a_main_module_wrapper_sent_by_value_is_captured_by_the_receiving_run(tmp_path):
    blob = subprocess.run([sys.executable, "-c", SENDER], capture_output=True, check=True, cwd=tmp_path).stdout
    (tmp_path / "square.pkl").write_bytes(blob)
    out = subprocess.run([sys.executable, "-c", RECEIVER, str(tmp_path / "square.pkl")], capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    import json

    lines = out.stdout.strip().splitlines()
    docs, host_id = json.loads(lines[-2]), lines[-1]
    squares = sorted((d for d in docs if d[0] == "square"), key=lambda d: d[3]["x"])
    assert [d[3] for d in squares] == [{"x": 4}, {"x": 5}]
    assert [d[5] for d in squares] == ["FINISHED", "FINISHED"]
    assert squares[0][2] == host_id and squares[1][2] is None  # the receiver's parent-task context
    ids = [d[1] for d in docs]
    assert len(ids) == len(set(ids)) == 4  # host, local and two squares: one counter, no repeated ids
    (local,) = [d for d in docs if d[0] == "local"]
    assert local[1].rsplit("-", 1)[0] == squares[0][1].rsplit("-", 1)[0]  # same process prefix as local tasks


def test_other_context_vars_still_refuse_to_pickle():
    import pickle
    from contextvars import ContextVar

    import flowcept_core.capture.exact  # noqa: F401  registers the reducers

    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(ContextVar("someone_elses"))
