"""JSONL lines of kept messages (flowcept_core.retained): built messages encoded with their shared telemetry
snapshots spliced in, and capture records kept as they are encoded straight from them (flowcept_core.replay_build).
"""

from __future__ import annotations

from flowcept_core.serialize import dumps_line

TYPE_CHECKING = False  # typing is not imported at run time (see flowcept_core.capture.context)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["encode_lines", "record_lines"]

_SHARED_FIELDS = ("telemetry_at_start", "telemetry_at_end")
_FRAGMENTS_MAX = 256
_RECORDS = 4096  # records encoded at a time


def encode_lines(msgs: list, buf: bytearray, fragments: dict[int, tuple[dict, Any]]) -> int:
    """Append msgs to buf as JSONL lines, as dumps_line writes each, encoding a telemetry snapshot dict shared by
    many messages once (fragments: id -> (snapshot, its orjson.Fragment), kept by the caller between calls).

    A message's snapshot fields are swapped for their pre-encoded fragment in a shallow copy (the message itself
    may be in a consumer's hands): about 4x less work for a task with telemetry at start and end. Returns how many
    messages orjson refused as they are (encoded with their values converted).
    """
    import orjson

    dumps, fragment, err = orjson.dumps, orjson.Fragment, orjson.JSONEncodeError
    opts = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    refused = 0
    for msg in msgs:
        try:
            if type(msg.get("telemetry_at_end")) is dict or type(msg.get("telemetry_at_start")) is dict:
                msg = msg.copy()
                for key in _SHARED_FIELDS:
                    snap = msg.get(key)
                    if type(snap) is dict:
                        entry = fragments.get(id(snap))
                        if entry is None or entry[0] is not snap:
                            if len(fragments) >= _FRAGMENTS_MAX:
                                fragments.clear()
                            entry = fragments[id(snap)] = (snap, fragment(dumps(snap)))
                        msg[key] = entry[1]
            buf += dumps(msg, option=opts)
        except (TypeError, err):
            buf += dumps_line(msg)
            refused += 1
    return refused



def record_lines(build: Any, flat: list) -> Any:
    """The lines of the kept records flat (built by build), in blocks of _RECORDS records."""
    step = _RECORDS * build.width
    for start in range(0, len(flat), step):
        block = bytearray()
        build.encode(flat[start : start + step] if len(flat) > step else flat, block)
        yield block
