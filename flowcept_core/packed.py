"""Packed batches: on a networked MQ the producer ships its compact records and the consumer builds the messages.

Building message dicts costs the producer more than capturing the calls did; over a network the dicts are encoded
and decoded anyway, so the producer sends the flat records (templates replaced by small ids, values made safe) in one
``{"type": "flowcept_packed", ...}`` message, and flowcept_core.wire.decode_batch expands it on the consumer side
with the same template code. Consumers receive exactly the dicts an unpacked batch would give.

Layout: {"type": "flowcept_packed", "v": 1, "run": {workflow_id, campaign_id, enrich, host, limits, ids},
"templates": {id: state}, "records": [flat record fields..., or ready message dicts]}. The records, their kinds
and the templates that build them are those of flowcept_core.capture.record; "run" is its context_header(), read back
as a RecordContext.
"""

from __future__ import annotations

from flowcept_core.capture.record import LAYOUTS, TASK, RecordContext, context_header, template_from_state
from flowcept_core.serialize import I64_MAX, I64_MIN, ValueLimits, all_plain, finite, plain_str, sanitize

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PACKED_TYPE", "pack", "expand", "message_count"]

PACKED_TYPE = "flowcept_packed"
_VERSION = 1
# Positions of user values inside each record kind (RecordLayout.value_slots): a record whose values are not plain
# is built here instead. The error text is checked too: a URL in it may carry a password, masked on this side.
_TASK_SLOTS = TASK.value_slots  # (args, kwargs, result, error) of a decorated call's record
_T_ARGS, _T_KWARGS, _T_RESULT, _T_ERROR = (TASK.index(f) for f in ("args", "kwargs", "result", "error"))


def _kind(tmpl: Any) -> str | None:
    if getattr(tmpl, "args_handler", None) is not None:
        return None  # a custom handler's output was built at call time: materialize on this side
    kind = getattr(tmpl, "record_kind", None)
    return kind if kind in LAYOUTS else None


def pack(run: Any, raw: list) -> dict:
    """One packed message for a window of the flat buffer (records that cannot travel packed become dicts)."""
    limits = run.limits
    lim = limits.max_bytes >> 2
    ids: dict[int, tuple] = {}  # id(template) -> (wire id, value slots, whether it records a bare argument)
    templates: dict[str, dict] = {}
    records: list = []
    extend = records.extend
    a_at, k_at, r_at, e_at = _T_ARGS, _T_KWARGS, _T_RESULT, _T_ERROR
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
            known = ids[id(item)] = (*_register(item, len(ids), templates, limits), getattr(item, "bare", False))
        tid, slots, bare = known
        if tid < 0:
            records.append(item.materialize(raw[i : i + width], run))
            i += width
            continue
        if slots is _TASK_SLOTS and raw[i + k_at] is None and raw[i + e_at] is None:
            # the most common record without the loop below: one positional number in, a number or None out
            args, result = raw[i + a_at], raw[i + r_at]
            a = args if bare else args[0] if args.__class__ is tuple and len(args) == 1 else None
            ca, cr = a.__class__, result.__class__
            if (
                (ca is int and -9223372036854775808 <= a <= 9223372036854775807) or (ca is float and -_INF < a < _INF)
            ) and (
                result is None
                or (cr is int and -9223372036854775808 <= result <= 9223372036854775807)
                or (cr is float and -_INF < result < _INF)
            ):
                start = len(records)
                extend(raw[i : i + width])
                records[start] = tid
                if bare:  # its arguments travel as a tuple (TaskTemplate.bare)
                    records[start + a_at] = (a,)
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
            elif (
                c is bool
                or v is None
                or (c is str and len(v) <= lim and "://" not in v and v.isascii())
                or (c is dict and not v)
                or _plain(v, limits)
            ):
                continue
            ok = False
            break
        start = len(records)
        if ok:
            extend(raw[i : i + width])
            records[start] = tid
            if bare:  # its arguments travel as a tuple
                records[start + slots[0]] = (records[start + slots[0]],)
        else:  # objects, Namespaces, big values: build the message here, exactly as unpacked batches do
            records.append(item.materialize(raw[i : i + width], run))
        i += width
    return {
        "type": PACKED_TYPE,
        "v": _VERSION,
        "count": count,
        "run": context_header(run),
        "templates": templates,
        "records": records,
    }


_INF = float("inf")


def _register(tmpl: Any, wire_id: int, templates: dict, limits: ValueLimits) -> tuple[int, tuple[int, ...]]:
    kind = _kind(tmpl)
    if kind is None or (limits.redact is not None and tmpl.has_secret_params(limits.redact)):
        return -1, ()  # built on this side: secrets are masked before they leave the process
    state = tmpl.state(lambda v: sanitize(v, limits))
    state["kind"] = kind
    templates[str(wire_id)] = state
    return wire_id, LAYOUTS[kind].value_slots


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


def expand(msg: dict) -> list[dict]:
    """The message dicts a packed message stands for."""
    if msg.get("v") != _VERSION:
        raise ValueError(f"packed batch version {msg.get('v')!r} is not supported (expected {_VERSION})")
    run = RecordContext(msg.get("run") or {})
    templates = {int(key): template_from_state(state) for key, state in (msg.get("templates") or {}).items()}
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
        rec = records[i : i + tmpl.width]
        out.append(tmpl.materialize(rec, run))
        i += tmpl.width
    return out
