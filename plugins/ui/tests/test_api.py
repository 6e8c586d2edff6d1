"""The JSON API over a known run, on LMDB and on MongoDB-wire, with the same answers from both."""

from __future__ import annotations

import os

import pytest
from conftest import Client, lmdb_settings
from known_run import CAMPAIGN_ID, EPOCHS, ERROR_TEXT, WORKFLOW_NAME


@pytest.fixture(params=["lmdb", "mongodb"])
def client(request, known_run, serve) -> Client:
    settings = (
        lmdb_settings(known_run.lmdb_path) if request.param == "lmdb" else request.getfixturevalue("mongo_known_run")
    )
    return serve(settings)[1]


def test_workflows_are_found_by_part_of_the_name_in_any_case_and_by_campaign(client, known_run):
    page = client.ok("/api/workflows?name=KNOWN-run")
    assert [w["workflow_id"] for w in page["items"]] == [known_run.workflow_id]
    assert page["items"][0]["task_count"] == EPOCHS + 3
    assert client.ok(f"/api/workflows?campaign_id={CAMPAIGN_ID}")["total"] == 1
    assert client.ok("/api/workflows?name=no-such-workflow")["items"] == []
    assert client.ok("/api/workflows?since=2000-01-01T00:00:00Z&until=2000-01-02")["total"] == 0


def test_workflow_has_counts_by_status_and_activity_with_durations(client, known_run):
    wf = client.ok(f"/api/workflows/{known_run.workflow_id}")
    assert wf["workflow"]["name"] == WORKFLOW_NAME
    assert wf["task_count"] == EPOCHS + 3
    assert wf["by_status"] == {"ERROR": 1, "FINISHED": EPOCHS + 2}
    acts = {a["activity_id"]: a for a in wf["activities"]}
    assert acts["train_epoch"]["count"] == EPOCHS
    assert acts["check_lr"]["by_status"] == {"ERROR": 1}
    assert acts["train_epoch"]["duration"]["min"] > 0.0
    assert wf["error_count"] == 1


def test_charts_hold_the_timeline_telemetry_error_message_and_loss_trend(client, known_run):
    charts = client.ok(f"/api/workflows/{known_run.workflow_id}/charts")
    assert charts["timeline"]["shown"] == EPOCHS + 3
    assert [e["message"] for e in charts["errors"]] == [ERROR_TEXT]
    assert charts["telemetry"]["points"], "the run captured telemetry at each task's end"
    loss = next(t for t in charts["trends"] if (t["activity_id"], t["name"]) == ("train_epoch", "loss"))
    assert [v for _, v in loss["points"]] == [round(2.0 / (e + 1), 4) for e in range(EPOCHS)]


def test_tasks_filter_sort_and_paginate(client, known_run):
    base = f"/api/workflows/{known_run.workflow_id}/tasks"
    epochs = client.ok(f"{base}?activity_id=train_epoch&sort=-started_at")
    assert epochs["total"] == EPOCHS
    starts = [t["started_at"] for t in epochs["items"]]
    assert starts == sorted(starts, reverse=True)
    errors = client.ok(f"{base}?status=ERROR")["items"]
    assert [(t["activity_id"], t["stderr"]) for t in errors] == [("check_lr", ERROR_TEXT)]
    first = client.ok(f"{base}?limit=4")
    second = client.ok(f"{base}?limit=4&offset={first['next_offset']}")
    ids = [t["task_id"] for t in first["items"] + second["items"]]
    assert len(set(ids)) == 8 and ids == sorted(ids)
    assert client.ok(f"{base}?started_after=2000-01-01&started_before=2000-01-02")["total"] == 0


def test_task_has_its_parent_children_and_lineage(client, known_run):
    base = f"/api/workflows/{known_run.workflow_id}/tasks"
    fit = client.ok(f"{base}?activity_id=fit")["items"][0]
    epoch = client.ok(f"{base}?activity_id=train_epoch&limit=1")["items"][0]
    task = client.ok(f"/api/tasks/{epoch['task_id']}")
    assert task["task"]["used"] == {"epoch": 0, "lr": 0.1}
    assert task["parent"]["task_id"] == fit["task_id"]
    fit_page = client.ok(f"/api/tasks/{fit['task_id']}")
    assert len(fit_page["children"]) == EPOCHS
    lineage = task["lineage"]
    ids = {n["task_id"] for n in lineage["nodes"]}
    assert fit["task_id"] in ids
    assert {"from": fit["task_id"], "to": epoch["task_id"]} in [
        {"from": e["from"], "to": e["to"]} for e in lineage["edges"]
    ]


