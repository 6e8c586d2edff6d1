"""Every upstream import path found in upstream's documentation, examples and test suite (v1.0.3) either works,
giving this engine's object, or fails with a message that says what replaced it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import flowcept

# module -> names user code imports from it (upstream docs, examples, tests)
PROVIDED: dict[str, tuple[str, ...]] = {
    "flowcept": ("Flowcept", "flowcept_task", "lightweight_flowcept_task", "telemetry_flowcept_task", "FlowceptTask",
                 "FlowceptLoop", "FlowceptLightweightLoop", "WorkflowObject", "TaskObject", "DBAPI", "BaseConsumer",
                 "flowcept", "__version__"),
    "flowcept.configs": ("PROJECT_NAME", "settings", "SETTINGS_PATH", "MQ_TYPE", "MQ_ENABLED", "MONGO_ENABLED",
                         "LMDB_ENABLED", "INSERTION_BUFFER_TIME", "INSTRUMENTATION", "INSTRUMENTATION_ENABLED", "AGENT",
                         "AGENT_API_KEY", "AGENT_MODE", "APPEND_WORKFLOW_ID_TO_PATH", "APPEND_ID_TO_PATH",
                         "DUMP_BUFFER_PATH", "DB_FLUSH_MODE", "TELEMETRY_ENABLED", "ADAPTERS"),
    "flowcept.version": ("__version__",),
    "flowcept.commons.flowcept_logger": ("FlowceptLogger",),
    "flowcept.commons.utils": ("assert_by_querying_tasks_until", "evaluate_until", "get_utc_now_str",
                               "get_current_config_values"),
    "flowcept.commons.vocabulary": ("Status",),
    "flowcept.commons.flowcept_dataclasses.task_object": ("TaskObject", "Status"),
    "flowcept.commons.flowcept_dataclasses.workflow_object": ("WorkflowObject",),
    "flowcept.flowcept_api.flowcept_controller": ("Flowcept",),
    "flowcept.flowcept_api.db_api": ("DBAPI",),
    "flowcept.flowceptor.consumers.base_consumer": ("BaseConsumer",),
    "flowcept.flowceptor.consumers.document_inserter": ("DocumentInserter",),
    "flowcept.instrumentation.flowcept_task": ("flowcept_task", "lightweight_flowcept_task", "telemetry_flowcept_task",
                                               "get_current_context_task_id"),
    "flowcept.instrumentation.flowcept_decorator": ("flowcept",),
    "flowcept.instrumentation.flowcept_loop": ("FlowceptLoop", "FlowceptLightweightLoop"),
    "flowcept.instrumentation.loop": ("FlowceptLoop", "FlowceptLightweightLoop"),
    "flowcept.instrumentation.task": ("FlowceptTask",),
    "flowcept.instrumentation.task_capture": ("FlowceptTask",),
}

# upstream modules that are not provided: importing them must say what to use instead
REPLACED = (
    "flowcept.commons.daos.docdb_dao.mongodb_dao", "flowcept.commons.daos.docdb_dao.docdb_dao_base",
    "flowcept.commons.daos.docdb_dao.lmdb_dao", "flowcept.commons.daos.docdb_dao.docdb_dao_utils",
    "flowcept.commons.daos.mq_dao.mq_dao_base", "flowcept.commons.daos.mq_dao.mq_dao_redis",
    "flowcept.commons.daos.mq_dao.mq_dao_rabbitmq", "flowcept.commons.daos.mq_dao.mq_dao_kafka",
    "flowcept.commons.daos.keyvalue_dao", "flowcept.commons.daos.redis_conn", "flowcept.commons.autoflush_buffer",
    "flowcept.commons.settings_factory", "flowcept.commons.task_data_preprocess",
    "flowcept.commons.flowcept_dataclasses.agent_object", "flowcept.commons.flowcept_dataclasses.blob_object",
    "flowcept.commons.flowcept_dataclasses.telemetry", "flowcept.flowceptor.telemetry_capture",
    "flowcept.flowceptor.adapters.instrumentation_interceptor",
    "flowcept.flowceptor.adapters.base_interceptor",
    "flowcept.flowceptor.consumers.consumer_utils",
    "flowcept.agents.mcp.mcp_client", "flowcept.webservice.main", "flowcept.cli",
)
REPLACED_NAMES = ("BlobObject", "AgentObject")


@pytest.mark.parametrize("module", sorted(PROVIDED))
def test_upstream_path_imports_and_names_exist(module):
    mod = importlib.import_module(module)
    missing = [name for name in PROVIDED[module] if not hasattr(mod, name)]
    assert missing == [], f"{module} lacks {missing}"


def test_aliases_are_this_engines_objects():
    from flowcept.commons.flowcept_dataclasses.task_object import TaskObject
    from flowcept.flowceptor.consumers.document_inserter import DocumentInserter
    from flowcept.instrumentation.task_capture import FlowceptTask
    from flowcept_core.consumers.document_inserter import DocumentInserter as Core

    assert TaskObject is flowcept.TaskObject and FlowceptTask is flowcept.FlowceptTask
    assert issubclass(DocumentInserter, Core)


@pytest.mark.parametrize("module", REPLACED)
def test_replaced_upstream_module_says_what_replaced_it(module):
    with pytest.raises(ImportError) as exc:
        importlib.import_module(module)
    text = str(exc.value)
    assert "is not part of this implementation" in text and len(text) > 80, text
    assert "No module named" not in text


@pytest.mark.parametrize("name", REPLACED_NAMES)
def test_replaced_top_level_name_says_what_replaced_it(name):
    with pytest.raises(ImportError, match=rf"flowcept\.{name}: .+"):
        exec(f"from flowcept import {name}", {})
    assert not hasattr(flowcept, name + "_typo")


def test_other_missing_modules_fail_as_usual():
    with pytest.raises(ModuleNotFoundError, match="No module named 'flowcept.no_such_module'"):
        importlib.import_module("flowcept.no_such_module")


def test_daos_message_names_the_query_api():
    with pytest.raises(ImportError, match="Flowcept.db"):
        from flowcept.commons.daos.docdb_dao.mongodb_dao import MongoDBDAO  # noqa: F401


def test_configs_constants_follow_the_settings(tmp_path, monkeypatch):
    from tests._util import use_settings

    use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {"append_id_to_path": True,
                                                                      "path": "b.jsonl"}}})
    from flowcept import configs

    assert configs.PROJECT_NAME == "flowcept"
    assert configs.APPEND_ID_TO_PATH is True and configs.APPEND_WORKFLOW_ID_TO_PATH is False
    assert configs.DUMP_BUFFER_PATH == "b.jsonl" and configs.DB_FLUSH_MODE == "offline"
    assert configs.SETTINGS_PATH == str(tmp_path / "settings.yaml")
    with pytest.raises(AttributeError, match="NOT_A_CONSTANT.*PROJECT_NAME"):
        configs.NOT_A_CONSTANT  # noqa: B018


def test_import_flowcept_does_not_load_the_moved_table():
    code = "import sys, flowcept; print('flowcept_core.compat_moved' in sys.modules, 'typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False"


def _plugin_installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module.partition(".")[0]) is not None


@pytest.mark.parametrize("path", sorted(__import__("flowcept_core.plugin_exports").plugin_exports.PLUGIN_MODULES))
def test_plugin_provided_upstream_path_imports_or_names_the_plugin(path):
    """With the plugin installed the upstream path gives the plugin's names; without it, the error names the plugin
    and its pip command."""
    from flowcept_core.plugin_exports import PLUGIN_MODULES

    target = PLUGIN_MODULES[path]
    sys.modules.pop(path, None)
    if _plugin_installed(target):
        mod = importlib.import_module(path)
        plugin = importlib.import_module(target)
        assert plugin.__all__ and all(getattr(mod, n) is getattr(plugin, n) for n in plugin.__all__)
        return
    with pytest.raises(ImportError, match=r'comes with the flowcept-\w+ plugin.*pip install "flowcept\[\w+\]"'):
        importlib.import_module(path)


@pytest.mark.parametrize("name", sorted(__import__("flowcept_core.plugin_exports").plugin_exports.PLUGIN_NAMES))
def test_plugin_provided_top_level_name_or_an_error_naming_the_plugin(name):
    from flowcept_core.plugin_exports import PLUGIN_NAMES

    if _plugin_installed(PLUGIN_NAMES[name]):
        assert getattr(importlib.import_module(PLUGIN_NAMES[name]), name) is getattr(flowcept, name)
        return
    with pytest.raises(ImportError, match=rf'flowcept\.{name} comes with the flowcept-\w+ plugin'):
        exec(f"from flowcept import {name}", {})


def test_missing_plugin_error_is_raised_without_the_plugin(tmp_path):
    """A fresh interpreter where the plugin packages cannot be imported (blocked on sys.path) gets the plugin's
    install command, not a bare ModuleNotFoundError."""
    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('flowcept_torch', 'flowcept_dask', 'flowcept_mcp'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "try:\n    from flowcept import flowcept_torch\nexcept ImportError as e:\n    print(e)\n"
            "try:\n    import flowcept.flowceptor.adapters.dask.dask_plugins\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'flowcept.flowcept_torch comes with the flowcept-torch plugin, which is not installed: pip install ' \
           '"flowcept[torch]"' in out, out
    assert 'flowcept.flowceptor.adapters.dask.dask_plugins comes with the flowcept-dask plugin' in out, out
