"""The shipped StoreContract against the mongodb store on a real MongoDB-wire server (fresh database per test)."""

from __future__ import annotations

import pytest

from flowcept_core.testing.store_contract import StoreContract


class TestMongoDBStore(StoreContract):
    store_name = "mongodb"

    @pytest.fixture
    def store(self, make_store):
        return make_store()
