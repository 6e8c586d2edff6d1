"""The plugin API: the one module of the core a plugin distribution imports (tests also use flowcept_core.testing).

What it offers, by use:

- hooks and specs: ``hookimpl``, ``MQBackendSpec``, ``StoreSpec``, ``InterceptorSpec``, ``ConsumerSpec``,
  ``CliCommandSpec``, ``SettingsSection``, ``Key``
- what each kind must be: ``MQBackend`` (``InProcessMQBackend``), ``Subscription``, ``Store`` (Protocols),
  ``Interceptor`` (base class), ``Emitter`` (what a started interceptor gets), ``BaseConsumer``
- messages: ``task_message``, ``workflow_message``, ``Status``, ``encode_batch``/``decode_batch`` (the wire format of
  networked MQs; ``wire_codec(settings)`` gives the codec that signs and formats them), ``MalformedMessageError``,
  ``CONTROL_TYPE`` and ``END_OF_STREAM`` (the ``type`` and ``info`` of the marker that ends a run's stream)
- documents and queries (stores): ``COLLECTIONS``, ``ID_FIELDS``, ``merge_documents``, ``compile_filter``,
  ``equality_keys``, ``project``, ``sort_documents``, ``get_path``, ``value_kind``, ``MISSING``, ``FilterError``,
  ``aggregate``, ``result_field``
- PROV mapping (graph stores, exports): ``map_task``, ``map_workflow``, ``TaskMapping``, ``WorkflowMapping``,
  ``EntityRef``, ``AgentRef``, ``value_entity_id``, ``entity_ids``, ``canonical_bytes``, ``DATA_ID_KEY``,
  ``prov_scalar``, ``ProvMappingError``
- lineage (stores with their own ``get_lineage``): ``lineage_walk`` (the reference walk over a store's ``find`` and
  ``tasks_by_entity``), ``check_lineage_args``, ``LineageError``, ``UnknownTaskError``
- errors: ``MQError``, ``MQConnectionError``, ``MQClosedError``, ``StoreError``, ``StoreUnavailableError``,
  ``SettingsError``, ``PluginError``, ``PluginLoadError``
- capture (instrumentation plugins): ``Flowcept``, ``FlowceptTask``, ``TaskTemplate`` (what a decorated function's
  messages share; subclass it to add fields), ``generated_wrapper`` (the wrapper the core decorators use, for a
  template), ``DECORATOR_OPTIONS``, ``new_uuid``, ``DEFAULT_REDACTOR`` and ``MASK`` (secret masking);
  ``CAPTURE_STATE`` (``.run``: the active run, None when nothing captures), ``PARENT_TASK`` (the ContextVar of the
  executing task), ``current_parent_id``, ``TASK_COUNTER`` / ``format_id`` (cheap task ids), ``FlowceptLoop``,
  ``FlowceptLightweightLoop``, ``sanitize``, ``sanitize_dict``, ``attach_telemetry``, ``error_text``
- reading stored provenance (tools such as the provenance browser): ``DBAPI`` (what ``Flowcept.db`` is, for given
  settings), ``enabled_store_names``, ``open_store`` (the read store's ``count``), ``NoDatabaseError``
- settings and helpers: ``Settings``, ``get_settings``, ``load_settings``, ``get_logger``, ``gc_paused``,
  ``make_private_dirs``/``make_private``/``open_private`` (files only the user can read)
- capture context: ``PARENT`` (the ContextVar holding the id of the task executing in this context; an interceptor
  sets it around an observed library's task so decorated calls made inside become that task's children)

Importing this module is cheap (hook listing imports it): everything beyond hooks and specs is imported on first
attribute access.

Example (a plugin's hooks.py)::

    from flowcept_core.plugin import MQBackendSpec, hookimpl

    @hookimpl
    def flowcept_mq_backends():
        yield MQBackendSpec("redis", "flowcept_redis.backend:RedisMQ", requires=("redis",), extra="redis")
"""

from __future__ import annotations

import importlib
from typing import Any

from flowcept_core.hookspecs import hookimpl
from flowcept_core.specs import (
    CliCommandSpec,
    ConsumerSpec,
    InterceptorSpec,
    Key,
    MQBackendSpec,
    SettingsSection,
    StoreSpec,
)

