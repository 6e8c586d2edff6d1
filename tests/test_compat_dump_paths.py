"""dump_buffer(path) with the path-suffix settings on: each process writes its own file, so no process's records
are lost when several dump to one name (as upstream appends the ids to a given path too)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

from flowcept import Flowcept, flowcept_task
from tests._util import tasks, use_settings

SCRIPT = """
import sys
from flowcept import Flowcept, flowcept_task

@flowcept_task
def work(x):
    return x

fc = Flowcept(workflow_id="wf-shared").start()
work(int(sys.argv[1]))
fc.dump_buffer("shared.jsonl")
fc.stop()
"""


@flowcept_task
def step(x):
    return x


def test_processes_dumping_to_one_path_each_get_their_own_file(tmp_path, monkeypatch):
    settings = use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {
        "append_id_to_path": True, "append_workflow_id_to_path": True, "path": "end.jsonl"}}})
    env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": settings}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(i)], cwd=tmp_path, env=env) for i in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    files = sorted(glob.glob(str(tmp_path / "shared_wf-shared_*.jsonl")))
    assert len(files) == 3, os.listdir(tmp_path)
    used = sorted(t["used"]["x"] for f in files for t in tasks(Flowcept.read_buffer_file(f)))
    assert used == [0, 1, 2]


def test_without_the_suffix_settings_the_given_path_is_used_as_is(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch)
    with Flowcept() as fc:
        step(1)
        fc.dump_buffer("exact.jsonl")
    assert [t["used"] for t in tasks(Flowcept.read_buffer_file("exact.jsonl"))] == [{"x": 1}]
