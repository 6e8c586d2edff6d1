"""Lineage lookups of the LMDB store: the tasks that used or generated given PROV entities (flowcept_core.lineage's
store protocol ``tasks_by_entity``), from a value index kept up to date off the write path.

Writing tasks costs one put per upsert call: the call's task keys are appended to ``lx:pending`` (8-byte sequence
number -> msgpack list of keys). The entity ids of their values (a SHA-256 of each value, flowcept_core.prov_mapping)
are put, sorted, into the dupsort sub-databases ``lx:used`` / ``lx:generated`` (entity key -> task keys) by a
catch-up, and the pending entries removed. A catch-up goes in steps; each step reads the pending tasks and computes
their entity keys in a read transaction (writers are not held up), then puts them in a short write transaction.
Catch-ups run:

- in the background (:class:`Indexer`, a daemon thread of each open store): once no task was written for IDLE_S
  seconds, in steps of BACKGROUND_STEP tasks, giving way after each step and stopping at the next write: a writer
  waits for one step's write transaction at most, and capture, which hands its records to a storing thread, not at
  all. A write transaction's cost is mostly its commit, which writes every index page the step touched (entity keys
  are hashes, so spread over the whole index), and larger steps write fewer pages per task: steps double while
  their write transaction takes less than half of the target and halve when it takes more than twice that, between
  100 and BACKGROUND_MAX_STEP tasks. The target is BACKGROUND_HOLD_S, growing with the time the store has been idle
  (by half of it per second, up to BACKGROUND_MAX_HOLD_S): a write right after a pause waits little, and a store left
  idle (a run that ended) is indexed with larger steps.
  Closing the store stops it at once (what is left waits for the next idle period or query). The thread starts
  with the first write of tasks through the store: a process that only reads never indexes in the background (its
  first lineage query catches up, as for a store written before this index existed).
- on the query path, as the fallback: the first lineage query after writes indexes whatever is still pending (in
  steps of _STEP tasks), so an answer is always complete.

Several threads or processes may catch up at once: a step only adds entries (adding one twice is a no-op) and removes
the pending entries it read; a task written after a step's read has a new pending entry, so it is indexed by a later
step. A store never indexed is scanned whole (resumable: ``\\xfdfrom`` records where the scan stopped; a step applies
its part only if nobody moved that mark since its read).

Entries are only added: a task whose value a later message replaced, or a deleted task, is dropped when read (each
candidate's current entity ids are checked).
"""

from __future__ import annotations

import hashlib
import time
from itertools import islice, repeat
from operator import itemgetter
from typing import Any

import msgpack
import orjson

from flowcept_core.plugin import DATA_ID_KEY, StoreError, canonical_bytes, entity_ids, gc_paused
from flowcept_lmdb._codec import unpack
from flowcept_lmdb._lineage_indexer import Indexer, _catch_up_lock, _listeners

__all__ = ["ROLES", "Indexer", "entity_key", "note_written", "tasks_by_entity", "value_key", "catch_up_step"]

ROLES = ("used", "generated")
_BUILT = b"\xffbuilt"  # in lx:pending once every task stored before the pending ones is indexed
_SEQ = b"\xfeseq"  # in lx:pending: the last sequence number given
_FROM = b"\xfdfrom"  # in lx:pending while every task is being indexed: sequence number covered + key to resume at
_STEP = 50_000  # tasks per step of a catch-up on the query path
BACKGROUND_STEP = 1_000  # tasks in the first step of a background catch-up
BACKGROUND_MAX_STEP = 16_000  # tasks per step at most (its read transaction: ~0.15 s of CPU)
BACKGROUND_HOLD_S = 0.05  # a background step's write transaction aims at this many seconds (steps grow or shrink)
BACKGROUND_MAX_HOLD_S = 0.25  # ... and at most this many, after a long idle period
IDLE_S = 0.75  # a background catch-up starts once no task was written for this long
_COMMIT_S = 2.0  # how long after a write is noted its commit may still be on its way
_first = itemgetter(0)
_JSON = 0x7B  # "{": a JSON document (see _encoded); msgpack documents start otherwise
_unpackb = msgpack.unpackb


def entity_key(entity_id: str) -> bytes:
    """The index key of an entity id: b"s" + the 32 digest bytes of a content hash, else b"d" + the id's UTF-8
    (b"h" + its SHA-256 when that is too long for an LMDB key)."""
    if len(entity_id) == 71 and entity_id.startswith("sha256:"):
        return b"s" + bytes.fromhex(entity_id[7:])
    raw = entity_id.encode("utf-8", "surrogatepass")
    return b"d" + raw if len(raw) <= 400 else b"h" + hashlib.sha256(raw).digest()


