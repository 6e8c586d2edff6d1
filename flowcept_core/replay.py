"""Offline drains: capture records kept as they are, built into messages each time the messages are read.

A @flowcept_task call lays a flat record into the run's buffer (flowcept_core.capture.record, kind ``task``). When
its user values (arguments, result) are immutable plain JSON scalars, it ended without error or telemetry, and its
template adds nothing shared by many messages (tags, metadata), building its message again at any later time gives an
equal, fresh dict. Such records are kept instead of their messages (a third of the memory, nothing encoded), and each
``get_buffer()`` builds them with a function generated once per template and arity: one dict display with the
template's constants in it, no per-value checks (the drain checked the values in bulk, over whole runs of records of
one template: strided slices of the window, compared in C). flowcept_core.retained bounds how many are kept and
encodes those that leave the window, or all of them when the lines are needed (dump_buffer, the buffer file).
Everything else takes the general path: TaskTemplate.materialize, then kept encoded (messages of plain values whose
template shares nothing are kept as built as well, handed over once by get_buffer).
"""

from __future__ import annotations

from array import array
from itertools import chain, repeat
from math import isfinite
from operator import is_

from flowcept_core import ids
from flowcept_core.capture.record import TASK
from flowcept_core.capture.templates import TaskTemplate
from flowcept_core.constants import FINISHED
from flowcept_core.logger import get_logger
from flowcept_core.serialize import _utf8

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Replay", "drain_kept", "window_end"]

_W = TASK.width
_TID, _PARENT, _T0, _T1, _ARGS, _KWARGS, _RESULT, _ERROR, _TEL0, _TEL1 = (TASK.index(f) for f in TASK.fields[1:])
_NONE = type(None)
_SCALARS = frozenset((int, float, bool, str, _NONE))
_NUMBERS = (int, float, bool)
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_RECORD_BYTES = 240  # estimated memory of a kept record (list slots, ids, clock readings, args tuple, result)
_VALUE_BYTES = 40  # per argument
_MIN_RECORDS = 16  # a run of records that failed the bulk check is split in halves down to this many
_CHUNK = 256  # messages built at a time by the general path


class Replay:
    """A run's generated builders and template checks (cached; the run's drain lock serializes their use)."""

    def __init__(self) -> None:
        self._builders: dict[tuple[int, int], tuple[Any, tuple, Any]] = {}
        self._exact: dict[int, tuple[Any, bool]] = {}

    @staticmethod
    def shape(run: Any) -> tuple | None:
        """What messages take from the run, when a record may be kept as it is at this drain (None otherwise: a
        telemetry sampler, whose snapshot a record without telemetry gets when built, or ids that are not str)."""
        if getattr(run, "telemetry", None) is not None:
            return None
        wf, camp = run.workflow_id, run.campaign_id
        if not ((wf is None or type(wf) is str) and (camp is None or type(camp) is str)):
            return None
        host = tuple(run.host_fields.items()) if run.enrich else ()
        if not all(type(k) is str and type(v) is str for k, v in host):
            return None
        return (wf, camp, host, run.limits, run.limits.redact, run.format_id)

    def builder(self, tmpl: Any, arity: int, shape: tuple) -> Any:
        """The functions building messages of tmpl's records with arity arguments (None: not kept as records):
        build(flat, out) for any of them, and for records without parent and with a result."""
        entry = self._builders.get((id(tmpl), arity))
        if entry is None or entry[0] is not tmpl or entry[1] != shape:
            if len(self._builders) >= 1024:
                self._builders.clear()
            entry = self._builders[(id(tmpl), arity)] = (tmpl, shape, _make_builder(tmpl, arity, shape))
        return entry[2]

    def exact_template(self, template: Any) -> bool:
        """Whether template is a task decorator's whose own fields in a message (ids, names, subtype) are plain
        strings, and it adds no tags or metadata (objects every message of the template shares). Cached."""
        entry = self._exact.get(id(template))
        if entry is None or entry[0] is not template:
            plain = type(template) is TaskTemplate and all(v is None or type(v) is str for v in (
                template.activity_id, template.workflow_id, template.campaign_id, template.subtype))
            entry = self._exact[id(template)] = (
                template, plain and template.tags is None and template.custom_metadata is None)
        return entry[1]


def _output_key(tmpl: TaskTemplate) -> str | None:
    on = tmpl.output_names
    if on is None:
        return "arg_0"
    if type(on) is str:
        return on
    if type(on) in (list, tuple) and len(on) == 1 and type(on[0]) is str:
        return on[0]
    return None


