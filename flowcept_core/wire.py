"""How message batches travel on a networked MQ: one broker message per batch, msgpack-encoded once.

Every networked backend uses these two functions, so consumers receive the same dicts whatever the broker.
"""

from __future__ import annotations

from typing import Any

__all__ = ["encode_batch", "decode_batch", "MalformedMessageError"]


class MalformedMessageError(ValueError):
    """Bytes on the wire that are not a flowcept batch; consumers log and skip them."""


def _default(obj: Any) -> Any:
    from flowcept_core.serialize import sanitize

    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return sanitize(obj)


def encode_batch(messages: list[dict]) -> bytes:
    """msgpack bytes of a list of message dicts (values msgpack cannot carry are sanitized).

    When msgpack refuses the batch (a lone surrogate, an int past 64 bits), only the values are sanitized, one at a
    time: message fields, and in a packed message each record field, so no list is cut and every message stays.
    """
    import msgpack

    try:
        return msgpack.packb(messages, default=_default, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return msgpack.packb([_safe_message(m) for m in messages], default=_default, use_bin_type=True)


def _safe_message(msg: Any) -> Any:
    from flowcept_core.serialize import sanitize

    if type(msg) is not dict:
        return sanitize(msg)
    out = {k if type(k) is str else str(k): sanitize(v) for k, v in msg.items() if k != "records"}
    if "records" in msg:
        records = msg["records"]
        out["records"] = [sanitize(r) for r in records] if isinstance(records, list) else sanitize(records)
    return out


def decode_batch(payload: bytes) -> list[dict]:
    """The message dicts of one batch; MalformedMessageError if payload is not a list of dicts."""
    import msgpack

    try:
        batch = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as e:
        raise MalformedMessageError(f"undecodable batch of {len(payload)} bytes: {type(e).__name__}: {e}") from None
    if isinstance(batch, dict):
        batch = [batch]
    if not isinstance(batch, list) or not all(isinstance(m, dict) for m in batch):
        raise MalformedMessageError(f"a batch must be a list of dicts, got {type(batch).__name__}")
    if any(m.get("type") == "flowcept_packed" for m in batch):
        from flowcept_core.packed import expand

        out: list[dict] = []
        for m in batch:
            try:
                out.extend(expand(m) if m.get("type") == "flowcept_packed" else [m])
            except Exception as e:
                raise MalformedMessageError(f"a packed batch could not be expanded: {type(e).__name__}: {e}") from None
        return out
    return batch
