"""End to end through the public API with ``mq.type: kafka`` (flowcept_core.testing.MQEndToEndSuite), against the
Kafka-protocol broker the tests start: settings.yaml -> registry -> capture -> Kafka -> consumers, in one process
and across processes."""

from __future__ import annotations

import pytest

from flowcept_core.testing import MQEndToEndSuite


class TestKafkaEndToEnd(MQEndToEndSuite):
    @pytest.fixture
    def mq_section(self, kafka_server: str) -> dict:
        host, port = kafka_server.rsplit(":", 1)
        return {"type": "kafka", "host": host, "port": int(port)}