def _make_builder(tmpl: Any, arity: int, shape: tuple) -> tuple | None:
    """Builders for records whose values passed _plain: what TaskTemplate.materialize gives for them, as one dict
    display (same keys, same order); the second for records without parent and with a result. None when the
    template's messages need more (see the module's doc)."""
    wf, camp, host, limits, redact, fmt = shape
    if type(tmpl) is not TaskTemplate or tmpl.lightweight or tmpl.args_handler is not None or tmpl.skip:
        return None
    names, out = tmpl.names, _output_key(tmpl)
    if (tmpl.tags is not None or tmpl.custom_metadata is not None or out is None or arity != len(names)
            or arity > limits.max_items or not all(k in names for k in tmpl.defaults)):
        return None
    keys = (*names, out)
    if not all(type(k) is str and k.isascii() and "\x00" not in k for k in keys) or (
            "workflow_id" in names or "campaign_id" in names):
        return None
    if tmpl.has_secret_params(redact) or (redact is not None and redact.keys_need_work(dict.fromkeys(keys))):
        return None
    consts = (tmpl.activity_id, tmpl.workflow_id or wf, tmpl.campaign_id or camp, tmpl.subtype)
    if type(consts[0]) is not str or not all(v is None or type(v) is str for v in consts):
        return None
    act, wf, camp, subtype = (repr(v) for v in consts)
    args = ", ".join(f"a{i}" for i in range(arity))
    target = f"({args},)" if arity else "_a"
    used = ", ".join(f"{k!r}: a{i}" for i, k in enumerate(names))
    task_id = "f'{prefix}-{tid}' if tid >= first else fmt(tid)" if fmt is ids.format_id else "fmt(tid)"
    lines = [
        "def build(flat, out):",
        "    append, it = out.append, iter(flat)",
        "    prefix, first = _ids._prefix, _ids._first",
        f"    for _, tid, parent, t0, t1, {target}, _, result, _, _, _ in zip(*[it] * {_W}):",
        f"        msg = {{'type': 'task', 'task_id': {task_id}, 'activity_id': {act}, 'workflow_id': {wf},"
        f" 'campaign_id': {camp}, 'used': {{{used}}}, 'started_at': t0, 'ended_at': t1, 'status': {FINISHED!r}}}",
        "        if result is not None:",
        f"            msg['generated'] = {{{out!r}: result}}",
        "        if parent is not None:",
        "            msg['parent_task_id'] = fmt(parent)",
    ]
    if consts[3] is not None:
        lines.append(f"        msg['subtype'] = {subtype}")
    if host:
        lines.append("        msg.update(_host)")
    lines += [
        "        append(msg)",
        "def build_uniform(flat, out):  # no parent, a result: a copy of the whole message's first version",
        "    append, it, copy = out.append, iter(flat), _proto.copy",
        "    prefix, first = _ids._prefix, _ids._first",
        f"    for _, tid, _, t0, t1, {target}, _, result, _, _, _ in zip(*[it] * {_W}):",
        "        msg = copy()",
        f"        msg['task_id'] = {task_id}",
        f"        msg['used'] = {{{used}}}",
        "        msg['started_at'] = t0",
        "        msg['ended_at'] = t1",
        f"        msg['generated'] = {{{out!r}: result}}",
        "        append(msg)",
    ]
    proto = {"type": "task", "task_id": None, "activity_id": consts[0], "workflow_id": consts[1],
             "campaign_id": consts[2], "used": None, "started_at": None, "ended_at": None, "status": FINISHED,
             "generated": None}
    if consts[3] is not None:
        proto["subtype"] = consts[3]
    proto.update(host)
    namespace = {"_ids": ids, "fmt": fmt, "_host": dict(host), "_proto": proto}
    exec(compile("\n".join(lines), f"<flowcept builder {tmpl.activity_id}/{arity}>", "exec"), namespace)
    build, uniform = namespace["build"], namespace["build_uniform"]
    # their messages' JSONL lines straight from the records, made when first needed (it imports orjson)
    build.encode = uniform.encode = _LazyEncoder(names, out, consts, host, target, task_id, fmt, tmpl.activity_id)
    return build, uniform


class _LazyEncoder:
    """encode(flat, buf) of _encoder_lines, compiled at its first call."""

    __slots__ = ("_args", "_encode")

    def __init__(self, *args: Any):
        self._args, self._encode = args, None

    def __call__(self, flat: list, buf: bytearray) -> None:
        if self._encode is None:
            names, out, consts, host, target, task_id, fmt, activity = self._args
            namespace = {"_ids": ids, "fmt": fmt}
            lines = _encoder_lines(names, out, consts, host, target, task_id, namespace)
            exec(compile("\n".join(lines), f"<flowcept encoder {activity}/{len(names)}>", "exec"), namespace)
            self._encode = namespace["encode"]
        self._encode(flat, buf)


