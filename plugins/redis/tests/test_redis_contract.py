"""The MQ backend contract (flowcept_core.testing.MQBackendContract) run against the redis backend and a real
Redis server."""

from __future__ import annotations

from typing import Any

import pytest

from flowcept_core.registry import PluginRegistry
from flowcept_core.testing import MQBackendContract


class TestRedisMQ(MQBackendContract):
    backend_name = "redis"

    @pytest.fixture
    def make_backend(self, redis_settings: Any) -> Any:
        settings = redis_settings()
        return lambda channel: PluginRegistry(env={}).resolve("mq_backend", "redis").factory(settings, channel)

    def test_backend_is_the_declared_name(self, backend: Any) -> None:
        assert backend.name == self.backend_name
