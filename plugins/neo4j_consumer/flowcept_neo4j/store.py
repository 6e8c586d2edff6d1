"""Neo4jStore: the flowcept Store protocol on a Neo4j graph (official ``neo4j`` driver, Bolt).

Each document is a node (flowcept_neo4j.graph: Task, Workflow, Agent, Object, DeadLetter) with the PROV mapping's
properties and relationships, and the merged document in ``_doc``. A write is one transaction per batch:

1. lock the batch's existing nodes and read their documents (``SET n._w = token``: a write takes the node's lock,
   so a concurrent writer in another process waits, and what is read cannot change before the commit);
2. merge each message into its document (flowcept_core merge_documents, the rules every store applies) and write
   the nodes with one ``UNWIND ... MERGE`` (a node another writer created in between is detected and the
   transaction retried);
3. create the relationships the merged documents have and the stored ones did not (``UNWIND ... CREATE``, grouped
   by type), delete those they lost, and link tasks by data flow (WAS_INFORMED_BY).

Redelivered messages merge into the same documents, so they change nothing. Unique constraints on every node key are
created when the store opens (MERGE without them may duplicate nodes under concurrent writers).

Queries (``find``/``count``) read ``_doc``: a filter pinning an id, or a task's workflow_id / parent_task_id, is an
index lookup; any other filter reads every node of the collection and filters in Python. The store is write-mostly:
with LMDB or MongoDB enabled too, those answer ``Flowcept.db`` queries (read_preference); it answers lineage queries
(``get_lineage``) itself, walking USED / WAS_GENERATED_BY / WAS_STARTED_BY paths.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

from flowcept_core.plugin import (
    COLLECTIONS,
    StoreError,
    StoreUnavailableError,
    compile_filter,
    equality_keys,
    merge_documents,
    project,
    sort_documents,
)
from flowcept_neo4j.config import CONNECTION_TIMEOUT_S, TRANSACTION_RETRY_S, Neo4jConfig
from flowcept_neo4j.graph import NODE_KINDS, PUSHDOWN, WriteConflict
from flowcept_neo4j.writes import GraphWrites

__all__ = ["Neo4jStore"]

_CONFLICT_RETRIES = 10


class Neo4jStore(GraphWrites):
    """A flowcept store on one Neo4j database; safe to share between threads (the driver is thread-safe, and the
    upserts of this process are serialized)."""

    name = "neo4j"

    def __init__(self, settings: Any):
        import neo4j

        self.config = Neo4jConfig.from_settings(settings)
        self._neo4j = neo4j
        self._write_lock = threading.Lock()
        self._closed = False
        self._token_prefix = f"{os.getpid()}-{id(self):x}-"
        self._token_counter = 0
        auth = (self.config.user, self.config.password) if self.config.password is not None else None
        try:
            self._driver = neo4j.GraphDatabase.driver(
                self.config.uri, auth=auth, connection_timeout=CONNECTION_TIMEOUT_S,
                max_transaction_retry_time=TRANSACTION_RETRY_S, connection_acquisition_timeout=2 * CONNECTION_TIMEOUT_S)
        except (ValueError, TypeError, neo4j.exceptions.ConfigurationError) as e:
            raise StoreError(f"{self.config.location()}: {self.config.scrub(str(e))}") from None
        try:
            self._driver.verify_connectivity()
            self._create_schema()
        except Exception as e:
            self._driver.close()
            raise self._error(e, "connecting") from None

    # -- errors and sessions ---------------------------------------------------------------------------------
    def _error(self, e: BaseException, what: str) -> StoreError:
        """The StoreError for a driver error: StoreUnavailableError when retrying later may succeed."""
        ex = self._neo4j.exceptions
        text = self.config.scrub(f"{type(e).__name__}: {e}")
        if isinstance(e, StoreError):
            return e
        if isinstance(e, ex.AuthError):
            return (StoreError if what == "connecting" else StoreUnavailableError)(
                f"{self.config.location()}: {what} failed: the server refused user {self.config.user!r} (wrong user "
                f"or password in databases.neo4j.user / databases.neo4j.password): {text}")
        if isinstance(e, (ex.ServiceUnavailable, ex.SessionExpired, ex.TransientError, ex.DatabaseError,
                          ex.IncompleteCommit, OSError)):
            return StoreUnavailableError(f"{self.config.location()}: {what} failed, no Bolt server answered or it "
                                         f"could not complete the transaction: {text}")
        if isinstance(e, ex.ClientError) and "database" in str(e).lower() and what == "connecting":
            return StoreError(f"{self.config.location()}: the server has no usable database "
                              f"{self.config.database!r}: {text}")
        return StoreError(f"{self.config.location()}: {what} failed: {text}")

    def _session(self) -> Any:
        if self._closed:
            raise StoreError(f"{self.config.location()}: the store is closed")
        return self._driver.session(database=self.config.database)

    def _run_write(self, fn: Any, what: str) -> Any:
        try:
            with self._session() as session:
                return session.execute_write(fn)
        except WriteConflict as e:
            raise _Conflict(str(e)) from None
        except self._neo4j.exceptions.ConstraintError as e:
            # every write MERGEs by a constrained key, so this is another writer creating the same node first (a
            # server with optimistic concurrency, such as ArcadeDB, reports it at commit): retry
            if what == "writing":
                raise _Conflict(str(e)) from None
            raise self._error(e, what) from None
        except Exception as e:
            raise self._error(e, what) from None

    def _read(self, query: str, **params: Any) -> list[Any]:
        try:
            with self._session() as session:
                return list(session.run(query, **params))
        except Exception as e:
            raise self._error(e, "reading") from None

    def _create_schema(self) -> None:
        from flowcept_neo4j.graph import CONSTRAINTS, INDEXES

        with self._session() as session:
            for label, key in CONSTRAINTS:
                session.run(f"CREATE CONSTRAINT flowcept_{label.lower()}_{key} IF NOT EXISTS "
                            f"FOR (n:{label}) REQUIRE n.{key} IS UNIQUE").consume()
            for label, key in INDEXES:
                session.run(f"CREATE INDEX flowcept_{label.lower()}_{key} IF NOT EXISTS "
                            f"FOR (n:{label}) ON (n.{key})").consume()

    def _new_token(self) -> str:
        self._token_counter += 1
        return f"{self._token_prefix}{self._token_counter}"

    # -- Store protocol ----------------------------------------------------------------------------------------
    def upsert(self, collection: str, docs: list[dict]) -> None:
        """Merge docs into their nodes and relationships, in one transaction (all or nothing)."""
        kind = self._kind(collection)
        if not docs:
            return
        folded: dict[str, dict] = {}
        for doc in docs:
            ident = doc.get(kind.id_field)
            if ident is None:
                raise StoreError(f"a {collection[:-1]} document needs {kind.id_field}; got keys {sorted(doc)[:12]}")
            key = kind.key_of(ident)
            folded[key] = merge_documents(folded.get(key), doc)
        with self._write_lock:
            for attempt in range(_CONFLICT_RETRIES):
                token = self._new_token()
                try:
                    self._run_write(lambda tx, t=token: self._write_batch(tx, collection, folded, t), "writing")
                    return
                except _Conflict:
                    pass
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # another writer created some nodes meanwhile
        raise StoreUnavailableError(f"{self.config.location()}: writing {len(folded)} {collection} kept conflicting "
                                    f"with concurrent writers after {_CONFLICT_RETRIES} attempts")

    def find(self, collection: str, filter: dict | None = None, projection: Any = None, limit: int = 0,
             sort: Any = None) -> list[dict]:
        """Documents matching a MongoDB-style filter (ids and indexed fields looked up, the rest in Python)."""
        test = compile_filter(filter)
        docs = [d for d in self._candidates(collection, filter) if test(d)]
        if sort:
            docs = sort_documents(docs, sort)
        if limit:
            docs = docs[:limit]
        return [project(d, projection) for d in docs] if projection else docs

    def count(self, collection: str, filter: dict | None = None) -> int:
        if not filter:
            kind = self._kind(collection)
            rows = self._read(f"MATCH (n:{kind.label}) WHERE n._doc IS NOT NULL RETURN count(n) AS n")
            return int(rows[0]["n"])
        return len(self.find(collection, filter))

    def delete(self, collection: str, filter: dict) -> int:
        """Delete matching documents: their nodes lose their document and their own relationships; a node nothing
        points to any more is removed."""
        kind = self._kind(collection)
        keys = [kind.key_of(d[kind.id_field]) for d in self.find(collection, filter, projection=[kind.id_field])
                if d.get(kind.id_field) is not None]
        if not keys:
            return 0
        with self._write_lock:
            self._run_write(lambda tx: self._delete_nodes(tx, kind, keys), "deleting")
        return len(keys)

    def liveness_test(self) -> bool:
        """True when the server answers a query; never raises."""
        try:
            return self._read("RETURN 1 AS ok")[0]["ok"] == 1
        except Exception:
            return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._driver.close()

    # -- reading -----------------------------------------------------------------------------------------------
    def _kind(self, collection: str) -> Any:
        kind = NODE_KINDS.get(collection)
        if kind is None:
            raise StoreError(f"unknown collection {collection!r}; the stores hold {list(COLLECTIONS)}")
        return kind

    def _candidates(self, collection: str, flt: dict | None) -> list[dict]:
        """The documents a filter may match: by key or an indexed property when the filter pins one."""
        from flowcept_neo4j.graph import unpack

        kind = self._kind(collection)
        pinned = equality_keys(flt, (kind.id_field, *PUSHDOWN.get(collection, ())))
        if kind.id_field in pinned:
            keys = [kind.key_of(v) for v in pinned[kind.id_field] if v is not None]
            rows = self._read(f"UNWIND $keys AS k MATCH (n:{kind.label} {{{kind.key}: k}}) "
                              "WHERE n._doc IS NOT NULL RETURN n._doc AS doc", keys=sorted(set(keys)))
        else:
            field = next((f for f in PUSHDOWN.get(collection, ()) if f in pinned
                          and all(isinstance(v, str) for v in pinned[f])), None)
            if field is not None:
                rows = self._read(f"MATCH (n:{kind.label}) WHERE n.{field} IN $values AND n._doc IS NOT NULL "
                                  "RETURN n._doc AS doc", values=pinned[field])
            else:
                rows = self._read(f"MATCH (n:{kind.label}) WHERE n._doc IS NOT NULL RETURN n._doc AS doc")
        return [unpack(r["doc"]) for r in rows]

    # -- lineage -----------------------------------------------------------------------------------------------
    def tasks_by_entity(self, role: str, entity_ids: list[str]) -> list[tuple[str, dict]]:
        """(entity_id, task document) for each stored task that used (role "used") or generated ("generated") one
        of the entities: one graph lookup along USED / WAS_GENERATED_BY."""
        from flowcept_neo4j.graph import unpack

        if role == "used":
            pattern = "(e)<-[:USED]-(n:Task)"
        elif role == "generated":
            pattern = "(e)-[:WAS_GENERATED_BY]->(n:Task)"
        else:
            raise StoreError(f"role={role!r}: expected 'used' or 'generated'")
        rows = self._read(f"UNWIND $eids AS eid MATCH (e:Entity {{entity_id: eid}}) MATCH {pattern} "
                          "WHERE n._doc IS NOT NULL "
                          "RETURN DISTINCT eid, n.task_id AS id, n._doc AS doc", eids=list(entity_ids))
        seen: set[tuple[str, str]] = set()
        out = []
        for r in rows:
            if (r["eid"], r["id"]) not in seen:
                seen.add((r["eid"], r["id"]))
                out.append((r["eid"], unpack(r["doc"])))
        return out

    def get_lineage(self, task_id: str, direction: str = "upstream", max_depth: int | None = None) -> dict:
        """The lineage of task_id (shape: flowcept_core.lineage), found along the graph's paths: parents by
        WAS_STARTED_BY, data flow by USED and WAS_GENERATED_BY; the same answer as every other store."""
        from flowcept_core.plugin import lineage_walk

        return lineage_walk(_GraphView(self), task_id, direction, max_depth)


class _Conflict(Exception):
    """A write transaction met a node another writer created meanwhile (rolled back; retried by upsert)."""


class _GraphView:
    """What the lineage walk reads of this store: find (ids and parent_task_id are index lookups) and
    tasks_by_entity (graph paths); no get_lineage, so the walk does not hand the query back."""

    def __init__(self, store: Neo4jStore):
        self.find = store.find
        self.tasks_by_entity = store.tasks_by_entity
