"""The store contract (flowcept_core.testing.StoreContract) against a real LMDB environment."""

from __future__ import annotations

import uuid

import pytest

from flowcept_core.registry import get_registry
from flowcept_core.testing import StoreContract


class TestLMDBStore(StoreContract):
    store_name = "lmdb"

    @pytest.fixture
    def store(self, tmp_path, settings_for):
        spec = get_registry().resolve("store", "lmdb")
        s = spec.factory(settings_for(tmp_path / f"contract-{uuid.uuid4().hex[:8]}"))
        assert s.count("tasks") == 0 and s.count("workflows") == 0
        yield s
        s.close()

    def test_store_is_the_declared_name(self, store):
        assert store.name == self.store_name
