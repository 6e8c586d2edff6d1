"""Contract suites shipped with flowcept for plugin authors: subclass them in your plugin's tests.

    from flowcept_core.testing import MQBackendContract

    class TestRedisMQ(MQBackendContract):
        @pytest.fixture
        def make_backend(self):
            return lambda channel: RedisMQ(settings, channel)
"""

from flowcept_core.testing.mq_contract import MQBackendContract

__all__ = ["MQBackendContract"]
