"""Offline drains: capture records kept as they are, built into messages each time the messages are read.

A @flowcept_task or @lightweight_flowcept_task call lays a flat record into the run's buffer
(flowcept_core.capture.record, kinds ``task`` and ``light``). When its user values (arguments, result) are immutable
plain JSON scalars, it ended without error or telemetry, and its template adds nothing shared by many messages (tags,
metadata), building its message again at any later time gives an equal, fresh dict. Such records are kept instead of
their messages (a third of the memory, nothing encoded), and each ``get_buffer()`` builds them with a function
generated once per template and arity (flowcept_core.replay_build): one dict display with the template's constants in
it, no per-value checks (the drain checked the values in bulk, over whole runs of records of one template: strided
slices of the window, compared in C). A lightweight record gets its task id when it is kept (its first slot, the
template, is replaced by it), so every build gives the same id. flowcept_core.retained bounds how many are kept and
encodes those that leave the window, or all of them when the lines are needed (the buffer file; dump_buffer encodes
them into its file, and keeps them unless the buffer file follows at stop).
Everything else takes the general path: TaskTemplate.materialize, then kept encoded (messages of plain values whose
template shares nothing are kept as built as well, handed over once by get_buffer).
"""

from __future__ import annotations

from array import array
from itertools import chain, islice, repeat
from math import isfinite
from operator import is_

from flowcept_core import ids
from flowcept_core.capture.templates import TaskTemplate
from flowcept_core.logger import get_logger
from flowcept_core.replay_build import FULL, LIGHT_KEPT, make_builder
from flowcept_core.serialize import _utf8

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Replay", "drain_kept", "window_end"]

_NONE = type(None)
_SCALARS = frozenset((int, float, bool, str, _NONE))
_NUMBERS = (int, float, bool)
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_VALUE_BYTES = 40  # per argument
_MIN_RECORDS = 16  # a run of records that failed the bulk check is split in halves down to this many
_MIN_RUN = 16  # shorter runs of one template (calls of several functions interleaved) take the general path: each
# kept run costs a bulk check and a window entry, more than building and encoding a few messages
_CHUNK = 256  # messages built at a time by the general path


class Replay:
    """A run's generated builders and template checks (cached; the run's drain lock serializes their use)."""

    def __init__(self) -> None:
        self._builders: dict[tuple[int, int], tuple[Any, tuple, Any]] = {}
        self._exact: dict[int, tuple[Any, bool]] = {}

    @staticmethod
    def shape(run: Any) -> tuple | None:
        """What messages take from the run, when a record may be kept as it is at this drain (None otherwise: ids
        that are not str)."""
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
            entry = self._builders[(id(tmpl), arity)] = (tmpl, shape, make_builder(tmpl, arity, shape))
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


def _plain(raw: list, a: int, b: int, arity: int, max_bytes: int, lay: Any, bare: bool) -> tuple[int, bool] | None:
    """(estimated memory, whether none has a parent and all a result) of the task records raw[a:b] (one template,
    fields where lay says; bare: the one argument as it is, TaskTemplate.bare) when every one can be kept as it is:
    no kwargs, error or telemetry, arity arguments, arguments and result plain JSON scalars (what all_plain accepts),
    an int parent or none. None otherwise. Checked column by column (strided slices), not record by record."""
    w = lay.width
    n = (b - a) // w
    for pos in lay.empty:
        if raw[a + pos:b:w].count(None) != n:
            return None
    parents = raw[a + lay.parent:b:w]
    orphans = parents.count(None) == n
    if not orphans and not set(map(type, parents)) <= {_NONE, int}:
        return None
    args, kwargs = raw[a + lay.args:b:w], raw[a + lay.kwargs:b:w]
    if bare:
        if kwargs.count(None) != n:
            return None
        values = args
    else:
        try:  # kwargs None: the tuple of a plain wrapper's parameters (flowcept_core.capture.exact); else (*args)
            if (kwargs.count(None) != n and (any(kwargs) or set(map(type, args)) != {tuple})) or (
                    set(map(len, args)) != {arity}):
                return None
        except TypeError:  # not sized
            return None
        values = list(chain.from_iterable(args)) if arity else []
    values += raw[a + lay.result:b:w]
    types = set(map(type, values))
    if not types <= _SCALARS:
        return None
    size = n * (lay.record_bytes + _VALUE_BYTES * arity)
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
    return size, orphans and (_NONE not in types or None not in raw[a + lay.result:b:w])


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
    lay, bare = LIGHT_KEPT if tmpl.lightweight else FULL, tmpl.bare
    args = raw[a + lay.args]
    arity = 1 if bare else len(args) if type(args) is tuple else -1
    builds = replay.builder(tmpl, arity, shape) if arity >= 0 else None
    if builds is not None:
        plain = _plain(raw, a, b, arity, max_bytes, lay, bare)
        if plain is not None:
            found.append((a, b, builds[plain[1]], plain[0]))
            return
    if builds is None and arity == len(tmpl.names):
        return  # the template's messages are never built so
    k = (b - a) // lay.width
    if k >= 2 * _MIN_RECORDS:
        mid = a + (k // 2) * lay.width
        _replayable(replay, shape, raw, a, mid, tmpl, max_bytes, found)
        _replayable(replay, shape, raw, mid, b, tmpl, max_bytes, found)


def drain_kept(run: Any, raw: list, runs: list | None = None) -> int:
    """Keep a window of the flat buffer of a run without a sink (run.retained): runs of records that can be kept
    as they are, as records; the rest built as messages (and kept as built too when exact). Returns the count.
    runs: the window's runs of records of one template, as window_end gives them (else found here). A telemetry
    sampler's snapshot goes to a @flowcept_task record without one when it is built: those are not kept so."""
    retained = run.retained
    replay = retained.replay
    shape = replay.shape(run)
    sampled = getattr(run, "telemetry", None) is not None
    count = done = 0
    n = len(raw)
    if shape is not None:
        for i, k, item in runs if runs is not None else _runs(raw):
            if k < _MIN_RUN or type(item) is not TaskTemplate or (sampled and not item.lightweight):
                continue
            found: list = []
            _replayable(replay, shape, raw, i, i + k * item.width, item, run.limits.max_bytes, found)
            for a, b, build, size in found:
                if done < a:
                    count += _general(run, raw, done, a)
                flat = raw if a == 0 and b == n else raw[a:b]
                if item.lightweight:  # its task id, the same at every build, in place of the template
                    flat[::item.width] = list(islice(ids.COUNTER, (b - a) // item.width))
                retained.add_records(build, flat, (b - a) // item.width, size)
                count += (b - a) // item.width
                done = b
    if done < n:
        count += _general(run, raw, done, n)
    return count


def _runs(raw: list) -> list:
    return window_end(raw, 0, len(raw), len(raw))[1]


def _run_length(items: list, pos: int, stop: int, tmpl: Any, most: int) -> int:
    """How many records of tmpl (of width tmpl.width) follow each other from pos, before stop, up to most:
    compared by identity, in growing strides of the list (a window of one template's records costs a few C calls)."""
    w, k, step = tmpl.width, 0, 8
    if most > 1 and pos + w < stop and items[pos + w] is not tmpl:  # calls of several functions in turn
        return 1
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
    exact_template = retained.replay.exact_template  # cached per template
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
