"""The workflow page's figures: the timeline chosen per lane and time bucket, statistics over every task, the same
figures from LMDB's undecoded read as from whole documents, and the live view's incremental reads."""

from __future__ import annotations

import random
import time

from conftest import lmdb_settings
from flowcept_ui.analysis import TIMELINE_MAX, Columns, analyze
from flowcept_ui.data import Browser

from flowcept_core.query import DBAPI


def _tasks(n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        start = 1000.0 + i * 0.5 + rnd.random() * 0.1
        status = "ERROR" if i % 97 == 13 else "FINISHED"
        doc = {
            "task_id": f"t-{rnd.getrandbits(40):012x}-{i}",
            "workflow_id": "wf",
            "activity_id": ("a", "b", "c")[i % 3],
            "status": status,
            "started_at": start,
            "ended_at": start + 0.2 + (i % 5) * 0.1,
            "generated": {"loss": 1.0 / (i + 1), "note": "text"},
            "telemetry_at_end": {
                "timestamp": start + 0.3,
                "cpu": {"percent_all": float(i % 100)},
                "memory": {"virtual": {"percent": 50.0}},
            },
        }
        if status == "ERROR":
            doc["stderr"] = f"failure {i}"
        out.append(doc)
    if n > 1234:  # one long task: its bar must be drawn
        out[1234]["ended_at"] = out[1234]["started_at"] + 400.0
    return out


def test_a_large_timeline_keeps_every_lanes_extremes_and_errors_and_statistics_count_every_task():
    tasks = _tasks(5000)
    f = analyze(tasks)
    bars = f["timeline"]["bars"]
    assert TIMELINE_MAX < len(bars) <= 4000 and f["timeline"]["of"] == 5000
    shown = {b["task_id"] for b in bars}
    assert tasks[1234]["task_id"] in shown  # the latest end of its lane and bucket
    assert {t["task_id"] for t in tasks if t["status"] == "ERROR"} <= shown
    for lane in ("a", "b", "c"):  # each lane's first and last task are drawn
        mine = sorted((t for t in tasks if t["activity_id"] == lane), key=lambda t: t["started_at"])
        assert mine[0]["task_id"] in shown and mine[-1]["task_id"] in shown
    starts = [b["started_at"] for b in bars]
    assert starts == sorted(starts)
    a = next(x for x in f["activities"] if x["activity_id"] == "a")
    durations = sorted(t["ended_at"] - t["started_at"] for t in tasks if t["activity_id"] == "a")
    assert a["count"] == len(durations) and a["duration"]["max"] == durations[-1]
    assert (
        a["duration"]["median"] == (durations[len(durations) // 2 - 1] + durations[len(durations) // 2]) / 2
        if len(durations) % 2 == 0
        else durations[len(durations) // 2]
    )
    assert f["by_status"] == {
        "ERROR": sum(t["status"] == "ERROR" for t in tasks),
        "FINISHED": sum(t["status"] == "FINISHED" for t in tasks),
    }
    loss = next(t for t in f["trends"] if (t["activity_id"], t["name"]) == ("a", "loss"))
    assert loss["count"] == len(durations) and loss["points"][0] == [1, 1.0]
    assert not any(t["name"] == "note" for t in f["trends"])  # not a number


def test_rows_added_later_give_the_figures_of_all_rows_read_at_once():
    tasks = _tasks(900, seed=3)
    for t in tasks[850:870]:
        t["status"] = "RUNNING"
    cols = Columns()
    cols.add(tasks[:600])
    cols.add(tasks[600:])
    assert sorted(cols.unfinished()) == sorted(t["task_id"] for t in tasks[850:870])
    finished = [{**t, "status": "FINISHED"} for t in tasks[850:870]]
    assert cols.add(finished) == 0  # replaced, not appended
    expected = analyze(tasks[:850] + finished + tasks[870:])
    got = cols.figures()
    for key in ("by_status", "activities", "first_started_at", "last_ended_at", "error_count", "errors", "trends"):
        assert got[key] == expected[key], key
    assert cols.unfinished() == []


def test_lmdb_figures_from_undecoded_documents_equal_those_from_whole_documents(tmp_path):
    settings = lmdb_settings(str(tmp_path / "lmdb"))
    db = DBAPI(settings)
    tasks = _tasks(1500, seed=11)
    db.insert_or_update_workflow({"workflow_id": "wf", "name": "analysis"})
    from flowcept_core.query import open_store

    open_store(settings, "lmdb").upsert("tasks", tasks)
    browser = Browser(settings)
    got = browser.figures("wf")
    expected = analyze(db.query({"workflow_id": "wf"}))
    for key in ("task_count", "by_status", "activities", "timeline", "telemetry", "errors", "trends"):
        assert got[key] == expected[key], key
    assert len(got["telemetry"]["points"]) > 100  # the snapshots of the tasks drawn were read
    # new tasks: only those are read, and the figures are those of every task
    more = _tasks(1600, seed=11)[1500:]
    for t in more:
        t["task_id"] = "new-" + t["task_id"]
    open_store(settings, "lmdb").upsert("tasks", more)
    browser._counts.clear()
    again = browser.figures("wf")
    assert again["generation"] == got["generation"] and again["seq"] == 1600
    expected = analyze(db.query({"workflow_id": "wf"}))
    for key in ("task_count", "by_status", "activities", "errors", "trends"):
        assert again[key] == expected[key], key


def test_live_updates_count_every_new_task_at_once_and_the_rest_at_most_every_few_seconds(tmp_path, monkeypatch):
    from flowcept_core.query import open_store

    settings = lmdb_settings(str(tmp_path / "lmdb"))
    store = open_store(settings, "lmdb")
    tasks = _tasks(600, seed=5)
    store.upsert("tasks", tasks[:500])
    browser = Browser(settings)
    full = browser.figures("wf")
    store.upsert("tasks", tasks[500:])
    browser._counts.clear()
    light = browser.figures("wf", light=True)
    expected = analyze(tasks)
    assert light["stale"] and light["task_count"] == 600 and light["seq"] == 600
    for key in ("by_status", "errors", "error_count", "first_started_at", "last_ended_at"):
        assert light[key] == expected[key], key
    assert [(a["activity_id"], a["count"], a["by_status"]) for a in light["activities"]] == [
        (a["activity_id"], a["count"], a["by_status"]) for a in expected["activities"]
    ]
    assert light["trends"] == full["trends"]  # from the last full computation
    assert browser.figures("wf")["trends"] == expected["trends"]  # a page load computes everything
    assert not browser.figures("wf", light=True).get("stale")
    monkeypatch.setattr("flowcept_ui.workflow_figures.FULL_EVERY", 0.2)
    store.upsert("tasks", [{**tasks[0], "task_id": "late", "status": "ERROR"}])
    browser._counts.clear()
    assert browser.figures("wf", light=True)["stale"]
    deadline = time.monotonic() + 30
    while browser.figures("wf", light=True).get("stale"):  # computed in full in the background, soon after
        assert time.monotonic() < deadline
        time.sleep(0.05)
    again = browser.figures("wf", light=True)
    assert again["task_count"] == 601 and again["error_count"] == expected["error_count"] + 1


def test_lmdb_index_counts_and_the_keys_added_since_a_chunk(tmp_path):
    from flowcept_lmdb import _query as q

    from flowcept_core.query import open_store

    settings = lmdb_settings(str(tmp_path / "lmdb"))
    store = open_store(settings, "lmdb")
    tasks = _tasks(700, seed=9)
    for i, t in enumerate(tasks):
        t["workflow_id"], t["campaign_id"] = ("wf-a" if i < 500 else "wf-b"), "camp"
    store.upsert("tasks", tasks[:300])
    store.upsert("tasks", tasks[300:])
    for field, value in (
        ("workflow_id", "wf-a"),
        ("workflow_id", "wf-b"),
        ("campaign_id", "camp"),
        ("workflow_id", "nope"),
        ("activity_id", "a"),
    ):
        assert q.indexed_count(store, "tasks", field, value) == store.count("tasks", {field: value}), (field, value)
    assert q.indexed_count(store, "tasks", "status", "FINISHED") is None  # not indexed: the caller counts
    last = q.last_chunk(store, "tasks", "workflow_id", "wf-a")
    known = {t["task_id"].encode() for t in tasks[:500]}
    added = [{**tasks[0], "task_id": f"added-{n}"} for n in range(5)]
    store.upsert("tasks", added)
    found, now_last = q.indexed_raw_from(store, "tasks", "workflow_id", "wf-a", known, last)
    assert sorted(k for k, _ in found) == sorted(t["task_id"].encode() for t in added) and now_last >= last
    # a task leaving the workflow: the kept rows are read anew, so the figures count what the store holds
    browser = Browser(settings)
    assert browser.figures("wf-a")["task_count"] == 505
    store.upsert("tasks", [{"task_id": tasks[3]["task_id"], "workflow_id": "wf-b"}])
    browser._counts.clear()
    again = browser.figures("wf-a")
    assert again["task_count"] == 504 == store.count("tasks", {"workflow_id": "wf-a"})
    assert tasks[3]["task_id"] not in {b["task_id"] for b in again["timeline"]["bars"]}


def test_tasks_without_a_start_after_tasks_with_one_are_drawn_last_not_an_error():
    figures = analyze(
        [
            {"task_id": "a", "activity_id": "f", "started_at": 1.0, "ended_at": 2.0, "status": "FINISHED"},
            {"task_id": "b", "activity_id": "f", "status": "SUBMITTED"},
            {"task_id": "c", "activity_id": "g", "started_at": 0.5, "ended_at": 0.7, "status": "FINISHED"},
        ]
    )
    assert figures["task_count"] == 3 and figures["by_status"] == {"FINISHED": 2, "SUBMITTED": 1}
    assert figures["first_started_at"] == 0.5
