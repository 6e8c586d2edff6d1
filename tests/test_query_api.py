"""Flowcept.db gives the same answers on every store: one dataset, every query on LMDB and on MongoDB (wire)."""

from __future__ import annotations

import os

import pytest

from flowcept_core.filters import FilterError
from flowcept_core.query import DBAPI
from flowcept_core.settings import Settings
from flowcept_core.stores import close_stores

STORES = []
for name, module in (("lmdb", "flowcept_lmdb"), ("mongodb", "flowcept_mongodb")):
    try:
        __import__(module)
        STORES.append(name)
    except ImportError:
        pass


def _dataset() -> tuple[list[dict], list[dict]]:
    wfs = [{"type": "workflow", "workflow_id": "wA", "name": "train", "campaign_id": "c1"},
           {"type": "workflow", "workflow_id": "wB", "name": "eval", "campaign_id": "c1", "parent_workflow_id": "wA"},
           {"type": "workflow", "workflow_id": "wC", "name": "deep", "parent_workflow_id": "wB"}]
    tasks = []
    for i in range(300):
        wf = ("wA", "wB", "wC")[i % 3]
        tasks.append({"type": "task", "task_id": f"t{i:03d}", "workflow_id": wf, "campaign_id": "c1",
                      "activity_id": ("train_epoch", "eval_batch", "Report")[i % 3],
                      "status": "ERROR" if i % 17 == 0 else "FINISHED", "started_at": 1000.0 + i,
                      "ended_at": 1000.5 + i, "used": {"x": i, "lr": [0.1, 0.01][i % 2], "tags": ["a", "b"][: i % 3]},
                      "generated": {"loss": round(1.0 / (i + 1), 6)} if i % 5 else {},
                      "telemetry_at_end": {"cpu": {"percent_all": float(i % 100)}},
                      "parent_task_id": f"t{i - 1:03d}" if i % 4 == 1 else None})
    return wfs, [{k: v for k, v in t.items() if v is not None} for t in tasks]


@pytest.fixture(params=STORES)
def db(request, tmp_path):
    close_stores()
    dbs = {"lmdb": {"enabled": False}, "mongodb": {"enabled": False}}
    if request.param == "lmdb":
        dbs["lmdb"] = {"enabled": True, "path": str(tmp_path / "lmdb")}
    else:
        uri = request.getfixturevalue("mongo_uri")
        dbs["mongodb"] = {"enabled": True, "uri": uri, "db": f"q{os.getpid()}_{tmp_path.name[-12:]}"}
    api = DBAPI(Settings({"databases": dbs}))
    wfs, tasks = _dataset()
    for w in wfs:
        api.insert_or_update_workflow(w)
    api._read_store().upsert("tasks", tasks)
    yield api
    close_stores()


QUERIES = [
    ({"workflow_id": "wA"}, None, 0, None),
    ({"used.x": {"$gte": 290}}, None, 0, None),
    ({"used.lr": 0.01, "status": "ERROR"}, None, 0, None),
    ({"activity_id": {"$regex": "^re", "$options": "i"}, "used.x": {"$lt": 20}}, None, 0, None),
    ({"$or": [{"task_id": "t001"}, {"generated.loss": {"$gt": 0.4}}]}, None, 0, None),
    ({"$and": [{"campaign_id": "c1"}, {"status": {"$ne": "FINISHED"}}]}, ["task_id", "status"], 0, None),
    ({"generated.loss": {"$exists": False}}, ["task_id"], 0, None),
    ({"used.tags": "b"}, ["task_id", "used.tags"], 0, None),
    ({"status": {"$in": ["ERROR"]}, "used.x": {"$nin": [0, 17]}}, None, 0, None),
    ({"telemetry_at_end.cpu.percent_all": {"$gt": 95}}, ["task_id", "telemetry_at_end.cpu.percent_all"], 0, None),
    ({"workflow_id": "wB"}, ["task_id", "used.x"], 5, [("used.x", -1)]),
    ({}, ["task_id"], 7, [("status", 1), ("task_id", -1)]),
    ({"used.x": {"$not": {"$gt": 5}}}, ["task_id"], 0, None),
    ({"parent_task_id": {"$exists": True}, "workflow_id": {"$in": ["wA", "wB"]}}, ["task_id", "parent_task_id"], 0,
     None),
]


