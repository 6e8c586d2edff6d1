from flowcept_core.schema import Status, TaskObject  # noqa: F401
