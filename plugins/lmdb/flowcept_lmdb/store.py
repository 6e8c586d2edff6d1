"""LMDBStore: the embedded document store (``databases.lmdb``), following flowcept_core.hookspecs.Store.

Layout inside the environment at databases.lmdb.path (one per directory per process, see _env):
  sub-database ``tasks`` / ``workflows`` / ``objects`` / ``agents``: id (UTF-8) -> msgpack(document)
  sub-database ``ix:<collection>:<field>``: posting lists, field value (UTF-8) -> ids of the documents holding it,
  in chunks (see _postings); for tasks: workflow_id, campaign_id, parent_task_id, activity_id; for workflows:
  campaign_id, parent_workflow_id.
  sub-database ``snap``: telemetry snapshots, stored once and referenced by the task documents (see _snapshots).
An upsert is one write transaction: read the stored documents, merge (flowcept_core.documents.merge_documents), write
them and their changed index entries, commit; any failure aborts it, so nothing of the call is kept.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

import lmdb

from flowcept_core.plugin import (
    COLLECTIONS,
    ID_FIELDS,
    StoreError,
    StoreUnavailableError,
    compile_filter,
    equality_keys,
    gc_paused,
    project,
)
from flowcept_lmdb import _postings as postings
from flowcept_lmdb._batch import write_batch
from flowcept_lmdb._codec import MAX_KEY, doc_key, index_keys, is_exact, lookup_key, pack, unpack, unpack_all
from flowcept_lmdb._config import prepare_directory, read_config
from flowcept_lmdb._derived import Derived
from flowcept_lmdb._encoded import whole_document, write_json_batch
from flowcept_lmdb._env import SharedEnv, acquire_env, reacquire_after_fork, release_env
from flowcept_lmdb._lineage import Indexer, note_written, tasks_by_entity
from flowcept_lmdb._query import fast_predicate, sort_and_limit
from flowcept_lmdb._snapshots import reading

__all__ = ["LMDBStore"]

_STORE_FIELDS = ("_id",)  # store-specific fields never kept nor returned (e.g. from a MongoDB export)
_TEMPORARY = (lmdb.DiskError, lmdb.ReadersFullError, lmdb.TlsFullError, lmdb.MemoryError, lmdb.LockError)
_MAX_WRITE_TRIES = 64
_first, _second = itemgetter(0), itemgetter(1)  # (key, value) -> key / value, in C
filter_ = filter  # the builtin: methods below have a parameter named filter (the Store API)


class LMDBStore:
    """Documents in an LMDB environment; safe for several threads here and readers plus writers in other processes.

    ``stats`` counts work done, for tests and tuning: ``decoded`` documents unpacked, ``index_reads`` queries
    answered from an index or the id, ``full_scans`` queries that read the whole collection.

    Example::

        store = LMDBStore(settings)            # databases.lmdb.path must be a writable directory (created if missing)
        store.upsert("tasks", [{"task_id": "t1", "workflow_id": "w", "status": "RUNNING"}])
        store.find("tasks", {"workflow_id": "w"}, projection=["task_id"])   # -> [{"task_id": "t1"}]
    """

    json_runs = True  # upsert_json takes runs (see flowcept_core.direct_columns)

    name = "lmdb"

    def __init__(self, settings: Any) -> None:
        self._cfg = read_config(settings)
        prepare_directory(self._cfg)
        self._shared: SharedEnv | None = acquire_env(self._cfg)
        self._close_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.stats = {"decoded": 0, "index_reads": 0, "full_scans": 0}
        self.lineage_indexer = Indexer(self)  # the lineage value index, caught up in the background when idle
        self.derived = Derived(self)  # data derived from a workflow's tasks, kept beside the store (see _derived)
        self.lineage_indexer.start()

    def upsert(self, collection: str, docs: list[dict]) -> None:
        """Merge each doc into the stored one with the same id; several docs with one id merge in order.

        All or nothing: StoreUnavailableError (map beyond databases.lmdb.max_map_size, disk full) or StoreError
        (bad document) leaves the store as it was.
        """
        self._check(collection)
        id_field = ID_FIELDS[collection]
        keys, clean = [], []
        for i, d in enumerate(docs):
            if type(d) is not dict or "_id" in d:  # copy only when a store field goes, or to get a plain dict
                if not isinstance(d, dict):
                    raise StoreError(f"upsert({collection!r}): item {i} is a {type(d).__name__}, not a dict")
                d = {k: v for k, v in d.items() if k not in _STORE_FIELDS}
            v = d.get(id_field)
            if not (type(v) is str and 0 < len(key := v.encode("utf-8", "surrogatepass")) <= MAX_KEY):
                key = doc_key(collection, id_field, v)  # the common case is inlined above
            keys.append(key)
            clean.append(d)
        batch = dict(zip(keys, clean, strict=True))  # key -> doc, in the order ids first appear
        more: dict[bytes, list[dict]] = {}  # key -> every doc with that id, in order, when there are several
        if len(batch) < len(keys):
            for key, d in zip(keys, clean, strict=True):
                more.setdefault(key, []).append(d)
            more = {key: ds for key, ds in more.items() if len(ds) > 1}
        if batch:
            self._write(lambda txn: self._upsert_in(txn, collection, batch, more))

    def upsert_json(self, collection: str, docs: list[dict], heads: list[bytes | memoryview], runs: Any = ()) -> None:
        """upsert(collection, docs), given each document's JSON (orjson) without its telemetry snapshots and
        registered_at and without its closing brace (``head``: the default pipeline encodes a task once for the
        buffer file and the store): a document whose id is not stored yet is kept as that JSON with those fields
        appended (see _encoded). runs: (shared, keys, heads) of documents that share every other field (shared, no
        id), given by their ids' UTF-8 (keys, at most MAX_KEY bytes each) and heads: written in the same transaction."""
        self._check(collection)
        id_field = ID_FIELDS[collection]
        keys = []
        for d in docs:
            v = d.get(id_field)
            if not (type(v) is str and 0 < len(key := v.encode("utf-8", "surrogatepass")) <= MAX_KEY):
                key = doc_key(collection, id_field, v)
            keys.append(key)
        runs = [r for r in runs if r[1]]
        if keys or runs:
            self._write(lambda txn: self._upsert_json_in(txn, collection, keys, docs, heads, runs))

    def _upsert_json_in(self, txn: Any, collection: str, keys: list, docs: list, heads: list, runs: list) -> None:
        shared = self._env()
        db, indexes = shared.docs[collection], shared.indexes[collection]
        with gc_paused():
            again = write_json_batch(txn, db, indexes, keys, docs, heads, pack, collection, shared.snapshots, runs)
        if collection == "tasks":
            note_written(txn, shared.lineage, keys + [k for r in runs for k in r[1]] if runs else keys)
        for key, doc, head in again:  # stored before, or an id given twice: merged in order onto what is stored
            self._upsert_in(txn, collection, {key: whole_document(doc, head)}, {})

    def find(
        self, collection: str, filter: dict | None = None, projection: Any = None, limit: int = 0, sort: Any = None
    ) -> list[dict]:
        """Documents matching filter, sorted, limited, then projected (flowcept_core.filters semantics)."""
        self._check(collection)
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise StoreError(f"find({collection!r}): limit={limit!r} must be an integer >= 0")
        if limit and not sort:  # read only until limit documents match
            docs = [d for _, d in self._read(lambda txn: list(self._matching(txn, collection, filter, limit)))]
        else:
            predicate = compile_filter(filter)  # validates the filter before anything is read
            docs = self._read(lambda txn: self._find_in(txn, collection, filter, predicate, sort, limit or 0))
        if projection:
            docs = [project(d, projection) for d in docs]
        return docs

    def count(self, collection: str, filter: dict | None = None) -> int:
        """How many documents match filter (an empty filter reads only the collection's entry count)."""
        self._check(collection)
        if not filter:
            shared = self._env()
            return self._read(lambda txn: int(txn.stat(shared.docs[collection])["entries"]))
        compile_filter(filter)  # validates it

        def count_in(txn: Any) -> int:
            keys, exact = self._candidate_keys(txn, collection, filter)
            if exact:  # the index answers alone: every candidate matches, nothing to decode
                with self._stats_lock:
                    self.stats["index_reads"] += 1
                return len(keys)  # type: ignore[arg-type]
            return sum(1 for _ in self._matching(txn, collection, filter))

        return self._read(count_in)

    def delete(self, collection: str, filter: dict) -> int:
        """Delete the documents matching filter (and their index entries) in one transaction; returns how many."""
        self._check(collection)
        if not isinstance(filter, dict):
            raise StoreError(f"delete({collection!r}): filter={filter!r} must be a dict ({{}} deletes everything)")
        return self._write(lambda txn: self._delete_in(txn, collection, filter))

    def tasks_by_entity(self, role: str, entity_ids: list[str]) -> list[tuple[str, dict]]:
        """(entity id, task) for each task whose used / generated (role) holds one of entity_ids, from the value
        index, brought up to date first (flowcept_core.lineage's store protocol; see _lineage)."""
        return tasks_by_entity(self, role, entity_ids)

    def liveness_test(self) -> bool:
        """True when the environment answers a read transaction; never raises."""
        try:
            return self._read(lambda txn: txn.stat(self._env().docs["tasks"]) is not None)
        except Exception:
            return False

    def sync(self) -> None:
        """Make every committed write durable now (commits do not sync the metadata page; see _env)."""
        if (shared := self._shared) is not None:
            shared.sync()

    def close(self) -> None:
        """Release this store's hold on the environment (the last holder closes it), durable; idempotent."""
        self.lineage_indexer.stop()
        with self._close_lock:
            shared, self._shared = self._shared, None
        if shared is not None:
            shared.sync(quiet=True)
            release_env(shared)

    def __repr__(self) -> str:
        return f"LMDBStore(path={self._cfg.path!r})"

    def _env(self) -> SharedEnv:
        shared = self._shared
        if shared is None:
            raise StoreError(f"the lmdb store at databases.lmdb.path={self._cfg.raw_path!r} is closed")
        if shared.key[0] != os.getpid():  # used after fork: LMDB forbids the parent's environment here
            with self._close_lock:
                if self._shared is not None and self._shared.key[0] != os.getpid():
                    self._shared = reacquire_after_fork(self._shared)
                shared = self._shared
            if shared is None:
                raise StoreError(f"the lmdb store at databases.lmdb.path={self._cfg.raw_path!r} is closed")
        return shared

    def _read(self, fn: Callable[[Any], Any]) -> Any:
        shared = self._env()
        for _ in range(_MAX_WRITE_TRIES):
            try:
                # buffers=False: keys and values come as bytes; decoding bytes is faster than decoding the
                # memoryviews buffers=True gives, which more than pays for the copy.
                with shared.gate.shared(), shared.env.begin(buffers=False) as txn, \
                        reading(txn, shared.snapshots, shared.snapshot_cache):
                    return fn(txn)
            except lmdb.MapResizedError:
                shared.adopt_resize()
            except lmdb.Error as e:
                raise self._translate(e, "read") from None
        raise StoreUnavailableError(f"databases.lmdb.path={self._cfg.raw_path!r}: the map keeps being resized")

    def _write(self, fn: Callable[[Any], Any]) -> Any:
        shared = self._env()
        for _ in range(_MAX_WRITE_TRIES):
            seen = shared.map_size()
            try:
                with shared.write_lock, shared.gate.shared():
                    with shared.env.begin(write=True) as txn, reading(txn, shared.snapshots, shared.snapshot_cache):
                        result = fn(txn)
                    shared.resident.after_write()  # committed: release mapped pages once the file grew enough
                    return result
            except lmdb.MapFullError:
                shared.grow(seen)
            except lmdb.MapResizedError:
                shared.adopt_resize()
            except lmdb.Error as e:
                raise self._translate(e, "write") from None
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StoreUnavailableError(
                        f"databases.lmdb.path={self._cfg.raw_path!r}: disk full ({e}); nothing of this call was written"
                    ) from None
                raise StoreError(f"databases.lmdb.path={self._cfg.raw_path!r}: write failed ({e})") from None
        raise StoreUnavailableError(f"databases.lmdb.path={self._cfg.raw_path!r}: the map could not be grown")

    def _translate(self, e: Exception, what: str) -> StoreError:
        where = f"databases.lmdb.path={self._cfg.raw_path!r}"
        text = f"{where}: {what} failed ({type(e).__name__}: {e})"
        if isinstance(e, _TEMPORARY) or "No space left" in str(e):
            return StoreUnavailableError(text + "; nothing of this call was written" if what == "write" else text)
        return StoreError(text)

    # -- inside a transaction ---------------------------------------------------------------------------------------

    def _upsert_in(self, txn: Any, collection: str, batch: dict[bytes, dict], more: dict[bytes, list[dict]]) -> None:
        """Merge and write one upsert call's documents and their index entries (see _batch.write_batch)."""
        shared = self._env()
        with gc_paused():  # see gc_paused: the decoded and merged documents are acyclic temporaries
            # pack is passed as this module's global, looked up now: tests replace it to fail mid-transaction.
            write_batch(txn, shared.docs[collection], shared.indexes[collection], batch, more, pack, collection,
                        shared.snapshots)
        if collection == "tasks":
            note_written(txn, shared.lineage, list(batch))

    def _delete_in(self, txn: Any, collection: str, filter: dict) -> int:
        shared = self._env()
        db, indexes = shared.docs[collection], shared.indexes[collection]
        doomed = list(self._matching(txn, collection, filter))
        for field, idx in indexes.items():
            gone: dict[bytes, set[bytes]] = {}
            for key, doc in doomed:
                for ik in index_keys(doc, field):
                    gone.setdefault(ik, set()).add(key)
            postings.remove(txn, idx, gone)
        for key, _ in doomed:
            txn.delete(key, db=db)
        return len(doomed)

    def _find_in(
        self, txn: Any, collection: str, filter: dict | None, predicate: Callable[[dict], bool], sort: Any, limit: int
    ) -> list[dict]:
        """find's documents before projection: fetched and decoded in C loops (getmulti / cursor iteration and
        map(unpack)); only the filter and the sort keys run per document in Python."""
        with gc_paused(promote=True):  # see gc_paused: the result is a large acyclic tree
            db = self._env().docs[collection]
            keys, exact = self._candidate_keys(txn, collection, filter)
            if keys is None:  # full scan, in key order; the matches stream into the sort (only limit kept with one)
                decoded = int(txn.stat(db)["entries"])
                check = fast_predicate(filter, predicate)
                matches: Iterable[dict] = filter_(check, map(unpack, txn.cursor(db=db).iternext(keys=False)))
            else:
                found = txn.cursor(db=db).getmulti(keys) if keys else []
                decoded = len(found)
                matches = unpack_all(list(map(_second, found)))
                if not exact:
                    matches = [d for d in matches if predicate(d)]
            try:
                if sort:
                    return sort_and_limit(matches, sort, limit)
                return matches if isinstance(matches, list) else list(matches)
            finally:
                with self._stats_lock:
                    self.stats["decoded"] += decoded
                    self.stats["full_scans" if keys is None else "index_reads"] += 1

    def _matching(self, txn: Any, collection: str, filter: dict | None, stop: int = 0) -> Iterator[tuple[bytes, dict]]:
        """(key, document) pairs matching filter: through the id or an index when the filter pins one, else a scan."""
        predicate = compile_filter(filter)  # validates the filter before anything is read
        shared = self._env()
        db = shared.docs[collection]
        keys, exact = self._candidate_keys(txn, collection, filter)
        if exact:
            predicate = _always
        decoded = found = 0
        try:
            if keys is None:
                source: Iterator[tuple[Any, Any]] = iter(txn.cursor(db=db))
            else:
                source = ((k, txn.get(k, db=db)) for k in keys)
            for key, raw in source:
                if raw is None:
                    continue
                decoded += 1
                doc = unpack(raw)
                if predicate(doc):
                    yield bytes(key), doc
                    found += 1
                    if stop and found >= stop:
                        return
        finally:
            with self._stats_lock:
                self.stats["decoded"] += decoded
                self.stats["full_scans" if keys is None else "index_reads"] += 1

    def _candidate_keys(self, txn: Any, collection: str, filter: dict | None) -> tuple[list[bytes] | None, bool]:
        """(sorted keys of the only documents that can match, or None when no id or indexed field is pinned;
        whether those documents match without evaluating the filter)."""
        id_field = ID_FIELDS[collection]
        indexes = self._env().indexes[collection]
        pinned = equality_keys(filter, (id_field, *indexes))
        usable = {f: vs for f, vs in pinned.items() if vs and all(lookup_key(v) is not None for v in vs)}
        if id_field in usable:
            usable = {id_field: usable[id_field]}
            docs = txn.cursor(db=self._env().docs[collection])
            present = sorted(k for k in {lookup_key(v) for v in usable[id_field]} if docs.set_key(k))  # type: ignore
            return present, _exactly(filter, usable)
        if len(usable) == 1 and id_field not in usable:
            ((field, values),) = usable.items()
            iks = {lookup_key(v) for v in values}
            if len(iks) == 1:  # one value: its posting list is the answer, unique and in key order
                ids = postings.lookup(txn, indexes[field], iks.pop())
                return ids, _exactly(filter, usable) if ids else True
        result: set[bytes] | None = None
        for field, values in usable.items():
            found: set[bytes] = set()
            for ik in {lookup_key(v) for v in values}:
                found.update(postings.lookup(txn, indexes[field], ik))
            result = found if result is None else result & found
            if not result:
                return [], True
        if result is None:
            return None, False
        return sorted(result), _exactly(filter, usable)

    @staticmethod
    def _check(collection: str) -> None:
        if collection not in COLLECTIONS:
            raise StoreError(f"collection={collection!r} is not one of {list(COLLECTIONS)}")


def _always(doc: dict) -> bool:
    return True


def _exactly(filter: dict | None, used: dict[str, list]) -> bool:
    """True when filter is nothing but the pins the candidates came from, all on plain strings: then the index hit
    is the answer (a number, a long string or a list pin is re-checked against the decoded document)."""
    if not isinstance(filter, dict) or set(filter) != set(used):
        return False
    for cond in filter.values():
        if isinstance(cond, dict):
            cond = cond.get("$eq", cond.get("$in")) if len(cond) == 1 else None
        values = cond if isinstance(cond, list) else [cond]
        if not values or not all(is_exact(v) for v in values):
            return False
    return True