def _encoder_lines(names: tuple, out: str, consts: tuple, host: tuple, target: str, task_id: str,
                   namespace: dict) -> list[str]:
    """Source of encode(flat, buf): appends to buf the JSONL lines of the messages build() gives for flat, the
    bytes orjson gives for them (the same keys in the same order), without building them."""
    import orjson

    dumps = orjson.dumps
    pre = dumps(names[0]) + b":" if names else b""
    namespace.update(
        _dumps=dumps, _join=b"".join,
        _head=b'{"type":"task","task_id":',
        _ids_used=b"".join((b',"activity_id":', dumps(consts[0]), b',"workflow_id":', dumps(consts[1]),
                            b',"campaign_id":', dumps(consts[2]), b',"used":{', pre)),
        _times=b'},"started_at":', _ended=b',"ended_at":', _status=b',"status":"FINISHED"',
        _gen=b',"generated":{' + dumps(out) + b":", _parent=b',"parent_task_id":',
        _tail=(b',"subtype":' + dumps(consts[3]) if consts[3] is not None else b"")
        + (b"," + dumps(dict(host))[1:-1] if host else b"") + b"}\n",
    )
    values = []
    for i in range(len(names)):
        if i:
            namespace[f"_key{i}"] = b"," + dumps(names[i]) + b":"
            values.append(f"_key{i}")
        values.append(f"_dumps(a{i})")
    return [
        "def encode(flat, buf):",
        "    it = iter(flat)",
        "    prefix, first = _ids._prefix, _ids._first",
        f"    for _, tid, parent, t0, t1, {target}, _, result, _, _, _ in zip(*[it] * {_W}):",
        f"        buf += _join((_head, _dumps({task_id}), _ids_used, {', '.join(values) + ', ' if values else ''}"
        "_times, _dumps(t0), _ended, _dumps(t1), _status,"
        " b'' if result is None else _gen + _dumps(result) + b'}',"
        " b'' if parent is None else _parent + _dumps(fmt(parent)), _tail))",
    ]


def _plain(raw: list, a: int, b: int, arity: int, max_bytes: int) -> tuple[int, bool] | None:
    """(estimated memory, whether none has a parent and all a result) of the task records raw[a:b] (one template)
    when every one can be kept as it is: no kwargs, error or telemetry, arity arguments, arguments and result plain
    JSON scalars (what all_plain accepts), an int parent or none. None otherwise. Checked column by column (strided
    slices), not record by record."""
    n = (b - a) // _W
    for pos in (_ERROR, _TEL0, _TEL1):
        if raw[a + pos:b:_W].count(None) != n:
            return None
    parents = raw[a + _PARENT:b:_W]
    orphans = parents.count(None) == n
    if not orphans and not set(map(type, parents)) <= {_NONE, int}:
        return None
    args, kwargs = raw[a + _ARGS:b:_W], raw[a + _KWARGS:b:_W]
    try:  # kwargs None: the tuple of a plain wrapper's parameters (flowcept_core.capture.exact); else (*args)
        if (kwargs.count(None) != n and (any(kwargs) or set(map(type, args)) != {tuple})) or (
                set(map(len, args)) != {arity}):
            return None
    except TypeError:  # not sized
        return None
    values = list(chain.from_iterable(args)) if arity else []
    values += raw[a + _RESULT:b:_W]
    types = set(map(type, values))
    if not types <= _SCALARS:
        return None
    size = n * (_RECORD_BYTES + _VALUE_BYTES * arity)
    if str in types:
        strs = [v for v in values if type(v) is str]
        if max(map(len, strs)) > max_bytes >> 2:
            return None
        joined = "\x00".join(strs)  # "://" cannot span two of them
        if "://" in joined or not (joined.isascii() or _utf8(joined)):
            return None
        size += len(joined) + 50 * len(strs)
        values = [v for v in values if type(v) in _NUMBERS]
    elif _NONE in types:
        values = [v for v in values if v is not None]
    if values and not _numbers(values, float in types):
        return None
    return size, orphans and (_NONE not in types or None not in raw[a + _RESULT:b:_W])


def _numbers(values: list, floats: bool) -> bool:
    """ints (and bools) within signed 64 bits, floats finite."""
    if not floats:
        try:
            array("q", values)
        except OverflowError:
            return False
        return True
    if min(values) >= _I64_MIN and max(values) <= _I64_MAX and isfinite(sum(values)):  # NaN or an infinity: not
        return True
    ints = [v for v in values if type(v) is int]
    return all(map(isfinite, [v for v in values if type(v) is float])) and (
        not ints or (min(ints) >= _I64_MIN and max(ints) <= _I64_MAX))


