"""Dead letters: what a consumer received but could not store, kept with the reason instead of being lost or
retried forever.

The DocumentInserter checks every message before queuing it (message_problem), and a document the store refuses
on its own is isolated from its batch; either way a dead letter is written to the ``dead_letters`` collection of
every enabled store and the MQ entry is acknowledged, so a poison entry is never redelivered. Read them with
``Flowcept.db.dead_letters()`` or ``Flowcept.db.query(collection="dead_letters")``.

A dead letter: ``{"dead_letter_id", "type": "dead_letter", "reason", "raw", "received_at"}`` plus ``"source"``
(where it was found: "message", "store", "wire") and, when the raw entry names one as a string, ``"task_id"`` /
``"workflow_id"`` of the document it was meant to become. ``raw`` is the entry made storable
(flowcept_core.serialize.sanitize) or, for undecodable bytes, the bytes themselves (cut at 1 MiB, with
``raw_truncated`` set).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flowcept_core.constants import END_OF_STREAM, MESSAGE_TYPES, STREAM_MARKERS

__all__ = ["DEAD_LETTERS", "DEAD_LETTER_ID", "dead_letter", "message_problem"]

DEAD_LETTERS = "dead_letters"
DEAD_LETTER_ID = "dead_letter_id"
_RAW_BYTES_MAX = 1 << 20
# Fields a store indexes or merges by type: the wrong type breaks queries or merges of other documents.
_TEXT_FIELDS = ("workflow_id", "campaign_id", "parent_task_id", "activity_id", "status", "parent_workflow_id")
_DICT_FIELDS = ("used", "generated", "custom_metadata")
_TIME_FIELDS = ("started_at", "ended_at", "submitted_at", "registered_at", "utc_timestamp")


def message_problem(coll: str | None, msg: dict, id_field: str | None) -> str | None:
    """Why msg cannot be stored (a sentence naming the field, the bad value and what is allowed), or None.

    Called by the DocumentInserter for every message; coll is collection_of(msg), id_field that collection's id
    field. Cheap: a handful of dict lookups.
    """
    if coll is None:
        kind = msg.get("type")
        if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
            return f"type={_short(kind)} is not one of {list(MESSAGE_TYPES)}"
        return _control_problem(msg)
    ident = msg.get(id_field)
    if not isinstance(ident, str) or not ident:
        return f"{id_field}={_short(ident)}: every {coll[:-1]} message needs a non-empty string {id_field}"
    for field in _TEXT_FIELDS:
        v = msg.get(field)
        if v is not None and not isinstance(v, str):
            return f"{field}={_short(v)} must be a string or null"
    for field in _DICT_FIELDS:
        v = msg.get(field)
        if v is not None and not isinstance(v, dict):
            return f"{field}={_short(v)} must be a dict (name -> value) or null"
    for field in _TIME_FIELDS:
        v = msg.get(field)
        if v is not None and (v.__class__ is bool or not isinstance(v, (int, float))):
            return f"{field}={_short(v)} must be a number (seconds since the epoch) or null"
    return None


def _control_problem(msg: dict) -> str | None:
    info = msg.get("info")
    if info not in STREAM_MARKERS:
        return None  # other control messages are for other consumers
    producer = msg.get("producer_id")
    if producer.__class__ is not str or not producer:
        return f"producer_id={_short(producer)}: a stream marker needs a non-empty string producer_id"
    count = msg.get("message_count")
    if info == END_OF_STREAM and count is not None and (count.__class__ is not int or count < 0):
        return f"message_count={_short(count)}: an end-of-stream marker needs a whole number >= 0 or null"
    wf = msg.get("workflow_id")
    if wf is not None and wf.__class__ is not str:
        return f"workflow_id={_short(wf)} must be a string or null"
    return None


def dead_letter(reason: str, raw: Any, source: str = "message") -> dict:
    """The dead-letter document for raw (a message, or undecodable bytes) refused because of reason.

    Its id is a digest of reason and raw, so the same entry delivered twice makes one dead letter.
    """
    doc: dict[str, Any] = {"type": "dead_letter", "reason": str(reason), "source": source,
                           "received_at": time.time()}
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw)
        digest_of = raw
        if len(raw) > _RAW_BYTES_MAX:
            doc["raw_truncated"] = len(raw)
            raw = raw[:_RAW_BYTES_MAX]
        doc["raw"] = raw
    else:
        doc["raw"] = _storable(raw)
        digest_of = repr(doc["raw"]).encode("utf-8", "backslashreplace")
        if isinstance(raw, dict):
            for field in ("task_id", "workflow_id"):
                v = raw.get(field)
                if v.__class__ is str and v:
                    doc[field] = v
    doc[DEAD_LETTER_ID] = "dl-" + hashlib.blake2b(doc["reason"].encode("utf-8", "backslashreplace") + b"\0"
                                                  + digest_of, digest_size=12).hexdigest()
    return doc


def _storable(raw: Any) -> Any:
    try:
        from flowcept_core.serialize import sanitize

        return sanitize(raw)
    except Exception:  # the last resort: its text, which any store holds
        return repr(raw)[:_RAW_BYTES_MAX]


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return (text[:60] + "...") if len(text) > 60 else text
