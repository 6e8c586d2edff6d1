"""PROV export (Flowcept.export_prov, flowcept_core.prov_export): PROV-JSON read back by the prov library with the
counts of what was exported, PROV-N, the three input modes, data flow and bad arguments."""

from __future__ import annotations

import json
import warnings

import orjson
import prov.model as pm
import pytest

from flowcept import Flowcept
from flowcept_core.prov_mapping import value_entity_id

_RUN = [
    {"type": "workflow", "workflow_id": "w1", "name": "demo", "campaign_id": "c1", "user": "ana",
     "started_at": 1700000000.25, "machine_info": {"hostname": "n1"}},
    {"type": "task", "task_id": "prep", "workflow_id": "w1", "activity_id": "prep", "used": {"path": "raw.csv"},
     "generated": {"table": [1, 2, 3]}, "started_at": 1700000001.0, "ended_at": 1700000002.0, "status": "FINISHED",
     "hostname": "n1", "user": "ana", "telemetry_at_start": {"cpu": {"percent": 3.5}}},
    {"type": "task", "task_id": "train", "workflow_id": "w1", "activity_id": "train", "used": {"data": [1, 2, 3]},
     "status": "RUNNING", "started_at": 1700000002.5, "hostname": "n1"},
    {"type": "task", "task_id": "train", "generated": {"model": {"data_id": "models/m1.pt", "layers": [4, 2]}},
     "status": "FINISHED", "ended_at": 1700000009.0},
    {"type": "task", "task_id": "step 1/é", "workflow_id": "w1", "parent_task_id": "train", "activity_id": "step",
     "used": {"m": {"data_id": "models/m1.pt"}}, "generated": {"score": 0.93}},
    {"type": "task", "task_id": "other", "workflow_id": "w2", "activity_id": "x", "used": {"seed": 7}},
    {"type": "object", "object_id": "o1", "workflow_id": "w1"},
]
_VALUES = {"w1": 4, "w2": 1}  # distinct values per workflow: path, table (= train's data), model (= m), score; seed


def _load(path) -> pm.ProvDocument:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an identifier PROV-N could not write
        return pm.ProvDocument.deserialize(source=str(path), format="json")


def _counts(doc: pm.ProvDocument) -> dict[str, int]:
    out = {"activities": 0, "entities": 0, "agents": 0, "relations": 0}
    for container in (doc, *doc.bundles):
        out["activities"] += len(list(container.get_records(pm.ProvActivity)))
        out["entities"] += len(list(container.get_records(pm.ProvEntity)))
        out["agents"] += len(list(container.get_records(pm.ProvAgent)))
        out["relations"] += len(list(container.get_records(pm.ProvRelation)))
    return out


def _relations(doc: pm.ProvDocument, kind: type) -> list:
    return [r for b in (doc, *doc.bundles) for r in b.get_records(kind)]


def test_prov_json_loads_with_the_prov_library_and_counts_what_was_exported(tmp_path):
    result = Flowcept.export_prov(str(tmp_path / "run.json"), records=_RUN)
    doc = _load(result["output_path"])
    counts = _counts(doc)
    assert counts == {k: result[k] for k in counts}
    assert result["tasks"] == 4 and result["workflows"] == 2  # start and end messages of train are one task
    assert counts["activities"] == 4 + 2
    assert counts["entities"] == sum(_VALUES.values())
    assert counts["agents"] == 2  # user ana, host n1 (one declaration per bundle)
    assert {str(b.identifier) for b in doc.bundles} == {"bundle:w1", "bundle:w2"}


def test_a_task_activity_carries_times_status_and_serialized_nested_fields(tmp_path):
    result = Flowcept.export_prov(str(tmp_path / "run.json"), records=_RUN)
    raw = orjson.loads(open(result["output_path"], "rb").read())
    prep = raw["bundle"]["bundle:w1"]["activity"]["task:prep"]
    assert prep["prov:startTime"].startswith("2023-11-14T22:13:21") and prep["prov:label"] == "prep"
    assert prep["flowcept:status"] == "FINISHED"
    assert json.loads(prep["flowcept:telemetry_at_start"]) == {"cpu": {"percent": 3.5}}
    model = raw["bundle"]["bundle:w1"]["entity"]["value:data:models/m1.pt"]
    assert json.loads(model["prov:value"]) == {"data_id": "models/m1.pt", "layers": [4, 2]}


