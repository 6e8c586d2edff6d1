"""DBAPI behind ``Flowcept.db``: store-agnostic queries over the store the settings enable.

Reads use MongoDB when ``databases.mongodb.enabled``, else LMDB when ``databases.lmdb.enabled``; with neither,
in offline mode, or when the enabled store's plugin is not installed, every query raises NoDatabaseError saying
why and what to do. Stores are plugins (``flowcept_stores`` hook).
"""

from __future__ import annotations

from typing import Any

from flowcept_core.documents import COLLECTIONS, ID_FIELDS
from flowcept_core.stores import NoDatabaseError, enabled_store_names, open_store, read_store_name

__all__ = ["DBAPI", "NoDatabaseError", "enabled_store_names", "open_store"]


class DBAPI:
    """Query and update captured provenance. Reads go to the read store; writes to every enabled store."""

    def __init__(self, settings: Any = None):
        self._settings = settings

    def _get_settings(self) -> Any:
        if self._settings is None:
            from flowcept_core.settings import get_settings

            return get_settings()
        return self._settings

    def _read_store(self) -> Any:
        """The store queries read from; raises NoDatabaseError saying why there is none and what to do."""
        settings = self._get_settings()
        if settings.get("project.db_flush_mode") == "offline":
            raise NoDatabaseError(_offline_text(settings))
        if not enabled_store_names(settings):
            from flowcept_core.health import missing_store_plugins, store_install_hint

            missing = missing_store_plugins(settings)
            if missing:
                raise NoDatabaseError(f"databases.{missing[0]}.enabled is true but the {missing[0]} store plugin is "
                                      f"not installed; install it with: {store_install_hint(missing[0])}")
        return open_store(settings, read_store_name(settings))

    @staticmethod
    def _check_collection(collection: str) -> None:
        if collection not in COLLECTIONS:
            raise ValueError(f"collection={collection!r} is not one of {list(COLLECTIONS)}")

    def query(self, filter: dict | None = None, projection: Any = None, limit: int = 0, sort: Any = None,
              aggregation: Any = None, remove_json_unserializables: bool = True, collection: str = "tasks") -> Any:
        """Documents of collection matching a MongoDB-style filter, projected, sorted and limited."""
        self._check_collection(collection)
        store = self._read_store()
        if aggregation is not None:
            # group-by fields come from projection, as MongoDB's $group would use them. A store with its own
            # aggregate (same rows as flowcept_core.aggregate) computes them where the data is.
            own = getattr(store, "aggregate", None)
            if callable(own):
                return own(collection, filter or {}, aggregation, projection, sort, limit)
            from flowcept_core.aggregate import aggregate

            return aggregate(store.find(collection, filter or {}), aggregation, projection, sort, limit)
        return store.find(collection, filter or {}, projection, limit, sort)

    def task_query(self, filter: dict | None = None, projection: Any = None, limit: int = 0, sort: Any = None,
                   aggregation: Any = None, remove_json_unserializables: bool = True) -> Any:
        return self.query(filter, projection, limit, sort, aggregation, remove_json_unserializables, "tasks")

    def workflow_query(self, filter: dict | None = None) -> Any:
        return self.query(filter, collection="workflows")

    def dead_letters(self, filter: dict | None = None, limit: int = 0) -> list[dict]:
        """What the DocumentInserter received but could not store, oldest first: each with ``reason``, ``raw`` (the
        entry, or the undecodable bytes), ``source`` ("message", "store" or "wire") and ``received_at``; filter
        like any query, e.g. ``{"task_id": "..."}`` (see flowcept_core.deadletter)."""
        return self.query(filter, limit=limit, sort=[("received_at", 1)], collection="dead_letters")

    def get_tasks_from_current_workflow(self) -> Any:
        """Tasks of the workflow most recently started in this process (Flowcept.current_workflow_id)."""
        from flowcept_core.runtime import RUNTIME

        workflow_id = RUNTIME.current_workflow_id
        if workflow_id is None:
            raise RuntimeError("no workflow was started in this process; use task_query({'workflow_id': ...})")
        return self.task_query({"workflow_id": workflow_id})

    def get_workflow_object(self, workflow_id: str) -> Any:
        """The WorkflowObject for workflow_id, or None."""
        from flowcept_core.schema import WorkflowObject

        docs = self.query({"workflow_id": workflow_id}, collection="workflows", limit=1)
        return WorkflowObject.from_dict(docs[0]) if docs else None

    def _write(self, collection: str, doc: Any) -> bool:
        d = doc.to_dict() if hasattr(doc, "to_dict") else dict(doc)
        if not d.get(ID_FIELDS[collection]):
            raise ValueError(f"a {collection[:-1]} needs {ID_FIELDS[collection]!r} to be inserted or updated")
        settings = self._get_settings()
        names = enabled_store_names(settings) or [read_store_name(settings)]
        for name in names:
            open_store(settings, name).upsert(collection, [d])
        return True

    def insert_or_update_task(self, task: Any) -> bool:
        """Merge a TaskObject (or task dict) into every enabled store."""
        return self._write("tasks", task)

    def insert_or_update_workflow(self, workflow: Any) -> bool:
        """Merge a WorkflowObject (or workflow dict) into every enabled store."""
        return self._write("workflows", workflow)

    def to_df(self, collection: str = "tasks", filter: dict | None = None, normalize: bool = True) -> Any:
        """Matching documents as a pandas DataFrame (dotted columns like used.x when normalize)."""
        from flowcept_core.dataframes import to_dataframe

        return to_dataframe(self.query(filter, collection=collection), normalize=normalize)

    def dump_to_file(self, collection: str = "tasks", filter: dict | None = None, output_file: str | None = None,
                     export_format: str = "json", should_zip: bool = False) -> str:
        """Write matching documents to output_file as json (one array), jsonl, csv or parquet; returns the path."""
        from flowcept_core.exports import export_documents

        docs = self.query(filter, collection=collection)
        return export_documents(docs, output_file or f"{collection}.{export_format}", export_format, should_zip)

    def import_file(self, path: str) -> dict[str, int]:
        """Load a JSONL file (a buffer file or a jsonl export) into every enabled store, merging by id.

        Streams the file: at most _IMPORT_BATCH documents per collection are held before they are stored, whatever
        the file's size. Returns how many documents went to each collection. Extended-JSON bytes ({"$binary": ...})
        become bytes again.
        """
        from flowcept_core.documents import collection_of
        from flowcept_core.files import iter_jsonl

        settings = self._get_settings()
        names = enabled_store_names(settings) or [read_store_name(settings)]
        stores = [open_store(settings, name) for name in names]
        pending: dict[str, list[dict]] = {}
        counts: dict[str, int] = {}
        for msgs in iter_jsonl(path):
            for msg in msgs:
                coll = collection_of(msg)
                if coll is None:
                    continue
                docs = pending.setdefault(coll, [])
                docs.append(_from_extended_json(msg))
                if len(docs) >= _IMPORT_BATCH:
                    counts[coll] = counts.get(coll, 0) + _store_all(stores, coll, pending.pop(coll))
        for coll, docs in pending.items():
            counts[coll] = counts.get(coll, 0) + _store_all(stores, coll, docs)
        return counts

    def get_tasks_recursive(self, workflow_id: str, max_depth: int = 999) -> list[dict]:
        """Tasks of a workflow and of all its sub-workflows (parent_workflow_id chains), depth first."""
        tasks, seen, frontier = [], set(), [workflow_id]
        depth = 0
        while frontier and depth <= max_depth:
            nxt = []
            for wf in frontier:
                if wf in seen:
                    continue
                seen.add(wf)
                tasks.extend(self.task_query({"workflow_id": wf}))
                nxt.extend(w["workflow_id"] for w in self.workflow_query({"parent_workflow_id": wf}))
            frontier, depth = nxt, depth + 1
        return tasks

    def get_lineage(self, task_id: str, direction: str = "upstream", max_depth: int | None = None) -> dict:
        """The tasks and values task_id came from (``"upstream"``), those it affected (``"downstream"``) or both,
        through parent links and data flow, up to max_depth steps (None: all). Shape and store protocol:
        flowcept_core.lineage. An enabled store with its own ``get_lineage`` (a graph store) answers first."""
        from flowcept_core.lineage import check_lineage_args, get_lineage

        check_lineage_args(task_id, direction, max_depth)
        settings = self._get_settings()
        read = self._read_store()
        for name in enabled_store_names(settings):
            store = open_store(settings, name)
            if callable(getattr(store, "get_lineage", None)):
                return store.get_lineage(task_id, direction, max_depth)
        return get_lineage(read, task_id, direction, max_depth)

    def delete_workflow_data(self, workflow_id: str) -> int:
        """Delete a workflow and its tasks from every enabled store; returns how many documents were deleted."""
        settings = self._get_settings()
        deleted = 0
        for name in enabled_store_names(settings):
            store = open_store(settings, name)
            deleted += store.delete("tasks", {"workflow_id": workflow_id})
            deleted += store.delete("workflows", {"workflow_id": workflow_id})
        return deleted

    def liveness_test(self) -> bool:
        try:
            return bool(self._read_store().liveness_test())
        except Exception:
            return False


_IMPORT_BATCH = 5000  # documents per upsert when importing a file


def _offline_text(settings: Any) -> str:
    path = settings.get("project.dump_buffer.path") or "flowcept_buffer.jsonl"
    return ("project.db_flush_mode is offline: offline runs store nothing in a database, so there is nothing to "
            f"query here. Read what was captured from the buffer file: Flowcept.read_buffer_file({path!r}) (a list "
            "of dicts; return_df=True for a DataFrame). To query a store, run online (project.db_flush_mode: online "
            "with databases.lmdb.enabled or databases.mongodb.enabled), or load the file into one with "
            "Flowcept.db.import_file(path) from a process whose settings are online")


def _store_all(stores: list, coll: str, docs: list[dict]) -> int:
    for store in stores:
        store.upsert(coll, docs)
    return len(docs)


def _from_extended_json(msg: dict) -> dict:
    for key, value in msg.items():
        if isinstance(value, dict) and set(value) == {"$binary"} and isinstance(value["$binary"], dict):
            import base64

            msg[key] = base64.b64decode(value["$binary"].get("base64", ""))
    return msg
