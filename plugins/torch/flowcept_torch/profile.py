"""The model profile ``get_profile=True`` records on the model's workflow: parameter counts, layer shapes, size."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["model_profile", "module_fields"]

_PLAIN = (bool, int, float, str, type(None))


def module_fields(module: nn.Module) -> dict[str, Any]:
    """A module's own public settings (``in_features``, ``p``, ``kernel_size``...): plain values and tuples of them."""
    out: dict[str, Any] = {}
    for k, v in vars(module).items():
        if k.startswith("_") or k == "training":
            continue
        if isinstance(v, _PLAIN):
            out[k] = v
        elif isinstance(v, tuple) and all(isinstance(x, _PLAIN) for x in v):
            out[k] = list(v)
    return out


def model_profile(model: nn.Module) -> dict[str, Any]:
    """Parameter and buffer counts, the size of both in bytes, and each named submodule's type, parameter shapes and
    settings (computed once, when the model is built)."""
    params = trainable = size = 0
    max_width = 0
    for p in model.parameters():
        n = p.numel()
        params += n
        trainable += n if p.requires_grad else 0
        size += n * p.element_size()
        if p.dim():
            max_width = max(max_width, max(p.shape))
    buffers = sum(b.numel() for b in model.buffers())
    size += sum(b.numel() * b.element_size() for b in model.buffers())
    modules = {}
    for name, m in model.named_modules():
        entry: dict[str, Any] = {"type": type(m).__name__}
        shapes = {pn: list(p.shape) for pn, p in m.named_parameters(recurse=False)}
        if shapes:
            entry["parameters"] = shapes
        fields = module_fields(m)
        if fields:
            entry["settings"] = fields
        modules[name or "(model)"] = entry
    return {
        "params": params,
        "trainable_params": trainable,
        "buffers": buffers,
        "size_bytes": size,
        "max_width": int(max_width),
        "n_modules": len(modules),
        "modules": modules,
        "model_repr": repr(model),
    }
