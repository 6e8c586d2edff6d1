"""The one PROV mapping (flowcept_core.prov_mapping): what tasks, workflows, agents and values become."""

from __future__ import annotations

import json

import pytest

from flowcept_core.prov_mapping import (
    AgentRef,
    ProvMappingError,
    map_task,
    map_workflow,
    prov_scalar,
    value_entity_id,
)


def test_equal_values_are_one_entity_whatever_their_key_order_and_types_stay_apart():
    assert value_entity_id({"a": 1, "b": [1, 2]}) == value_entity_id({"b": [1, 2], "a": 1})
    ids = {value_entity_id(v) for v in (1, 1.0, "1", True, None, float("nan"), "nan")}
    assert len(ids) == 7
    assert value_entity_id([1, 2]).startswith("sha256:") and len(value_entity_id([1, 2])) == 7 + 64


def test_an_explicit_data_id_names_the_entity_whatever_else_the_value_holds():
    assert value_entity_id({"data_id": "s3://b/m.pt", "bytes": 10}) == "data:s3://b/m.pt"
    assert value_entity_id({"data_id": "s3://b/m.pt"}) == "data:s3://b/m.pt"
    assert value_entity_id({"data_id": ""}).startswith("sha256:")  # an empty id is no id


def test_values_that_are_not_prov_scalars_are_serialized_never_dropped():
    m = map_task({"task_id": "t", "used": {"cfg": {"b": 2, "a": [1, None]}, "n": None, "obj": object()},
                  "generated": 42})
    by_name = {ref.name: ref for ref in m.used}
    assert json.loads(by_name["cfg"].value) == {"a": [1, None], "b": 2}
    assert by_name["n"].value == "null"
    assert by_name["obj"].value.startswith('"<object object')
    assert [(r.name, r.value) for r in m.generated] == [("value", 42)]  # a bare result is one entity
    assert prov_scalar(2**70) == str(2**70) and prov_scalar(float("inf")) == "inf" and prov_scalar(True) is True


def test_a_task_maps_to_its_activity_properties_parent_and_agents():
    m = map_task({"task_id": "t2", "workflow_id": "w", "parent_task_id": "t1", "activity_id": "train",
                  "status": "FINISHED", "started_at": 1.5, "ended_at": 2.5, "telemetry_at_start": {"cpu": 3},
                  "user": "ana", "agent_id": "bot-1", "hostname": "n1", "type": "task", "_id": "x", "stderr": None})
    assert (m.task_id, m.workflow_id, m.parent_task_id) == ("t2", "w", "t1")
    assert m.properties["activity_id"] == "train" and m.properties["started_at"] == 1.5
    assert m.properties["telemetry_at_start"] == '{"cpu":3}'
    assert not {"type", "_id", "stderr", "used", "generated", "task_id"} & set(m.properties)
    assert m.agents == (AgentRef("user", "ana"), AgentRef("agent", "bot-1"), AgentRef("host", "n1"))


def test_a_workflow_maps_with_its_campaign_parent_and_host_from_machine_info():
    m = map_workflow({"workflow_id": "w2", "campaign_id": "c", "parent_workflow_id": "w1", "name": "run",
                      "machine_info": {"hostname": "n9"}, "login_name": "bo"})
    assert (m.workflow_id, m.campaign_id, m.parent_workflow_id) == ("w2", "c", "w1")
    assert m.properties["name"] == "run" and json.loads(m.properties["machine_info"]) == {"hostname": "n9"}
    assert m.agents == (AgentRef("user", "bo"), AgentRef("host", "n9"))


def test_documents_without_their_id_are_refused_by_name():
    with pytest.raises(ProvMappingError, match="task_id"):
        map_task({"activity_id": "x"})
    with pytest.raises(ProvMappingError, match="workflow_id"):
        map_workflow({"name": "x"})


def test_the_plugin_api_offers_the_mapping():
    from flowcept_core import plugin

    assert plugin.map_task is map_task and plugin.value_entity_id is value_entity_id
