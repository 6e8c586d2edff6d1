"""The PROV serializations' helpers: times as xsd:dateTime, exactly as datetime writes them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from flowcept_core.prov_formats import prov_time


def _expected(ts):
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


@pytest.mark.parametrize(
    "ts",
    [
        0.0,
        -0.0,
        1.5,
        -1.5,
        1e-7,
        5e-7,
        -5e-7,
        0.9999995,
        1_800_000_000.0000005,
        1_800_000_000.123456,
        1_700_000_000.9999996,
        253402300799.9999995,
        253402300800.0,
        -62135596800.5,
        1e20,
        float("nan"),
        float("inf"),
        -float("inf"),
    ],
)
def test_a_float_timestamp_is_written_as_datetime_writes_it(ts):
    assert prov_time(ts) == _expected(ts)


def test_many_float_timestamps_and_the_other_kinds_of_time():
    rng = random.Random(7)
    values = [rng.uniform(-3e9, 4e9) for _ in range(20_000)] + [1.8e9 + i * 0.0000005 for i in range(20_000)]
    assert [prov_time(v) for v in values] == [_expected(v) for v in values]
    assert prov_time(1_800_000_000) == _expected(1_800_000_000)
    assert prov_time("2027-01-15T08:00:00Z") == "2027-01-15T08:00:00Z"
    assert prov_time(None) is None and prov_time(True) is None and prov_time("") is None
