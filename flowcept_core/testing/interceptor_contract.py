"""InterceptorContract: what every interceptor must do, as a pytest class to subclass in the plugin's tests.

Set ``interceptor_name`` (the name users pass in ``Flowcept(interceptors=[...])``) and write ``run_workload()``: make
the observed library produce work while the interceptor is started, and return how many task messages that work
must give at least. Optional: ``flowcept_kwargs`` (keyword arguments the interceptor accepts) and
``observed_state()`` (a comparable snapshot of what the interceptor patches, e.g. a library's listener list).

Example::

    class TestExampleInterceptor(InterceptorContract):
        interceptor_name = "example"

        def run_workload(self) -> int:
            pipeline.run_step("train", lr=0.1)
            return 1
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import pytest
import yaml

from flowcept_core.constants import STATUSES

__all__ = ["InterceptorContract", "RecordingEmitter"]



class RecordingEmitter:
    """An Emitter that keeps what it is given (for driving an interceptor without a Flowcept run)."""

    def __init__(self, workflow_id: str = "wf-contract", campaign_id: str | None = "campaign-contract"):
        self._workflow_id = workflow_id
        self._campaign_id = campaign_id
        self.messages: list[dict] = []
        self._lock = threading.Lock()

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    @property
    def campaign_id(self) -> str | None:
        return self._campaign_id

    def emit(self, message: dict) -> None:
        with self._lock:
            self.messages.append(message)

    def emit_task(self, **fields: Any) -> dict:
        from flowcept_core.messages import task_message

        fields.setdefault("workflow_id", self._workflow_id)
        if self._campaign_id is not None:
            fields.setdefault("campaign_id", self._campaign_id)
        msg = task_message(**fields)
        self.emit(msg)
        return msg

    def emit_workflow(self, **fields: Any) -> dict:
        from flowcept_core.messages import workflow_message

        fields.setdefault("workflow_id", self._workflow_id)
        msg = workflow_message(**fields)
        self.emit(msg)
        return msg

    def add_workflow_fields(self, **fields: Any) -> None:
        self.emit_workflow(**fields)

    def tasks(self) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if m.get("type") == "task"]


class InterceptorContract:
    """Subclass in the plugin's tests; each test here runs against the interceptor named ``interceptor_name``."""

    interceptor_name: ClassVar[str] = ""
    flowcept_kwargs: ClassVar[dict[str, Any]] = {}

    def run_workload(self) -> int:
        """Make the observed library work; return the least number of task messages it must produce."""
        raise NotImplementedError("subclasses say how to make the observed library produce tasks")

    def observed_state(self) -> Any:
        """A comparable snapshot of what the interceptor patches (None: not checked)."""
        return None

    # fixtures ----------------------------------------------------------------------------------------------------
    @pytest.fixture
    def make_interceptor(self) -> Any:
        """make_interceptor() -> a new, unstarted interceptor built by the registry from its spec."""
        from flowcept_core.registry import get_registry
        from flowcept_core.settings import get_settings

        spec = get_registry().resolve("interceptor", self.interceptor_name)
        built: list[Any] = []

        def make() -> Any:
            interceptor = spec.factory(get_settings(), **self.flowcept_kwargs)
            built.append(interceptor)
            return interceptor

        yield make
        for interceptor in built:
            interceptor.stop()

    @pytest.fixture
    def make_emitter(self) -> Any:
        """make_emitter() -> an Emitter with ``messages`` and ``tasks()`` (default: RecordingEmitter)."""
        return RecordingEmitter

    @pytest.fixture
    def contract_settings(self, tmp_path: Any, monkeypatch: Any) -> Any:
        """write(tree) -> points FLOWCEPT_SETTINGS_PATH at a settings file holding tree (quiet logs, this tmp_path)."""
        from flowcept_core.registry import reset_registry
        from flowcept_core.settings import reset_settings

        monkeypatch.chdir(tmp_path)

        def write(tree: dict) -> None:
            tree = {"log": {"log_stream_level": "error", "log_file_level": "disable"}, **tree}
            path = tmp_path / "settings.yaml"
            path.write_text(yaml.safe_dump(tree))
            monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
            reset_settings()
            reset_registry()

        write({"project": {"db_flush_mode": "offline", "dump_buffer": {"enabled": False}}})
        yield write
        reset_settings()
        reset_registry()

    # the contract ------------------------------------------------------------------------------------------------
    def test_the_name_is_registered(self, contract_settings: Any) -> None:
        from flowcept_core.registry import get_registry

        assert self.interceptor_name in get_registry().names("interceptor")

    def test_starting_twice_is_harmless(self, make_interceptor: Any, make_emitter: Any) -> None:
        interceptor, emitter = make_interceptor(), make_emitter()
        interceptor.start(emitter)
        interceptor.start(emitter)
        expected = self.run_workload()
        interceptor.stop()
        once = len(emitter.tasks())
        assert once >= expected
        other, emitter2 = make_interceptor(), make_emitter()
        other.start(emitter2)
        self.run_workload()
        other.stop()
        assert _distinct(emitter2.tasks()) == _distinct(emitter.tasks()), "starting twice captured each task twice"
        assert _repeated(emitter.tasks()) is None, f"starting twice sent a message twice: {_repeated(emitter.tasks())}"

    def test_stop_restores_what_it_patched_and_delivers_what_it_captured(self, make_interceptor: Any,
                                                                         make_emitter: Any) -> None:
        before = self.observed_state()
        interceptor, emitter = make_interceptor(), make_emitter()
        interceptor.start(emitter)
        expected = self.run_workload()
        interceptor.stop()
        assert len(emitter.tasks()) >= expected, "what was captured before stop() returned is missing"
        assert self.observed_state() == before, "stop() left something patched"
        count = len(emitter.tasks())
        self.run_workload()
        assert len(emitter.tasks()) == count, "the interceptor still captures after stop()"
        interceptor.stop()  # a second stop is harmless

    def test_task_messages_carry_the_required_schema_fields(self, make_interceptor: Any, make_emitter: Any) -> None:
        interceptor, emitter = make_interceptor(), make_emitter()
        interceptor.start(emitter)
        self.run_workload()
        interceptor.stop()
        tasks = emitter.tasks()
        assert tasks
        for msg in tasks:
            assert isinstance(msg.get("task_id"), str) and msg["task_id"], msg
            assert msg.get("workflow_id") == emitter.workflow_id, msg
            assert isinstance(msg.get("activity_id"), str) and msg["activity_id"], msg
            assert str(msg.get("status")) in STATUSES, msg
            for key in ("started_at", "ended_at"):
                assert key not in msg or isinstance(msg[key], int | float), msg
        by_id: dict[str, tuple] = {}  # a task's start and end (or updates) may be separate messages; they must agree
        for msg in tasks:
            ids = (msg["activity_id"], msg["workflow_id"])
            assert by_id.setdefault(msg["task_id"], ids) == ids, f"messages of task {msg['task_id']!r} disagree: {msg}"

    def test_messages_reach_the_mq_through_the_public_api(self, contract_settings: Any) -> None:
        from flowcept import BaseConsumer, Flowcept

        contract_settings({"mq": {"type": "memory", "channel": f"contract-{self.interceptor_name}",
                                  "insertion_buffer_time_secs": 0.05},
                           "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
                           "databases": {"lmdb": {"enabled": False}}})
        got: list[dict] = []

        class Collect(BaseConsumer):
            def message_handler(self, msg_obj: dict) -> bool:
                got.append(msg_obj)
                return True

        consumer = Collect().start(daemon=True)
        try:
            with Flowcept(interceptors=[self.interceptor_name], workflow_name="contract",
                          **self.flowcept_kwargs) as fc:
                expected = self.run_workload()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(_tasks_of(got, fc.current_workflow_id)) < expected:
                time.sleep(0.05)
        finally:
            consumer.stop_consumption()
        assert len(_tasks_of(got, fc.current_workflow_id)) >= expected

    def test_messages_reach_the_store_through_the_public_api(self, contract_settings: Any, tmp_path: Any) -> None:
        from flowcept import Flowcept
        from flowcept_core.registry import get_registry

        if "lmdb" not in get_registry().names("store"):
            pytest.skip("the lmdb store plugin is not installed (pip install flowcept[lmdb]); the store check needs it")
        contract_settings({"mq": {"type": "memory", "channel": f"contract-store-{self.interceptor_name}",
                                  "insertion_buffer_time_secs": 0.05},
                           "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
                           "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "lmdb")}}})
        with Flowcept(interceptors=[self.interceptor_name], workflow_name="contract", **self.flowcept_kwargs) as fc:
            expected = self.run_workload()
        found = Flowcept.db.query(filter={"workflow_id": fc.current_workflow_id}) or []
        ids = [d["task_id"] for d in found if d.get("task_id")]
        assert len(ids) == len(set(ids)), "the store holds more than one document for a task_id"
        assert len(ids) >= expected
        from flowcept_core.stores import close_stores

        close_stores()


def _distinct(messages: list[dict]) -> int:
    """How many tasks the messages describe (messages of one task_id are one task)."""
    return len({m.get("task_id") for m in messages})


def _repeated(messages: list[dict]) -> dict | None:
    """A task message sent twice (the same fields but utc_timestamp), or None."""
    seen: set[str] = set()
    for msg in messages:
        text = repr(sorted((k, repr(v)) for k, v in msg.items() if k != "utc_timestamp"))
        if text in seen:
            return msg
        seen.add(text)
    return None


def _tasks_of(messages: list[dict], workflow_id: str) -> list[dict]:
    return [m for m in list(messages) if m.get("type") == "task" and m.get("workflow_id") == workflow_id]
