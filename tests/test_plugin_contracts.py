"""Every registered plugin name has a contract suite: MQ backends (MQBackendContract, ``backend_name``), stores
(StoreContract, ``store_name``), interceptors (InterceptorContract, ``interceptor_name``) and consumers
(ConsumerContract, ``consumer_name``), subclassed in tests/ or plugins/*/tests/. The fixture plugins' consumer is
covered here, which also checks the consumer contract itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flowcept_core.registry import PluginRegistry
from flowcept_core.testing import ConsumerContract
from tests._plugin_build import fixture_plugins_path

REPO = Path(__file__).resolve().parents[1]
ATTRIBUTES = {"mq_backend": "backend_name", "store": "store_name", "interceptor": "interceptor_name",
              "consumer": "consumer_name"}
# names that exist only to test the registry itself
FIXTURE_ONLY = {"mq_backend": {"dup_only"}, "interceptor": {"fixture_interceptor"}}


def _declared(path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
        if not any(b.endswith("Contract") for b in bases):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and stmt.value.value:
                for target in stmt.targets:
                    for kind, attr in ATTRIBUTES.items():
                        if getattr(target, "id", None) == attr:
                            found.setdefault(kind, set()).add(stmt.value.value)
    return found


def _suites() -> dict[str, set[str]]:
    files = [*REPO.joinpath("tests").rglob("test_*.py"), *REPO.glob("plugins/*/tests/**/test_*.py")]
    out: dict[str, set[str]] = {kind: set() for kind in ATTRIBUTES}
    for path in files:
        if "fixture_plugins" not in path.parts:
            for kind, names in _declared(path).items():
                out[kind] |= names
    return out


@pytest.mark.parametrize("kind", sorted(ATTRIBUTES))
def test_every_registered_name_has_a_contract_suite(kind, monkeypatch):
    monkeypatch.syspath_prepend(str(fixture_plugins_path()))
    registered = set(PluginRegistry(env={}).names(kind))
    missing = registered - FIXTURE_ONLY.get(kind, set()) - _suites()[kind]
    assert not missing, (f"{kind} names without a contract suite: {sorted(missing)}; subclass the "
                         f"flowcept_core.testing contract in the plugin's tests with {ATTRIBUTES[kind]} = '<name>'")


def test_the_scanner_sees_the_suites_it_must_see():
    suites = _suites()
    assert {"memory"} <= suites["mq_backend"] and "instrumentation" in suites["interceptor"]
    assert "fixture_counter" in suites["consumer"]


class TestFixtureCounterConsumer(ConsumerContract):
    consumer_name = "fixture_counter"

    @pytest.fixture(autouse=True)
    def _fixtures_on_path(self, monkeypatch):
        monkeypatch.syspath_prepend(str(fixture_plugins_path()))
        from flowcept_fixture_good.echo import FixtureConsumer

        FixtureConsumer.seen.clear()

    def received(self, consumer):
        from flowcept_fixture_good.echo import FixtureConsumer

        return set(FixtureConsumer.seen)
