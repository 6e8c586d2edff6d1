"""How message batches travel on a networked MQ: one broker message per batch, msgpack-encoded once.

Every networked backend encodes with encode_batch and decodes with decode_batch, so the envelope, its version and
its signature live here and consumers receive the same dicts whatever the broker. The layout is documented in
docs/wire-format.md:

* version 2 (written today): a msgpack map ``{"flowcept_wire": 2, "format": "packed"|"plain", "body": <bin>}``
  plus ``"sig": <bin>`` (HMAC-SHA256 of body under ``mq.signing_key``) when signing is on; body is the msgpack
  array of message dicts.
* version 1 (written before the envelope): the msgpack array of message dicts itself.

A consumer reads every version up to WIRE_VERSION; a newer one is rejected with an error naming both versions.
Rejected batches raise MalformedMessageError (the subscriptions log and skip them) and, while a consumer thread
decodes inside ``rejections()``, are recorded there so the consumer can dead-letter them with their raw bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["encode_batch", "decode_batch", "MalformedMessageError", "UnauthenticatedBatchError", "WireCodec",
           "wire_codec", "rejections", "WIRE_VERSION", "WIRE_FORMATS"]

WIRE_VERSION = 2
WIRE_FORMATS = ("packed", "plain")
_VERSION_KEY = "flowcept_wire"


class MalformedMessageError(ValueError):
    """Bytes on the wire that are not a flowcept batch this consumer can read; consumers log, skip and dead-letter
    them."""


class UnauthenticatedBatchError(MalformedMessageError):
    """A batch without a valid signature while ``mq.signing_key`` is set (unsigned, or signed with another key)."""


@dataclass(frozen=True)
class WireCodec:
    """How this process writes and checks batches: signing key (None: unsigned) and message format.

    Built once per backend from settings (wire_codec); encode_batch/decode_batch take it as their second argument.
    """

    signing_key: bytes | None = None
    format: str = "packed"

    def sign(self, body: bytes) -> bytes:
        """HMAC-SHA256 of body under the signing key (call only when signing_key is set)."""
        return hmac.new(self.signing_key or b"", body, hashlib.sha256).digest()


DEFAULT_CODEC = WireCodec()


def wire_codec(settings: Any) -> WireCodec:
    """The WireCodec for ``mq.signing_key`` and ``mq.wire_format``; called when a backend is built.

    Raises ValueError naming the bad value and the allowed ones.
    """
    if settings is None:
        return DEFAULT_CODEC
    key = settings.get("mq.signing_key")
    fmt = settings.get("mq.wire_format") or "packed"
    if fmt not in WIRE_FORMATS:
        raise ValueError(f"mq.wire_format={fmt!r} is not one of {list(WIRE_FORMATS)}")
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError("mq.signing_key must be a non-empty string (or null to send unsigned batches), "
                         f"got a {type(key).__name__}")
    return WireCodec(key.encode("utf-8") if key else None, fmt)


def _default(obj: Any) -> Any:
    from flowcept_core.serialize import sanitize

    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return sanitize(obj)


def _pack_messages(messages: list[dict]) -> bytes:
    """msgpack bytes of the messages. When msgpack refuses them (a lone surrogate, an int past 64 bits), only the
    values are sanitized, one at a time: message fields, and in a packed message each record field, so no list is
    cut and every message stays."""
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


def encode_batch(messages: list[dict], codec: WireCodec | None = None) -> bytes:
    """The envelope bytes of one batch (values msgpack cannot carry are sanitized); called by a backend's
    publish(). With codec.format "plain", packed records are expanded into message dicts first; with a signing
    key, the body is signed."""
    import msgpack

    codec = codec or DEFAULT_CODEC
    if codec.format == "plain" and any(m.get("type") == "flowcept_packed" for m in messages):
        messages = _expanded(messages)
    body = _pack_messages(messages)
    envelope: dict[str, Any] = {_VERSION_KEY: WIRE_VERSION, "format": codec.format, "body": body}
    if codec.signing_key:
        envelope["sig"] = codec.sign(body)
    return msgpack.packb(envelope, use_bin_type=True)


def _expanded(messages: list[dict]) -> list[dict]:
    from flowcept_core.packed import expand

    out: list[dict] = []
    for m in messages:
        out.extend(expand(m) if m.get("type") == "flowcept_packed" else [m])
    return out


# decoding --------------------------------------------------------------------------------------------------------
_local = threading.local()


@contextlib.contextmanager
def rejections(codec: WireCodec | None = None) -> Iterator[list[tuple[str, bytes]]]:
    """Decode on this thread with codec and collect what decode_batch rejects as (reason, raw bytes).

    Used by a consumer around its subscription's receive() calls; the list it yields fills as batches are rejected
    (the consumer empties it after it has dead-lettered them).
    """
    saved = getattr(_local, "state", None)
    rejected: list[tuple[str, bytes]] = []
    _local.state = (codec or DEFAULT_CODEC, rejected)
    try:
        yield rejected
    finally:
        _local.state = saved


def decode_batch(payload: bytes, codec: WireCodec | None = None) -> list[dict]:
    """The message dicts of one batch, of any wire version up to WIRE_VERSION; called by subscriptions.

    Raises MalformedMessageError (UnauthenticatedBatchError for a missing or wrong signature) naming what is wrong;
    inside rejections() the payload is also recorded there. codec defaults to the one rejections() set on this
    thread, else no signature is required.
    """
    state = getattr(_local, "state", None)
    if codec is None:
        codec = state[0] if state is not None else DEFAULT_CODEC
    try:
        return _decode(payload, codec)
    except MalformedMessageError as e:
        if state is not None:
            state[1].append((str(e), bytes(payload) if not isinstance(payload, bytes) else payload))
        raise


def _decode(payload: bytes, codec: WireCodec) -> list[dict]:
    import msgpack

    try:
        batch = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as e:
        raise MalformedMessageError(f"undecodable batch of {len(payload)} bytes: {type(e).__name__}: {e}") from None
    if isinstance(batch, dict) and _VERSION_KEY in batch:
        batch = _open_envelope(batch, codec)
    elif codec.signing_key and batch != []:  # version 1 carried no signature (an empty batch carries nothing)
        raise UnauthenticatedBatchError("unsigned batch (wire format version 1) rejected: mq.signing_key is set")
    if isinstance(batch, dict):
        batch = [batch]
    if not isinstance(batch, list) or not all(isinstance(m, dict) for m in batch):
        raise MalformedMessageError(f"a batch must be a list of dicts, got {_describe(batch)}")
    if any(m.get("type") == "flowcept_packed" for m in batch):
        try:
            return _expanded(batch)
        except Exception as e:
            raise MalformedMessageError(f"a packed batch could not be expanded: {type(e).__name__}: {e}") from None
    return batch


def _open_envelope(envelope: dict, codec: WireCodec) -> Any:
    """The decoded body of a version >= 2 envelope, after the version and signature checks."""
    import msgpack

    version = envelope.get(_VERSION_KEY)
    if type(version) is not int or version < 2:
        raise MalformedMessageError(f"wire format version {version!r} is not a version this consumer knows "
                                    f"(it reads versions 1 to {WIRE_VERSION})")
    if version > WIRE_VERSION:
        raise MalformedMessageError(f"wire format version {version} is newer than this consumer reads (versions 1 to "
                                    f"{WIRE_VERSION}); upgrade flowcept where the DocumentInserter runs")
    body = envelope.get("body")
    if not isinstance(body, bytes):
        raise MalformedMessageError(f"a version {version} envelope needs a bytes 'body', got {_describe(body)}")
    if codec.signing_key:
        sig = envelope.get("sig")
        if sig is None:
            if body != b"\x90":  # an empty batch carries nothing to forge
                raise UnauthenticatedBatchError("unsigned batch rejected: mq.signing_key is set")
        elif not isinstance(sig, bytes) or not hmac.compare_digest(sig, codec.sign(body)):
            raise UnauthenticatedBatchError("forged batch rejected: its signature does not match mq.signing_key")
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as e:
        raise MalformedMessageError(f"undecodable body of {len(body)} bytes: {type(e).__name__}: {e}") from None


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"
