"""The code that rebuilds kept capture records (flowcept_core.replay): their messages, and their JSONL lines.

For a template and an arity, ``make_builder`` generates a function building the messages of the template's records as
one dict display each (what TaskTemplate.materialize gives for them: same keys, same order), for @flowcept_task
records (layout TASK) and @lightweight_flowcept_task ones (layout LIGHT, whose first slot holds the task id the drain
gave the record, see flowcept_core.replay). Their lines are written without building the messages, field by field:
each field is an extended slice of the records, encoded by one ``orjson.dumps`` of the whole column split at its
commas (numbers) or by one C-level map (strings), and the lines are joined by C iterators; no Python code runs per
record except for a field some records have and others lack (a parent task, a result).
"""

from __future__ import annotations

from operator import itemgetter

from flowcept_core import ids
from flowcept_core.capture.record import LIGHT, TASK
from flowcept_core.capture.templates import TaskTemplate
from flowcept_core.constants import FINISHED

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Layout", "FULL", "LIGHT_KEPT", "make_builder"]


class Layout:
    """Where a kept record of one kind holds its fields (positions in its flat slots)."""

    __slots__ = ("width", "tid", "parent", "t0", "t1", "args", "kwargs", "result", "error", "empty", "record_bytes")

    def __init__(self, layout: Any, tid: str, empty: tuple, record_bytes: int):
        index = layout.index
        self.width = layout.width
        self.tid = index(tid)
        self.parent, self.t1, self.args = index("parent"), index("ended_at"), index("args")
        self.kwargs, self.result, self.error = index("kwargs"), index("result"), index("error")
        self.t0 = index("started_at") if "started_at" in layout.fields else None
        self.empty = tuple(index(f) for f in empty)  # slots None in every record kept so
        self.record_bytes = record_bytes  # estimated memory of a kept record (slots, ids, clock readings, args tuple)


FULL = Layout(TASK, "task_id", ("error", "telemetry_at_start", "telemetry_at_end"), 240)
LIGHT_KEPT = Layout(LIGHT, "template", ("error",), 220)  # the drain puts the record's task id in its first slot


def _output_key(tmpl: TaskTemplate) -> str | None:
    on = tmpl.output_names
    if on is None:
        return "arg_0"
    if type(on) is str:
        return on
    if type(on) in (list, tuple) and len(on) == 1 and type(on[0]) is str:
        return on[0]
    return None


def make_builder(tmpl: Any, arity: int, shape: tuple) -> tuple | None:
    """Builders for records whose values passed replay's bulk check: build(flat, out) appending their messages to
    out, and the same for records without parent and with a result; each has .encode(flat, buf) appending their
    lines, and .width. None when the template's messages need more (see flowcept_core.replay's doc)."""
    wf, camp, host, limits, redact, fmt = shape
    if type(tmpl) is not TaskTemplate or tmpl.args_handler is not None or tmpl.skip:
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
    light = tmpl.lightweight
    consts = (tmpl.activity_id, tmpl.workflow_id or wf, None if light else tmpl.campaign_id or camp,
              None if light else tmpl.subtype)
    if type(consts[0]) is not str or not all(v is None or type(v) is str for v in consts):
        return None
    lay = LIGHT_KEPT if light else FULL
    host = () if light else host
    fixed = [("type", "'task'"), ("task_id", None), ("activity_id", repr(consts[0])), ("workflow_id", repr(consts[1]))]
    if not light:
        fixed.append(("campaign_id", repr(consts[2])))
    fixed.append(("used", "{" + ", ".join(f"{k!r}: a{i}" for i, k in enumerate(names)) + "}"))
    if not light:
        fixed.append(("started_at", "t0"))
    fixed += [("ended_at", "t1"), ("status", repr(FINISHED))]
    task_id = "f'{prefix}-{tid}' if tid >= first else fmt(tid)" if fmt is ids.format_id else "fmt(tid)"
    slots = ["_"] * lay.width
    slots[lay.tid], slots[lay.parent], slots[lay.t1], slots[lay.result] = "tid", "parent", "t1", "result"
    slots[lay.args] = "a0" if tmpl.bare else f"({''.join(f'a{i}, ' for i in range(arity))})" if arity else "_a"
    if lay.t0 is not None:
        slots[lay.t0] = "t0"
    loop = f"    for {', '.join(slots)} in zip(*[it] * {lay.width}):"
    display = ", ".join(f"{k!r}: {task_id if v is None else v}" for k, v in fixed)
    lines = [
        "def build(flat, out):",
        "    append, it = out.append, iter(flat)",
        "    prefix, first = _ids._prefix, _ids._first",
        loop,
        f"        msg = {{{display}}}",
        "        if result is not None:",
        f"            msg['generated'] = {{{out!r}: result}}",
        "        if parent is not None:",
        "            msg['parent_task_id'] = fmt(parent)",
    ]
    if consts[3] is not None:
        lines.append(f"        msg['subtype'] = {consts[3]!r}")
    if host:
        lines.append("        msg.update(_host)")
    lines += [
        "        append(msg)",
        "def build_uniform(flat, out):  # no parent, a result: a copy of the whole message's first version",
        "    append, it, copy = out.append, iter(flat), _proto.copy",
        "    prefix, first = _ids._prefix, _ids._first",
        loop,
        "        msg = copy()",
    ]
    lines += [f"        msg[{k!r}] = {task_id if v is None else v}" for k, v in fixed if k not in _CONSTANT]
    lines += [f"        msg['generated'] = {{{out!r}: result}}", "        append(msg)"]
    proto = {k: None for k, _ in fixed}
    proto.update(type="task", activity_id=consts[0], workflow_id=consts[1], status=FINISHED, generated=None)
    if not light:
        proto["campaign_id"] = consts[2]
    if consts[3] is not None:
        proto["subtype"] = consts[3]
    proto.update(host)
    namespace = {"_ids": ids, "fmt": fmt, "_host": dict(host), "_proto": proto}
    kind = "light " if light else ""
    exec(compile("\n".join(lines), f"<flowcept {kind}builder {tmpl.activity_id}/{arity}>", "exec"), namespace)
    build, uniform = namespace["build"], namespace["build_uniform"]
    build.encode = uniform.encode = ColumnEncoder(lay, names, out, consts, host, fmt, tmpl.bare)
    build.width = uniform.width = lay.width
    return build, uniform