_LAZY: dict[str, str] = {
    "aggregate": "flowcept_core.aggregate", "result_field": "flowcept_core.aggregate",
    "BaseConsumer": "flowcept_core.consumers.base",
    # capture (instrumentation plugins): the active run, the parent-task context, task ids, loops, telemetry
    "CAPTURE_STATE": "flowcept_core.capture.context:STATE", "PARENT_TASK": "flowcept_core.capture.context:PARENT",
    "current_parent_id": "flowcept_core.capture.context", "error_text": "flowcept_core.capture.context",
    "FlowceptLoop": "flowcept_core.capture.loops", "FlowceptLightweightLoop": "flowcept_core.capture.loops",
    "TASK_COUNTER": "flowcept_core.ids:COUNTER", "format_id": "flowcept_core.ids",
    "sanitize": "flowcept_core.serialize", "sanitize_dict": "flowcept_core.serialize",
    "attach_telemetry": "flowcept_core.telemetry.summary",
    "DECORATOR_OPTIONS": "flowcept_core.capture.templates", "TaskTemplate": "flowcept_core.capture.templates",
    "generated_wrapper": "flowcept_core.capture.exact", "FlowceptTask": "flowcept_core.capture.task",
    "Flowcept": "flowcept_core.controller", "new_uuid": "flowcept_core.ids",
    "DEFAULT_REDACTOR": "flowcept_core.redact", "MASK": "flowcept_core.redact",
    "CONTROL_TYPE": "flowcept_core.constants", "END_OF_STREAM": "flowcept_core.constants",
    "COLLECTIONS": "flowcept_core.documents", "ID_FIELDS": "flowcept_core.documents",
    "merge_documents": "flowcept_core.documents",
    "MISSING": "flowcept_core.filters", "FilterError": "flowcept_core.filters",
    "compile_filter": "flowcept_core.filters", "equality_keys": "flowcept_core.filters",
    "get_path": "flowcept_core.filters", "project": "flowcept_core.filters",
    "sort_documents": "flowcept_core.filters", "value_kind": "flowcept_core.filters",
    "gc_paused": "flowcept_core.gcpause",
    "PARENT": "flowcept_core.capture.context",
    "make_private": "flowcept_core.private_files", "make_private_dirs": "flowcept_core.private_files",
    "open_private": "flowcept_core.private_files",
    "Emitter": "flowcept_core.interfaces", "Interceptor": "flowcept_core.interfaces",
    "InProcessMQBackend": "flowcept_core.interfaces",
    "MQBackend": "flowcept_core.interfaces", "Store": "flowcept_core.interfaces",
    "Subscription": "flowcept_core.interfaces",
    "get_logger": "flowcept_core.logger",
    "task_message": "flowcept_core.messages", "workflow_message": "flowcept_core.messages",
    "AgentRef": "flowcept_core.prov_mapping", "EntityRef": "flowcept_core.prov_mapping",
    "ProvMappingError": "flowcept_core.prov_mapping", "TaskMapping": "flowcept_core.prov_mapping",
    "WorkflowMapping": "flowcept_core.prov_mapping", "entity_ids": "flowcept_core.prov_mapping",
    "canonical_bytes": "flowcept_core.prov_mapping", "DATA_ID_KEY": "flowcept_core.prov_mapping",
    "lineage_walk": "flowcept_core.lineage:get_lineage", "check_lineage_args": "flowcept_core.lineage",
    "LineageError": "flowcept_core.lineage", "UnknownTaskError": "flowcept_core.lineage",
    "map_task": "flowcept_core.prov_mapping", "map_workflow": "flowcept_core.prov_mapping",
    "prov_scalar": "flowcept_core.prov_mapping", "value_entity_id": "flowcept_core.prov_mapping",
    "MQClosedError": "flowcept_core.mq", "MQConnectionError": "flowcept_core.mq", "MQError": "flowcept_core.mq",
    "PluginError": "flowcept_core.registry", "PluginLoadError": "flowcept_core.registry",
    "Status": "flowcept_core.schema",
    "DBAPI": "flowcept_core.query", "enabled_store_names": "flowcept_core.stores",
    "NoDatabaseError": "flowcept_core.stores", "open_store": "flowcept_core.stores",
    "Settings": "flowcept_core.settings", "SettingsError": "flowcept_core.settings",
    "get_settings": "flowcept_core.settings", "load_settings": "flowcept_core.settings",
    "StoreError": "flowcept_core.stores", "StoreUnavailableError": "flowcept_core.stores",
    "MalformedMessageError": "flowcept_core.wire", "decode_batch": "flowcept_core.wire",
    "encode_batch": "flowcept_core.wire", "wire_codec": "flowcept_core.wire", "WireCodec": "flowcept_core.wire",
}

__all__ = ["hookimpl", "CliCommandSpec", "ConsumerSpec", "InterceptorSpec", "Key", "MQBackendSpec", "SettingsSection",
           "StoreSpec", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    """Import the module behind a lazily offered name on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowcept_core.plugin' has no attribute {name!r}; the plugin API offers: "
                             f"{', '.join(__all__)}")
    module, _, attr = module.partition(":")  # "module:attr" offers attr under another name
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
