"""``runtime.save``/``runtime.load``: pickles of NumPy arrays.

Tensors are stored as plain NumPy arrays inside an ordinary pickle (nested dicts, lists and
tuples are kept), so a state dict round-trips; autograd state is not saved.  As with any
pickle, only load files you trust.
"""

from __future__ import annotations

import pickle

import numpy as np

from runtime.tensor import Tensor


class _Stored:
    __slots__ = ("array", "requires_grad", "parameter")

    def __init__(self, array: np.ndarray, requires_grad: bool = False, parameter: bool = False) -> None:
        self.array, self.requires_grad, self.parameter = array, requires_grad, parameter

    def __setstate__(self, state) -> None:
        slots = state[1] if isinstance(state, tuple) else state
        self.array = slots["array"]
        self.requires_grad = slots.get("requires_grad", False)
        self.parameter = slots.get("parameter", False)


def _pack(value):
    if isinstance(value, Tensor):
        from runtime.nn.modules import Parameter
        # As PyTorch does, keep requires_grad and Parameter-ness (not the graph).
        return _Stored(np.array(value._data), value.requires_grad, isinstance(value, Parameter))
    if isinstance(value, dict):
        return type(value)((key, _pack(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(item) for item in value)
    return value


def _unpack(value):
    if isinstance(value, _Stored):
        tensor = Tensor._wrap(value.array)
        if value.parameter:
            from runtime.nn.modules import Parameter
            return Parameter(tensor, requires_grad=value.requires_grad)
        return tensor.requires_grad_(True) if value.requires_grad else tensor
    if isinstance(value, dict):
        return type(value)((key, _unpack(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_unpack(item) for item in value)
    return value


def save(obj, path) -> None:
    """``path``: a file name (str or os.PathLike) or a binary file object, as in PyTorch."""
    if hasattr(path, "write"):
        pickle.dump(_pack(obj), path, protocol=pickle.HIGHEST_PROTOCOL)
        return
    with open(path, "wb") as handle:
        pickle.dump(_pack(obj), handle, protocol=pickle.HIGHEST_PROTOCOL)


def load(path):
    if hasattr(path, "read"):
        return _unpack(pickle.load(path))
    with open(path, "rb") as handle:
        return _unpack(pickle.load(handle))