def _canon(docs, sort):
    return docs if sort else sorted(docs, key=lambda d: d.get("task_id", ""))


@pytest.mark.parametrize("flt, projection, limit, sort", QUERIES)
def test_every_query_gives_the_expected_documents_on_every_store(db, flt, projection, limit, sort):
    from flowcept_core.filters import compile_filter, project, sort_documents

    _, tasks = _dataset()
    match = compile_filter(flt)
    want = sort_documents([t for t in tasks if match(t)], sort)
    want = [project(t, projection) for t in (want[:limit] if limit else want)]
    got = db.task_query(flt, projection=projection, limit=limit, sort=sort)
    assert _canon(got, sort) == _canon(want, sort)
    assert len(got) > 0 or flt == {"nothing": 1}


def test_aggregations_grouped_by_a_field(db):
    rows = db.task_query({"campaign_id": "c1"}, projection=["activity_id"],
                         aggregation=[("count", "*"), ("avg", "used.x"), ("max", "generated.loss"),
                                      ("min", "used.x"), ("sum", "used.lr")], sort=[("activity_id", 1)])
    _, tasks = _dataset()
    want = []
    for act in sorted({t["activity_id"] for t in tasks}):
        group = [t for t in tasks if t["activity_id"] == act]
        losses = [t["generated"]["loss"] for t in group if "loss" in t.get("generated", {})]
        xs = [t["used"]["x"] for t in group]
        want.append({"activity_id": act, "count": len(group), "avg_used_x": sum(xs) / len(xs),
                     "max_generated_loss": max(losses), "min_used_x": min(t["used"]["x"] for t in group),
                     "sum_used_lr": sum(t["used"]["lr"] for t in group)})
    assert len(rows) == 3
    for r, w in zip(rows, want, strict=True):
        assert r.keys() == w.keys()
        for k in w:
            assert r[k] == pytest.approx(w[k]), k


def test_bad_queries_are_clear_errors_and_missing_fields_give_empty_results(db):
    with pytest.raises(FilterError, match=r"\$foo"):
        db.task_query({"used.x": {"$foo": 1}})
    with pytest.raises(FilterError, match="aggregation"):
        db.task_query({}, aggregation=[("median", "used.x")])
    with pytest.raises(ValueError, match="collection"):
        db.query({}, collection="nope")
    assert db.task_query({"no.such.field": 1}) == []
    assert db.task_query({"task_id": "t001"}, projection=["no_such_field"]) == [{}]


def test_workflows_recursion_and_deletion(db):
    assert {w["workflow_id"] for w in db.workflow_query({"campaign_id": "c1"})} == {"wA", "wB"}
    assert len(db.get_tasks_recursive("wA")) == 300
    assert len(db.get_tasks_recursive("wB")) == 200
    assert db.get_workflow_object("wC").name == "deep"
    assert db.delete_workflow_data("wC") == 101
    assert db.task_query({"workflow_id": "wC"}) == [] and db.get_workflow_object("wC") is None


def test_exports_and_dataframes(db, tmp_path):
    pd = pytest.importorskip("pandas")
    df = db.to_df(filter={"workflow_id": "wA"})
    assert len(df) == 100 and {"used.x", "telemetry_at_end.cpu.percent_all"} <= set(df.columns)
    for fmt in ("json", "jsonl", "csv"):
        path = db.dump_to_file(filter={"workflow_id": "wA"}, output_file=str(tmp_path / f"out.{fmt}"),
                               export_format=fmt)
        assert os.path.getsize(path) > 0
    back = pd.read_csv(tmp_path / "out.csv")
    assert sorted(back["used.x"]) == sorted(df["used.x"])
    with pytest.raises(ValueError, match="export_format"):
        db.dump_to_file(export_format="xml", output_file=str(tmp_path / "x"))
