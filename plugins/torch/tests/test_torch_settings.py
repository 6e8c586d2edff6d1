"""The instrumentation.torch section, capture switches, torch.compile, the import paths, the seeds' example as written
and examples/torch_example.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch_models import MLP, data, forwards

from flowcept import Flowcept

REPO = Path(__file__).resolve().parents[3]


def test_upstream_import_paths_give_the_plugins_names():
    from flowcept_torch import instrument

    from flowcept import FlowceptBatchLoop, FlowceptEpochLoop, flowcept_torch
    from flowcept.instrumentation import flowcept_torch as upstream_module

    assert flowcept_torch is upstream_module.flowcept_torch is instrument.flowcept_torch
    assert FlowceptEpochLoop is upstream_module.FlowceptEpochLoop
    assert FlowceptBatchLoop is upstream_module.FlowceptBatchLoop


@pytest.mark.parametrize("key,value", [("what", "everything"), ("children_mode", "full"), ("epoch_loop", "fast"),
                                       ("capture_epochs_at_every", 0), ("register_workflow", "yes")])
def test_a_bad_settings_value_is_an_error_naming_the_key_and_the_allowed_values(torch_settings, key, value):
    torch_settings(**{key: value})
    from flowcept import flowcept_torch
    from flowcept_core.plugin import SettingsError

    with pytest.raises(SettingsError, match=f"instrumentation.torch.{key}"):
        flowcept_torch(MLP)()


def test_what_null_records_no_forward(torch_settings):
    torch_settings(what=None)
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)()
        y = model(data())
    assert y.shape == (6, 2)
    assert forwards() == [] and Flowcept.db.workflow_query({"name": "MLP"}) == []


@pytest.mark.parametrize("how", ["capture_enabled", "instrumentation_disabled"])
def test_capture_switched_off_records_nothing(torch_settings, how):
    if how == "capture_enabled":
        torch_settings(what="parent_only")
    else:
        torch_settings({"instrumentation": {"enabled": False}}, what="parent_only")
    from flowcept import flowcept_torch

    with Flowcept():
        model = flowcept_torch(MLP)(**({"capture_enabled": False} if how == "capture_enabled" else {}))
        model(data())
    assert forwards() == []


def test_register_workflow_false_puts_the_forwards_in_the_runs_workflow(torch_settings):
    torch_settings(what="parent_only", register_workflow=False)
    from flowcept import flowcept_torch

    with Flowcept() as fc:
        model = flowcept_torch(MLP)()
        model(data())
        saved_off = flowcept_torch(MLP)(save_workflow=False)
        saved_off(data())
    assert model.workflow_id is None
    assert [f["workflow_id"] for f in forwards()] == [fc.current_workflow_id] * 2
    assert Flowcept.db.workflow_query({"name": "MLP"}) == []


def test_telemetry_children_modes_attach_the_runs_telemetry(torch_settings):
    torch_settings({"telemetry_capture": {"cpu": True, "mem": True}},
                   what="parent_and_children", children_mode="telemetry")
    from flowcept import flowcept_torch
    from flowcept_core.plugin import CAPTURE_STATE

    with Flowcept():
        deadline = time.monotonic() + 60
        while CAPTURE_STATE.run.telemetry is None and time.monotonic() < deadline:  # the sampler starts in background
            time.sleep(0.01)
        model = flowcept_torch(MLP)()
        for _ in range(3):
            model(data())
    children = forwards(subtype="child_forward")
    assert len(children) == 9 and all("used" not in c for c in children)
    assert all("telemetry_at_end" in c for c in children)
    assert all("telemetry_at_end" in p for p in forwards())


def test_a_compiled_model_computes_the_same_outputs_and_its_forwards_are_not_recorded(torch_settings):
    torch_settings(what="parent_and_children", children_mode="tensor_inspection")
    from flowcept import flowcept_torch

    with Flowcept():
        torch.manual_seed(3)
        model = flowcept_torch(MLP)()
        compiled = torch.compile(model, backend="eager")
        x = data()
        assert torch.equal(compiled(x), model(x))
        compiled(x)
    # the eager call was recorded (one parent, three children); the compiled ones were not
    assert len(forwards()) == 1 and len(forwards(subtype="child_forward")) == 3


def test_the_seeds_training_example_runs_as_written_without_flowcept(torch_settings):
    torch_settings(what="parent_and_children")
    import torch.optim as optim

    from flowcept import flowcept_torch

    @flowcept_torch
    class MyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 1)

        def forward(self, x):
            return self.fc(x)

    x = torch.randn(100, 10)
    y = torch.randn(100, 1)
    model = MyNet()
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    losses = []
    for _epoch in range(3):
        optimizer.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[2] < losses[0]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.texts: list[str] = []

    def emit(self, record):
        self.texts.append(record.getMessage())


def test_a_run_with_model_workflows_reports_no_lost_messages(torch_settings):
    torch_settings(what="parent_only")
    from flowcept import flowcept_torch

    handler = _Records()
    logger = logging.getLogger("flowcept")  # flowcept's logger does not propagate: listen on it directly
    logger.addHandler(handler)
    try:
        with Flowcept():
            flowcept_torch(MLP)()(data())
    finally:
        logger.removeHandler(handler)
    assert not [t for t in handler.texts if "never reached" in t], handler.texts
    assert len(forwards()) == 1


def test_the_torch_example_runs_and_reads_its_forwards_back(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FLOWCEPT_SETTINGS_PATH"}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "torch_example.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "15 forwards recorded in the model's workflow" in proc.stdout
    assert proc.stdout.count("'loss':") == 3


def test_the_plugins_hooks_and_settings_section_load_without_importing_torch():
    code = ("import sys, flowcept_torch.hooks as h; "
            "print(h.SETTINGS.path, sorted(h.SETTINGS.keys), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(" ", 1)[0] == "instrumentation.torch"
    assert "'batch_loop', 'capture_epochs_at_every', 'children_mode', 'epoch_loop', 'register_workflow', 'what'" \
        in out.stdout
    assert out.stdout.strip().endswith("False")
