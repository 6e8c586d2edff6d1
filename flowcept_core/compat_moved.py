"""What replaced each upstream module path and top-level name that is not provided here.

Read by the import finder of flowcept_core.compat_paths on a missing ``flowcept.*`` module, and by
``flowcept.__getattr__`` for a missing top-level name.
"""

__all__ = ["MOVED", "MOVED_NAMES", "NOT_YET", "moved_message"]

_STORES = ("storage is a plugin chosen in settings.yaml (databases.lmdb / databases.mongodb, `flowcept plugins` lists "
           "what is installed); query with Flowcept.db (flowcept.flowcept_api.db_api.DBAPI), write documents with "
           "Flowcept.db.insert_or_update_task / insert_or_update_workflow")
_MQS = ("MQ backends are plugins chosen by mq.type in settings.yaml (memory, redis, kafka, rabbitmq; `flowcept "
        "plugins` lists them); consume messages by subclassing flowcept.flowceptor.consumers.base_consumer."
        "BaseConsumer")
_ADAPTERS = ("adapters are interceptor plugins (Dask: pip install \"flowcept[dask]\", MLflow: pip install "
             "\"flowcept[mlflow]\"; TensorBoard and MQTT are not built): name one in Flowcept(interceptors=[...]); "
             "`flowcept plugins` lists the installed ones. Decorated functions, FlowceptTask and loops are captured "
             "by the built-in 'instrumentation' interceptor, started by Flowcept()")
_NOT_HERE = "is not part of this implementation"

# upstream module (or package) -> what replaces it. A package covers everything under it (its modules are never
# looked up: importing one imports the package first).
MOVED: dict[str, str] = {
    "flowcept.commons.daos": f"upstream's storage and MQ access classes are not provided: {_STORES}; {_MQS}; "
                             "there is no key-value store: producers end their streams with markers on the MQ",
    "flowcept.commons.autoflush_buffer": "the producer buffer is internal; tune it with mq.buffer_size and "
                                         "mq.insertion_buffer_time_secs, read it with Flowcept.get_buffer()",
    "flowcept.commons.settings_factory": "settings are read by flowcept_core.settings.get_settings(); the upstream "
                                         "constants are in flowcept.configs",
    "flowcept.commons.task_data_preprocess": "task summarization for agents is not built yet",
    "flowcept.commons.flowcept_dataclasses.agent_object": "AgentObject is not built yet; pass agent_id / agent_name "
                                                          "to Flowcept() or FlowceptTask()",
    "flowcept.commons.flowcept_dataclasses.blob_object": "BlobObject is not built yet; put bytes in a task's data "
                                                         "field (FlowceptTask(data=...))",
    "flowcept.commons.flowcept_dataclasses.telemetry": "telemetry is captured as plain dicts "
                                                       "(telemetry_at_start / telemetry_at_end of each task)",
    "flowcept.commons.flowcept_dataclasses.base_settings_dataclasses": "settings are plain dicts: "
                                                                       "flowcept.configs.settings",
    "flowcept.flowceptor.telemetry_capture": "telemetry is sampled in the background as the telemetry_capture "
                                             "settings say; each task records telemetry_at_start / telemetry_at_end",
    "flowcept.flowceptor.adapters": _ADAPTERS,
    "flowcept.flowceptor.consumers.consumer_utils": "consumers receive dicts in BaseConsumer.message_handler",
    "flowcept.agents": "the LLM agent and the MCP server are not built yet; query with Flowcept.db or the `flowcept` "
                       "command",
    "flowcept.webservice": "upstream's web service module is not provided; the read-only provenance browser and its "
                           "JSON API are `flowcept ui` (pip install \"flowcept[ui]\"), queries are Flowcept.db",
    "flowcept.cli": "the command line is `flowcept` (flowcept_core.cli.main)",
    "flowcept.report": "provenance cards and reports are made by Flowcept.generate_report(...)",
}

# names upstream's top-level package exports that are not provided, with what to use instead
MOVED_NAMES: dict[str, str] = {
    "BlobObject": MOVED["flowcept.commons.flowcept_dataclasses.blob_object"],
    "AgentObject": MOVED["flowcept.commons.flowcept_dataclasses.agent_object"],
}


# the entries of MOVED for features not built yet (the others are replaced by something else, for good)
NOT_YET = frozenset({
    "flowcept.commons.task_data_preprocess", "flowcept.commons.flowcept_dataclasses.agent_object",
    "flowcept.commons.flowcept_dataclasses.blob_object", "flowcept.agents", "flowcept.webservice",
})


def moved_message(name: str) -> str | None:
    """What replaced upstream module name (or the package above it), or None when name is not a moved path."""
    probe = name
    while probe.startswith("flowcept."):
        if probe in MOVED:
            return f"{name} {_NOT_HERE}{' yet' if probe in NOT_YET else ''}: {MOVED[probe]}"
        probe = probe.rpartition(".")[0]
    return None
