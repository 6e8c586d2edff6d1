from flowcept_core.schema import WorkflowObject  # noqa: F401
