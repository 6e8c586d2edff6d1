"""End to end through the public API with ``mq.type: rabbitmq`` (flowcept_core.testing.MQEndToEndSuite): Flowcept
producers -> RabbitMQ -> consumers, in one process and across processes (a group consumer and two producers sharing
one workflow_id, as in the distributed example)."""

from __future__ import annotations

import pytest

from flowcept_core.testing import MQEndToEndSuite


class TestRabbitMQEndToEnd(MQEndToEndSuite):
    @pytest.fixture
    def mq_section(self, rabbitmq_server) -> dict:
        return {"type": "rabbitmq", "host": rabbitmq_server.host, "port": rabbitmq_server.port}
