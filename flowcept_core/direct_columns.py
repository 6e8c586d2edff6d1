"""A loop's task records encoded column by column (the default pipeline's short cut, flowcept_core.direct).

Records of one template that follow each other in the buffer (a loop's calls) are encoded at once when every one is
of the simplest kind: one positional argument and a result (or none) that are ints, floats or bools, no parent task,
no error, no keyword arguments, an id of this process' current prefix, and telemetry at start and end being the same
reading. Each field is taken as a column (an extended slice of the buffer), checked with one C call (types, ranges,
None counts) and encoded with one ``orjson.dumps`` of the whole column, split at its commas (none of these values
holds one); heads, ids and buffer-file lines are joined by C iterators, without Python code per record. The bytes
are exactly those _Encoder.encode_run gives record by record (tests/test_direct_records.py compares them).

What the store reads besides a head is the same for every record of a stretch sharing one telemetry reading: such a
stretch is handed over as one *run* (shared fields, the ids' UTF-8, the heads; see the lmdb store's upsert_json).
"""

from __future__ import annotations

from itertools import chain, repeat
from operator import is_, itemgetter

from flowcept_core import ids
from flowcept_core.capture.record import TASK
from flowcept_core.replay import _numbers as numbers_fit
from flowcept_core.replay import _run_length

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["encode_columns"]

_MIN_RECORDS = 16  # fewer: encoded record by record
_NUMBERS = frozenset((int, float, bool))
_TIMES = frozenset((int, float))
_TID, _PARENT, _T0, _T1, _ARGS, _KWARGS, _RESULT, _ERROR, _TEL0, _TEL1 = (
    TASK.index(f)
    for f in ("task_id", "parent", "started_at", "ended_at", "args", "kwargs", "result", "error",
              "telemetry_at_start", "telemetry_at_end")
)


def encode_columns(encoder: Any, template: Any, shape: Any, raw: list, i: int, run: Any, pieces: list,
                   runs: list) -> int:
    """Encode the records of template that follow each other in raw from i, all at once if every one is of the
    simplest kind (see the module's doc): their buffer-file lines appended to pieces (two pieces each), their runs
    (shared fields, keys, heads) to runs. Returns how many records were encoded: all of them, or none."""
    skip = encoder.no_columns  # (window, end) of the last loop found not to be of this kind: not checked again
    if skip[0] is raw and i < skip[1]:
        return 0
    width = template.width
    k = _run_length(raw, i, len(raw), template, (len(raw) - i) // width)
    if (k >= _MIN_RECORDS and shape.n_names >= 1 and run.format_id is ids.format_id
            and _encode(encoder, shape, raw, i, k, width, run, pieces, runs, template.bare)):
        return k
    encoder.no_columns = (raw, i + k * width)  # its records are encoded one by one, maybe over several calls
    return 0


def _encode(encoder: Any, shape: Any, raw: list, i: int, k: int, width: int, run: Any, pieces: list,
            runs: list, bare: bool) -> bool:
    end = i + k * width

    def column(field: int) -> list:
        return raw[i + field : end : width]

    if any(column(_KWARGS)) or column(_ERROR).count(None) != k or column(_PARENT).count(None) != k:
        return False
    tids = column(_TID)
    if set(map(type, tids)) != {int} or min(tids) < ids._first:
        return False
    args = column(_ARGS)  # bare: the one argument as it is (TaskTemplate.bare)
    if not bare and (set(map(type, args)) != {tuple} or set(map(len, args)) != {1}):
        return False
    dumps = encoder._dumps
    used = _numbers(args if bare else list(map(itemgetter(0), args)), dumps)
    results = column(_RESULT)
    nones = results.count(None)
    generated = None if nones == k else _numbers(results, dumps) if not nones else False
    t0s, t1s = column(_T0), column(_T1)
    if used is None or generated is False or not set(map(type, t0s)) <= _TIMES or not set(map(type, t1s)) <= _TIMES:
        return False
    tel0, tel1 = column(_TEL0), column(_TEL1)
    if False in map(is_, tel0, tel1):
        return False
    if None in tel0 and run.telemetry is not None:  # called before the first reading: the run's latest (materialize)
        latest = run.telemetry.snapshot
        tel0 = [latest if t is None else t for t in tel0]
    stretches = _stretches(tel0, encoder)
    if stretches is None:
        return False

    prefix = ids._prefix.encode() + b"-"
    digits = dumps(tids)[1:-1].split(b",")
    cols: list = [repeat(b'{"type":"task","task_id":"' + prefix), digits, repeat(b'"' + shape.ids + shape.one_arg),
                  used, repeat(b'},"started_at":'), dumps(t0s)[1:-1].split(b","), repeat(b',"ended_at":'),
                  dumps(t1s)[1:-1].split(b","), repeat(b',"status":"FINISHED"' + (b',"generated":{"arg_0":'
                                                                                 if generated else b""))]
    cols += [generated, repeat(b"}" + shape.host)] if generated else [repeat(shape.host)]
    heads = list(map(b"".join, zip(*cols, strict=False)))  # the repeats are endless
    keys = list(map(b"".join, zip(repeat(prefix), digits, strict=False)))
    ids_ = {"activity_id": shape.activity_id, "workflow_id": shape.workflow_id, "campaign_id": shape.campaign_id}
    for start, stop, snap, tail in stretches:
        shared = dict(ids_)
        if snap is not None:
            shared["telemetry_at_start"] = shared["telemetry_at_end"] = snap
        part = heads if len(stretches) == 1 else heads[start:stop]
        runs.append((shared, keys if len(stretches) == 1 else keys[start:stop], part))
        pieces += chain.from_iterable(zip(part, repeat(tail), strict=False))
    return True


def _numbers(values: list, dumps: Any) -> list | None:
    """The JSON of each value, or None unless every one is an int in 64 bits, a finite float or a bool (the kept
    records' check, flowcept_core.replay)."""
    types = set(map(type, values))
    if not types <= _NUMBERS or not numbers_fit(values, float in types):
        return None
    return dumps(values)[1:-1].split(b",")


def _stretches(tel: list, encoder: Any) -> list | None:
    """(start, stop, reading, buffer-file tail) of each stretch of records sharing one telemetry reading (or none),
    or None when a reading is not a dict or there are too many stretches for this to pay."""
    out = []
    same = list(map(is_, tel[1:], tel[:-1]))
    start, n = 0, len(tel)
    while start < n:
        try:
            stop = same.index(False, start) + 1
        except ValueError:
            stop = n
        snap = tel[start]
        if snap is None:
            tail = b"}\n"
        elif type(snap) is not dict:
            return None
        else:
            try:
                js = encoder._snapshot(snap)
            except encoder._errors:
                return None
            tail = b"".join((b',"telemetry_at_start":', js, b',"telemetry_at_end":', js, b"}\n"))
        out.append((start, stop, snap, tail))
        if len(out) > 8 and len(out) * 64 > n:
            return None
        start = stop
    return out
