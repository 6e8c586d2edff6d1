"""The input of flowcept_core.prov_export: workflow and task documents by id, from blocks of messages (records in
memory, or read from the database) or from a buffer file, several messages of one id merged in order (the start and
end messages of one task), and kept for one workflow_id or campaign_id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def _kind(msg: Any) -> tuple[bool, str] | None:
    """(is a task, its id) of a task or workflow message; None for anything else."""
    if not isinstance(msg, dict):
        return None
    kind = msg.get("type")
    if kind in (None, "task") and msg.get("task_id") is not None:
        return True, str(msg["task_id"])
    if kind in (None, "workflow") and msg.get("workflow_id") is not None:
        return False, str(msg["workflow_id"])
    return None


def _gather(blocks: Iterable[Iterable[dict]]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Workflow and task documents by id, several messages of one id merged in order (other messages skipped)."""
    from flowcept_core.documents import merge_documents

    workflows: dict[str, dict] = {}
    tasks: dict[str, dict] = {}
    for block in blocks:
        for msg in block:
            found = _kind(msg)
            if found is None:
                continue
            into = tasks if found[0] else workflows
            old = into.get(found[1])
            into[found[1]] = msg if old is None else merge_documents(old, msg)
    return workflows, tasks


def _jsonl_documents(
    path: str, skipped: list[int], workflow_id: Any, campaign_id: Any
) -> tuple[dict[str, dict], Iterator[dict]]:
    """A buffer file's workflows (merged) and its task documents, read in two passes so that only the messages of
    tasks still waiting for a later message are held: the first counts each task's messages (and notes the
    workflows to keep), the second yields a task when its last message is read."""
    from flowcept_core.documents import merge_documents
    from flowcept_core.report.source import iter_jsonl_blocks

    counts: dict[str, int] = {}
    workflows: dict[str, dict] = {}
    in_campaign: set[str] = set()  # workflow ids of the campaign's tasks
    for block in iter_jsonl_blocks(path, "reading buffer file", skipped):
        for msg in block:
            kind = msg.get("type", "task") if type(msg) is dict else None
            if kind == "task" and (tid := msg.get("task_id")) is not None:  # the common case of _kind, inlined
                found: tuple[bool, str] | None = (True, tid if type(tid) is str else str(tid))
            else:
                found = _kind(msg)
            if found is None:
                continue
            is_task, key = found
            if is_task:
                counts[key] = counts.get(key, 0) + 1
                if campaign_id is not None and msg.get("campaign_id") == campaign_id and msg.get("workflow_id"):
                    in_campaign.add(str(msg["workflow_id"]))
            else:
                old = workflows.get(key)
                workflows[key] = msg if old is None else merge_documents(old, msg)
    keep = None
    if workflow_id is not None or campaign_id is not None:
        keep = (
            {str(workflow_id)}
            if workflow_id is not None
            else in_campaign | {w for w, d in workflows.items() if d.get("campaign_id") == campaign_id}
        )
        workflows = {w: d for w, d in workflows.items() if w in keep}

    def tasks() -> Iterator[dict]:
        pending: dict[str, dict] = {}
        for block in iter_jsonl_blocks(path, "exporting", [0]):
            for msg in block:
                kind = msg.get("type", "task") if type(msg) is dict else None
                if kind == "task" and (tid := msg.get("task_id")) is not None:
                    key = tid if type(tid) is str else str(tid)
                else:
                    found = _kind(msg)
                    if found is None or not found[0]:
                        continue
                    key = found[1]
                left = counts.get(key, 1)
                old = pending.pop(key, None)
                doc = msg if old is None else merge_documents(old, msg)
                if left > 1:  # more messages of this task follow
                    counts[key] = left - 1
                    pending[key] = doc
                elif keep is None or str(doc.get("workflow_id")) in keep:
                    yield doc

    return workflows, tasks()


def _filter(
    workflows: dict[str, dict], tasks: dict[str, dict], workflow_id: Any, campaign_id: Any
) -> tuple[dict[str, dict], dict[str, dict]]:
    if workflow_id is not None:
        keep = {str(workflow_id)}
    else:
        keep = {w for w, d in workflows.items() if d.get("campaign_id") == campaign_id}
        keep |= {
            str(t["workflow_id"])
            for t in tasks.values()
            if t.get("campaign_id") == campaign_id and t.get("workflow_id") is not None
        }
    return (
        {w: d for w, d in workflows.items() if w in keep},
        {t: d for t, d in tasks.items() if str(d.get("workflow_id")) in keep},
    )