def _replayable(replay: Replay, shape: tuple, raw: list, a: int, b: int, tmpl: Any, max_bytes: int,
                found: list) -> None:
    """Append (a, b, builder, size) to found for the parts of the run of tmpl's records raw[a:b] that can be kept
    as records, splitting a run that failed the bulk check in halves (one odd record costs a few checks)."""
    args = raw[a + _ARGS]
    arity = len(args) if type(args) is tuple else -1
    builds = replay.builder(tmpl, arity, shape) if arity >= 0 else None
    if builds is not None:
        plain = _plain(raw, a, b, arity, max_bytes)
        if plain is not None:
            found.append((a, b, builds[plain[1]], plain[0]))
            return
    if builds is None and arity == len(tmpl.names):
        return  # the template's messages are never built so
    k = (b - a) // _W
    if k >= 2 * _MIN_RECORDS:
        mid = a + (k // 2) * _W
        _replayable(replay, shape, raw, a, mid, tmpl, max_bytes, found)
        _replayable(replay, shape, raw, mid, b, tmpl, max_bytes, found)


def drain_kept(run: Any, raw: list, runs: list | None = None) -> int:
    """Keep a window of the flat buffer of a run without a sink (run.retained): runs of records that can be kept
    as they are, as records; the rest built as messages (and kept as built too when exact). Returns the count.
    runs: the window's runs of records of one template, as window_end gives them (else found here)."""
    retained = run.retained
    replay = retained.replay
    shape = replay.shape(run)
    count = done = 0
    n = len(raw)
    if shape is not None:
        for i, k, item in runs if runs is not None else _runs(raw):
            if type(item) is not TaskTemplate or item.lightweight:
                continue
            found: list = []
            _replayable(replay, shape, raw, i, i + k * _W, item, run.limits.max_bytes, found)
            for a, b, build, size in found:
                if done < a:
                    count += _general(run, raw, done, a)
                retained.add_records(build, raw if a == 0 and b == n else raw[a:b], (b - a) // _W, size)
                count += (b - a) // _W
                done = b
    if done < n:
        count += _general(run, raw, done, n)
    return count


def _runs(raw: list) -> list:
    return window_end(raw, 0, len(raw), len(raw))[1]


def _run_length(items: list, pos: int, stop: int, tmpl: Any, most: int) -> int:
    """How many records of tmpl (width _W or tmpl.width) follow each other from pos, before stop, up to most:
    compared by identity, in growing strides of the list (a window of one template's records costs a few C calls)."""
    w, k, step = tmpl.width, 0, 8
    while k < most:
        take = min(step, most - k)
        flags = list(map(is_, items[pos + k * w:min(stop, pos + (k + take) * w):w], repeat(tmpl)))
        if False in flags:
            return k + flags.index(False)
        k += len(flags)
        if len(flags) < take:
            break
        step *= 4
    return k


def window_end(items: list, start: int, end: int, records: int) -> tuple[int, list]:
    """Where the first `records` records from items[start] end (whole records, not past end), and the runs of
    records of one template in there: (offset from start, count, template), for drain_kept."""
    pos, runs = start, []
    while pos < end and records > 0:
        item = items[pos]
        if type(item) is dict:
            pos, records = pos + 1, records - 1
        else:
            k = _run_length(items, pos, end, item, records)
            runs.append((pos - start, k, item))
            pos, records = pos + k * item.width, records - k
    return pos, runs


def _general(run: Any, raw: list, i: int, n: int) -> int:
    """Build the messages of raw[i:n] and keep them; chunks built from capture records only, with plain JSON
    values, are kept as built too. Returns the count."""
    retained = run.retained
    exact_template = retained.replay.exact_template
    ids_ = (run.workflow_id, run.campaign_id)
    exact_run = all(type(v) is str for v in run.host_fields.values()) and all(v is None or type(v) is str for v in ids_)
    out: list[dict] = []
    exact, last, last_exact = exact_run, None, False
    count = 0
    while i < n:
        item = raw[i]
        try:
            if type(item) is dict:
                i += 1
                exact = False
                out.append(run._clean(item))
            else:
                width = item.width
                msg = item.materialize(raw[i : i + width], run)
                i += width
                out.append(msg)
        except Exception as e:  # a capture bug must not lose the rest of the window
            if type(item) is not dict:
                i += item.width
            run.errors += 1
            get_logger().error(f"could not build a provenance message: {type(e).__name__}: {e}")
        else:
            if exact and type(item) is not dict:
                if item is not last:  # consecutive records of one template: checked once
                    last, last_exact = item, exact_template(item)
                if not last_exact or "telemetry_at_end" in msg or "telemetry_at_start" in msg:
                    exact = False
        if len(out) >= _CHUNK or (i >= n and out):
            retained.add(out, exact=exact)
            count += len(out)
            out, exact = [], exact_run
    return count
