"""The MQ backend contract (flowcept_core.testing.MQBackendContract) against the real RabbitMQ server."""

from __future__ import annotations

import pytest

from flowcept_core.registry import get_registry
from flowcept_core.testing import MQBackendContract


class TestRabbitMQMQ(MQBackendContract):
    backend_name = "rabbitmq"

    @pytest.fixture
    def make_backend(self, rabbitmq_server):
        spec = get_registry().resolve("mq_backend", "rabbitmq")
        settings = rabbitmq_server.settings()
        return lambda channel: spec.factory(settings, channel)

    def test_backend_is_the_declared_name(self, backend):
        assert backend.name == self.backend_name
