"""MQ backend contract suites for the built-in "memory" backend and the fixture plugin's "echo" backend, and a
meta-test that every registered MQ backend name has a contract suite.

TestEchoMQ and the meta-test put the fixture plugins (built into a private directory, tests/_plugin_build.py) on
sys.path.

Convention checked by the meta-test: every MQBackendContract subclass, here or in plugins/*/tests/, declares the
MQ backend name its make_backend builds as a class attribute ``backend_name = "<name>"``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flowcept_core.builtins.memory_mq import MemoryMQ
from flowcept_core.registry import PluginRegistry
from flowcept_core.testing import MQBackendContract
from tests._plugin_build import fixture_plugins_path

REPO = Path(__file__).resolve().parent.parent


class _NamedContract(MQBackendContract):
    """Adds a check that make_backend really builds the backend named ``backend_name``."""

    backend_name = ""

    def test_backend_is_the_declared_name(self, backend):
        assert backend.name == self.backend_name


class TestMemoryMQ(_NamedContract):
    backend_name = "memory"

    @pytest.fixture
    def make_backend(self):
        return lambda channel: MemoryMQ(None, channel)


class TestEchoMQ(_NamedContract):
    backend_name = "echo"

    @pytest.fixture
    def make_backend(self, monkeypatch):
        monkeypatch.syspath_prepend(str(fixture_plugins_path()))
        spec = PluginRegistry(env={}).resolve("mq_backend", "echo")
        return lambda channel: spec.factory(None, channel)


CONTRACT_COVERED = {"memory": TestMemoryMQ, "echo": TestEchoMQ}

# Names that exist only to test the registry itself and are exempt from needing a contract suite: "dup_only" from
# flowcept-fixture-dup (its other name, "memory", is the built-in's and covered by TestMemoryMQ). Nothing else is
# exempt: a real backend, built-in or plugin, must have a suite.
FIXTURE_ONLY_NAMES = {"dup_only"}


def _is_contract_base(base: ast.expr) -> bool:
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
    return name is not None and (name == "MQBackendContract" or name.endswith("Contract"))


def _declared_backend_names(path: Path) -> set[str]:
    """backend_name values of classes deriving from a *Contract class in one test file (found by parsing)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.ClassDef) or not any(_is_contract_base(b) for b in node.bases):
            continue
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(getattr(t, "id", None) == "backend_name" for t in stmt.targets)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
                and stmt.value.value
            ):
                names.add(stmt.value.value)
    return names


def _contract_suites() -> dict[str, set[str]]:
    """backend name -> files that hold a contract suite for it, across tests/ and plugins/*/tests/."""
    files = [*REPO.joinpath("tests").rglob("test_*.py"), *REPO.glob("plugins/*/tests/**/test_*.py")]
    found: dict[str, set[str]] = {}
    for path in files:
        if "fixture_plugins" in path.parts:
            continue
        for name in _declared_backend_names(path):
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def test_contract_covered_table_matches_the_classes_here():
    for name, cls in CONTRACT_COVERED.items():
        assert issubclass(cls, MQBackendContract) and cls.backend_name == name


def test_every_registered_mq_backend_has_a_contract_suite(monkeypatch):
    monkeypatch.syspath_prepend(str(fixture_plugins_path()))
    monkeypatch.setenv("FLOWCEPT_FIXTURE_DUP", "1")  # list the dup fixture's names too
    registered = set(PluginRegistry(env={}).names("mq_backend"))
    assert "memory" in registered
    suites = _contract_suites()
    assert set(CONTRACT_COVERED) <= set(suites), "the contract-suite scanner missed the suites in this file"
    missing = registered - FIXTURE_ONLY_NAMES - set(suites)
    assert not missing, (
        f"MQ backends without a contract suite: {sorted(missing)}; subclass "
        "flowcept_core.testing.MQBackendContract in the plugin's tests with backend_name = '<name>'"
    )