def test_campaign_lists_its_workflows(client, known_run):
    campaign = client.ok(f"/api/campaigns/{CAMPAIGN_ID}")
    assert [w["workflow_id"] for w in campaign["items"]] == [known_run.workflow_id]
    assert campaign["items"][0]["task_count"] == EPOCHS + 3
    assert (campaign["workflow_count"], campaign["task_count"]) == (1, EPOCHS + 3)
    assert (campaign["total"], campaign["offset"], campaign["next_offset"]) == (1, 0, None)


PAGED_CAMPAIGN, PAGED_WORKFLOWS = "campaign-paged", 7


def _paged_campaign(settings) -> None:
    """PAGED_WORKFLOWS workflows in one campaign (workflow n has n tasks), started one second apart."""
    from flowcept_core.query import open_store

    store = open_store(settings, "lmdb" if settings.get("databases.lmdb.enabled") else "mongodb")
    store.upsert(
        "workflows",
        [
            {
                "workflow_id": f"wf-paged-{n}",
                "name": f"paged {n}",
                "campaign_id": PAGED_CAMPAIGN,
                "status": "FINISHED",
                "started_at": 1_700_000_000.0 + n,
            }
            for n in range(PAGED_WORKFLOWS)
        ],
    )
    store.upsert(
        "tasks",
        [
            {
                "task_id": f"t-paged-{n}-{k}",
                "workflow_id": f"wf-paged-{n}",
                "campaign_id": PAGED_CAMPAIGN,
                "activity_id": "step",
                "status": "FINISHED",
                "started_at": 1_700_000_000.0 + n,
                "ended_at": 1_700_000_000.5 + n,
            }
            for n in range(PAGED_WORKFLOWS)
            for k in range(n)
        ],
    )


@pytest.fixture(scope="module")
def paged_campaign_clients(tmp_path_factory, mongo_uri):
    """Settings of an LMDB store and a MongoDB database, both holding the paged campaign."""
    from conftest import load_settings

    lmdb = lmdb_settings(str(tmp_path_factory.mktemp("paged_lmdb")))
    mongo = load_settings(
        overrides={
            "databases.mongodb.enabled": True,
            "databases.mongodb.uri": mongo_uri,
            "databases.mongodb.db": f"ui_paged_{os.getpid()}",
            "databases.lmdb.enabled": False,
        }
    )
    for settings in (lmdb, mongo):
        _paged_campaign(settings)
    return lmdb, mongo


def test_campaign_pages_its_workflows_with_totals_the_same_on_lmdb_and_mongodb(paged_campaign_clients, serve):
    lmdb, mongo = (serve(s)[1] for s in paged_campaign_clients)
    base = f"/api/campaigns/{PAGED_CAMPAIGN}"
    for client in (lmdb, mongo):
        first = client.ok(f"{base}?limit=3")
        assert [w["workflow_id"] for w in first["items"]] == ["wf-paged-0", "wf-paged-1", "wf-paged-2"]
        assert (first["total"], first["workflow_count"], first["next_offset"]) == (PAGED_WORKFLOWS, PAGED_WORKFLOWS, 3)
        assert first["task_count"] == sum(range(PAGED_WORKFLOWS))
        assert [w["task_count"] for w in first["items"]] == [0, 1, 2]
        seen, offset = [], 0
        while offset is not None:
            page = client.ok(f"{base}?limit=3&offset={offset}")
            seen += [w["workflow_id"] for w in page["items"]]
            offset = page["next_offset"]
        assert seen == [f"wf-paged-{n}" for n in range(PAGED_WORKFLOWS)]
        last = client.ok(f"{base}?limit=3&offset=6")
        assert len(last["items"]) == 1 and last["next_offset"] is None
        newest = client.ok(f"{base}?limit=2&sort=-started_at")["items"]
        assert [w["workflow_id"] for w in newest] == ["wf-paged-6", "wf-paged-5"]
        assert client.ok(f"{base}?offset=100")["items"] == []
        status, body = client.get(f"{base}?limit=5000")
        assert status == 400 and "limit=5000 is out of range" in body["error"]["message"]
    for query in ("", "?limit=3", "?limit=3&offset=3", "?limit=2&sort=-started_at", "?sort=name&offset=5"):
        assert lmdb.ok(base + query) == mongo.ok(base + query), query


