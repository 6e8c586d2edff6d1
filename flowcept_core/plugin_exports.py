"""Public names and upstream module paths that plugin distributions provide.

``from flowcept import flowcept_torch`` and ``import flowcept.instrumentation.flowcept_torch`` work when the plugin
that provides them (here flowcept-torch) is installed; without it they raise an ImportError naming the plugin and
its install command. The core imports the plugin module only when a user asks for one of these names.
"""

from __future__ import annotations

import importlib

__all__ = ["PLUGIN_MODULES", "PLUGIN_NAMES", "export_module", "load_name"]

# plugin module -> (distribution, pip extra)
_PROVIDERS: dict[str, tuple[str, str]] = {
    "flowcept_dask.plugins": ("flowcept-dask", "dask"),
    "flowcept_mlflow.interceptor": ("flowcept-mlflow", "mlflow"),
    "flowcept_torch.instrument": ("flowcept-torch", "torch"),
    "flowcept_mcp.agent_task": ("flowcept-mcp", "mcp"),
    "flowcept_mcp.context_manager": ("flowcept-mcp", "mcp"),
}

# top-level name of ``flowcept`` -> the plugin module that defines it
PLUGIN_NAMES: dict[str, str] = {
    "FlowceptDaskWorkerAdapter": "flowcept_dask.plugins",
    "FlowceptDaskSchedulerAdapter": "flowcept_dask.plugins",
    "flowcept_torch": "flowcept_torch.instrument",
    "FlowceptEpochLoop": "flowcept_torch.instrument",
    "FlowceptBatchLoop": "flowcept_torch.instrument",
    "agent_flowcept_task": "flowcept_mcp.agent_task",
    "FlowceptLLM": "flowcept_mcp.agent_task",
}

# upstream module path -> the plugin module whose public names it re-exports
PLUGIN_MODULES: dict[str, str] = {
    "flowcept.flowceptor.adapters.dask.dask_plugins": "flowcept_dask.plugins",
    "flowcept.flowceptor.adapters.mlflow.mlflow_interceptor": "flowcept_mlflow.interceptor",
    "flowcept.instrumentation.flowcept_torch": "flowcept_torch.instrument",
    "flowcept.instrumentation.flowcept_agent_task": "flowcept_mcp.agent_task",
    "flowcept.flowceptor.consumers.agent.base_agent_context_manager": "flowcept_mcp.context_manager",
}


def _import(module: str, wanted: str):
    """Import a plugin module; an ImportError names the plugin (or the library it lacks) and the install command."""
    dist, extra = _PROVIDERS[module]
    package = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing == package or missing.startswith(package + "."):
            text = f"{wanted} comes with the {dist} plugin, which is not installed: pip install \"flowcept[{extra}]\""
        else:
            text = (f"{wanted} comes with the {dist} plugin, which could not import {missing or 'a library'} "
                    f"({exc}): pip install \"flowcept[{extra}]\"")
        raise ImportError(text, name=missing or package) from exc


def load_name(name: str) -> object:
    """The object behind ``flowcept.<name>`` for a name in PLUGIN_NAMES."""
    return getattr(_import(PLUGIN_NAMES[name], f"flowcept.{name}"), name)


def export_module(path: str) -> dict[str, object]:
    """The public names (``__all__``) of the plugin module behind upstream module ``path``, for its re-export file."""
    module = _import(PLUGIN_MODULES[path], path)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    return {name: getattr(module, name) for name in names}
