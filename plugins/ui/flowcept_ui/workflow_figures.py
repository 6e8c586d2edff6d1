"""A workflow's tasks read into columns (``flowcept_ui.analysis.Columns``) and the workflow page's figures kept.

``WorkflowFigures`` is a part of ``flowcept_ui.data.Browser``. The figures are computed in one pass over the
workflow's tasks and kept while the workflow's task count is unchanged; when it changed, only the new tasks and those
not finished yet are read (on LMDB undecoded, from the index's last chunks). The live view's updates compute only the
counts; the durations, telemetry and trends follow in a background computation at most every FULL_EVERY seconds.
"""

from __future__ import annotations

import functools
import logging
import operator
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from flowcept_core.plugin import open_store
from flowcept_ui import kept as kept_on_disk
from flowcept_ui.analysis import TASK_FIELDS, Columns

try:  # undecoded reads of the LMDB store (the store plugin may be absent)
    from flowcept_lmdb import _query as lmdb_query
except ImportError:  # pragma: no cover - flowcept installs flowcept-lmdb
    lmdb_query = None

__all__ = ["WorkflowFigures", "FULL_EVERY"]

log = logging.getLogger("flowcept_ui")

_first, _second = operator.itemgetter(0), operator.itemgetter(1)


def _exact_key(found: tuple[bytes, bytes]) -> bool:
    """True when an LMDB document key is a string id's own UTF-8 (see flowcept_lmdb._codec)."""
    return 0 < len(found[0]) and found[0][0] < 0xFD


_CACHE_SIZE = 16  # workflows whose figures are kept
FULL_EVERY = 2.0  # seconds: the live view's updates compute the durations, telemetry and trends at most this often
KEEP_AFTER = 1.0  # seconds after a workflow's figures were computed from scratch: they are kept on disk


def _count_key(collection: str, flt: dict) -> tuple[str, str]:
    return collection, repr(sorted(flt.items()))


