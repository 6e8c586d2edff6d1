"""The wire format survives upgrades and outside readers: recorded batches of every earlier version decode, a newer
version is refused naming both versions, signatures are checked, and the plain format needs no flowcept to read."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from flowcept_core.wire import (
    WIRE_VERSION,
    MalformedMessageError,
    UnauthenticatedBatchError,
    WireCodec,
    decode_batch,
    encode_batch,
    rejections,
    wire_codec,
)

DATA = Path(__file__).parent / "data" / "wire"
RECORDED = sorted(p for p in DATA.glob("v*.msgpack") if not p.name.endswith(".expected.msgpack"))


def test_there_is_a_recorded_batch_of_every_earlier_version():
    versions = {int(p.name[1:].split("_")[0]) for p in RECORDED}
    assert versions == set(range(1, WIRE_VERSION + 1))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recorded_batches_of_every_version_decode_to_what_their_consumers_got(path):
    expected = msgpack.unpackb((DATA / f"{path.stem}.expected.msgpack").read_bytes(), raw=False,
                               strict_map_key=False)
    got = decode_batch(path.read_bytes())
    assert got == expected
    assert any(m.get("type") == "task" for m in got)


def test_a_newer_version_is_refused_naming_both_versions():
    newer = msgpack.packb({"flowcept_wire": WIRE_VERSION + 1, "body": b"\x90", "format": "packed"})
    with rejections() as rejected, pytest.raises(MalformedMessageError) as err:
        decode_batch(newer)
    assert f"version {WIRE_VERSION + 1}" in str(err.value) and f"versions 1 to {WIRE_VERSION}" in str(err.value)
    assert rejected == [(str(err.value), newer)]  # recorded for the consumer to dead-letter


def test_signed_batches_verify_and_unsigned_or_forged_ones_are_refused():
    signer = WireCodec(b"k1")
    msgs = [{"type": "task", "task_id": "t"}]
    assert decode_batch(encode_batch(msgs, signer), signer) == msgs
    assert decode_batch(encode_batch(msgs, signer)) == msgs  # a reader without a key does not check
    with pytest.raises(UnauthenticatedBatchError, match="forged"):
        decode_batch(encode_batch(msgs, WireCodec(b"k2")), signer)
    with pytest.raises(UnauthenticatedBatchError, match="unsigned"):
        decode_batch(encode_batch(msgs), signer)
    with pytest.raises(UnauthenticatedBatchError, match="version 1"):
        decode_batch(msgpack.packb(msgs), signer)
    env = msgpack.unpackb(encode_batch(msgs, signer))
    env["body"] = msgpack.packb([{"type": "task", "task_id": "t", "used": {"x": "changed"}}])
    with pytest.raises(UnauthenticatedBatchError, match="forged"):
        decode_batch(msgpack.packb(env), signer)
    assert decode_batch(encode_batch([]), signer) == []  # an empty batch (a Kafka fence) carries nothing to forge


def test_wire_settings_are_checked_naming_the_bad_value():
    from flowcept_core.settings import Settings

    with pytest.raises(ValueError, match=r"mq.wire_format='json' is not one of \['packed', 'plain'\]"):
        wire_codec(Settings({"mq": {"wire_format": "json"}}))
    with pytest.raises(ValueError, match="mq.signing_key must be a non-empty string"):
        wire_codec(Settings({"mq": {"signing_key": 12}}))
    assert wire_codec(Settings({"mq": {"signing_key": "s", "wire_format": "plain"}})) == WireCodec(b"s", "plain")


def test_signing_key_comes_from_the_environment_and_is_masked_in_snapshots():
    from flowcept_core.settings import load_settings

    settings = load_settings(env={"MQ_SIGNING_KEY": "from-env"})
    assert settings.get("mq.signing_key") == "from-env"
    assert settings.redacted()["mq"]["signing_key"] == "***"


def test_a_settings_file_with_an_unknown_wire_format_is_refused_naming_the_choices(tmp_path):
    from flowcept_core.settings import SettingsError, load_settings

    path = tmp_path / "settings.yaml"
    path.write_text("mq:\n  wire_format: json\n")
    with pytest.raises(SettingsError, match=r"mq.wire_format = 'json'.*\['packed', 'plain'\]"):
        load_settings(str(path))
