"""The flat capture records: one layout per record kind, the templates that build each kind, and what they read.

A captured call or iteration lays one flat tuple into the run's buffer, ``(template, field, field, ...)``, whose
fields are named here once. Capture code writes them in this order (flowcept_core.capture.exact generates its
tuples from the layout); message builders and packed batches (flowcept_core.packed) read them by these names.

Kinds:

* ``task``: a @flowcept_task call (task id, parent, clock readings, args, kwargs, result, error, telemetry);
* ``light``: a @lightweight_flowcept_task call (no task id, start time or telemetry);
* ``iteration``: one iteration of a FlowceptLoop / FlowceptLightweightLoop.

Each kind names the template class that builds its messages (``"module:Class"``, imported when first needed), so a
consumer rebuilds templates from their state without knowing the capture modules. ``value_slots`` are the positions
of user values (checked before a record travels packed).

A template builds a message with ``template.materialize(record, context)``; the context is the producer's run or,
on a consumer, a :class:`RecordContext` rebuilt from a packed header. What a template reads from it:
``workflow_id``, ``campaign_id``, ``enrich``, ``host_fields``, ``limits`` (a ValueLimits), ``format_id(n)`` (a
counter id as its string id), ``sanitize(value)`` and, optionally, ``telemetry``.
"""

from __future__ import annotations

__all__ = [
    "RecordLayout",
    "LAYOUTS",
    "TASK",
    "LIGHT",
    "ITERATION",
    "register_kind",
    "template_class",
    "template_from_state",
    "context_header",
    "RecordContext",
]


class RecordLayout:
    """The named fields of one record kind (position 0 is always the template)."""

    __slots__ = ("kind", "fields", "width", "value_slots", "template", "_pos")

    def __init__(self, kind: str, fields: tuple, values: tuple, template: str):
        if fields[0] != "template":
            raise ValueError(f"record layout {kind!r}: the first field must be 'template', got {fields[0]!r}")
        self.kind = kind
        self.fields = fields
        self.width = len(fields)
        self._pos = {name: i for i, name in enumerate(fields)}
        self.value_slots = tuple(self._pos[v] for v in values)
        self.template = template  # "module:Class" of the template that builds this kind's messages

    def index(self, name: str) -> int:
        """The position of field ``name`` in this kind's records."""
        try:
            return self._pos[name]
        except KeyError:
            raise KeyError(f"record kind {self.kind!r} has no field {name!r}; fields: {list(self.fields)}") from None

    def source(self, **exprs: str) -> str:
        """A tuple display of Python expressions in field order (for generated capture code), e.g.
        ``TASK.source(template="t", task_id="i", ...)``; every field must be given."""
        missing = [f for f in self.fields if f not in exprs]
        extra = sorted(set(exprs) - set(self.fields))
        if missing or extra:
            raise ValueError(f"record kind {self.kind!r}: missing fields {missing}, unknown fields {extra}")
        return "(" + ", ".join(exprs[f] for f in self.fields) + ")"

    def __repr__(self) -> str:
        return f"RecordLayout({self.kind!r}, {self.fields!r})"


LAYOUTS: dict[str, RecordLayout] = {}


def register_kind(layout: RecordLayout) -> RecordLayout:
    """Register a record kind (its name must be new)."""
    if layout.kind in LAYOUTS:
        raise ValueError(f"record kind {layout.kind!r} is already registered")
    LAYOUTS[layout.kind] = layout
    return layout


_TEMPLATES = "flowcept_core.capture.templates:TaskTemplate"
TASK = register_kind(
    RecordLayout(
        "task",
        (
            "template",
            "task_id",
            "parent",
            "started_at",
            "ended_at",
            "args",
            "kwargs",
            "result",
            "error",
            "telemetry_at_start",
            "telemetry_at_end",
        ),
        ("args", "kwargs", "result", "error"),
        _TEMPLATES,
    )
)
LIGHT = register_kind(
    RecordLayout(
        "light",
        ("template", "parent", "ended_at", "args", "kwargs", "result", "error"),
        ("args", "kwargs", "result", "error"),
        _TEMPLATES,
    )
)
ITERATION = register_kind(
    RecordLayout(
        "iteration",
        ("template", "i", "item", "started_at", "ended_at", "generated", "telemetry"),
        ("item", "generated"),
        "flowcept_core.capture.loops:IterationTemplate",
    )
)

_CLASSES: dict = {}


def template_class(kind: str) -> type:
    """The template class of a registered record kind (imported on first use)."""
    cls = _CLASSES.get(kind)
    if cls is None:
        layout = LAYOUTS.get(kind)
        if layout is None:
            raise ValueError(f"unknown record kind {kind!r}; known: {sorted(LAYOUTS)}")
        from importlib import import_module

        module, _, name = layout.template.partition(":")
        cls = _CLASSES[kind] = getattr(import_module(module), name)
    return cls


def template_from_state(state: dict) -> object:
    """A template rebuilt from what its ``state()`` gave (the state names its ``kind``)."""
    return template_class(state.get("kind")).from_state(state)


def context_header(run: object) -> dict:
    """What a consumer needs of the producer's run to build messages: read back by :class:`RecordContext`."""
    from flowcept_core.ids import prefix_table

    limits = run.limits
    return {
        "workflow_id": run.workflow_id,
        "campaign_id": run.campaign_id,
        "enrich": run.enrich,
        "host": run.host_fields,
        "ids": [list(p) for p in prefix_table()],
        "limits": [limits.max_depth, limits.max_items, limits.max_bytes, limits.replace_non_json],
    }


class RecordContext:
    """The context a template materializes records with, rebuilt from :func:`context_header` on a consumer."""

    telemetry = None

    def __init__(self, header: dict):
        from flowcept_core.serialize import ValueLimits

        self.workflow_id = header.get("workflow_id")
        self.campaign_id = header.get("campaign_id")
        self.enrich = bool(header.get("enrich", True))
        self.host_fields = header.get("host") or {}
        # the producer masked secrets (records with secret names or values were built there)
        self.limits = ValueLimits(*header.get("limits", ()), redact=None)
        self._prefixes = sorted((int(first), str(prefix)) for first, prefix in header.get("ids") or [(1, "")])

    def format_id(self, n: int) -> str:
        prefix = self._prefixes[0][1]
        for first, p in self._prefixes:
            if n >= first:
                prefix = p
        return f"{prefix}-{n}"

    def sanitize(self, value: object) -> object:
        from flowcept_core.serialize import sanitize

        return sanitize(value, self.limits)