class WorkflowFigures:
    """The figures of the workflows viewed, kept per workflow (see ``flowcept_ui.data.Browser``)."""

    settings: Any
    _lock: threading.Lock
    _figures: OrderedDict[str, tuple]
    _computing: dict[str, threading.Lock]
    _counts: dict[tuple[str, str], tuple[float, int]]
    _refreshing: dict[str, threading.Thread]
    _changed: set[str]  # workflows whose held unfinished tasks changed in the store (see Browser.state)

    def figures(self, workflow_id: str, light: bool = False) -> dict:
        """The workflow page's figures (analysis.Columns.figures), kept while the task count is unchanged; when it
        changed, only the new tasks and those not finished yet are read and added to the kept columns.

        light (the live view's updates): only the counts, errors and bounds are computed again (a few C passes over
        the columns); the durations, telemetry and trends stay those of the last full computation, the figures say
        ``"stale": true`` and a full computation follows in the background, FULL_EVERY seconds after the last."""
        with self._lock:
            computing = self._computing.setdefault(workflow_id, threading.Lock())
        with computing:
            lmdb = self._lmdb()
            count = self.count("tasks", {"workflow_id": workflow_id})
            now = time.monotonic()
            with self._lock:
                kept = self._figures.get(workflow_id)
                changed = workflow_id in self._changed  # held tasks changed (the live view saw it): read again
                self._changed.discard(workflow_id)
                if kept is not None and kept[0] == count and not changed and (light or not kept[1].get("stale")):
                    self._figures.move_to_end(workflow_id)
                    return kept[1]
            cols = kept[2] if kept is not None else None
            at = None  # the stamp of the tasks read from scratch (LMDB: their rows and figures are kept on disk)
            if cols is None:
                tel_ref = lmdb_query.snapshot_ref if lmdb is not None else None
                if lmdb is not None and count >= kept_on_disk.KEEP_MIN_TASKS:
                    at = kept_on_disk.stamp(lmdb, workflow_id)
                    loaded = kept_on_disk.load(lmdb, workflow_id, at, tel_ref) if at is not None else None
                    if loaded is not None:
                        loaded[1]["revision"] = loaded[0].revision
                        return self._keep(workflow_id, len(loaded[0]), loaded[1], loaded[0], now)
                cols = Columns(tel_ref=tel_ref)
                cols.generation = secrets.token_hex(4)
            resolve = functools.partial(lmdb_query.read_snapshots, lmdb) if lmdb is not None else None
            if kept is None or kept[0] != count or changed:
                self._read(lmdb, workflow_id, cols, count)
                if kept is not None and len(cols) > self._recount(workflow_id):
                    # tasks left the workflow (deleted, or moved to another): its rows are read anew
                    cols = Columns(tel_ref=cols.tel_ref)
                    cols.generation = secrets.token_hex(4)
                    self._read(lmdb, workflow_id, cols, count)
                    kept = None
            if light and kept is not None:
                figures, full_at = cols.light_figures(kept[1]), kept[3]
                self._full_later(workflow_id, full_at + FULL_EVERY)
            else:
                figures, full_at = cols.figures(resolve), now
            figures["generation"], figures["revision"] = cols.generation, cols.revision
            if at is not None and kept is None and len(cols) >= kept_on_disk.KEEP_MIN_TASKS:
                rows = cols.copy()
                rows.keys, rows.last_chunk = set(cols.keys), cols.last_chunk
                self._save_later(lmdb, workflow_id, at, rows, figures)
            return self._keep(workflow_id, count, figures, cols, full_at)

    def _keep(self, workflow_id: str, count: int, figures: dict, cols: Columns, full_at: float) -> dict:
        with self._lock:
            self._figures[workflow_id] = (count, figures, cols, full_at)
            self._figures.move_to_end(workflow_id)
            while len(self._figures) > _CACHE_SIZE:
                self._figures.popitem(last=False)
            if len(self._computing) > 4 * _CACHE_SIZE:
                self._computing = {k: v for k, v in self._computing.items() if k in self._figures}
        return figures

    def _save_later(self, store: Any, workflow_id: str, at: bytes, rows: Columns, figures: dict) -> None:
        """Keep the rows and figures on disk (flowcept_ui.kept) in a thread, KEEP_AFTER seconds later: the page's
        answers and its next requests go first."""

        def run() -> None:
            try:
                time.sleep(KEEP_AFTER)
                kept_on_disk.save(store, workflow_id, at, rows, figures)
            except Exception as e:  # the store closed meanwhile: computed again next time
                log.debug("flowcept ui: keeping the figures of %s: %s", workflow_id, e)

        threading.Thread(target=run, name="flowcept-ui-keep", daemon=True).start()

    def _read(self, lmdb: Any, workflow_id: str, cols: Columns, count: int) -> None:
        if lmdb is not None:
            self._read_lmdb(lmdb, workflow_id, cols, count)
        else:
            self._read_store(workflow_id, cols)

    def _recount(self, workflow_id: str) -> int:
        """The workflow's task count, read now (not the one reused for COUNT_TTL)."""
        self._counts.pop(_count_key("tasks", {"workflow_id": workflow_id}), None)
        return self.count("tasks", {"workflow_id": workflow_id})

    def _full_later(self, workflow_id: str, when: float, again: bool = False) -> None:
        """Compute the workflow's figures in full at monotonic time ``when`` (in a thread; one per workflow; again:
        called from that thread, which hands over to the new one)."""
        with self._lock:
            if workflow_id in self._refreshing and not again:
                return

            def run() -> None:
                try:
                    time.sleep(max(0.0, when - time.monotonic()))
                    self._full_aside(workflow_id)
                except Exception as e:  # the store went away: the next page load or update says so
                    log.debug("flowcept ui: computing the figures of %s: %s", workflow_id, e)
                finally:
                    with self._lock:
                        if self._refreshing.get(workflow_id) is thread:
                            del self._refreshing[workflow_id]

            thread = threading.Thread(target=run, name="flowcept-ui-figures", daemon=True)
            self._refreshing[workflow_id] = thread
        thread.start()

    def _full_aside(self, workflow_id: str) -> None:
        """The full figures of the kept rows, computed on a copy of them outside the workflow's lock (updates and
        task-list pages go on meanwhile); rows added in the meantime are counted in, and computed in full later."""
        with self._lock:
            computing = self._computing.get(workflow_id)
        if computing is None:
            return
        with computing:
            with self._lock:
                kept = self._figures.get(workflow_id)
            if kept is None or not kept[1].get("stale"):
                return
            cols, count, rows = kept[2], kept[0], kept[2].copy()
        lmdb = self._lmdb()
        resolve = functools.partial(lmdb_query.read_snapshots, lmdb) if lmdb is not None else None
        figures, full_at = rows.figures(resolve), time.monotonic()
        figures["generation"], figures["revision"] = rows.generation, rows.revision
        with computing:
            with self._lock:
                now = self._figures.get(workflow_id)
            if now is None or now[2] is not cols:
                return  # read anew meanwhile
            if len(cols) != len(rows) or cols.revision != rows.revision:
                # rows added or changed since the copy: their counts on top, the rest again later
                figures, count = cols.light_figures(figures), now[0]
                figures["generation"], figures["revision"] = cols.generation, cols.revision
                self._full_later(workflow_id, full_at + FULL_EVERY, again=True)
            with self._lock:
                self._figures[workflow_id] = (count, figures, cols, full_at)

    def _lmdb(self) -> Any:
        """The LMDB store when it is the read store and offers undecoded reads, else None."""
        if self.store_name() != "lmdb" or lmdb_query is None:
            return None
        store = open_store(self.settings, "lmdb")
        return store if hasattr(store, "_read") and hasattr(store, "_env") else None

    def _read_lmdb(self, store: Any, workflow_id: str, cols: Columns, count: int) -> None:
        """Read the workflow's tasks not in cols yet, and again those not finished, undecoded first; decode them
        without their telemetry snapshots (cols resolves the few it draws). After the first read only the index's
        last chunks are looked at: new tasks are listed there."""
        from flowcept_lmdb._codec import doc_key

        again = [doc_key("tasks", "task_id", tid) for tid in cols.unfinished()]
        if not cols.keys:
            cols.last_chunk = lmdb_query.last_chunk(store, "tasks", "workflow_id", workflow_id)  # read first
            found = lmdb_query.indexed_raw(store, "tasks", "workflow_id", workflow_id)
        else:
            found, last = lmdb_query.indexed_raw_from(
                store, "tasks", "workflow_id", workflow_id, cols.keys, max(0, cols.last_chunk)
            )
            if len(cols.keys) + len(found) < count:  # keys landed in an earlier chunk (after a removal): all
                found = lmdb_query.indexed_raw(store, "tasks", "workflow_id", workflow_id, skip=cols.keys)
            cols.last_chunk = max(cols.last_chunk, last)
        if again:
            found = found + lmdb_query.raw_by_keys(store, "tasks", again)
        if found:
            fresh = not cols.keys and not again  # the first read: every key once
            cols.keys.update(map(_first, found))
            cols.add(lmdb_query.lean_unpack(list(map(_second, found))), unique=fresh)
            if fresh and _exact_key(found[-1]):  # in key order, each key its id's UTF-8 (others sort last): id order
                cols.id_sorted = len(cols)

    def _read_store(self, workflow_id: str, cols: Columns) -> None:
        """Any store: every task the first time (projected), then the new and unfinished ones by id."""
        if not len(cols):
            cols.add(self._find({"workflow_id": workflow_id}, projection=TASK_FIELDS))
            return
        ids = self._find({"workflow_id": workflow_id}, projection=["task_id"])
        wanted = [d["task_id"] for d in ids if d.get("task_id") not in cols.row] + cols.unfinished()
        if wanted:
            cols.add(self._find({"task_id": {"$in": wanted}}, projection=TASK_FIELDS))

    def warm(self, workflows: int = 3) -> None:
        """Compute the figures of the most recently started workflows (called in the background at server start,
        so the first view of a large recent workflow does not wait for its pass over the tasks)."""
        for doc in self._find(
            {}, sort=[("started_at", -1)], limit=workflows, projection=["workflow_id"], collection="workflows"
        ):
            self.figures(doc["workflow_id"])
