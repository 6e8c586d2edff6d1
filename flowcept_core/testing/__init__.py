"""Contract suites shipped with flowcept for plugin authors: subclass them in your plugin's tests.

    from flowcept_core.testing import MQBackendContract

    class TestRedisMQ(MQBackendContract):
        backend_name = "redis"  # the mq.type this suite covers (checked by the coverage meta-test)

        @pytest.fixture
        def make_backend(self):
            return lambda channel: RedisMQ(settings, channel)
"""

from flowcept_core.testing.mq_contract import MQBackendContract

__all__ = ["MQBackendContract"]
