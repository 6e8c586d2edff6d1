"""The interceptor contract (flowcept_core.testing.InterceptorContract) run against the example interceptor."""

from __future__ import annotations

from flowcept_example import pipeline

from flowcept_core.testing import InterceptorContract


class TestExampleInterceptor(InterceptorContract):
    interceptor_name = "example"

    def run_workload(self) -> int:
        p = pipeline.Pipeline("contract")
        p.run_step("load", lambda path: [1, 2, 3], path="data.csv")
        p.run_step("train", lambda lr: 0.1, lr=0.01)
        return 2

    def observed_state(self):
        return list(pipeline.listeners)


def test_only_the_given_pipeline_is_observed(tmp_path, monkeypatch):
    from flowcept import Flowcept

    monkeypatch.chdir(tmp_path)
    watched, other = pipeline.Pipeline("watched"), pipeline.Pipeline("other")
    with Flowcept(interceptors=["example"], pipeline=watched) as fc:
        watched.run_step("a", lambda: 1)
        other.run_step("b", lambda: 2)
    tasks = [m for m in fc.get_buffer() if m.get("type") == "task"]
    assert [t["activity_id"] for t in tasks] == ["a"] and tasks[0]["generated"] == {"output": 1}