@pytest.mark.parametrize(
    "path,status,words",
    [
        ("/api/tasks/no-such-task", 404, "no task with task_id='no-such-task'"),
        ("/api/workflows/no-such-workflow", 404, "no workflow"),
        ("/api/campaigns/nope", 404, "no campaign"),
        ("/api/workflows?limit=0", 400, "limit=0 is out of range"),
        ("/api/workflows?limit=ten", 400, "limit='ten' is not an integer"),
        ("/api/workflows?sort=password", 400, "sort='password' is not allowed"),
        ("/api/workflows?since=yesterday", 400, "since='yesterday' is not a time"),
        ("/api/nothing", 404, "no API path"),
    ],
)
def test_errors_are_json_with_a_status_and_no_stack_trace(client, path, status, words):
    got, body = client.get(path)
    assert got == status
    assert body["error"]["status"] == status and words in body["error"]["message"]
    assert "Traceback" not in str(body)


def test_writes_are_refused(client):
    status, body = client.get("/api/workflows", method="POST")
    assert status == 405 and "read-only" in body["error"]["message"]


def test_openapi_document_describes_every_route(client):
    doc = client.ok("/api/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert {
        "/api/workflows",
        "/api/workflows/{workflow_id}",
        "/api/workflows/{workflow_id}/tasks",
        "/api/tasks/{task_id}",
        "/api/campaigns/{campaign_id}",
    } <= set(doc["paths"])


def test_lmdb_and_mongodb_give_the_same_answers(known_run, mongo_known_run, serve):
    lmdb, mongo = serve(lmdb_settings(known_run.lmdb_path))[1], serve(mongo_known_run)[1]
    wid = known_run.workflow_id
    tasks = lmdb.ok(f"/api/workflows/{wid}/tasks?limit=1000")["items"]
    paths = [
        f"/api/workflows?name={WORKFLOW_NAME}",
        f"/api/workflows/{wid}",
        f"/api/workflows/{wid}/charts",
        f"/api/workflows/{wid}/tasks?limit=3&offset=2",
        f"/api/workflows/{wid}/tasks?sort=-ended_at",
        f"/api/workflows/{wid}/tasks?activity_id=train_epoch&sort=started_at",
        f"/api/campaigns/{CAMPAIGN_ID}",
        *(f"/api/tasks/{t['task_id']}" for t in tasks),
    ]
    for path in paths:
        assert _same(lmdb.ok(path)) == _same(mongo.ok(path)), path
    charts = [c.ok(f"/api/workflows/{wid}/charts") for c in (lmdb, mongo)]
    updates = [
        c.ok(f"/api/workflows/{wid}/updates?since=3&generation={ch['generation']}")
        for c, ch in zip((lmdb, mongo), charts, strict=True)
    ]
    assert not updates[0]["reload"] and len(updates[0]["tasks"]) == EPOCHS
    assert _same(updates[0]) == _same(updates[1])


def _same(answer):
    """An answer without its generation (a name each server gives the rows it read)."""
    return {k: v for k, v in answer.items() if k != "generation"} if isinstance(answer, dict) else answer


def test_task_pages_from_the_kept_figures_equal_those_from_the_store(known_run, serve):
    server, client = serve(lmdb_settings(known_run.lmdb_path))
    base = f"/api/workflows/{known_run.workflow_id}/tasks"
    queries = [
        "",
        "?limit=3&offset=2",
        "?sort=-task_id",
        "?sort=started_at",
        "?sort=-started_at&limit=4",
        "?activity_id=train_epoch&sort=-started_at",
        "?started_after=2000-01-01&limit=2",
        "?started_before=2000-01-01",
    ]
    from_store = [client.ok(base + q) for q in queries]
    assert not server.browser._figures
    client.ok(f"/api/workflows/{known_run.workflow_id}")  # computes and keeps the figures
    wid = known_run.workflow_id
    assert server.browser._indexed_page(wid, {"workflow_id": wid}, [("started_at", -1)], 100, 0) is not None
    assert [client.ok(base + q) for q in queries] == from_store


def test_large_workflows_filtered_on_unindexed_fields_say_whether_more_follow_instead_of_counting(
    client, known_run, monkeypatch
):
    monkeypatch.setattr("flowcept_ui.data.EXACT_TOTAL_MAX", 3)
    base = f"/api/workflows/{known_run.workflow_id}/tasks"
    first = client.ok(f"{base}?status=FINISHED&limit=4")
    assert first["total"] is None and len(first["items"]) == 4 and first["next_offset"] == 4
    last = client.ok(f"{base}?status=FINISHED&limit=4&offset=4")
    assert last["total"] is None and len(last["items"]) == EPOCHS + 2 - 4 and last["next_offset"] is None
    assert client.ok(f"{base}?activity_id=train_epoch&limit=2")["total"] == EPOCHS  # indexed: still counted
