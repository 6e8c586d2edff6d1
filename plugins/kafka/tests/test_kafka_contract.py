"""The shipped MQ backend contract, run against a real Kafka-protocol broker (Tansu, see conftest.py)."""

from __future__ import annotations

import pytest

from flowcept_core.registry import PluginRegistry
from flowcept_core.testing import MQBackendContract


class TestKafkaMQ(MQBackendContract):
    backend_name = "kafka"

    @pytest.fixture
    def make_backend(self, kafka_settings):
        spec = PluginRegistry(env={}).resolve("mq_backend", "kafka")
        settings = kafka_settings()
        return lambda channel: spec.factory(settings, channel)

    def test_backend_is_the_declared_name(self, backend):
        assert backend.name == self.backend_name
