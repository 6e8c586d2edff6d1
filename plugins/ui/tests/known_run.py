"""A known run for the provenance browser's tests and screenshots: nested tasks, an error, telemetry, a training
loop whose loss falls, in one workflow of campaign ``ui-campaign``.

Run as a script in a fresh directory (it writes ``flowcept_lmdb/`` and ``flowcept_buffer.jsonl`` there):
``python known_run.py``. Prints the workflow id.
"""

from __future__ import annotations

import time

WORKFLOW_NAME = "ui-known-run"
CAMPAIGN_ID = "ui-campaign"
EPOCHS = 5
ERROR_TEXT = "ValueError: learning rate must be positive, got -0.5"


def main() -> str:
    from flowcept import Flowcept, flowcept_task

    @flowcept_task(output_names="loss")
    def train_epoch(epoch: int, lr: float) -> float:
        end = time.perf_counter() + 0.45  # busy: the telemetry sampler (1 s) sees CPU use across the epochs
        while time.perf_counter() < end:
            pass
        return round(2.0 / (epoch + 1), 4)

    @flowcept_task(output_names="accuracy")
    def evaluate(model_name: str) -> float:
        time.sleep(0.01)
        return 0.93

    @flowcept_task(output_names="model_name")
    def fit(dataset: str, epochs: int) -> str:
        for e in range(epochs):
            train_epoch(e, 0.1)
        return f"model-{dataset}"

    @flowcept_task
    def check_lr(lr: float) -> None:
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")

    with Flowcept(workflow_name=WORKFLOW_NAME, campaign_id=CAMPAIGN_ID) as fc:
        model = fit("mnist", EPOCHS)
        evaluate(model)
        try:
            check_lr(-0.5)
        except ValueError:
            pass
        workflow_id = fc.current_workflow_id
    return workflow_id


if __name__ == "__main__":
    print(main())
