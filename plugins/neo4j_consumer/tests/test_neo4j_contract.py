"""The shipped StoreContract against the neo4j store on a real Bolt server (an empty graph per test)."""

from __future__ import annotations

import pytest

from flowcept_core.testing.store_contract import StoreContract


class TestNeo4jStore(StoreContract):
    store_name = "neo4j"

    @pytest.fixture
    def store(self, make_store):
        return make_store()
