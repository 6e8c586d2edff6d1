"""Hooks of flowcept-torch: the ``instrumentation.torch`` settings section. Importing this module stays cheap (the
registry imports it to list plugins): torch is imported only when a decorated model is built.

The section (keys as upstream Flowcept names them)::

    instrumentation:
      torch:
        what: parent_only          # parent_only | parent_and_children | null (no forward is recorded)
        children_mode: tensor_inspection  # what a child forward records (the modes below)
        epoch_loop: default        # default | lightweight | null (FlowceptEpochLoop records nothing)
        batch_loop: lightweight    # default | lightweight | null (FlowceptBatchLoop records nothing)
        capture_epochs_at_every: 1 # record the forwards of every N-th epoch of a FlowceptEpochLoop
        register_workflow: true    # each decorated model instance is a workflow of its own, child of the run's

``children_mode``: ``lightweight`` (timing, status), ``tensor_inspection`` (plus tensor summaries and the child's
settings), ``telemetry`` (plus the run's telemetry), ``telemetry_and_tensor_inspection`` (both).

The plugin provides no MQ, store, interceptor or consumer, so it implements no hook; a decorated model checks the
section (``TorchSettings.from_settings``) when it is built.
"""

from __future__ import annotations

from flowcept_core.plugin import Key, SettingsSection

__all__ = ["SETTINGS", "WHAT", "CHILDREN_MODES", "LOOP_MODES"]

WHAT = ("parent_only", "parent_and_children")
CHILDREN_MODES = ("lightweight", "tensor_inspection", "telemetry", "telemetry_and_tensor_inspection")
LOOP_MODES = ("default", "lightweight")

SETTINGS = SettingsSection("instrumentation.torch", {
    "what": Key((str, type(None)), "parent_only", choices=WHAT),
    "children_mode": Key((str, type(None)), "tensor_inspection", choices=CHILDREN_MODES),
    "epoch_loop": Key((str, type(None)), "default", choices=LOOP_MODES),
    "batch_loop": Key((str, type(None)), "lightweight", choices=LOOP_MODES),
    "capture_epochs_at_every": Key(int, 1, minimum=1),
    "register_workflow": Key(bool, True),
})
