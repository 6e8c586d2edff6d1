"""Training a small PyTorch model with its forwards, epochs and batches recorded; runs in a few seconds on a CPU.

Run: python examples/torch_example.py      (needs: pip install "flowcept[torch]")

``@flowcept_torch`` makes each forward call of ``MyNet`` a task (tensor summaries, never tensor data);
``FlowceptEpochLoop`` / ``FlowceptBatchLoop`` make each epoch and batch a task and the parent of the forwards that
run in it; ``end_iter`` stores the epoch's loss. Everything is read back with ``Flowcept.db`` (in-process MQ and the
embedded LMDB store: no server).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.optim as optim

from flowcept import Flowcept, FlowceptBatchLoop, FlowceptEpochLoop, flowcept_torch


@flowcept_torch
class MyNet(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x):
        return self.fc(x)


def train(epochs: int = 3) -> tuple[str, str]:
    """Train MyNet on random data; returns (the run's workflow id, the model's workflow id)."""
    torch.manual_seed(0)
    x = torch.randn(100, 10)  # 100 samples, 10 features
    y = torch.randn(100, 1)  # 100 targets
    batches = [(x[i:i + 25], y[i:i + 25]) for i in range(0, 100, 25)]
    with Flowcept(workflow_name="torch_example") as fc:
        model = MyNet(get_profile=True, custom_metadata={"lr": 0.01})
        optimizer = optim.SGD(model.parameters(), lr=0.01)
        loss_fn = nn.MSELoss()
        epochs_loop = FlowceptEpochLoop(range(epochs), model=model)
        for epoch in epochs_loop:
            total = 0.0
            for xb, yb in FlowceptBatchLoop(batches, epochs_loop=epochs_loop):
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)  # a parent_forward task, child of this batch
                loss.backward()
                optimizer.step()
                total += loss.item()
            model.eval()
            with torch.no_grad():
                val_loss = loss_fn(model(x), y).item()  # recorded with is_training False
            model.train()
            epochs_loop.end_iter({"loss": total / len(batches), "val_loss": val_loss})
            print(f"Epoch {epoch} - Loss {total / len(batches):.4f}")
    return fc.current_workflow_id, model.workflow_id


def main() -> None:
    run_workflow, model_workflow = train()
    forwards = Flowcept.db.task_query({"workflow_id": model_workflow, "subtype": "parent_forward"})
    epochs = Flowcept.db.task_query({"workflow_id": run_workflow, "activity_id": "epochs_loop_iteration"})
    print(f"{len(forwards)} forwards recorded in the model's workflow {model_workflow}")
    for e in sorted(epochs, key=lambda d: d["used"]["epoch"]):
        print(f"epoch {e['used']['epoch']}: {e['generated']}")
    first = forwards[0]
    print("a forward's input:", first["used"]["tensor"])


if __name__ == "__main__":
    main()
