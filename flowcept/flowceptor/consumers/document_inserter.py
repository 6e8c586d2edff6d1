from flowcept_core.compat_inserter import DocumentInserter  # noqa: F401
