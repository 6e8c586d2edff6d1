"""PluginFactory: a spec's factory, imported when first called, with one install hint and one failure record.

The registry wraps every spec's factory in one of these before handing the spec out, so ``spec.factory(...)`` works
the same for ``"module:attr"`` targets and plain callables, and a missing library is reported the same way for
every plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["PluginFactory", "install_hint"]


def install_hint(extra: str | None, name: str) -> str:
    """The command that installs the plugin providing name, in the form that works where the user runs.

    From a source checkout (the core imported from a tree with ``plugins/<extra>/pyproject.toml``): ``pip install -e
    <checkout>/plugins/<extra>``; otherwise ``pip install "flowcept[<extra>]"``.
    """
    extra = extra or name
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = os.path.join(root, "plugins", extra)
    if os.path.isfile(os.path.join(source, "pyproject.toml")):
        return f"pip install -e {source}"
    return f'pip install "flowcept[{extra}]"'


class PluginFactory:
    """Callable standing for a spec's factory. ``target`` is "module:attr" or a callable; ``requires`` are the
    modules imported first so a missing one is named with the install hint. Failures are reported through
    ``on_failure(name, reason)`` once (the registry's failure record) and raised as PluginLoadError."""

    __slots__ = ("kind", "name", "target", "requires", "extra", "_on_failure", "_fn")

    def __init__(self, kind: str, name: str, target: str | Callable[..., Any], requires: tuple[str, ...] = (),
                 extra: str | None = None, on_failure: Callable[[str, str], None] | None = None):
        self.kind = kind
        self.name = name
        self.target = target
        self.requires = requires
        self.extra = extra
        self._on_failure = on_failure
        self._fn: Callable[..., Any] | None = None

    def load(self) -> Callable[..., Any]:
        """Import the required modules and the target; return the callable (cached). Raises PluginLoadError."""
        if self._fn is not None:
            return self._fn
        import importlib

        from flowcept_core.registry import PluginLoadError

        what = f"{self.kind.replace('_', ' ')} {self.name!r}"
        try:
            for module in self.requires:
                importlib.import_module(module)
            if isinstance(self.target, str):
                module_name, _, attr = self.target.partition(":")
                fn = importlib.import_module(module_name)
                for part in attr.split("."):
                    fn = getattr(fn, part)
            else:
                fn = self.target
        except (ImportError, AttributeError) as e:
            reason = f"{type(e).__name__}: {e}"
            if self._on_failure is not None:
                self._on_failure(self.name, reason)
            raise PluginLoadError(f"{what} cannot be loaded ({reason}); install it with: "
                                  f"{install_hint(self.extra, self.name)}") from e
        self._fn = fn
        return fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"PluginFactory({self.target!r})"
