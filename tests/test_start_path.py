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


def _run(code: str, tmp_path, settings=None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = str(tmp_path)
    if settings is not None:
        env["FLOWCEPT_SETTINGS_PATH"] = str(settings)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip().splitlines()[-1]


def test_start_with_defaults_loads_no_plugin_machinery_on_the_callers_thread(tmp_path):
    seen = set(json.loads(_run(_SPY, tmp_path)))
    slow = {"pluggy", "logging", "dataclasses", "inspect", "concurrent.futures", "signal", "flowcept_core.registry"}
    assert not seen & slow


def test_a_thread_pool_imported_after_start_gives_its_jobs_the_task_as_parent(tmp_path):
    assert json.loads(_run(_POOL, tmp_path)) == [True, True, True]


_OFFLINE = textwrap.dedent(
    """
    import json, sys
    from flowcept import Flowcept, flowcept_task
    from flowcept_core.runtime import RUNTIME

    @flowcept_task
    def f(x):
        return x + 1

    with Flowcept(workflow_name="offline") as fc:
        fc._wait_started()
        f(1)
        loaded = RUNTIME.registry is not None and not RUNTIME.registry._pending
    print(json.dumps([loaded, len(fc.get_buffer()), "pluggy" in sys.modules]))
    """
)


def test_an_offline_run_of_decorated_functions_discovers_no_plugins(tmp_path):
    (tmp_path / "settings.yaml").write_text(
        "project: {db_flush_mode: offline, dump_buffer: {enabled: false}}\n"
        "mq: {enabled: false}\ndatabases: {lmdb: {enabled: false}, mongodb: {enabled: false}}\n"
    )
    loaded, count, pluggy = json.loads(_run(_OFFLINE, tmp_path, settings=tmp_path / "settings.yaml"))
    assert (loaded, pluggy) == (False, False) and count >= 2  # the task and the workflow message


def test_a_default_run_discovers_plugins_in_the_background(tmp_path):
    loaded, count, pluggy = json.loads(_run(_OFFLINE, tmp_path))
    assert loaded and pluggy and count >= 2


_KEPT = textwrap.dedent(
    """
    import json, sys
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def f(x):
        return x + 1

    with Flowcept(workflow_name="kept", workflow_args={"pair": (1, 2)}) as fc:
        for i in range(300):
            f(i)
        msgs = fc.get_buffer()
        lazy = [m for m in ("orjson", "encodings.idna", "dataclasses", "getpass", "typing") if m in sys.modules]
    wf = msgs[0]
    print(json.dumps([lazy, len(msgs), wf["type"], wf["status"], wf.get("used")]))
    """
)


def test_an_offline_run_kept_as_records_needs_no_json_encoder_nor_idna(tmp_path):
    """Nothing of it is encoded (no buffer file): orjson (~19 ms to import, with dataclasses and uuid) is not
    imported; nor is the idna codec (~25 ms) by the host name lookup, nor dataclasses by the telemetry settings, nor
    typing (~5 ms) by the modules a run loads."""
    (tmp_path / "settings.yaml").write_text(
        "project: {db_flush_mode: offline, dump_buffer: {enabled: false}}\ntelemetry_capture: {}\n"
        "mq: {enabled: false}\ndatabases: {lmdb: {enabled: false}, mongodb: {enabled: false}}\n"
    )
    lazy, count, kind, status, used = json.loads(_run(_KEPT, tmp_path, settings=tmp_path / "settings.yaml"))
    assert lazy == [] and count == 301 and (kind, status) == ("workflow", "RUNNING")
    assert used == {"pair": [1, 2]}  # as its JSON line gives it back (a tuple becomes a list)
