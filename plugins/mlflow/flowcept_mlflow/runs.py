"""From what a read of the tracking database found (Changes) to task message fields, one per run that changed.

A run is a task: ``task_id`` is the run id, ``activity_id`` the experiment's name, params go in ``used`` (as MLflow
stores them: strings), metrics in ``generated``, MLflow's status mapped to flowcept's, times in seconds. A run seen
again sends only what is new (params, changed metrics) with its current status, times and metadata; stores merge
the messages by task_id into one document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from flowcept_core.plugin import Status
from flowcept_mlflow.state import CaptureState, RunRecord
from flowcept_mlflow.tracking_db import Changes, RunRow

__all__ = ["STATUS", "run_updates", "DEFAULT_ACTIVITY"]

# MLflow RunStatus -> flowcept Status. KILLED (stopped by the user or a signal) did not finish: ERROR, with
# custom_metadata.mlflow_status telling it apart from FAILED.
STATUS = {"RUNNING": Status.RUNNING.value, "SCHEDULED": Status.SUBMITTED.value, "FINISHED": Status.FINISHED.value,
          "FAILED": Status.ERROR.value, "KILLED": Status.ERROR.value}
DEFAULT_ACTIVITY = "mlflow_run"  # activity_id of a run whose experiment has no name


def _seconds(ms: int | None) -> float | None:
    return ms / 1000.0 if isinstance(ms, int | float) and not isinstance(ms, bool) else None


def _metadata(row: RunRow, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "experiment_id": None if row.experiment_id is None else str(row.experiment_id),
        "experiment_name": row.experiment_name,
        "run_name": row.name,
        "mlflow_status": row.status,
        "lifecycle_stage": row.lifecycle_stage,
        "artifact_uri": row.artifact_uri,
        "tags": tags,
    }


def _digest(row: RunRow, metadata: dict[str, Any]) -> str:
    text = json.dumps([row.start_time, row.end_time, row.user_id, metadata], sort_keys=True, default=str)
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def run_updates(changes: Changes, state: CaptureState, workflow_id: str,
                campaign_id: str | None) -> Iterator[tuple[str, dict[str, Any], RunRecord]]:
    """(run id, task fields for Emitter.emit_task, the run's new record) for each run with something to send.

    A run first seen is sent in full and belongs to workflow_id/campaign_id; a run captured before keeps the
    workflow and campaign it was first captured in (its task is updated, not moved).
    """
    for run_id, row in changes.runs.items():
        metadata = _metadata(row, changes.tags.get(run_id, {}))
        digest = _digest(row, metadata)
        used = changes.params.get(run_id)
        generated = changes.metrics.get(run_id)
        record = state.runs.get(run_id)
        if record is not None and record[4] == digest and not used and not generated:
            continue
        wf, campaign = (record[0], record[1]) if record is not None else (workflow_id, campaign_id)
        fields: dict[str, Any] = {
            "task_id": run_id,
            "workflow_id": wf,
            "activity_id": row.experiment_name or DEFAULT_ACTIVITY,
            "subtype": "mlflow_run",
            "adapter_id": "mlflow",
            "status": STATUS.get(row.status or "", Status.UNKNOWN.value),
            "started_at": _seconds(row.start_time),
            "ended_at": _seconds(row.end_time),
            "used": used or None,
            "generated": generated or None,
            "custom_metadata": metadata,
            "user": row.user_id or None,
        }
        if campaign is not None:
            fields["campaign_id"] = campaign
        new_record = [wf, campaign, row.status, row.end_time, digest, row.lifecycle_stage, row.name]
        yield run_id, {k: v for k, v in fields.items() if v is not None}, new_record
