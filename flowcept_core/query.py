"""DBAPI behind ``Flowcept.db``: store-agnostic queries over the store the settings enable.

Reads use MongoDB when ``databases.mongodb.enabled``, else LMDB when ``databases.lmdb.enabled``; with neither,
every query raises NoDatabaseError saying what to enable. Stores are plugins (``flowcept_stores`` hook).
"""

from __future__ import annotations

from typing import Any

from flowcept_core.settings import get_settings

__all__ = ["DBAPI", "NoDatabaseError", "enabled_store_names", "open_store"]

_READ_ORDER = ("mongodb", "lmdb")


class NoDatabaseError(RuntimeError):
    """A query was made while no store is enabled in the settings."""


def enabled_store_names(settings: Any) -> list[str]:
    """Names under ``databases`` whose ``enabled`` is true, in read-preference order."""
    dbs = settings.section("databases")
    names = [n for n in _READ_ORDER if (dbs.get(n) or {}).get("enabled")]
    others = (n for n, sec in dbs.items() if n not in _READ_ORDER and isinstance(sec, dict) and sec.get("enabled"))
    names += sorted(others)
    return names


def open_store(settings: Any, name: str) -> Any:
    from flowcept_core.registry import get_registry

    return get_registry().resolve("store", name).factory(settings)


class DBAPI:
    """Query and update captured provenance. Methods delegate to the read store."""

    def __init__(self, settings: Any = None):
        self._settings = settings
        self._store: Any = None

    def _read_store(self) -> Any:
        if self._store is None:
            settings = self._settings or get_settings()
            names = enabled_store_names(settings)
            if not names:
                raise NoDatabaseError("no database is enabled: set databases.lmdb.enabled or "
                                      "databases.mongodb.enabled to true in settings.yaml to query provenance "
                                      "(or read the buffer file with Flowcept.read_buffer_file())")
            self._store = open_store(settings, names[0])
        return self._store

    def query(self, filter: dict | None = None, projection: Any = None, limit: int = 0, sort: Any = None,
              aggregation: Any = None, remove_json_unserializables: bool = True, collection: str = "tasks") -> Any:
        return self._read_store().query(collection=collection, filter=filter or {}, projection=projection,
                                        limit=limit, sort=sort, aggregation=aggregation)

    def task_query(self, filter: dict | None = None, projection: Any = None, limit: int = 0, sort: Any = None,
                   aggregation: Any = None, remove_json_unserializables: bool = True) -> Any:
        return self.query(filter, projection, limit, sort, aggregation, remove_json_unserializables, "tasks")

    def workflow_query(self, filter: dict | None = None) -> Any:
        return self.query(filter, collection="workflows")

    def get_tasks_from_current_workflow(self) -> Any:
        from flowcept_core.controller import Flowcept

        return self.task_query({"workflow_id": Flowcept.current_workflow_id})

    def liveness_test(self) -> bool:
        return bool(self._read_store().liveness_test())
