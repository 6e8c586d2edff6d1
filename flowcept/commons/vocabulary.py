from flowcept_core.schema import Status  # noqa: F401
