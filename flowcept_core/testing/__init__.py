"""Contract suites shipped with flowcept for plugin authors: subclass them in your plugin's tests.

    from flowcept_core.testing import MQBackendContract

    class TestRedisMQ(MQBackendContract):
        backend_name = "redis"  # the mq.type this suite covers (checked by the coverage meta-test)

        @pytest.fixture
        def make_backend(self):
            return lambda channel: RedisMQ(settings, channel)

    class TestLMDBStore(StoreContract):
        store_name = "lmdb"

        @pytest.fixture
        def store(self, tmp_path):
            s = LMDBStore(settings_for(tmp_path))
            yield s
            s.close()

    class TestExampleInterceptor(InterceptorContract):  # see plugins/_template
        interceptor_name = "example"

        def run_workload(self):
            pipeline.run_step("train", lr=0.1)
            return 1  # task messages this must give at least

    class TestRedisEndToEnd(MQEndToEndSuite):  # the backend through the public API, across processes
        @pytest.fixture
        def mq_section(self):
            return {"type": "redis", "host": "127.0.0.1", "port": 6379}
"""

from flowcept_core.testing.consumer_contract import ConsumerContract
from flowcept_core.testing.end_to_end import MQEndToEndSuite
from flowcept_core.testing.interceptor_contract import InterceptorContract, RecordingEmitter
from flowcept_core.testing.mq_contract import MQBackendContract
from flowcept_core.testing.store_contract import StoreContract

__all__ = ["ConsumerContract", "InterceptorContract", "MQBackendContract", "MQEndToEndSuite", "RecordingEmitter",
           "StoreContract"]
