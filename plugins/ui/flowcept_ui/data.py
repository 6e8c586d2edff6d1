"""What the API answers, read through the public query API (flowcept_core.query.DBAPI) of the enabled store.

Read-only: nothing here writes. Documents come back as the store holds them (secrets were masked at capture).
The workflow page's figures are computed in one pass over the workflow's tasks and kept while the workflow's task
count is unchanged (a count is an index read on LMDB and MongoDB), so a second view or the live view's refresh of
an unchanged workflow reads nothing more.
"""

from __future__ import annotations

import functools
import logging
import operator
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from flowcept_core.plugin import DBAPI, enabled_store_names, open_store
from flowcept_ui import params as p
from flowcept_ui.analysis import TASK_FIELDS, Columns
from flowcept_ui.lineage import task_lineage

try:  # undecoded reads of the LMDB store (the store plugin may be absent)
    from flowcept_lmdb import _query as lmdb_query
except ImportError:  # pragma: no cover - flowcept installs flowcept-lmdb
    lmdb_query = None

__all__ = ["Browser"]

log = logging.getLogger("flowcept_ui")

_first, _second = operator.itemgetter(0), operator.itemgetter(1)


def _exact_key(found: tuple[bytes, bytes]) -> bool:
    """True when an LMDB document key is a string id's own UTF-8 (see flowcept_lmdb._codec)."""
    return 0 < len(found[0]) and found[0][0] < 0xFD


_CACHE_SIZE = 16  # workflows whose figures are kept
EXACT_TOTAL_MAX = 20_000  # a filtered task list of a larger workflow is counted only on indexed fields
_INDEXED = {"workflow_id", "activity_id", "parent_task_id"}  # index reads on LMDB and MongoDB
FULL_EVERY = 2.0  # seconds: the live view's updates compute the durations, telemetry and trends at most this often
UPDATE_ROWS = 2000  # new tasks per live-view update answer at most
COUNT_TTL = 0.25  # seconds a count is reused (below the live view's poll interval, so no change is missed)


