"""Fixtures of the fault suite: a scenario factory (processes stopped at teardown) and the suite's size.

FLOWCEPT_FAULTS_N sets the tasks per producer (default small, for CI); bench/bench_faults.py runs the same scenarios
with N >= 100k.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import Scenario
from tests.services import OwnMongoWire

N = int(os.environ.get("FLOWCEPT_FAULTS_N", "2000"))


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Callable[..., Scenario]]:
    """make(mq: dict, stores=None) -> a Scenario in its own directory; its processes are killed at teardown."""
    made: list[Scenario] = []

    def make(mq: dict, stores: dict | None = None, **sections: object) -> Scenario:
        work = tmp_path / f"s{len(made)}"
        work.mkdir()
        s = Scenario(work, mq, stores, **sections)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def n() -> int:
    return N


@pytest.fixture
def mongo_store(tmp_path: Path) -> Iterator[OwnMongoWire]:
    """An own MongoDB-wire server for a store-outage scenario (skips, saying why, when it cannot start)."""
    pytest.importorskip("flowcept_mongodb", reason="the mongodb plugin is not installed")
    server = OwnMongoWire(tmp_path / "nx")
    why = server.up()
    if why is not None:
        pytest.skip(f"MongoDB-wire server could not start: {why}")
    yield server
    server.down()
