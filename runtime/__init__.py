"""runtime: a NumPy autograd package with PyTorch's grad-mode semantics.

Its public names mirror ``torch`` for the supported subset, so a torch program of that subset
runs unchanged with ``python -m runtime.torch_alias program.py``.
"""

from __future__ import annotations

import numpy as np

from runtime import dtypes
from runtime.autograd import functions as _ops
from runtime.autograd.function import apply as _apply
from runtime.dtypes import bool_ as bool  # noqa: A001 - torch.bool
from runtime.dtypes import (
    double, dtype, float, float32, float64, int, int32, int64, long, uint8,  # noqa: A001
)
from runtime.grad_mode import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
    set_grad_enabled,
)
from runtime.random import Generator, manual_seed
from runtime.random import default_generator as _generator
from runtime.tensor import Size, Tensor
from runtime.tensor import _operand

# ---- torch's device API and module-level names (issue 21); kept in one block for merges
from runtime import cuda
from runtime.device import device
from runtime.legacy_types import (
    BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor,
)
from runtime.version import __version__


def is_inference(input: Tensor) -> __builtins__["bool"]:  # noqa: A002 - torch's name
    return input.is_inference()
# ---- end of the issue-21 block


# ------------------------------------------------------------------------------ factories


def _make(array: np.ndarray, dtype=None, requires_grad: bool = False) -> Tensor:
    chosen = dtype if dtype is not None else float32
    tensor = Tensor._wrap(np.asarray(array, dtype=chosen.numpy))
    return tensor.requires_grad_(requires_grad) if requires_grad else tensor


def _size(size) -> tuple:
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def tensor(data, dtype=None, requires_grad=False, device=None) -> Tensor:
    result = Tensor(data, dtype)
    return result.requires_grad_(requires_grad) if requires_grad else result


def as_tensor(data, dtype=None, device=None) -> Tensor:
    return data if isinstance(data, Tensor) and dtype in (None, data.dtype) else tensor(data, dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    return Tensor._wrap(array)


def zeros(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _make(np.zeros(_size(size)), dtype, requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _make(np.ones(_size(size)), dtype, requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _make(np.zeros(_size(size)), dtype, requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    if dtype is None and isinstance(fill_value, (__builtins__["int"], __builtins__["bool"])):
        dtype = int64 if not isinstance(fill_value, __builtins__["bool"]) else bool
    return _make(np.full(tuple(size), fill_value), dtype, requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _make(np.eye(n, m), dtype, requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None) -> Tensor:
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    if dtype is None:
        dtype = int64 if values.dtype.kind in "iu" else float32
    return _make(values, dtype, requires_grad)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _make(np.linspace(start, end, steps), dtype, requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None, device=None) -> Tensor:
    return _make((generator or _generator).uniform(0, 1, _size(size)), dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None, device=None) -> Tensor:
    return _make((generator or _generator).normal(0, 1, _size(size)), dtype, requires_grad)


def randint(low, high=None, size=(), dtype=None, generator=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _make((generator or _generator).integers(low, high, tuple(size)), dtype or int64)


def randperm(n, generator=None, dtype=None, device=None) -> Tensor:
    return _make((generator or _generator).permutation(n), dtype or int64)


def _like(factory):
    def like(other: Tensor, dtype=None, requires_grad=False, device=None, **kwargs) -> Tensor:
        return factory(*other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad, **kwargs)
    like.__name__ = factory.__name__ + "_like"
    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)


def full_like(other: Tensor, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    return full(other.shape, fill_value, dtype=dtype or other.dtype, requires_grad=requires_grad)


def is_tensor(value) -> __builtins__["bool"]:
    return isinstance(value, Tensor)


# ------------------------------------------------------------------------------ functions


def cat(tensors, dim=0) -> Tensor:
    return _apply(_ops.CatBackward0, *tensors, dim=dim)


concat = cat


def stack(tensors, dim=0) -> Tensor:
    return _apply(_ops.StackBackward0, *tensors, dim=dim)


def where(condition, input, other) -> Tensor:  # noqa: A002 - torch's names
    return _apply(_ops.WhereBackward0, _operand(input), _operand(other), condition=condition._data)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


mm = matmul


def equal(a: Tensor, b: Tensor) -> __builtins__["bool"]:
    return a.equal(b)


def allclose(a: Tensor, b: Tensor, rtol=1e-05, atol=1e-08) -> __builtins__["bool"]:
    return a.allclose(b, rtol, atol)


def _method(name: str):
    def call(input: Tensor, *args, **kwargs):  # noqa: A002 - torch's name
        return getattr(input, name)(*args, **kwargs)
    call.__name__ = name
    return call


for _name in ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "clamp",
              "clip", "sum", "mean", "max", "min", "argmax", "argmin", "norm", "std", "var",
              "softmax", "log_softmax", "reshape", "transpose", "t", "permute", "squeeze",
              "unsqueeze", "flatten", "gather", "masked_fill", "add", "sub", "mul", "div", "pow",
              "neg", "clone", "detach", "numel", "eq", "ne", "lt", "le", "gt", "ge"):
    globals()[_name] = _method(_name)
del _name


def save(obj, path) -> None:
    from runtime.serialization import save as _save
    _save(obj, path)


def load(path, weights_only=True, map_location=None):
    from runtime.serialization import load as _load
    return _load(path)


def set_num_threads(count: __builtins__["int"]) -> None:
    """Accepted for compatibility; NumPy's BLAS threads are set through its environment."""


def __getattr__(name: str):
    # Submodules load on first use, so `import runtime` stays cheap.
    import importlib
    if name in ("autograd", "nn", "optim", "utils", "serialization", "torch_alias"):
        return importlib.import_module(f"runtime.{name}")
    raise AttributeError(f"module 'runtime' has no attribute '{name}'")
