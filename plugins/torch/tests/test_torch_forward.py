"""@flowcept_torch on a real nn.Module: each forward is a parent_forward task of the model's workflow, with tensor
summaries only; errors are recorded and re-raised; outputs and gradients are those of the undecorated model."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch_models import MLP, Failing, Strict, data, forwards

from flowcept import Flowcept, flowcept_task

SUMMARY_KEYS = {"shape", "dtype", "device", "numel", "nbytes", "is_sparse", "density"}


def test_forward_is_a_task_of_the_models_workflow_with_tensor_summaries(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    Net = flowcept_torch(MLP)
    x = data()
    with Flowcept(workflow_name="fwd") as fc:
        model = Net(custom_metadata={"lr": 0.1})
        out = model(x)
    (task,) = forwards()
    assert task["activity_id"] == "MLP" and task["subtype"] == "parent_forward"
    assert task["status"] == "FINISHED"
    assert task["started_at"] <= task["ended_at"]
    assert task["workflow_id"] == model.workflow_id != fc.current_workflow_id
    assert task["custom_metadata"] == {"lr": 0.1, "is_training": True}
    assert task["used"]["tensor"] == {"shape": [6, 4], "dtype": "float32", "device": "cpu", "numel": 24,
                                      "nbytes": 96, "is_sparse": False, "density": 1.0}
    assert set(task["generated"]["tensor"]) == SUMMARY_KEYS
    assert task["generated"]["tensor"]["shape"] == list(out.shape)
    text = json.dumps(task)
    assert str(round(float(x[0, 0]), 4))[:6] not in text  # no tensor data anywhere in the document
    (wf,) = Flowcept.db.workflow_query({"workflow_id": model.workflow_id})
    assert wf["name"] == "MLP" and wf["parent_workflow_id"] == fc.current_workflow_id
    assert wf["campaign_id"] == fc.campaign_id == task["campaign_id"]
    assert wf["custom_metadata"]["workflow_type"] == "TorchModule" and wf["custom_metadata"]["lr"] == 0.1


def test_density_counts_the_nonzero_elements_and_sparse_tensors_are_marked(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    @flowcept_torch
    class Identity(nn.Module):
        def forward(self, x, other=None):
            return x

    dense = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    with Flowcept():
        model = Identity()
        model(dense)
        model(dense.to_sparse(), other=torch.zeros(3))
    first, second = forwards()
    assert first["used"]["tensor"]["density"] == 0.5
    assert second["used"]["tensor"]["is_sparse"] is True and second["used"]["tensor"]["density"] == 0.5
    assert second["used"]["other"]["density"] == 0.0 and second["used"]["other"]["shape"] == [3]


def test_other_inputs_are_recorded_by_parameter_name_and_tuple_outputs_by_position(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    @flowcept_torch
    class Two(nn.Module):
        def forward(self, x, mask, label="a"):
            return x * mask, {"n": x.shape[0]}

    with Flowcept():
        Two()(torch.ones(2, 2), torch.zeros(2, 2), label="b")
    (task,) = forwards()
    assert set(task["used"]) == {"tensor", "mask", "label"} and task["used"]["label"] == "b"
    assert task["used"]["mask"]["density"] == 0.0
    assert task["generated"]["arg_0"]["shape"] == [2, 2] and task["generated"]["arg_1"] == {"n": 2}


def test_outputs_and_gradients_are_those_of_the_undecorated_model(torch_settings):
    torch_settings(what="parent_and_children", children_mode="telemetry_and_tensor_inspection")
    from flowcept import flowcept_torch

    Net = flowcept_torch(MLP)
    x = data()
    results = []
    for cls in (MLP, Net):
        torch.manual_seed(1)
        with Flowcept():
            model = cls()
            out = model(x, scale=2.0)
            out.sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    (out_plain, grads_plain), (out_dec, grads_dec) = results
    assert torch.equal(out_plain, out_dec)
    assert all(torch.equal(a, b) for a, b in zip(grads_plain, grads_dec, strict=True))
    assert len(forwards()) == 1 and len(forwards(subtype="child_forward")) == 3  # it did record


def test_no_grad_and_eval_mode_forwards_are_recorded_as_not_training(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)()
        model(data())
        model.eval()
        with torch.no_grad():
            y = model(data())
        with torch.inference_mode():
            model(data())
    assert not y.requires_grad
    assert [t["custom_metadata"]["is_training"] for t in forwards()] == [True, False, False]


def test_a_failing_forward_is_recorded_as_error_and_the_exception_propagates(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(Failing)()
        with pytest.raises(ValueError, match="expected 3 features"):
            model(torch.ones(2, 5))
        model(torch.ones(2, 3))
    failed, ok = forwards()
    assert failed["status"] == "ERROR" and "ValueError: expected 3 features, got 5" in failed["stderr"]
    assert "generated" not in failed and failed["used"]["tensor"]["shape"] == [2, 5]
    assert ok["status"] == "FINISHED"


def test_forward_inside_a_task_has_that_task_as_parent_and_nested_tasks_have_the_forward(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    @flowcept_task
    def inner_step(n):
        return n

    @flowcept_torch
    class Calls(nn.Module):
        def forward(self, x):
            inner_step(1)
            return x

    @flowcept_task
    def evaluate(model):
        return float(model(torch.ones(1)).sum())

    with Flowcept():
        evaluate(Calls())
    (fwd,) = forwards()
    (outer,) = Flowcept.db.task_query({"activity_id": "evaluate"})
    (nested,) = Flowcept.db.task_query({"activity_id": "inner_step"})
    assert fwd["parent_task_id"] == outer["task_id"]
    assert nested["parent_task_id"] == fwd["task_id"]


def test_children_are_child_forward_tasks_of_their_parent_forward(torch_settings):
    torch_settings(what="parent_and_children", children_mode="tensor_inspection")
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)()
        model(data())
        model(data())
        model.fc1(data())  # outside a recorded forward of the model: not a child task
    parents = forwards()
    children = forwards(subtype="child_forward")
    assert len(parents) == 2 and len(children) == 6
    for parent in parents:
        mine = [c for c in children if c["parent_task_id"] == parent["task_id"]]
        assert [c["activity_id"] for c in mine] == ["Linear", "ReLU", "Linear"]
        assert all(c["workflow_id"] == model.workflow_id for c in mine)
        assert all(parent["started_at"] <= c["started_at"] <= c["ended_at"] <= parent["ended_at"] for c in mine)
    first = children[0]
    assert first["used"]["in_features"] == 4 and first["used"]["out_features"] == 8
    assert first["used"]["tensor"]["shape"] == [6, 4] and first["generated"]["tensor"]["shape"] == [6, 8]


def test_lightweight_children_record_timing_and_status_without_tensors(torch_settings):
    torch_settings(what="parent_and_children", children_mode="lightweight")
    from flowcept import flowcept_torch

    with Flowcept():
        flowcept_torch(MLP)()(data())
    children = forwards(subtype="child_forward")
    assert len(children) == 3
    assert all("used" not in c and "generated" not in c and c["status"] == "FINISHED" for c in children)
    assert all(c["started_at"] <= c["ended_at"] for c in children)


def test_parent_only_leaves_the_children_untouched(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)()
        model(data())
    assert all("forward" not in vars(child) for child in model.children())
    assert forwards(subtype="child_forward") == []


def test_constructor_options_reach_an_init_that_takes_kwargs_and_are_kept_from_one_that_does_not(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    with Flowcept() as fc:
        loose = flowcept_torch(MLP)(custom_metadata={"k": 1}, campaign_id="camp-1", parent_task_id="outer-1",
                                    parent_workflow_id="wf-parent")
        strict = flowcept_torch(Strict)(campaign_id="camp-2", get_profile=True)
        loose(data())
        strict(torch.ones(1, 3))
    assert loose.received == {"custom_metadata": {"k": 1}, "campaign_id": "camp-1", "parent_task_id": "outer-1",
                              "parent_workflow_id": "wf-parent"}
    (t_loose,) = forwards(loose.workflow_id)
    (t_strict,) = forwards(strict.workflow_id)
    assert t_loose["parent_task_id"] == "outer-1" and t_loose["campaign_id"] == "camp-1"
    assert t_strict["campaign_id"] == "camp-2" and "parent_task_id" not in t_strict
    (wf,) = Flowcept.db.workflow_query({"workflow_id": loose.workflow_id})
    assert wf["parent_workflow_id"] == "wf-parent" and wf["campaign_id"] == "camp-1"
    (wf_strict,) = Flowcept.db.workflow_query({"workflow_id": strict.workflow_id})
    assert wf_strict["parent_workflow_id"] == fc.current_workflow_id


def test_get_profile_records_parameter_counts_layer_shapes_and_size_on_the_workflow(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)(get_profile=True)
    (wf,) = Flowcept.db.workflow_query({"workflow_id": model.workflow_id})
    profile = wf["custom_metadata"]["model_profile"]
    n = sum(p.numel() for p in model.parameters())
    assert profile["params"] == n == 4 * 8 + 8 + 8 * 2 + 2
    assert profile["size_bytes"] == 4 * n
    assert profile["modules"]["fc1"]["parameters"] == {"weight": [8, 4], "bias": [8]}
    assert profile["modules"]["fc2"]["settings"] == {"in_features": 8, "out_features": 2}
    assert "Linear(in_features=4" in profile["model_repr"]


def test_a_model_built_before_flowcept_starts_registers_its_workflow_in_each_run(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    model = flowcept_torch(MLP)()
    model(data())  # nothing captures yet
    for _ in range(2):
        with Flowcept() as fc:
            model(data())
        (wf,) = Flowcept.db.workflow_query({"workflow_id": model.workflow_id})
        assert wf["parent_workflow_id"] == fc.current_workflow_id
    assert len(forwards(model.workflow_id)) == 2


def test_a_decorated_class_keeps_its_name_and_loads_the_plain_models_state_dict(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    Net = flowcept_torch(MLP)
    assert Net.__name__ == "MLP" and issubclass(Net, MLP)
    with Flowcept():
        model = Net()
        model.load_state_dict(MLP().state_dict())
        assert torch.equal(model(data()), model(data()))


def test_a_deep_copy_computes_with_its_own_weights_and_records_its_own_forwards(torch_settings):
    torch_settings(what="parent_and_children", children_mode="tensor_inspection")
    import copy

    from flowcept import flowcept_torch

    x = data()
    with Flowcept():
        model = flowcept_torch(MLP)()
        before = model(x)
        twin = copy.deepcopy(model)
        with torch.no_grad():
            for p in twin.parameters():
                p.zero_()
        assert torch.equal(model(x), before)  # the copy's children do not run the original's layers, nor vice versa
        assert torch.equal(twin(x), torch.zeros_like(before))
    parents = forwards()
    children = forwards(subtype="child_forward")
    assert len(parents) == 3 and len(children) == 9
    for parent in parents:
        assert len([c for c in children if c["parent_task_id"] == parent["task_id"]]) == 3


def test_a_decorated_model_pickles_with_torch_save_and_records_after_loading(torch_settings, tmp_path):
    torch_settings(what="parent_and_children", children_mode="lightweight")
    from torch_models import saved_class

    x = data()
    with Flowcept():
        model = saved_class()()
        expected = model(x)
        torch.save(model, tmp_path / "model.pt")
        loaded = torch.load(tmp_path / "model.pt", weights_only=False)
        assert type(loaded) is type(model) and torch.equal(loaded(x), expected)
    assert len(forwards()) == 2 and len(forwards(subtype="child_forward")) == 6