_SCALARS = frozenset((str, int, float, bool, type(None)))
_KEY_CACHE: dict[tuple[type, Any], bytes] = {}  # (type, scalar) -> key; True == 1 == 1.0, so the type is in the key
_KEY_CACHE_MAX = 65536
_sha256 = hashlib.sha256
_dumps = orjson.dumps


def value_key(value: Any) -> bytes:
    """entity_key(value_entity_id(value)), computed without the hex text in between (a string is hashed each time:
    that is cheaper than caching values that are mostly distinct; other scalars repeat and are cached)."""
    t = type(value)
    if t is str:
        try:
            return b"s" + _sha256(_dumps(value)).digest()
        except orjson.JSONEncodeError:
            return b"s" + _sha256(canonical_bytes(value)).digest()
    if t in _SCALARS:
        key = (t, value)
        found = _KEY_CACHE.get(key)
        if found is None:
            if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
                _KEY_CACHE.clear()
            found = _KEY_CACHE[key] = b"s" + _sha256(canonical_bytes(value)).digest()
        return found
    if isinstance(value, dict):
        data_id = value.get(DATA_ID_KEY)
        if type(data_id) is str and data_id:
            return entity_key("data:" + data_id)
        if t is not dict:
            value = dict(value)
    return b"s" + _sha256(canonical_bytes(value)).digest()


def _keys_of(held: Any) -> set[bytes]:
    """The index keys of a used / generated field's values (entity_key of each of entity_ids(held))."""
    if isinstance(held, dict):
        return set(map(value_key, held.values()))
    return {value_key(held)}


def note_written(txn: Any, lineage: dict[str, Any], keys: list[bytes]) -> None:
    """Called inside an upsert's write transaction of tasks: remember their keys for the next catch-up."""
    if not keys:
        return
    pending = lineage["pending"]
    seq = int.from_bytes(txn.get(_SEQ, db=pending) or b"\x00", "big") + 1
    txn.put(_SEQ, seq.to_bytes(8, "big"), db=pending)
    txn.put(seq.to_bytes(8, "big"), msgpack.packb(keys), db=pending)
    for indexer in _listeners.get(id(lineage), ()):
        indexer.written()


def _behind(txn: Any, lineage: dict[str, Any]) -> bool:
    """True when tasks were written since the index was brought up to date (or it was never built)."""
    pending = lineage["pending"]
    if txn.get(_BUILT, db=pending) is None:
        return True
    cursor = txn.cursor(db=pending)
    return bool(cursor.first()) and len(cursor.key()) == 8


def _pairs(found: Any) -> dict[str, list[tuple[bytes, bytes]]]:
    """(entity key, task key) pairs per role of (task key, stored document) pairs, sorted for putmulti. Only the
    used / generated fields matter: JSON documents are decoded by orjson alone and msgpack documents without
    their telemetry snapshots (left as references)."""
    used: list[tuple[bytes, bytes]] = []
    generated: list[tuple[bytes, bytes]] = []
    loads = orjson.loads
    for key, raw in found:
        doc = loads(raw) if raw[0] == _JSON else _unpackb(raw, raw=False, strict_map_key=False)
        held = doc.get("used")
        if held is not None:
            used.extend(zip(_keys_of(held), repeat(key)))
        held = doc.get("generated")
        if held is not None:
            generated.extend(zip(_keys_of(held), repeat(key)))
    used.sort(key=_first)  # by entity key: duplicates of one key are put in any order
    generated.sort(key=_first)
    return {"used": used, "generated": generated}


def catch_up_step(store: Any, limit: int, held: list[float] | None = None) -> bool:
    """One step of a catch-up (up to limit tasks): read and compute in a read transaction, then put in a short
    write transaction (its seconds appended to held, when given). Returns True while work may be left."""
    shared = store._env()
    docs, lineage = shared.docs["tasks"], shared.lineage
    plan = store._read(lambda txn: _plan(txn, docs, lineage, limit))
    if plan is None:
        return False
    t0 = time.perf_counter()
    more = bool(store._write(lambda txn: _apply(txn, lineage, plan)))
    if held is not None:
        held.append(time.perf_counter() - t0)
    return more