class Browser:
    """The API's answers over one settings object's read store.

    Example::

        b = Browser(settings)
        b.workflows({"name": "train"})          # {"items": [...], "total": ..., "limit": 50, "offset": 0}
        b.workflow(workflow_id)                 # the record, counts by status and activity, duration statistics
    """

    def __init__(self, settings: Any):
        self.settings = settings
        self.db = DBAPI(settings)
        self._lock = threading.Lock()
        self._figures: OrderedDict[str, tuple[int, dict]] = OrderedDict()
        self._computing: dict[str, threading.Lock] = {}  # one pass per workflow at a time; others wait for it
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}
        self._refreshing: dict[str, threading.Thread] = {}  # workflow -> the thread computing its full figures

    # -- the store ---------------------------------------------------------------------------------------------------

    def store_name(self) -> str:
        names = enabled_store_names(self.settings)
        return names[0] if names else "none"

    def count(self, collection: str, flt: dict) -> int:
        """How many documents match (Store.count of the read store: an index read for an id or indexed field).

        A count is reused for COUNT_TTL seconds: the calls one page view makes (summary, charts, task list) and the
        live view's polls read the index once."""
        key = _count_key(collection, flt)
        now = time.monotonic()
        kept = self._counts.get(key)
        if kept is not None and now - kept[0] < COUNT_TTL:
            return kept[1]
        n = None
        if len(flt) == 1 and self._lmdb() is not None:  # one indexed field: the index's chunk headers say it
            ((field, value),) = flt.items()
            n = lmdb_query.indexed_count(self._lmdb(), collection, field, value)
        if n is None:
            n = int(open_store(self.settings, enabled_store_names(self.settings)[0]).count(collection, flt))
        if len(self._counts) > 1000:
            self._counts.clear()
        self._counts[key] = (now, n)
        return n

    def _find(
        self, flt: dict, sort: list | None = None, limit: int = 0, projection: Any = None, collection: str = "tasks"
    ) -> list[dict]:
        if collection == "tasks" and sort == [("task_id", 1)] and self.store_name() == "lmdb":
            sort = None  # LMDB hands an index's documents over in id order already; sorting would read them all
        return self.db.query(flt, projection=projection, limit=limit, sort=sort, collection=collection) or []

    # -- workflows ---------------------------------------------------------------------------------------------------

    def workflows(self, q: Mapping[str, str]) -> dict:
        """Workflows matching name (substring, any case), user, campaign_id and a start-time range, paginated."""
        limit, offset = p.page(q)
        flt: dict[str, Any] = {}
        name = p.text(q, "name")
        if name:
            flt["name"] = {"$regex": re.escape(name), "$options": "i"}
        for key in ("user", "campaign_id"):
            value = p.text(q, key)
            if value:
                flt[key] = value
        when = p.time_range(q, "started_at", "since", "until")
        if when:
            flt["started_at"] = when
        sort = p.sort_spec(q, p.WORKFLOW_SORT_FIELDS, "-started_at")
        total = self.count("workflows", flt)
        docs = self._find(flt, sort=sort, limit=offset + limit, collection="workflows")[offset:]
        items = [_workflow_row(d, self.count("tasks", {"workflow_id": d["workflow_id"]})) for d in docs]
        return _paged(items, total, limit, offset)

    def workflow_record(self, workflow_id: str) -> dict:
        docs = self._find({"workflow_id": workflow_id}, limit=1, collection="workflows")
        if docs:
            return docs[0]
        if self.count("tasks", {"workflow_id": workflow_id}):
            return {"workflow_id": workflow_id}  # tasks stored before (or without) their workflow record
        raise p.NotFoundError(f"no workflow with workflow_id={workflow_id!r}")

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
                if kept is not None and kept[0] == count and (light or not kept[1].get("stale")):
                    self._figures.move_to_end(workflow_id)
                    return kept[1]
            cols = kept[2] if kept is not None else None
            if cols is None:
                cols = Columns(tel_ref=lmdb_query.snapshot_ref if lmdb is not None else None)
                cols.generation = secrets.token_hex(4)
            resolve = functools.partial(lmdb_query.read_snapshots, lmdb) if lmdb is not None else None
            if kept is None or kept[0] != count:
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
            figures["generation"] = cols.generation
            with self._lock:
                self._figures[workflow_id] = (count, figures, cols, full_at)
                self._figures.move_to_end(workflow_id)
                while len(self._figures) > _CACHE_SIZE:
                    self._figures.popitem(last=False)
                if len(self._computing) > 4 * _CACHE_SIZE:
                    self._computing = {k: v for k, v in self._computing.items() if k in self._figures}
            return figures

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
        figures["generation"] = rows.generation
        with computing:
            with self._lock:
                now = self._figures.get(workflow_id)
            if now is None or now[2] is not cols:
                return  # read anew meanwhile
            if len(cols) != len(rows):  # more rows since the copy: their counts on top, the rest again later
                figures, count = cols.light_figures(figures), now[0]
                figures["generation"] = cols.generation
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

    def workflow(self, workflow_id: str) -> dict:
        """The record plus counts by status and activity (with duration statistics)."""
        record = self.workflow_record(workflow_id)
        f = self.figures(workflow_id)
        return {
            "workflow": record,
            "task_count": f["task_count"],
            "by_status": f["by_status"],
            "activities": f["activities"],
            "first_started_at": f["first_started_at"],
            "last_ended_at": f["last_ended_at"],
            "error_count": f["error_count"],
        }

    def workflow_charts(self, workflow_id: str) -> dict:
        """Timeline bars, telemetry series, errors with their messages and metric trends."""
        self.workflow_record(workflow_id)
        f = self.figures(workflow_id)
        return {key: f[key] for key in ("task_count", "timeline", "telemetry", "errors", "trends", "seq", "generation")}

    def state(self, workflow_id: str) -> dict:
        """What the live view watches: the task count and the workflow's status (two id/index reads)."""
        docs = self._find(
            {"workflow_id": workflow_id}, limit=1, projection=["status", "ended_at"], collection="workflows"
        )
        record = docs[0] if docs else {}
        return {
            "task_count": self.count("tasks", {"workflow_id": workflow_id}),
            "status": record.get("status"),
            "ended_at": record.get("ended_at"),
        }

    def tasks(self, workflow_id: str, q: Mapping[str, str]) -> dict:
        """A workflow's tasks filtered by activity_id, status and time, sorted, paginated."""
        self.workflow_record(workflow_id)
        limit, offset = p.page(q, default_limit=100)
        flt: dict[str, Any] = {"workflow_id": workflow_id}
        for key in ("activity_id", "status", "parent_task_id"):
            value = p.text(q, key)
            if value:
                flt[key] = value
        started = p.time_range(q, "started_at", "started_after", "started_before")
        if started:
            flt["started_at"] = started
        ended = p.time_range(q, "ended_at", "ended_after", "ended_before")
        if ended:
            flt["ended_at"] = ended
        sort = p.sort_spec(q, p.TASK_SORT_FIELDS, "task_id")
        indexed = self._indexed_page(workflow_id, flt, sort, limit, offset)
        if indexed is not None:
            return indexed
        if set(flt) <= _INDEXED or self.count("tasks", {"workflow_id": workflow_id}) <= EXACT_TOTAL_MAX:
            total: int | None = self.count("tasks", flt)
            docs = self._find(flt, sort=sort, limit=offset + limit)[offset:]
        else:  # counting would read every task of a large workflow: say whether there is more instead
            total = None
            docs = self._find(flt, sort=sort, limit=offset + limit + 1)[offset:]
        more = len(docs) > limit
        return _paged([_task_row(d) for d in docs[:limit]], total, limit, offset, more)

    def _indexed_page(self, workflow_id: str, flt: dict, sort: list, limit: int, offset: int) -> dict | None:
        """The page from the workflow's kept figures (its tasks' ids, activities and start times, valid while the
        task count is unchanged) and the page's documents read by id; None when the figures are not kept or the
        request filters or sorts on something that may change after a task is stored (status, ended_at)."""
        if set(flt) - {"workflow_id", "activity_id", "started_at"} or sort[0][0] not in ("task_id", "started_at"):
            return None
        count = self.count("tasks", {"workflow_id": workflow_id})
        with self._lock:
            kept = self._figures.get(workflow_id)
            computing = self._computing.get(workflow_id)
        if kept is None or kept[0] != count or computing is None:
            return None
        with computing:  # the rows are not being added to meanwhile
            cols = kept[2]
            if len(cols) != count:
                return None
            rows = cols.id_order()
            if "activity_id" in flt:
                act = flt["activity_id"]
                rows = [r for r in rows if cols.acts[r] == act]
            if "started_at" in flt:
                lo, hi = flt["started_at"].get("$gte", float("-inf")), flt["started_at"].get("$lte", float("inf"))
                starts = cols.starts
                rows = [r for r in rows if type(starts[r]) in (int, float) and lo <= starts[r] <= hi]
            field, direction = sort[0]
            if field == "started_at":
                rows = cols.start_order(rows, direction)
            elif direction == -1:
                rows = rows[::-1]
            ids = [cols.ids[r] for r in rows[offset : offset + limit]]
            total = len(rows)
        docs = {d["task_id"]: d for d in self._find({"task_id": {"$in": ids}})} if ids else {}
        return _paged([_task_row(docs[i]) for i in ids if i in docs], total, limit, offset)

    # -- tasks and campaigns -----------------------------------------------------------------------------------------

    def task(self, task_id: str) -> dict:
        """The task document, its parent, its children and its lineage (upstream and downstream)."""
        docs = self._find({"task_id": task_id}, limit=1)
        if not docs:
            raise p.NotFoundError(f"no task with task_id={task_id!r}")
        task = docs[0]
        parent = None
        if task.get("parent_task_id"):
            found = self._find({"task_id": task["parent_task_id"]}, limit=1)
            parent = _task_row(found[0]) if found else {"task_id": task["parent_task_id"], "missing": True}
        children = [_task_row(d) for d in self._find({"parent_task_id": task_id}, sort=[("task_id", 1)], limit=500)]
        return {
            "task": task,
            "parent": parent,
            "children": children,
            "lineage": task_lineage(self.db, task, self._find),
        }

    def campaign(self, campaign_id: str, q: Mapping[str, str] | None = None) -> dict:
        """The campaign's workflows with their task counts, paginated (limit, offset, sort), with the campaign's
        workflow and task totals."""
        q = q or {}
        limit, offset = p.page(q)
        sort = p.sort_spec(q, p.WORKFLOW_SORT_FIELDS, "started_at")
        flt = {"campaign_id": campaign_id}
        total = self.count("workflows", flt)
        tasks = self.count("tasks", flt)
        if not total and not tasks:
            raise p.NotFoundError(f"no campaign with campaign_id={campaign_id!r}")
        docs = self._find(flt, sort=sort, limit=offset + limit, collection="workflows")[offset:] if total else []
        items = [_workflow_row(d, self.count("tasks", {"workflow_id": d["workflow_id"]})) for d in docs]
        return {
            "campaign_id": campaign_id,
            "workflow_count": total,
            "task_count": tasks,
            **_paged(items, total, limit, offset),
        }

    def updates(self, workflow_id: str, q: Mapping[str, str]) -> dict:
        """What the live view adds to a drawn workflow page: the summary, errors, trends and telemetry (all small)
        and the tasks that arrived after the first ``since`` of the page's ``generation`` (at most UPDATE_ROWS;
        ``next_since`` says where to continue). ``reload`` is true when the server no longer holds that generation
        (the page then loads everything again)."""
        record = self.workflow_record(workflow_id)
        since = p.integer(q, "since", 0, 0, 10**12)
        generation = p.text(q, "generation")
        f = self.figures(workflow_id, light=True)
        with self._lock:
            kept = self._figures.get(workflow_id)
        cols = kept[2] if kept is not None else None
        reload = cols is None or generation != f["generation"] or since > f["seq"]
        rows = (
            [] if reload else [_column_row(cols, i) for i in cols.rows_since(since, min(UPDATE_ROWS, f["seq"] - since))]
        )
        return {
            "workflow": record,
            "generation": f["generation"],
            "seq": f["seq"],
            "reload": reload,
            "since": since,
            "next_since": since + len(rows),
            **{
                k: f[k]
                for k in (
                    "task_count",
                    "by_status",
                    "activities",
                    "first_started_at",
                    "last_ended_at",
                    "error_count",
                    "errors",
                    "trends",
                    "telemetry",
                )
            },
            "timeline_of": f["timeline"]["of"],
            "tasks": rows,
        }