_CONSTANT = frozenset(("type", "activity_id", "workflow_id", "campaign_id", "status"))


class ColumnEncoder:
    """encode(flat, buf): appends to buf the JSONL lines of the messages the builders give for the records flat, the
    bytes orjson gives for those messages, field by field (see the module's doc). Its constant pieces are made at
    the first call (they import orjson: an offline run whose lines are never needed does not)."""

    __slots__ = ("_lay", "_names", "_out", "_consts", "_host", "_fmt", "_bare", "_pieces")

    def __init__(self, lay: Layout, names: tuple, out: str, consts: tuple, host: tuple, fmt: Any, bare: bool):
        self._lay, self._names, self._out, self._consts, self._host, self._fmt = lay, names, out, consts, host, fmt
        self._bare = bare  # the one argument as it is (TaskTemplate.bare)
        self._pieces: tuple | None = None

    def _constants(self) -> tuple:
        import orjson

        dumps, (act, wf, camp, subtype), names = orjson.dumps, self._consts, self._names
        ids_ = [b',"activity_id":', dumps(act), b',"workflow_id":', dumps(wf)]
        if self._lay.t0 is not None:
            ids_ += [b',"campaign_id":', dumps(camp)]
        ids_.append(b',"used":{')
        keys = [(b"," if i else b"") + dumps(name) + b":" for i, name in enumerate(names)]
        tail = (b',"subtype":' + dumps(subtype) if subtype is not None else b"") + (
            b"," + dumps(dict(self._host))[1:-1] if self._host else b"") + b"}\n"
        gen = b',"generated":{' + dumps(self._out) + b":"
        self._pieces = (dumps, b"".join(ids_), keys, gen, b',"parent_task_id":', tail)
        return self._pieces

    def __call__(self, flat: list, buf: bytearray) -> None:
        dumps, ids_used, keys, gen, parent_key, tail = self._pieces or self._constants()
        lay, fmt, w = self._lay, self._fmt, self._lay.width
        k = len(flat) // w
        if not k:
            return

        def column(pos: int) -> list:
            return flat[pos::w]

        cols: list = []
        tids = column(lay.tid)
        if fmt is ids.format_id and min(tids) >= ids._first:
            cols += [b'{"type":"task","task_id":"' + ids._prefix.encode() + b"-", dumps(tids)[1:-1].split(b","),
                     b'"' + ids_used]
        else:
            _json(cols, b'{"type":"task","task_id":', list(map(fmt, tids)), dumps)
            cols.append(ids_used)
        args = column(lay.args)
        for i, key in enumerate(keys):
            _json(cols, key, args if self._bare else list(map(itemgetter(i), args)), dumps)
        if lay.t0 is not None:
            _json(cols, b'},"started_at":', column(lay.t0), dumps)
            cols.append(b',"ended_at":')
        else:
            cols.append(b'},"ended_at":')
        _json(cols, b"", column(lay.t1), dumps)
        cols.append(b',"status":"FINISHED"')
        results = column(lay.result)
        nones = results.count(None)
        if not nones:
            _json(cols, gen, results, dumps)
            cols.append(b"}")
        elif nones < k:  # some: a piece per record (temporary encodings, freed as they are joined)
            cols.append([b"" if r is None else gen + dumps(r) + b"}" for r in results])
        parents = column(lay.parent)
        nones = parents.count(None)
        if not nones:
            _json(cols, parent_key, list(map(fmt, parents)), dumps)
        elif nones < k:
            cols.append([b"" if p is None else parent_key + dumps(fmt(p)) for p in parents])
        cols.append(tail)
        buf += b"".join(_woven(cols, k))


def _json(cols: list, before: bytes, values: list, dumps: Any) -> None:
    """Append to cols the piece before and the JSON of each of values (plain JSON scalars), from one dumps of the
    whole list: split at its commas when no value is a str (a number, true, false or null holds none), at '","'
    when every one is (inside an encoded string every quote is escaped: the three bytes only sit between two
    strings), with the quotes moved to the pieces around. Else one dumps per value."""
    types = set(map(type, values))
    if str not in types:
        cols += [before, dumps(values)[1:-1].split(b",")]
    elif len(types) == 1:
        cols += [before + b'"', dumps(values)[2:-2].split(b'","'), b'"']
    else:  # kept alive together, orjson's results take far more memory than their length: rare
        cols += [before, [dumps(v) for v in values]]


def _woven(cols: list, k: int) -> list:
    """The pieces of k lines: cols holds constant pieces (bytes, the same in every line) and columns (lists of k
    pieces), in line order. Consecutive constants are joined; each column is laid into one list by a strided slice
    assignment (C loops, no tuple per line)."""
    merged: list = []
    for col in cols:
        if type(col) is bytes and merged and type(merged[-1]) is bytes:
            merged[-1] += col
        elif type(col) is not bytes or col:
            merged.append(col)
    m = len(merged)
    out: list = [b""] * (m * k)
    for j, col in enumerate(merged):
        out[j::m] = col if type(col) is list else [col] * k
    return out
