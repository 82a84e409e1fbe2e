"""Tensor element types, named like PyTorch's (``runtime.float32`` prints as ``torch.float32``)."""

from __future__ import annotations

import numpy as np


class dtype:
    __slots__ = ("name", "numpy", "is_floating_point", "legacy_name")

    def __init__(self, name: str, numpy_type, is_floating_point: bool, legacy_name: str) -> None:
        self.name = name
        self.numpy = np.dtype(numpy_type)
        self.is_floating_point = is_floating_point
        self.legacy_name = legacy_name  # as in error messages: torch.FloatTensor

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


float32 = dtype("float32", np.float32, True, "FloatTensor")
float64 = dtype("float64", np.float64, True, "DoubleTensor")
int64 = dtype("int64", np.int64, False, "LongTensor")
int32 = dtype("int32", np.int32, False, "IntTensor")
int16 = dtype("int16", np.int16, False, "ShortTensor")
int8 = dtype("int8", np.int8, False, "CharTensor")
uint8 = dtype("uint8", np.uint8, False, "ByteTensor")
bool_ = dtype("bool", np.bool_, False, "BoolTensor")
float = float32  # noqa: A001 - torch.float
double = float64
long = int64
int = int32  # noqa: A001 - torch.int
short = int16

_ALL = (float32, float64, int64, int32, int16, int8, uint8, bool_)
_BY_NUMPY = {d.numpy: d for d in _ALL}


def _by_name(name: str) -> dtype:
    return next(d for d in _ALL if d.name == name)


def from_numpy(numpy_dtype) -> dtype:
    found = _BY_NUMPY.get(np.dtype(numpy_dtype))
    if found is None:
        raise TypeError(f"unsupported element type {numpy_dtype}")
    return found


def infer(data) -> dtype:
    """The dtype ``torch.tensor(data)`` picks: float32 for Python floats, int64 for ints."""
    array = np.asarray(data)
    if array.dtype == np.bool_:
        return bool_
    if np.issubdtype(array.dtype, np.integer):
        return int64 if not isinstance(data, np.ndarray) else from_numpy(array.dtype)
    if isinstance(data, np.ndarray) and array.dtype in (np.float32, np.float64):
        return from_numpy(array.dtype)
    return float32