def test_data_flow_and_nesting_become_relations_between_tasks(tmp_path):
    doc = _load(Flowcept.export_prov(str(tmp_path / "run.json"), records=_RUN)["output_path"])
    informed = {(str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1]))
                for r in _relations(doc, pm.ProvCommunication)}
    assert informed == {("task:train", "task:prep"), ("task:step%201/%C3%A9", "task:train")}
    derived = {(str(r.formal_attributes[0][1]), str(r.formal_attributes[1][1]))
               for r in _relations(doc, pm.ProvDerivation)}
    table = "value:" + value_entity_id([1, 2, 3])
    assert ("value:data:models/m1.pt", table) in derived
    started = {(str(r.formal_attributes[0][1]), str(r.formal_attributes[2][1])) for r in _relations(doc, pm.ProvStart)}
    assert ("task:step%201/%C3%A9", "task:train") in started and ("task:prep", "workflow:w1") in started


def test_prov_n_has_the_same_statements_in_bundles(tmp_path):
    json_result = Flowcept.export_prov(str(tmp_path / "run.json"), records=_RUN)
    result = Flowcept.export_prov(str(tmp_path / "run.provn"), format="provn", records=_RUN)
    text = open(result["output_path"]).read()
    assert text.startswith("document\n") and text.rstrip().endswith("endDocument")
    assert text.count("  bundle bundle:") == 2 and text.count("endBundle") == 2
    assert text.count("activity(") == result["activities"] == json_result["activities"]
    assert text.count("entity(") == result["entities"] and text.count("agent(") == result["agents"]
    assert "wasInformedBy(task:train, task:prep)" in text
    assert "value:data\\:models/m1.pt" in text  # PROV-N escapes ':' in a local part


def test_a_buffer_file_and_a_workflow_filter_select_what_is_exported(tmp_path):
    path = tmp_path / "buf.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(m) for m in _RUN) + b"\nnot json\n")
    result = Flowcept.export_prov(str(tmp_path / "w2.json"), input_jsonl_path=str(path), workflow_id="w2")
    assert (result["input_mode"], result["tasks"], result["workflows"], result["skipped_lines"]) == ("jsonl", 1, 1, 1)
    assert _counts(_load(result["output_path"]))["entities"] == _VALUES["w2"]
    for source in ({"records": _RUN}, {"input_jsonl_path": str(path)}):
        by_campaign = Flowcept.export_prov(str(tmp_path / "c1.json"), campaign_id="c1", **source)
        assert (by_campaign["tasks"], by_campaign["workflows"]) == (3, 1)
    whole = Flowcept.export_prov(str(tmp_path / "all.json"), input_jsonl_path=str(path))
    assert whole["tasks"] == 4  # train's start and end messages, read in separate passes, are one activity
    counts = _counts(_load(whole["output_path"]))
    assert counts == {k: whole[k] for k in counts}


def test_bad_arguments_are_refused_naming_them(tmp_path):
    with pytest.raises(ValueError, match="format='xml'"):
        Flowcept.export_prov(format="xml", records=_RUN)
    with pytest.raises(ValueError, match="no input"):
        Flowcept.export_prov()
    with pytest.raises(ValueError, match="both given"):
        Flowcept.export_prov(records=_RUN, input_jsonl_path="x.jsonl")
    with pytest.raises(FileNotFoundError):
        Flowcept.export_prov(input_jsonl_path=str(tmp_path / "missing.jsonl"))


def test_a_captured_run_exports_from_the_database_and_answers_lineage(defaults, tmp_path):
    from flowcept import flowcept_task

    @flowcept_task
    def make(n):
        return [n, n + 1]

    @flowcept_task
    def total(xs):
        return sum(xs) * 10

    with Flowcept(workflow_name="flow") as fc:
        wid = fc.current_workflow_id
        total(make(5))
    tasks = Flowcept.db.task_query({"workflow_id": wid})
    assert len(tasks) == 2
    by_activity = {t["activity_id"]: t for t in tasks}
    lineage = Flowcept.db.get_lineage(by_activity["total"]["task_id"], "upstream")
    assert [(t["document"]["activity_id"], t["depth"]) for t in lineage["tasks"]] == [("total", 0), ("make", 1)]
    assert Flowcept.db.task_query({"task_id": by_activity["total"]["task_id"]}) == [by_activity["total"]]
    result = Flowcept.export_prov(str(tmp_path / "db.json"), workflow_id=wid)
    doc = _load(result["output_path"])
    assert result["input_mode"] == "db" and _counts(doc)["activities"] == 3
    assert len(_relations(doc, pm.ProvCommunication)) == 1  # total was informed by make
