"""Forward templates: what a decorated model's (or a child module's) forward records share, and turning a captured
record into a task message, off the caller's path (when the run's buffer is drained).

A forward lays one flat record into the run's buffer (the same protocol as ``@flowcept_task``: the template first,
``width`` entries in all)::

    (template, task_id, parent, started_at, ended_at, training, args, kwargs, output, error, telemetry)

``args`` / ``kwargs`` / ``output`` hold tensor summaries (flowcept_torch.tensors), never tensors; ``task_id`` is a
counter id (formatted when built); ``telemetry`` is the run's sampler snapshot at the end of the call, or None
(then, for a template with telemetry, the run's snapshot when the message is built: the sampler starts in the
background).
"""

from __future__ import annotations

from typing import Any

from flowcept_core.plugin import Status, sanitize_dict
from flowcept_torch.tensors import TensorSummary, plain

__all__ = ["ForwardTemplate", "PARENT_FORWARD", "CHILD_FORWARD"]

PARENT_FORWARD = "parent_forward"
CHILD_FORWARD = "child_forward"
_FINISHED, _ERROR = Status.FINISHED.value, Status.ERROR.value


class ForwardTemplate:
    """Fields every forward of one module shares, fixed when the model is built.

    ``names``: the keys of the positional inputs in ``used`` (the first is ``tensor``, as upstream records it, the
    others their parameter names); ``module_fields``: the module's own settings (e.g. ``in_features``) a child
    forward records in ``used`` with tensor inspection; ``custom_metadata``: what the user passed to the model.
    """

    __slots__ = ("activity_id", "subtype", "workflow_id", "campaign_id", "names", "module_fields",
                 "custom_metadata", "telemetry", "_meta")
    width = 11

    def __init__(self, activity_id: str, subtype: str, *, workflow_id: str | None = None,
                 campaign_id: str | None = None, names: tuple[str, ...] = ("tensor",),
                 module_fields: dict | None = None, custom_metadata: dict | None = None, telemetry: bool = True):
        self.activity_id = activity_id
        self.subtype = subtype
        self.workflow_id = workflow_id
        self.campaign_id = campaign_id
        self.names = names
        self.module_fields = module_fields
        self.custom_metadata = custom_metadata
        self.telemetry = telemetry  # False: none even when the run samples it (children in a non-telemetry mode)
        self._meta: tuple = (None, None)  # (limits, {training: custom_metadata}) sanitized once per run's limits

    def __getstate__(self) -> dict:
        state = {k: getattr(self, k) for k in self.__slots__}
        state["_meta"] = (None, None)  # a cache tied to a run's limits
        return state

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def __deepcopy__(self, memo: dict) -> ForwardTemplate:
        return self  # fixed when the model was built: a copied model shares its template (and workflow)

    def _metadata(self, training: bool, run: Any) -> dict:
        limits = run.limits
        cached = self._meta
        if cached[0] is not limits:
            user = run.sanitize(self.custom_metadata) if self.custom_metadata else {}
            if not isinstance(user, dict):
                user = {"custom_metadata": user}
            cached = self._meta = (limits, {True: {**user, "is_training": True},
                                            False: {**user, "is_training": False}})
        return cached[1][bool(training)]

    def _used(self, args: Any, kwargs: Any, run: Any) -> dict:
        if type(args) is TensorSummary and not kwargs and not self.module_fields:  # the common case: one tensor in
            return {self.names[0] if self.names else "tensor": args.as_dict()}
        values: dict = {}
        if args is not None:
            if type(args) is TensorSummary:
                values[self.names[0] if self.names else "tensor"] = args
            else:
                names = self.names
                for i, a in enumerate(args):
                    values[names[i] if i < len(names) else f"arg_{i}"] = a
        if kwargs:
            values.update(kwargs)
        if self.module_fields:
            for k, v in self.module_fields.items():
                values.setdefault(k, v)
        return _stored(values, run)

    @staticmethod
    def _generated(output: Any, run: Any) -> dict | None:
        if output is None:
            return None
        if type(output) is TensorSummary:
            return {"tensor": output.as_dict()}
        if type(output) is list:
            return _stored({f"arg_{i}": v for i, v in enumerate(output)}, run)
        if type(output) is dict:
            return _stored({str(k): v for k, v in output.items()}, run)
        return _stored({"arg_0": output}, run)

    def materialize(self, rec: list, run: Any) -> dict:
        """The task message of one forward record (called by the run when it drains its buffer)."""
        _, tid, parent, t0, t1, training, args, kwargs, output, err, tel = rec
        msg = {
            "type": "task",
            "task_id": run.format_id(tid) if type(tid) is int else tid,
            "activity_id": self.activity_id,
            "subtype": self.subtype,
            "workflow_id": self.workflow_id or run.workflow_id,
            "started_at": t0,
            "ended_at": t1,
            "status": _FINISHED if err is None else _ERROR,
        }
        campaign = self.campaign_id or run.campaign_id
        if campaign is not None:
            msg["campaign_id"] = campaign
        if parent is not None:
            msg["parent_task_id"] = run.format_id(parent) if type(parent) is int else parent
        if args is not None or kwargs or self.module_fields:
            msg["used"] = self._used(args, kwargs, run)
        generated = self._generated(output, run) if err is None else None
        if generated is not None:
            msg["generated"] = generated
        if err is not None:
            msg["stderr"] = run.sanitize(err)
        msg["custom_metadata"] = self._metadata(training, run)
        if run.enrich:
            msg.update(run.host_fields)
        if tel is None and self.telemetry:  # called before the run's sampler started: it takes the first reading
            sampler = getattr(run, "telemetry", None)
            tel = sampler.snapshot if sampler is not None else None
        if tel is not None:
            from flowcept_core.plugin import attach_telemetry

            attach_telemetry(msg, tel, tel, t0, t1, run)
        return msg


def _stored(values: dict, run: Any) -> dict:
    """values in their stored form: tensor summaries as their (plain) dicts as they are; everything else made storable
    and masked by the run's rules, by key (a secret-looking parameter name masks its value)."""
    out: dict = {}
    rest: dict = {}
    for k, v in values.items():
        if type(v) is TensorSummary:
            out[k] = v.as_dict()
        elif type(v) is list or type(v) is dict:
            rest[k] = plain(v)
        else:
            rest[k] = v
    if rest:
        out.update(sanitize_dict(rest, run.limits))
    return out