def _plan(txn: Any, docs: Any, lineage: dict[str, Any], limit: int) -> tuple | None:
    pending = lineage["pending"]
    if txn.get(_BUILT, db=pending) is None:  # never indexed: the next stretch of every stored task, in key order
        state = txn.get(_FROM, db=pending)
        if state is None:
            covered, start = txn.get(_SEQ, db=pending) or bytes(8), b""
        else:
            covered, start = state[:8], state[8:]
        cursor = txn.cursor(db=docs)
        if not (cursor.set_range(start) if start else cursor.first()):
            found: list = []
        else:
            found = list(islice(cursor.iternext(), limit))
        resume = cursor.key() if len(found) == limit and cursor.next() else None
        return ("full", state, covered, resume, _pairs(found))
    cursor = txn.cursor(db=pending)
    seqs: list[tuple[bytes, bytes, bytes | None]] = []  # (sequence number, entry read, what is left of it or None)
    keys: set[bytes] = set()
    ok = cursor.first()
    while ok and len(keys) < limit:
        seq = cursor.key()
        if len(seq) != 8:
            break  # past the sequence numbers (meta keys sort after them)
        entry = cursor.value()
        noted = msgpack.unpackb(entry)
        room = limit - len(keys)
        if len(noted) > room:  # a large upsert call: this step takes part of it
            keys.update(noted[:room])
            seqs.append((seq, entry, msgpack.packb(noted[room:])))
            break
        keys.update(noted)
        seqs.append((seq, entry, None))
        ok = cursor.next()
    if not seqs:
        return None
    more = seqs[-1][2] is not None or (bool(ok) and len(cursor.key()) == 8)
    found = txn.cursor(db=docs).getmulti(sorted(keys)) if keys else []
    return ("pending", seqs, more, _pairs(found))


def _apply(txn: Any, lineage: dict[str, Any], plan: tuple) -> bool:
    pending = lineage["pending"]
    if plan[0] == "pending":
        _, seqs, more, pairs = plan
        _put(txn, lineage, pairs)
        for seq, entry, left in seqs:
            if left is None:
                txn.delete(seq, db=pending)
            elif txn.get(seq, db=pending) == entry:  # unless another catch-up took some of it meanwhile
                txn.put(seq, left, db=pending)
        return more
    _, state, covered, resume, pairs = plan
    if txn.get(_BUILT, db=pending) is not None or txn.get(_FROM, db=pending) != state:
        return True  # another catch-up moved on since this step's read: look again
    _put(txn, lineage, pairs)
    if resume is not None:
        txn.put(_FROM, covered + resume, db=pending)
        return True
    # the scan read every task stored before the pending entries up to covered: those are done
    old = [key for key in txn.cursor(db=pending).iternext(values=False) if len(key) == 8 and key <= covered]
    for key in old:
        txn.delete(key, db=pending)
    txn.delete(_FROM, db=pending)
    txn.put(_BUILT, b"1", db=pending)
    return True  # tasks noted while the scan ran may be pending


def _put(txn: Any, lineage: dict[str, Any], pairs: dict[str, list[tuple[bytes, bytes]]]) -> None:
    for role in ROLES:
        if pairs[role]:
            txn.cursor(db=lineage[role]).putmulti(pairs[role], dupdata=True)


def _lookup(txn: Any, docs: Any, lineage: dict[str, Any], role: str, wanted: list[str]) -> list[tuple[str, dict]]:
    cursor = txn.cursor(db=lineage[role])
    pairs: list[tuple[str, bytes]] = []
    for eid in dict.fromkeys(wanted):
        if cursor.set_key(entity_key(eid)):
            pairs.extend((eid, bytes(key)) for key in cursor.iternext_dup())
    decoded: dict[bytes, tuple[dict, set[str]] | None] = {}
    out: list[tuple[str, dict]] = []
    for eid, key in pairs:
        if key not in decoded:
            raw = txn.get(key, db=docs)
            if raw is None:
                decoded[key] = None
            else:
                doc = unpack(raw)
                held = doc.get(role)
                decoded[key] = (doc, set() if held is None else set(entity_ids(held)))
        found = decoded[key]
        if found is not None and eid in found[1]:  # the task holds the value now (not only an earlier message)
            out.append((eid, found[0]))
    return out


def tasks_by_entity(store: Any, role: str, wanted: list[str]) -> list[tuple[str, dict]]:
    """(entity id, task document) for each stored task whose role field ("used" / "generated") holds a value with
    one of the wanted entity ids; brings the index up to date first when tasks were written since."""
    if role not in ROLES:
        raise StoreError(f"tasks_by_entity: role={role!r} is not one of {list(ROLES)}")
    shared = store._env()
    docs, lineage = shared.docs["tasks"], shared.lineage
    if store._read(lambda txn: _behind(txn, lineage)):
        # one catch-up at a time in this process: a background step in progress finishes first (a few ms)
        with _catch_up_lock(lineage), gc_paused():  # decoded documents and key pairs are acyclic temporaries
            while catch_up_step(store, _STEP):
                pass
    return store._read(lambda txn: _lookup(txn, docs, lineage, role, wanted))


def _behind_of(store: Any) -> Any:
    lineage = store._env().lineage
    return lambda txn: _behind(txn, lineage)
