"""End to end through the public API with ``mq.type: redis`` (flowcept_core.testing.MQEndToEndSuite): Flowcept +
decorated tasks -> Redis Streams -> a BaseConsumer in this process, and two producer processes -> a group consumer
process."""

from __future__ import annotations

import pytest

from flowcept_core.testing import MQEndToEndSuite


class TestRedisEndToEnd(MQEndToEndSuite):
    @pytest.fixture
    def mq_section(self, redis_server: tuple[str, int]) -> dict:
        host, port = redis_server
        return {"type": "redis", "host": host, "port": port}
