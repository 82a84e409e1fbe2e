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
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _pack(value):
    if isinstance(value, Tensor):
        return _Stored(np.array(value._data))
    if isinstance(value, dict):
        return type(value)((key, _pack(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_pack(item) for item in value)
    return value


def _unpack(value):
    if isinstance(value, _Stored):
        return Tensor._wrap(value.array)
    if isinstance(value, dict):
        return type(value)((key, _unpack(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_unpack(item) for item in value)
    return value


def save(obj, path) -> None:
    with open(path, "wb") as handle:
        pickle.dump(_pack(obj), handle, protocol=pickle.HIGHEST_PROTOCOL)


def load(path):
    with open(path, "rb") as handle:
        return _unpack(pickle.load(handle))
