"""Process state lives in flowcept_core.runtime.RUNTIME with one reset; a run and its queries can use a Settings object
given to them instead of the process settings; the current workflow id is the runtime's, read by the query API; an MQ
backend declares what the core reads of it."""

from __future__ import annotations

import pytest

from flowcept import Flowcept, flowcept_task
from flowcept_core.builtins.memory_mq import MemoryMQ
from flowcept_core.mq import open_mq
from flowcept_core.plugin import MQBackendSpec, PluginError, hookimpl
from flowcept_core.query import DBAPI
from flowcept_core.registry import get_registry
from flowcept_core.runtime import RUNTIME, reset_runtime
from flowcept_core.settings import get_settings, load_settings, reset_settings
from flowcept_core.stores import open_store


@flowcept_task(output_names="y")
def plus_one(x):
    return x + 1


def _settings(tmp_path, name: str, **project):
    return load_settings(
        overrides={
            "mq.type": "memory",
            "project.db_flush_mode": "online",
            "project.dump_buffer.enabled": True,
            "project.dump_buffer.path": str(tmp_path / f"{name}.jsonl"),
            "databases.lmdb.enabled": True,
            "databases.lmdb.path": str(tmp_path / f"{name}_lmdb"),
            "databases.mongodb.enabled": False,
            **{f"project.{k}": v for k, v in project.items()},
        }
    )


def test_settings_registry_stores_and_broker_are_the_runtime_s(tmp_path):
    settings = _settings(tmp_path, "rt")
    reset_settings(settings)
    assert get_settings() is settings is RUNTIME.settings
    assert get_registry() is RUNTIME.registry
    store = open_store(settings, "lmdb")
    assert list(RUNTIME.stores.values()) == [store]
    with Flowcept(workflow_name="rt"):
        plus_one(1)
    assert RUNTIME.broker is not None  # the in-process MQ's broker


def test_reset_runtime_forgets_everything_and_closes_open_stores(tmp_path):
    settings = _settings(tmp_path, "reset")
    reset_settings(settings)
    with Flowcept(workflow_name="reset") as fc:
        plus_one(1)
    store = open_store(settings, "lmdb")
    registry = get_registry()
    assert RUNTIME.current_workflow_id == fc.current_workflow_id
    reset_runtime()
    assert (RUNTIME.settings, RUNTIME.registry, RUNTIME.broker, RUNTIME.current_workflow_id) == (None, None, None, None)
    assert RUNTIME.stores == {} and RUNTIME.warned == set()
    assert get_registry() is not registry
    with pytest.raises(Exception, match="closed"):
        store.count("tasks")
    assert "current_workflow_id=None" in repr(RUNTIME)


def test_a_run_given_settings_uses_them_and_not_the_process_settings(tmp_path):
    process = _settings(tmp_path, "process")
    reset_settings(process)
    mine = _settings(tmp_path, "mine")
    with Flowcept(workflow_name="mine", settings=mine) as fc:
        for i in range(5):
            plus_one(i)
    assert (tmp_path / "mine.jsonl").exists() and not (tmp_path / "process.jsonl").exists()
    assert len(fc.db.task_query({"workflow_id": fc.current_workflow_id})) == 5  # the instance's db: its settings
    assert len(DBAPI(mine).task_query({"workflow_id": fc.current_workflow_id})) == 5
    assert DBAPI(process).task_query({"workflow_id": fc.current_workflow_id}) == []
    assert Flowcept.db.task_query({"workflow_id": fc.current_workflow_id}) == []  # the class's db: the process's


def test_flowcept_refuses_settings_that_are_not_a_settings_object():
    with pytest.raises(TypeError, match=r"settings='settings.yaml'.*load_settings"):
        Flowcept(settings="settings.yaml")


def test_current_workflow_is_the_runtime_s_and_the_query_api_reads_it(tmp_path):
    reset_settings(_settings(tmp_path, "current"))
    with pytest.raises(RuntimeError, match="no workflow was started"):
        Flowcept.db.get_tasks_from_current_workflow()
    with Flowcept(workflow_name="first"):
        plus_one(1)
    with Flowcept(workflow_name="second") as second:
        plus_one(2)
        plus_one(3)
    assert RUNTIME.current_workflow_id == Flowcept.current_workflow_id == second.current_workflow_id
    tasks = Flowcept.db.get_tasks_from_current_workflow()
    assert sorted(t["used"]["x"] for t in tasks) == [2, 3]


def test_started_flowcepts_and_their_interceptors_are_listed_while_running(tmp_path):
    reset_settings(_settings(tmp_path, "started"))
    with Flowcept(workflow_name="started") as fc:
        assert fc in RUNTIME.started
        assert [type(i).__name__ for i in RUNTIME.interceptors] == [type(i).__name__ for i in fc._interceptors]
        assert RUNTIME.interceptors  # the built-in instrumentation interceptor at least
    assert fc not in RUNTIME.started and RUNTIME.interceptors == []


class _UndeclaredMQ(MemoryMQ):
    """A backend that does not say whether it is in process (MemoryMQ otherwise)."""

    in_process = None


class _UndeclaredPlugin:
    @hookimpl
    def flowcept_mq_backends(self):
        yield MQBackendSpec("undeclared", _UndeclaredMQ, summary="a backend without in_process")


def test_open_mq_refuses_a_backend_that_does_not_declare_in_process(tmp_path):
    reset_settings(load_settings(overrides={"mq.type": "undeclared"}))
    get_registry().register(_UndeclaredPlugin(), name="undeclared-plugin", dist="undeclared-dist")
    with pytest.raises(PluginError, match=r"mq.type='undeclared'.*_UndeclaredMQ does not declare in_process"):
        open_mq(get_settings())
    reset_settings(load_settings(overrides={"mq.type": "memory"}))
    assert open_mq(get_settings()).in_process is True
