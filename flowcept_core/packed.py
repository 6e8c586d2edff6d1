"""Packed batches: on a networked MQ the producer ships its compact records and the consumer builds the messages.

Building message dicts costs the producer more than capturing the calls did; over a network the dicts are encoded
and decoded anyway, so the producer sends the flat records (templates replaced by small ids, values made safe) in one
``{"type": "flowcept_packed", ...}`` message, and flowcept_core.wire.decode_batch expands it on the consumer side
with the same template code. Consumers receive exactly the dicts an unpacked batch would give.

Layout: {"type": "flowcept_packed", "v": 1, "run": {workflow_id, campaign_id, enrich, host, limits, ids},
"templates": {id: state}, "records": [flat record fields..., or ready message dicts]}.
"""

from __future__ import annotations

from typing import Any

from flowcept_core.serialize import I64_MAX, I64_MIN, ValueLimits, all_plain, finite, plain_str, sanitize

__all__ = ["PACKED_TYPE", "pack", "expand", "message_count"]

PACKED_TYPE = "flowcept_packed"
_VERSION = 1
# Positions of user values inside each record kind: a record whose values are not plain is built here instead.
# The error text is checked too: a URL in it may carry a password, masked on this side.
_VALUE_SLOTS = {"task": (5, 6, 7, 8), "light": (3, 4, 5, 6), "iteration": (2, 5)}
_TASK_SLOTS = _VALUE_SLOTS["task"]  # (args, kwargs, result, error) of a decorated call's record


def _kind(tmpl: Any) -> str | None:
    if getattr(tmpl, "args_handler", None) is not None:
        return None  # a custom handler's output was built at call time: materialize on this side
    kind = getattr(tmpl, "record_kind", None)
    return kind if kind in _VALUE_SLOTS else None


def pack(run: Any, raw: list) -> dict:
    """One packed message for a window of the flat buffer (records that cannot travel packed become dicts)."""
    limits = run.limits
    lim = limits.max_bytes >> 2
    ids: dict[int, tuple[int, tuple[int, ...]]] = {}  # id(template) -> (wire id, value slots)
    templates: dict[str, dict] = {}
    records: list = []
    extend = records.extend
    count = 0
    i, n = 0, len(raw)
    while i < n:
        item = raw[i]
        count += 1
        if item.__class__ is dict:
            records.append(run._clean(item))
            i += 1
            continue
        width = item.width
        known = ids.get(id(item))
        if known is None:
            known = ids[id(item)] = _register(item, len(ids), templates, limits)
        tid, slots = known
        if tid < 0:
            records.append(item.materialize(raw[i:i + width], run))
            i += width
            continue
        if slots is _TASK_SLOTS and raw[i + 6] is None and raw[i + 8] is None:
            # the most common record without the loop below: one positional number in, a number or None out
            args, result = raw[i + 5], raw[i + 7]
            a = args[0] if args.__class__ is tuple and len(args) == 1 else None
            ca, cr = a.__class__, result.__class__
            if ((ca is int and -9223372036854775808 <= a <= 9223372036854775807) or (ca is float and -_INF < a < _INF)
                    ) and (result is None or (cr is int and -9223372036854775808 <= result <= 9223372036854775807)
                           or (cr is float and -_INF < result < _INF)):
                start = len(records)
                extend(raw[i:i + width])
                records[start] = tid
                i += width
                continue
        # the common case inline (a function call per value would cost more than the rest of the record)
        # ints within signed 64 bits, finite floats, short ASCII text without a URL travel as they are
        ok = True
        for slot in slots:
            v = raw[i + slot]
            if v is None:
                continue
            c = v.__class__
            if c is tuple:
                if len(v) == 1:
                    v = v[0]
                    c = v.__class__
                else:
                    ok = _plain(v, limits)
                    if not ok:
                        break
                    continue
            if c is int:
                if -9223372036854775808 <= v <= 9223372036854775807:  # literals: LOAD_CONST, not two globals
                    continue
            elif c is float:
                if -_INF < v < _INF:
                    continue
            elif c is bool or v is None or (c is str and len(v) <= lim and "://" not in v and v.isascii()) or (
                    c is dict and not v) or _plain(v, limits):
                continue
            ok = False
            break
        start = len(records)
        if ok:
            extend(raw[i:i + width])
            records[start] = tid
        else:  # objects, Namespaces, big values: build the message here, exactly as unpacked batches do
            records.append(item.materialize(raw[i:i + width], run))
        i += width
    from flowcept_core.ids import prefix_table

    header = {"workflow_id": run.workflow_id, "campaign_id": run.campaign_id, "enrich": run.enrich,
              "host": run.host_fields, "ids": [list(p) for p in prefix_table()],
              "limits": [limits.max_depth, limits.max_items, limits.max_bytes, limits.replace_non_json]}
    return {"type": PACKED_TYPE, "v": _VERSION, "count": count, "run": header, "templates": templates,
            "records": records}


