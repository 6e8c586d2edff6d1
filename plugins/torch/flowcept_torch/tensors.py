"""Tensor summaries: what a forward record keeps of a tensor instead of its data.

A summary holds the tensor's metadata (shape, dtype, device, element count and size, layout) and the count of its
non-zero elements as a 0-d tensor, so the call that records it never waits for the device; ``as_dict()`` turns it
into the stored form when the message is built: ``{"shape", "dtype", "device", "numel", "nbytes", "is_sparse",
"density"}``.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["TensorSummary", "summarize", "summarize_now", "plain"]

_Tensor = torch.Tensor
_strided = torch.strided
_int32, _int64, _INT32_LIMIT = torch.int32, torch.int64, 2**31
_NAMES: dict = {}  # dtype / device -> its stored name (torch.float32 -> "float32", device(type='cpu') -> "cpu")
_MAX_DEPTH = 3  # containers of tensors are walked this deep (a batch dict, a tuple of outputs); deeper is kept as is


class TensorSummary:
    """One tensor's metadata, taken when the forward ran (see the module docstring)."""

    __slots__ = ("shape", "dtype", "device", "numel", "itemsize", "is_sparse", "nonzero")

    def __init__(self, t: torch.Tensor):
        self.shape = t.shape
        self.dtype = t.dtype
        self.device = t.device
        self.numel = t.numel()
        self.itemsize = t.element_size()
        self.is_sparse = t.is_sparse
        self.nonzero: Any = None
        try:
            if self.is_sparse:
                self.nonzero = t._nnz()
            elif self.numel and t.layout is _strided:
                # a 0-d integer tensor (no autograd node), read when the message is built: no wait for the device.
                # bool().sum() is vectorized (count_nonzero branches per element and costs up to 40x more on data
                # with zeros spread at random, a ReLU's output); an int32 sum is twice as fast as the default int64
                self.nonzero = t.bool().sum(dtype=_int32 if self.numel < _INT32_LIMIT else _int64)
        except Exception:  # a tensor kind without a non-zero count (meta, nested): no density
            self.nonzero = None

    def as_dict(self) -> dict:
        """The stored form; density = non-zero elements / elements (None when unknown or empty)."""
        nz = self.nonzero
        density = None
        if nz is not None and self.numel:
            try:
                density = int(nz) / self.numel
            except Exception:
                density = None
        dtype = _NAMES.get(self.dtype)
        if dtype is None:
            dtype = _NAMES[self.dtype] = str(self.dtype).removeprefix("torch.")
        device = _NAMES.get(self.device)
        if device is None:
            device = _NAMES[self.device] = str(self.device)
        return {"shape": list(self.shape), "dtype": dtype, "device": device, "numel": self.numel,
                "nbytes": self.numel * self.itemsize, "is_sparse": self.is_sparse, "density": density}


def summarize(value: Any, depth: int = 0) -> Any:
    """value with every tensor (also inside lists, tuples and dicts) replaced by its TensorSummary."""
    if isinstance(value, _Tensor):
        return TensorSummary(value)
    if depth < _MAX_DEPTH:
        if isinstance(value, (list, tuple)):
            return [summarize(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: summarize(v, depth + 1) for k, v in value.items()}
    return value


def plain(value: Any, depth: int = 0) -> Any:
    """A summarized value in its stored form (TensorSummary -> dict), called when the message is built."""
    if type(value) is TensorSummary:
        return value.as_dict()
    if depth < _MAX_DEPTH:
        if type(value) is list:
            return [plain(v, depth + 1) for v in value]
        if type(value) is dict:
            return {k: plain(v, depth + 1) for k, v in value.items()}
    return value


def summarize_now(value: Any, depth: int = 0) -> Any:
    """The stored form right away (loop items, end_iter values): a one-element tensor becomes its number, any other
    tensor its summary dict; lists, tuples and dicts are walked like summarize does."""
    if isinstance(value, _Tensor):
        if value.numel() == 1 and not value.is_sparse:
            return value.item()
        return TensorSummary(value).as_dict()
    if depth < _MAX_DEPTH:
        if isinstance(value, (list, tuple)):
            return [summarize_now(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {k: summarize_now(v, depth + 1) for k, v in value.items()}
    return value