def _count_key(collection: str, flt: dict) -> tuple[str, str]:
    return collection, repr(sorted(flt.items()))


def _paged(items: list, total: int | None, limit: int, offset: int, more: bool | None = None) -> dict:
    """A page: items, total (None when not counted), limit, offset and next_offset (None on the last page)."""
    if total is not None:
        more = offset + len(items) < total
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + len(items) if more else None,
    }


_WORKFLOW_ROW = (
    "workflow_id",
    "name",
    "campaign_id",
    "user",
    "status",
    "started_at",
    "ended_at",
    "utc_timestamp",
    "parent_workflow_id",
    "hostname",
)
_TASK_ROW = (
    "task_id",
    "activity_id",
    "status",
    "started_at",
    "ended_at",
    "parent_task_id",
    "workflow_id",
    "hostname",
    "stderr",
)


def _workflow_row(doc: dict, task_count: int) -> dict:
    row = {k: doc.get(k) for k in _WORKFLOW_ROW}
    row["task_count"] = task_count
    return row


def _column_row(cols: Any, i: int) -> dict:
    """A task row (as _task_row) from the kept columns."""
    start, end = cols.starts[i], cols.ends[i]
    return {
        "task_id": cols.ids[i],
        "activity_id": cols.acts[i],
        "status": cols.statuses[i],
        "started_at": start,
        "ended_at": end,
        "parent_task_id": cols.parents[i],
        "stderr": cols.stderrs[i],
        "duration": end - start if type(start) in (int, float) and type(end) in (int, float) else None,
    }


def _task_row(doc: dict) -> dict:
    row = {k: doc.get(k) for k in _TASK_ROW}
    start, end = row["started_at"], row["ended_at"]
    row["duration"] = end - start if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
    return row
