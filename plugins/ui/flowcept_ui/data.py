"""What the API answers, read through the public query API (flowcept_core.query.DBAPI) of the enabled store.

Read-only: nothing here writes. Documents come back as the store holds them (secrets were masked at capture).
The workflow page's figures (``flowcept_ui.workflow_figures``) are computed in one pass over the workflow's tasks
and kept while the workflow's task count is unchanged (a count is an index read on LMDB and MongoDB), so a second
view or the live view's refresh of an unchanged workflow reads nothing more.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from flowcept_core.plugin import DBAPI, enabled_store_names, open_store
from flowcept_ui import params as p
from flowcept_ui.lineage import task_lineage
from flowcept_ui.rows import _column_row, _paged, _task_row, _workflow_row
from flowcept_ui.workflow_figures import WorkflowFigures, _count_key, lmdb_query

__all__ = ["Browser"]


EXACT_TOTAL_MAX = 20_000  # a filtered task list of a larger workflow is counted only on indexed fields
_INDEXED = {"workflow_id", "activity_id", "parent_task_id"}  # index reads on LMDB and MongoDB
UPDATE_ROWS = 2000  # new tasks per live-view update answer at most
WATCHED_MAX = 500  # unfinished tasks of a viewed workflow whose changes the live view notices (the first ones)
COUNT_TTL = 0.25  # seconds a count is reused (below the live view's poll interval, so no change is missed)


class Browser(WorkflowFigures):
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
        self._changed: set[str] = set()  # workflows whose held unfinished tasks changed in the store

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
        keys = ("task_count", "timeline", "telemetry", "errors", "trends", "seq", "generation", "revision")
        return {key: f[key] for key in keys}

    def state(self, workflow_id: str) -> dict:
        """What the live view watches: the task count and the workflow's status (two id/index reads), and
        ``changed``: how many of the workflow's unfinished tasks held here (the first WATCHED_MAX) changed in the
        store since they were read (read by id; the next figures read them again)."""
        docs = self._find(
            {"workflow_id": workflow_id}, limit=1, projection=["status", "ended_at"], collection="workflows"
        )
        record = docs[0] if docs else {}
        return {
            "task_count": self.count("tasks", {"workflow_id": workflow_id}),
            "status": record.get("status"),
            "ended_at": record.get("ended_at"),
            "changed": self._unfinished_changed(workflow_id),
        }

    def _unfinished_changed(self, workflow_id: str) -> int:
        with self._lock:
            kept = self._figures.get(workflow_id)
            computing = self._computing.get(workflow_id)
        if kept is None or computing is None or not computing.acquire(blocking=False):
            return 0  # being read meanwhile: the next poll looks
        try:
            cols = kept[2]
            ids = cols.unfinished()[:WATCHED_MAX]
            held = {
                i: (cols.statuses[r], cols.ends[r], cols.stderrs[r]) for i in ids if (r := cols.row.get(i)) is not None
            }
        finally:
            computing.release()
        if not held:
            return 0
        n = 0
        for d in self._find({"task_id": {"$in": list(held)}}, projection=["task_id", "status", "ended_at", "stderr"]):
            was = held.get(d.get("task_id"))
            if was is not None and was != (d.get("status"), d.get("ended_at"), d.get("stderr")):
                n += 1
        if n:
            with self._lock:
                self._changed.add(workflow_id)
        return n

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
        ``next_since`` says where to continue), and in ``changed`` those of the first ``since`` that changed after
        the page's ``revision`` (the answer's ``revision`` is the one to send next). ``reload`` is true when the
        server no longer holds that generation (the page then loads everything again)."""
        record = self.workflow_record(workflow_id)
        since = p.integer(q, "since", 0, 0, 10**12)
        revision = p.integer(q, "revision", 0, 0, 10**12)
        generation = p.text(q, "generation")
        f = self.figures(workflow_id, light=True)
        with self._lock:
            kept = self._figures.get(workflow_id)
        cols = kept[2] if kept is not None else None
        reload = cols is None or generation != f["generation"] or since > f["seq"]
        rows = (
            [] if reload else [_column_row(cols, i) for i in cols.rows_since(since, min(UPDATE_ROWS, f["seq"] - since))]
        )
        changed = [] if reload else [_column_row(cols, i) for i in cols.changed_since(revision) if i < since]
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
            "revision": f["revision"],
            "changed": changed,
        }
