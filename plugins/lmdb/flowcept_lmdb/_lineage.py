"""Lineage lookups of the LMDB store: the tasks that used or generated given PROV entities (flowcept_core.lineage's
store protocol ``tasks_by_entity``), from a value index brought up to date when a lineage query needs it.

Writing tasks costs one put per upsert call: the call's task keys are appended to ``lx:pending`` (8-byte sequence
number -> msgpack list of keys). The entity ids of their values (a SHA-256 of each value, flowcept_core.prov_mapping)
are computed by the first lineage query after those writes, in write transactions of _STEP tasks (so writers wait
for one step at most): the pending tasks are read, their used / generated entity ids put, sorted, into the dupsort
sub-databases ``lx:used`` / ``lx:generated`` (entity key -> task keys), and the pending entries removed. So capture
and storage pay nothing for lineage, and a store written before this index existed is indexed whole by its first
lineage query (resumable: an interrupted scan goes on from where it stopped).

Entries are only added: a task whose value a later message replaced, or a deleted task, is dropped when read (each
candidate's current entity ids are checked).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from flowcept_core.plugin import StoreError, entity_ids, gc_paused
from flowcept_lmdb._codec import unpack

__all__ = ["ROLES", "entity_key", "note_written", "tasks_by_entity"]

ROLES = ("used", "generated")
_BUILT = b"\xffbuilt"  # in lx:pending once every task stored before the pending ones is indexed
_SEQ = b"\xfeseq"  # in lx:pending: the last sequence number given
_FROM = b"\xfdfrom"  # in lx:pending while every task is being indexed: sequence number covered + key to resume at
_STEP = 50_000  # tasks indexed per write transaction of a catch-up


def entity_key(entity_id: str) -> bytes:
    """The index key of an entity id: b"s" + the 32 digest bytes of a content hash, else b"d" + the id's UTF-8
    (b"h" + its SHA-256 when that is too long for an LMDB key)."""
    if len(entity_id) == 71 and entity_id.startswith("sha256:"):
        return b"s" + bytes.fromhex(entity_id[7:])
    raw = entity_id.encode("utf-8", "surrogatepass")
    return b"d" + raw if len(raw) <= 400 else b"h" + hashlib.sha256(raw).digest()


def note_written(txn: Any, lineage: dict[str, Any], keys: list[bytes]) -> None:
    """Called inside an upsert's write transaction of tasks: remember their keys for the next catch-up."""
    if not keys:
        return
    pending = lineage["pending"]
    seq = int.from_bytes(txn.get(_SEQ, db=pending) or b"\x00", "big") + 1
    txn.put(_SEQ, seq.to_bytes(8, "big"), db=pending)
    txn.put(seq.to_bytes(8, "big"), msgpack.packb(keys), db=pending)


def _behind(txn: Any, lineage: dict[str, Any]) -> bool:
    """True when tasks were written since the index was brought up to date (or it was never built)."""
    pending = lineage["pending"]
    if txn.get(_BUILT, db=pending) is None:
        return True
    cursor = txn.cursor(db=pending)
    return bool(cursor.first()) and len(cursor.key()) == 8


def _catch_up_step(txn: Any, docs: Any, lineage: dict[str, Any]) -> bool:
    """One write transaction of a catch-up: index up to _STEP tasks; True while work is left. Writers of new tasks
    wait for one step at most, not for the whole catch-up."""
    pending = lineage["pending"]
    if txn.get(_BUILT, db=pending) is None:
        return _full_step(txn, docs, lineage)
    cursor = txn.cursor(db=pending)
    seqs: list[bytes] = []
    keys: set[bytes] = set()
    found = cursor.first()
    while found and len(keys) < _STEP:
        if len(cursor.key()) != 8:
            break  # past the sequence numbers (meta keys sort after them)
        seqs.append(cursor.key())
        keys.update(msgpack.unpackb(cursor.value()))
        found = cursor.next()
    more = bool(found) and len(cursor.key()) == 8
    _index(txn, docs, lineage, sorted(keys))
    for seq in seqs:
        txn.delete(seq, db=pending)
    return more


def _full_step(txn: Any, docs: Any, lineage: dict[str, Any]) -> bool:
    """A step of indexing every stored task (a store never indexed): _STEP documents in key order from where the
    last step stopped; at the end, the pending entries noted before the first step are dropped (the scan read
    those tasks as they are) and the index is marked built."""
    pending = lineage["pending"]
    state = txn.get(_FROM, db=pending)
    if state is None:
        covered, start = txn.get(_SEQ, db=pending) or bytes(8), b""
    else:
        covered, start = state[:8], state[8:]
    cursor = txn.cursor(db=docs)
    found = cursor.set_range(start) if start else cursor.first()
    keys: list[bytes] = []
    while found and len(keys) < _STEP:
        keys.append(cursor.key())
        found = cursor.next()
    resume = cursor.key() if found else None
    _index(txn, docs, lineage, keys)
    if resume is not None:
        txn.put(_FROM, covered + resume, db=pending)
        return True
    old = [key for key, _ in txn.cursor(db=pending) if len(key) == 8 and key <= covered]
    for key in old:
        txn.delete(key, db=pending)
    txn.delete(_FROM, db=pending)
    txn.put(_BUILT, b"1", db=pending)
    return True  # tasks noted while the scan ran may be pending


def _index(txn: Any, docs: Any, lineage: dict[str, Any], keys: list[bytes]) -> None:
    if not keys:
        return
    pairs: dict[str, list[tuple[bytes, bytes]]] = {role: [] for role in ROLES}
    for key, raw in txn.cursor(db=docs).getmulti(keys):
        doc = unpack(raw)
        for role in ROLES:
            held = doc.get(role)
            if held is not None:
                pairs[role].extend((entity_key(eid), key) for eid in set(entity_ids(held)))
    for role in ROLES:
        if pairs[role]:
            pairs[role].sort()
            txn.cursor(db=lineage[role]).putmulti(pairs[role], dupdata=True)


def _lookup(txn: Any, docs: Any, lineage: dict[str, Any], role: str,
            wanted: list[str]) -> list[tuple[str, dict]]:
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
        with gc_paused():  # decoded documents and (key, task) pairs are acyclic temporaries
            while store._write(lambda txn: _catch_up_step(txn, docs, lineage)):
                pass
    return store._read(lambda txn: _lookup(txn, docs, lineage, role, wanted))