_INF = float("inf")


def _register(tmpl: Any, wire_id: int, templates: dict, limits: ValueLimits) -> tuple[int, tuple[int, ...]]:
    kind = _kind(tmpl)
    if kind is None or _has_secret_names(tmpl, kind, limits.redact):
        return -1, ()  # built on this side: secrets are masked before they leave the process
    state = tmpl.state(lambda v: sanitize(v, limits))
    state["kind"] = kind
    templates[str(wire_id)] = state
    return wire_id, _VALUE_SLOTS[kind]


def _has_secret_names(tmpl: Any, kind: str, redact: Any) -> bool:
    if redact is None:
        return False
    if kind == "iteration":
        return redact.secret_key(tmpl.loop.item_name)
    return tmpl.has_secret_params(redact)


def message_count(batch: list[dict]) -> int:
    """How many messages a batch carries (a packed message counts for the messages it stands for)."""
    return sum(m.get("count", 1) if m.get("type") == PACKED_TYPE else 1 for m in batch)


def _plain(v: Any, limits: ValueLimits) -> bool:
    t = type(v)
    if t is int:
        return I64_MIN <= v <= I64_MAX
    if t is float:
        return finite(v)
    if t is bool:
        return True
    if t is str:
        return plain_str(v, limits.max_bytes)
    if t is tuple or t is list:
        return len(v) <= 64 and all_plain(v, limits.max_bytes)
    if t is dict:
        if len(v) > 64 or not all_plain(v.values(), limits.max_bytes):
            return False
        redact = limits.redact
        if redact is not None:
            return not redact.keys_need_work(v)
        return all(type(k) is str and k.isascii() and "\x00" not in k for k in v)
    return False


class _RunView:
    """What the template code reads from a Run, rebuilt on the consumer side from a packed header."""

    def __init__(self, header: dict):
        self.workflow_id = header.get("workflow_id")
        self.campaign_id = header.get("campaign_id")
        self.enrich = bool(header.get("enrich", True))
        self.host_fields = header.get("host") or {}
        # the producer masked secrets (records with secret names or values were built there)
        self.limits = ValueLimits(*header.get("limits", ()), redact=None)
        prefixes = sorted((int(first), str(prefix)) for first, prefix in header.get("ids") or [(1, "")])
        self._prefixes = prefixes

    def format_id(self, n: int) -> str:
        prefix = self._prefixes[0][1]
        for first, p in self._prefixes:
            if n >= first:
                prefix = p
        return f"{prefix}-{n}"

    def sanitize(self, value: Any) -> Any:
        return sanitize(value, self.limits)

    def _clean(self, msg: dict) -> dict:
        return msg


def expand(msg: dict) -> list[dict]:
    """The message dicts a packed message stands for."""
    from flowcept_core.capture.loops import _IterationTemplate
    from flowcept_core.capture.templates import TaskTemplate

    if msg.get("v") != _VERSION:
        raise ValueError(f"packed batch version {msg.get('v')!r} is not supported (expected {_VERSION})")
    run = _RunView(msg.get("run") or {})
    templates = {}
    for key, state in (msg.get("templates") or {}).items():
        templates[int(key)] = (_IterationTemplate.from_state(state) if state.get("kind") == "iteration"
                               else TaskTemplate.from_state(state))
    out: list[dict] = []
    records = msg.get("records") or []
    i, n = 0, len(records)
    while i < n:
        item = records[i]
        if type(item) is dict:
            out.append(item)
            i += 1
            continue
        tmpl = templates[item]
        rec = records[i:i + tmpl.width]
        out.append(tmpl.materialize(rec, run))
        i += tmpl.width
    return out
