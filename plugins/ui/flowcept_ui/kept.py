"""A large workflow's rows and figures kept beside a store that offers it (``store.derived``: LMDB, see
flowcept_lmdb._derived), so that a server started later shows the workflow's page without reading and decoding its
tasks again.

Saved after the figures were computed from a full read of the workflow (at least KEEP_MIN_TASKS tasks), in a
background thread, under the stamp read before that read; loaded when nothing of the workflow is in memory and the
stamp is still the store's (no task written since, the same task count). What comes back is what was computed:
the same rows and the same figures (msgpack keeps every value the store's decoding gives; a workflow holding
anything else is not kept). The format names the source of the modules that compute the figures: a changed
computation does not load what an earlier one kept.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import operator
import secrets
from itertools import repeat
from pathlib import Path
from typing import Any

from flowcept_core.plugin import gc_paused
from flowcept_ui.analysis import Columns
from flowcept_ui.series import _ABSENT

__all__ = ["stamp", "load", "save", "KEEP_MIN_TASKS"]

KEEP_MIN_TASKS = 5000  # smaller workflows are computed again (tens of ms)
_KIND = "ui-columns"
_COLUMNS = ("ids", "acts", "statuses", "starts", "ends", "parents", "tels", "gens", "stderrs")
log = logging.getLogger("flowcept_ui")
_start, _stop = operator.attrgetter("start"), operator.attrgetter("stop")


@functools.cache
def _format() -> str:
    """Names the code that computes the rows and figures (a hash of its modules' source)."""
    h = hashlib.sha256(b"1")
    for name in ("analysis.py", "figures.py", "series.py", "kept.py"):
        try:
            h.update((Path(__file__).parent / name).read_bytes())
        except OSError:  # pragma: no cover - installed without sources
            from flowcept_ui import __version__

            h.update(__version__.encode())
    return h.hexdigest()[:16]


def _default(value: Any) -> Any:
    """msgpack's form of what lean decoding leaves in documents: an extension value as ``slice(code, data)``."""
    import msgpack

    if type(value) is slice and type(value.start) is int and -128 <= value.start <= 127 and type(value.stop) is bytes:
        return msgpack.ExtType(value.start, value.stop)
    raise TypeError(f"not kept: {type(value).__name__}")


def stamp(store: Any, workflow_id: Any) -> bytes | None:
    """The store's stamp of the workflow's tasks now (None: nothing is kept for it)."""
    derived = getattr(store, "derived", None)  # a store keeping derived data beside it (LMDB)
    if derived is None:
        return None
    try:
        return derived.stamp(workflow_id)
    except Exception as e:  # the stamp cannot be read: compute as without it
        log.debug("flowcept ui: stamp of %s: %s", workflow_id, e)
        return None


def load(store: Any, workflow_id: Any, at: bytes, tel_ref: Any) -> tuple[Columns, dict] | None:
    """The rows and figures kept for the workflow under the stamp at, or None."""
    import msgpack

    try:
        raw = store.derived.load(_KIND, workflow_id, at)
        if raw is None:
            return None
        with gc_paused(promote=True):  # 100k small dicts, lists and slices, none of them cyclic
            return _columns(msgpack.unpackb(raw, raw=False, strict_map_key=False, ext_hook=slice), tel_ref)
    except Exception as e:  # a damaged file: computed again
        log.debug("flowcept ui: kept figures of %s: %s", workflow_id, e)
        return None


def _columns(data: dict, tel_ref: Any) -> tuple[Columns, dict] | None:
    if data.get("format") != _format():
        return None
    cols = Columns(tel_ref=tel_ref)
    for name in _COLUMNS:
        setattr(cols, name, data[name])
    if data["tel_code"] is not None:
        code, refs = data["tel_code"], cols.tels
        cols.tels = (
            list(map(slice, repeat(code), refs))
            if None not in refs
            else [None if r is None else slice(code, r) for r in refs]
        )
    for i in data["absent"]:
        cols.tels[i] = _ABSENT
    cols.keys = set(data["keys"])
    cols.last_chunk, cols.id_sorted = data["last_chunk"], data["id_sorted"]
    cols.generation = secrets.token_hex(4)
    figures = data["figures"]
    figures["generation"] = cols.generation
    if len({len(getattr(cols, name)) for name in _COLUMNS}) != 1 or figures.get("task_count") != len(cols):
        return None
    return cols, figures


def save(store: Any, workflow_id: Any, at: bytes, cols: Columns, figures: dict) -> bool:
    """Keep the rows (a copy no one adds to) and their full figures under the stamp at (read before the rows)."""
    import msgpack

    if getattr(store, "derived", None) is None or len(cols) < KEEP_MIN_TASKS:
        return False
    tels, code = cols.tels, None
    absent = [i for i, t in enumerate(tels) if t is _ABSENT] if _ABSENT in tels else []
    if absent:
        tels = [None if t is _ABSENT else t for t in tels]
    kinds = set(map(type, tels))
    if slice in kinds and kinds <= {slice, type(None)}:  # the usual case: references to snapshots (and no telemetry)
        refs = tels if type(None) not in kinds else [t for t in tels if t is not None]
        if len(codes := set(map(_start, refs))) == 1:  # all of one kind: kept as the references' bytes
            code = codes.pop()
            tels = list(map(_stop, tels)) if refs is tels else [None if t is None else t.stop for t in tels]
    data = {name: getattr(cols, name) for name in _COLUMNS}
    data.update(
        tels=tels,
        absent=absent,
        tel_code=code,
        keys=list(cols.keys),
        last_chunk=cols.last_chunk,
        id_sorted=cols.id_sorted,
        figures={k: v for k, v in figures.items() if k != "generation"},
        format=_format(),
    )
    try:
        raw = msgpack.packb(data, default=_default)
    except Exception as e:  # a value msgpack does not hold: not kept
        log.debug("flowcept ui: not keeping the figures of %s: %s", workflow_id, e)
        return False
    return store.derived.save(_KIND, workflow_id, at, raw)
