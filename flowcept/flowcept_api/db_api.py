from flowcept_core.query import DBAPI  # noqa: F401
