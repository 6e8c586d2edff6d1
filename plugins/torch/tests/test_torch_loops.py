"""FlowceptEpochLoop / FlowceptBatchLoop: epochs and batches are tasks, the forwards inside them their children, the
loss values given to end_iter are stored; the settings choose the loop kind, switch loops off and thin out epochs."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_models import MLP, data, forwards

from flowcept import Flowcept, FlowceptTask


def _train(model, epochs_loop_cls, batch_loop_cls, n_epochs=3, n_batches=2):
    x = data(8)
    batches = [x[:4], x[4:]][:n_batches]
    loop = epochs_loop_cls(range(n_epochs), model=model)
    losses = []
    for epoch in loop:
        for xb in batch_loop_cls(batches, epochs_loop=loop):
            loss = model(xb).pow(2).mean()
        val = model(x).pow(2).mean()
        losses.append(loss.item())
        loop.end_iter({"loss": loss, "val_loss": val.item(), "epoch_seen": epoch})
    return loop, losses


@pytest.mark.parametrize("mode", ["default", "lightweight"])
def test_forwards_nest_under_batches_and_epochs_that_keep_the_loss_values(torch_settings, mode):
    torch_settings(what="parent_only", epoch_loop=mode, batch_loop=mode)
    from flowcept import FlowceptBatchLoop, FlowceptEpochLoop, flowcept_torch

    with Flowcept() as fc:
        model = flowcept_torch(MLP)()
        _, losses = _train(model, FlowceptEpochLoop, FlowceptBatchLoop)
    epochs = sorted(Flowcept.db.task_query({"activity_id": "epochs_loop_iteration"}), key=lambda d: d["used"]["i"])
    batches = Flowcept.db.task_query({"activity_id": "train_batch_iteration"})
    assert [e["used"]["epoch"] for e in epochs] == [0, 1, 2]
    assert all(e["workflow_id"] == fc.current_workflow_id for e in epochs)
    assert [e["generated"]["loss"] for e in epochs] == pytest.approx(losses)  # a loss tensor is stored as its number
    assert [e["generated"]["epoch_seen"] for e in epochs] == [0, 1, 2]
    assert len(batches) == 6
    epoch_ids = {e["task_id"] for e in epochs}
    assert {b["parent_task_id"] for b in batches} == epoch_ids
    assert batches[0]["used"]["batch"]["shape"] == [4, 4]  # the batch item as a summary, not its values
    fwds = forwards(model.workflow_id)
    assert len(fwds) == 9
    batch_ids = {b["task_id"] for b in batches}
    train_fwds = [f for f in fwds if f["parent_task_id"] in batch_ids]
    val_fwds = [f for f in fwds if f["parent_task_id"] in epoch_ids]  # after the batch loop: the epoch again
    assert len(train_fwds) == 6 and len(val_fwds) == 3


def test_capture_epochs_at_every_records_the_forwards_of_every_nth_epoch(torch_settings):
    torch_settings(what="parent_only", capture_epochs_at_every=2)
    from flowcept import FlowceptBatchLoop, FlowceptEpochLoop, flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)()
        _train(model, FlowceptEpochLoop, FlowceptBatchLoop, n_epochs=5, n_batches=1)
    epochs = {e["task_id"]: e["used"]["epoch"] for e in
              Flowcept.db.task_query({"activity_id": "epochs_loop_iteration"})}
    batches = {b["task_id"]: epochs[b["parent_task_id"]] for b in
               Flowcept.db.task_query({"activity_id": "train_batch_iteration"})}
    seen = sorted({batches.get(f["parent_task_id"], epochs.get(f["parent_task_id"])) for f in forwards()})
    assert seen == [0, 2, 4]
    assert len(epochs) == 5  # the epochs themselves are all recorded


def test_null_loop_settings_make_plain_loops(torch_settings):
    torch_settings(what="parent_only", epoch_loop=None, batch_loop=None)
    from flowcept import FlowceptBatchLoop, FlowceptEpochLoop, flowcept_torch

    with Flowcept():
        with FlowceptTask(activity_id="outer") as outer:
            model = flowcept_torch(MLP)()
            loop, _ = _train(model, FlowceptEpochLoop, FlowceptBatchLoop, n_epochs=2)
    assert not loop.enabled and loop.get_current_iteration_id() is None
    assert Flowcept.db.task_query({"activity_id": "epochs_loop_iteration"}) == []
    assert Flowcept.db.task_query({"activity_id": "train_batch_iteration"}) == []
    assert {f["parent_task_id"] for f in forwards()} == {outer.get_id()}  # forwards still recorded


def test_a_batch_loop_without_an_epoch_loop_records_nothing_and_still_iterates(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import FlowceptBatchLoop

    with Flowcept():
        items = list(FlowceptBatchLoop([1, 2, 3], step="eval"))
    assert items == [1, 2, 3]
    assert Flowcept.db.task_query({"activity_id": "eval_batch_iteration"}) == []


def test_leaving_an_epoch_loop_early_records_the_epochs_that_ran_and_restores_the_parent(torch_settings):
    torch_settings(what="parent_only", epoch_loop="default")
    from flowcept import FlowceptEpochLoop, flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)(parent_task_id="given-parent")
        loop = FlowceptEpochLoop(5, model=model)
        for epoch in loop:
            model(data())
            if epoch == 1:
                break
        model(data())
    epochs = Flowcept.db.task_query({"activity_id": "epochs_loop_iteration"})
    assert sorted(e["used"]["epoch"] for e in epochs) == [0, 1]
    assert forwards()[-1]["parent_task_id"] == "given-parent"


def test_loops_iterate_as_plain_iterables_without_flowcept(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import FlowceptBatchLoop, FlowceptEpochLoop, flowcept_torch

    model = flowcept_torch(MLP)()
    loop = FlowceptEpochLoop(range(2), model=model)
    seen = [(e, [b.shape[0] for b in FlowceptBatchLoop([torch.ones(2, 4)], epochs_loop=loop)]) for e in loop]
    loop.end_iter({"loss": 1.0})
    assert seen == [(0, [2]), (1, [2])]
    assert isinstance(model(data()), torch.Tensor) and not isinstance(model, type(nn.Identity()))
