"""What Flowcept().start() does on the caller's thread with the defaults: no plugin machinery (pluggy), no logging,
no dataclasses/inspect, no thread-pool module (each costs the first start() several ms; the start-up thread or the
first use loads them), and a thread pool imported after start() still gives its jobs the submitting task as parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

_SPY = textwrap.dedent(
    """
    import json, sys, threading
    from flowcept import Flowcept
    seen = []

    class Spy:
        def find_spec(self, name, path=None, target=None):
            if threading.current_thread() is threading.main_thread():
                seen.append(name)
            return None

    fc = Flowcept()
    sys.meta_path.insert(0, Spy())
    fc.start()
    sys.meta_path.pop(0)
    fc.stop()
    print(json.dumps(seen))
    """
)

_POOL = textwrap.dedent(
    """
    import json, sys
    from flowcept import Flowcept, flowcept_task
    assert "concurrent.futures" not in sys.modules

    @flowcept_task
    def child(x):
        return x * 2

    @flowcept_task
    def parent():
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(child, [1, 2, 3]))

    with Flowcept(workflow_name="pool") as fc:
        parent()
        tasks = [m for m in fc.get_buffer() if m.get("type") == "task"]
    top = next(t for t in tasks if t["activity_id"] == "parent")
    print(json.dumps([t.get("parent_task_id") == top["task_id"] for t in tasks if t["activity_id"] == "child"]))
    """
)


def _run(code: str, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = str(tmp_path)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip().splitlines()[-1]


def test_start_with_defaults_loads_no_plugin_machinery_on_the_callers_thread(tmp_path):
    seen = set(json.loads(_run(_SPY, tmp_path)))
    slow = {"pluggy", "logging", "dataclasses", "inspect", "concurrent.futures", "signal", "flowcept_core.registry"}
    assert not seen & slow


def test_a_thread_pool_imported_after_start_gives_its_jobs_the_task_as_parent(tmp_path):
    assert json.loads(_run(_POOL, tmp_path)) == [True, True, True]
