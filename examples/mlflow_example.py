"""MLflow runs recorded as flowcept tasks: a small model trained with MLflow logging to a SQLite tracking database,
observed by ``Flowcept("mlflow")``, then read back with ``Flowcept.db``.

Run: python examples/mlflow_example.py      (needs: pip install "flowcept[mlflow]")

The script writes mlflow.db (MLflow's tracking database, the default ``adapters.mlflow.file_path``) and
flowcept_lmdb/ (flowcept's default store) in the working directory. The training code only talks to MLflow; flowcept
watches the database and records each run as a task: params in ``used``, the latest value of each metric in
``generated``, MLflow's status, start and end times, experiment, run name and tags.
"""

from __future__ import annotations

import logging
import random

import mlflow

from flowcept import Flowcept

logging.getLogger("mlflow").setLevel(logging.WARNING)
logging.getLogger("alembic").setLevel(logging.WARNING)


def train(lr: float, epochs: int, seed: int = 0) -> float:
    """Fit y = 3x + 1 by gradient descent, logging the loss of every epoch to the active MLflow run."""
    rng = random.Random(seed)
    data = [(x, 3 * x + 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(64))]
    w = b = 0.0
    loss = float("inf")
    for epoch in range(epochs):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
        grad_b = sum(2 * (w * x + b - y) for x, y in data) / len(data)
        w, b = w - lr * grad_w, b - lr * grad_b
        loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
        mlflow.log_metric("loss", loss, step=epoch)
    mlflow.log_metrics({"w": w, "b": b})
    return loss


def main() -> None:
    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment("linear_regression")
    with Flowcept("mlflow", workflow_name="mlflow_example") as fc:
        for lr in (0.05, 0.2):
            with mlflow.start_run(run_name=f"lr={lr}"):
                mlflow.log_params({"lr": lr, "epochs": 30})
                train(lr, epochs=30)
    # stop() has delivered everything: the runs are tasks of this workflow
    for task in Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id}, sort=[("started_at", 1)]):
        print(f"{task['activity_id']} / {task['custom_metadata']['run_name']}: {task['status']} "
              f"used={task['used']} loss={task['generated']['loss']:.4f} w={task['generated']['w']:.2f}")


if __name__ == "__main__":
    main()
