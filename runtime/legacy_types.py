"""The legacy tensor types: ``torch.FloatTensor([1, 2])``, ``torch.LongTensor(2, 3)``, and
``isinstance(t, torch.FloatTensor)`` (true for any float32 tensor)."""

from __future__ import annotations

import numpy as np

from runtime import dtypes
from runtime.tensor import Size, Tensor, _tensor


def _is_size(args: tuple) -> bool:
    return all(isinstance(a, int) and not isinstance(a, bool) for a in args) or (
        len(args) == 1 and isinstance(args[0], Size))


class _TensorType(type):
    def __instancecheck__(cls, value) -> bool:
        return isinstance(value, Tensor) and value.dtype is cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


class _LegacyTensor(metaclass=_TensorType):
    dtype: dtypes.dtype

    def __new__(cls, *args) -> Tensor:
        """No arguments or sizes: an (uninitialised, here zero) tensor of that shape; data: a
        tensor of this type holding it."""
        if _is_size(args):
            shape = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size) else args
            return _tensor(np.zeros(shape or (0,), dtype=cls.dtype.numpy))
        (data,) = args
        if isinstance(data, Tensor):
            return data.detach().to(cls.dtype)
        return Tensor(data, cls.dtype)


def _legacy_type(dtype: dtypes.dtype) -> type:
    return _TensorType(dtype.legacy_name, (_LegacyTensor,), {"dtype": dtype})


FloatTensor = _legacy_type(dtypes.float32)
DoubleTensor = _legacy_type(dtypes.float64)
LongTensor = _legacy_type(dtypes.int64)
IntTensor = _legacy_type(dtypes.int32)
ShortTensor = _legacy_type(dtypes.int16)
CharTensor = _legacy_type(dtypes.int8)
ByteTensor = _legacy_type(dtypes.uint8)
BoolTensor = _legacy_type(dtypes.bool_)

__all__ = ["BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor", "IntTensor",
           "LongTensor", "ShortTensor"]
